-- bundled by ao-bundle 0.1.0: 5 modules; entries: main
for _, name in ipairs({"arena.components", "arena.config", "arena.ecs", "arena.systems", "main"}) do package.loaded[name] = nil end
package.preload["arena.components"] = function(...)


local a={}

function a.position(x,y)
assert(math.type(x)=='integer'and math.type(y)=='integer','position: integer x and y expected')
return{x=x,y=y}
end

function a.health(b,c)
assert(math.type(b)=='integer'and math.type(c)=='integer'and b<=c,'health: hp <= max expected')
return{hp=b,max=c}
end

function a.player(d,e)
assert(type(d)=='string'and#d>0,'player: wallet expected')
return{wallet=d,name=e or d:sub(1,8)}
end

function a.score(f)
return{points=f or 0,hits=0,knockouts=0}
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

function a.is_alive(j,k)
return j.alive[k]==true
end

function a.despawn(l,m)
if not l.alive[m]then return false end
l.alive[m]=nil
for _,o in pairs(l.stores)do o[m]=nil end
local p=a.slot(m)
l.generations[p]=l.generations[p]+1
table.insert(l.free,p)
l.count=l.count-1
return true
end

function a.set(q,r,s,t)
assert(q.alive[r],'ecs.set: entity '..tostring(r)..' is not alive')
local u=q.stores[s]
if not u then
u={}
q.stores[s]=u
end
u[r]=t
return t
end

function a.get(v,w,x)
local y=v.stores[x]
return y and y[w]
end

function a.remove(z,A,B)
local C=z.stores[B]
if C then C[A]=nil end
end


function a.query(D,...)
local E={...}
local F=D.stores[E[1]]
local G={}
if not F then return G end
for H in pairs(F)do
local I=true
for i=2,#E do
local J=D.stores[E[i]]
if not(J and J[H]~=nil)then I=false;break end
end
if I then G[#G+1]=H end
end
table.sort(G)
return G
end


function a.counts(K)
local L={}
for M,N in pairs(K.stores)do
local n=0
for _ in pairs(N)do n=n+1 end
L[M]=n
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

local function e(f,x,y)
for _,g in ipairs(a.query(f,'position','player'))do
local p=a.get(f,g,'position')
if p.x==x and p.y==y then return g end
end
return nil
end
d.occupant=e


function d.spawn_point(i,n)
local j=c.WIDTH*c.HEIGHT
for k=0,j-1 do
local l=((n-1)*37+k*7)%j
local x,y=l%c.WIDTH+1,l//c.WIDTH+1
if not e(i,x,y)then return x,y end
end
return nil
end



function d.move(m,o,q)
local r=b.DIRECTIONS[q]
assert(r,'unknown direction')
local s=a.get(m,o,'position')
local x,y=s.x+r.dx,s.y+r.dy
if x<1 or y<1 or x>c.WIDTH or y>c.HEIGHT then
return'blocked'
end
local t=e(m,x,y)
if t then
local u=a.get(m,t,'health')
local v=a.get(m,o,'score')
u.hp=u.hp-1
v.hits=v.hits+1
v.points=v.points+c.HIT_POINTS
if u.hp<=0 then
v.knockouts=v.knockouts+1
v.points=v.points+c.KO_POINTS

local w,z=d.spawn_point(m,t)
local A=a.get(m,t,'position')
if w then A.x,A.y=w,z end
u.hp=u.max
return'knockout',t
end
return'hit',t
end
s.x,s.y=x,y
return'moved'
end


function d.regenerate(B,C)
if C%c.REGEN_EVERY~=0 then return 0 end
local D=0
for _,E in ipairs(a.query(B,'health'))do
local h=a.get(B,E,'health')
if h.hp<h.max then
h.hp=h.hp+1
D=D+1
end
end
return D
end


function d.tick(F)
F.tick=F.tick+1
local G=d.regenerate(F.world,F.tick)
return{tick=F.tick,healed=G}
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

local function i(j)
local w=Arena.world
local p,h,s,k=b.get(w,j,'position'),b.get(w,j,'health'),b.get(w,j,'score'),b.get(w,j,'player')
return{id=j,name=k.name,wallet=k.wallet,x=p.x,y=p.y,hp=h.hp,points=s.points}
end

local function l(m,n,o)
m.reply({Action=n,Error=o,Data=o})
end

Handlers.add('Join','Join',function(q)
if f(q.From)then
return l(q,'Join-Error','already joined')
end
if Arena.joined>=e.MAX_PLAYERS then
return l(q,'Join-Error','arena is full')
end
local w=Arena.world
local x,y=d.spawn_point(w,Arena.joined+1)
if not x then return l(q,'Join-Error','no free spawn point')end
local r=b.spawn(w)
b.set(w,r,'player',c.player(q.From,q.Name))
b.set(w,r,'position',c.position(x,y))
b.set(w,r,'health',c.health(e.START_HP,e.MAX_HP))
b.set(w,r,'score',c.score())
Arena.players[q.From]=r
Arena.joined=Arena.joined+1
q.reply({Action='Joined',Entity=tostring(r),X=tostring(x),Y=tostring(y)})
end)

Handlers.add('Move','Move',function(t)
local u=f(t.From)
if not u then return l(t,'Move-Error','not joined')end
local v=t.Direction
if not c.DIRECTIONS[v]then
return l(t,'Move-Error','invalid direction '..tostring(v)..' (use N, S, E or W)')
end
local z,A=d.move(Arena.world,u,v)
local B=b.get(Arena.world,u,'position')
t.reply({
Action='Moved',Outcome=z,X=tostring(B.x),Y=tostring(B.y),
Victim=A and tostring(A)or nil,
})
end)

Handlers.add('Tick','Tick',function(C)
if C.From~=Owner then
return l(C,'Tick-Error','only the owner may tick')
end
local D=d.tick(Arena)
C.reply({Action='Ticked',Tick=tostring(D.tick),Healed=tostring(D.healed)})
end)

Handlers.add('State','State',function(E)
local F={}
for _,G in ipairs(b.query(Arena.world,'player'))do
F[#F+1]=i(G)
end
E.reply({
Action='State',
Data=a.encode({
tick=Arena.tick,version=Arena.version,players=F,
entities=Arena.world.count,components=b.counts(Arena.world),
size={w=e.WIDTH,h=e.HEIGHT},
}),
})
end)

Handlers.add('Ping','Ping',function(H)
H.reply({Action='Pong',Data='pong'})
end)
end
require("main")
