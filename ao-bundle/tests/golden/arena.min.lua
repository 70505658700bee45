-- bundled by ao-bundle 0.1.0: 5 modules; entries: main
for _, name in ipairs({"arena.components", "arena.config", "arena.ecs", "arena.systems", "main"}) do package.loaded[name] = nil end
package.preload["arena.components"] = function(...)


local a={}

function a.position(b,c)
assert(math.type(b)=='integer'and math.type(c)=='integer','position: integer x and y expected')
return{x=b,y=c}
end

function a.health(d,e)
assert(math.type(d)=='integer'and math.type(e)=='integer'and d<=e,'health: hp <= max expected')
return{hp=d,max=e}
end

function a.player(f,g)
assert(type(f)=='string'and#f>0,'player: wallet expected')
return{wallet=f,name=g or f:sub(1,8)}
end

function a.score(h)
return{points=h or 0,hits=0,knockouts=0}
end


a.DIRECTIONS={
N={dx=0,dy=-1},
S={dx=0,dy=1},
E={dx=1,dy=0},
W={dx=-1,dy=0},
}

return a
end
package.preload["arena.config"] = function(...)

return{
WIDTH=12,
HEIGHT=12,
MAX_PLAYERS=64,
START_HP=5,
MAX_HP=5,

REGEN_EVERY=3,

HIT_POINTS=1,
KO_POINTS=5,
}
end
package.preload["arena.ecs"] = function(...)









local a={}

local b=20
local c=(1<<b)-1

function a.new()
return{generations={},free={},alive={},stores={},count=0}
end

function a.slot(d)return d&c end
function a.generation(e)return e>>b end

function a.spawn(f)
local g=table.remove(f.free)
if not g then
g=#f.generations+1
f.generations[g]=0
end
local h=(f.generations[g]<<b)|g
f.alive[h]=true
f.count=f.count+1
return h
end

function a.is_alive(i,j)
return i.alive[j]==true
end

function a.despawn(k,l)
if not k.alive[l]then return false end
k.alive[l]=nil
for m,n in pairs(k.stores)do n[l]=nil end
local o=a.slot(l)
k.generations[o]=k.generations[o]+1
table.insert(k.free,o)
k.count=k.count-1
return true
end

function a.set(p,q,r,s)
assert(p.alive[q],'ecs.set: entity '..tostring(q)..' is not alive')
local t=p.stores[r]
if not t then
t={}
p.stores[r]=t
end
t[q]=s
return s
end

function a.get(u,v,w)
local x=u.stores[w]
return x and x[v]
end

function a.remove(y,z,A)
local B=y.stores[A]
if B then B[z]=nil end
end


function a.query(C,...)
local D={...}
local E=C.stores[D[1]]
local F={}
if not E then return F end
for G in pairs(E)do
local H=true
for I=2,#D do
local J=C.stores[D[I]]
if not(J and J[G]~=nil)then H=false;break end
end
if H then F[#F+1]=G end
end
table.sort(F)
return F
end


function a.counts(K)
local L={}
for M,N in pairs(K.stores)do
local O=0
for P in pairs(N)do O=O+1 end
L[M]=O
end
return L
end

return a
end
package.preload["arena.systems"] = function(...)



local a=require('arena.ecs')
local b=require('arena.components')
local c=require('arena.config')

local d={}

local function e(f,g,h)
for i,j in ipairs(a.query(f,'position','player'))do
local k=a.get(f,j,'position')
if k.x==g and k.y==h then return j end
end
return nil
end
d.occupant=e


function d.spawn_point(l,m)
local n=c.WIDTH*c.HEIGHT
for o=0,n-1 do
local p=((m-1)*37+o*7)%n
local q,r=p%c.WIDTH+1,p//c.WIDTH+1
if not e(l,q,r)then return q,r end
end
return nil
end



function d.move(s,t,u)
local v=b.DIRECTIONS[u]
assert(v,'unknown direction')
local w=a.get(s,t,'position')
local x,y=w.x+v.dx,w.y+v.dy
if x<1 or y<1 or x>c.WIDTH or y>c.HEIGHT then
return'blocked'
end
local z=e(s,x,y)
if z then
local A=a.get(s,z,'health')
local B=a.get(s,t,'score')
A.hp=A.hp-1
B.hits=B.hits+1
B.points=B.points+c.HIT_POINTS
if A.hp<=0 then
B.knockouts=B.knockouts+1
B.points=B.points+c.KO_POINTS

local C,D=d.spawn_point(s,z)
local E=a.get(s,z,'position')
if C then E.x,E.y=C,D end
A.hp=A.max
return'knockout',z
end
return'hit',z
end
w.x,w.y=x,y
return'moved'
end


function d.regenerate(F,G)
if G%c.REGEN_EVERY~=0 then return 0 end
local H=0
for I,J in ipairs(a.query(F,'health'))do
local K=a.get(F,J,'health')
if K.hp<K.max then
K.hp=K.hp+1
H=H+1
end
end
return H
end


function d.tick(L)
L.tick=L.tick+1
local M=d.regenerate(L.world,L.tick)
return{tick=L.tick,healed=M}
end

return d
end
package.preload["main"] = function(...)






local a=require('json')
local b=require('arena.ecs')
local c=require('arena.components')
local d=require('arena.systems')
local e=require('arena.config')

Arena=Arena or{world=b.new(),tick=0,players={},joined=0,version=1}

local function f(g)
return Arena.players[g]
end

local function h(i)
local j=Arena.world
local k,l,m,n=b.get(j,i,'position'),b.get(j,i,'health'),b.get(j,i,'score'),b.get(j,i,'player')
return{id=i,name=n.name,wallet=n.wallet,x=k.x,y=k.y,hp=l.hp,points=m.points}
end

local function o(p,q,r)
p.reply({Action=q,Error=r,Data=r})
end

Handlers.add('Join','Join',function(s)
if f(s.From)then
return o(s,'Join-Error','already joined')
end
if Arena.joined>=e.MAX_PLAYERS then
return o(s,'Join-Error','arena is full')
end
local t=Arena.world
local u,v=d.spawn_point(t,Arena.joined+1)
if not u then return o(s,'Join-Error','no free spawn point')end
local w=b.spawn(t)
b.set(t,w,'player',c.player(s.From,s.Name))
b.set(t,w,'position',c.position(u,v))
b.set(t,w,'health',c.health(e.START_HP,e.MAX_HP))
b.set(t,w,'score',c.score())
Arena.players[s.From]=w
Arena.joined=Arena.joined+1
s.reply({Action='Joined',Entity=tostring(w),X=tostring(u),Y=tostring(v)})
end)

Handlers.add('Move','Move',function(x)
local y=f(x.From)
if not y then return o(x,'Move-Error','not joined')end
local z=x.Direction
if not c.DIRECTIONS[z]then
return o(x,'Move-Error','invalid direction '..tostring(z)..' (use N, S, E or W)')
end
local A,B=d.move(Arena.world,y,z)
local C=b.get(Arena.world,y,'position')
x.reply({
Action='Moved',Outcome=A,X=tostring(C.x),Y=tostring(C.y),
Victim=B and tostring(B)or nil,
})
end)

Handlers.add('Tick','Tick',function(D)
if D.From~=Owner then
return o(D,'Tick-Error','only the owner may tick')
end
local E=d.tick(Arena)
D.reply({Action='Ticked',Tick=tostring(E.tick),Healed=tostring(E.healed)})
end)

Handlers.add('State','State',function(F)
local G={}
for H,I in ipairs(b.query(Arena.world,'player'))do
G[#G+1]=h(I)
end
F.reply({
Action='State',
Data=a.encode({
tick=Arena.tick,version=Arena.version,players=G,
entities=Arena.world.count,components=b.counts(Arena.world),
size={w=e.WIDTH,h=e.HEIGHT},
}),
})
end)

Handlers.add('Ping','Ping',function(J)
J.reply({Action='Pong',Data='pong'})
end)
end
require("main")
