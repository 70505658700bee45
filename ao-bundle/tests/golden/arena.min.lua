-- bundled by ao-bundle 0.1.0: 5 modules; entries: main
for _,name in ipairs({"arena.components","arena.config","arena.ecs","arena.systems","main"})do package.loaded[name]=nil end
package.preload["arena.components"]=function(...)
local a={}
function a.position(x,y)
assert(math.type(x)=='integer'and math.type(y)=='integer','position: integer x and y expected')
return{x=x,y=y}
end
function a.health(a,b)
assert(math.type(a)=='integer'and math.type(b)=='integer'and a<=b,'health: hp <= max expected')
return{hp=a,max=b}
end
function a.player(a,b)
assert(type(a)=='string'and#a>0,'player: wallet expected')
return{wallet=a,name=b or a:sub(1,8)}
end
function a.score(a)
return{points=a or 0,hits=0,knockouts=0}
end
a.DIRECTIONS={
N={dx=0,dy=-1},
S={dx=0,dy=1},
E={dx=1,dy=0},
W={dx=-1,dy=0},
}
return a
end
package.preload["arena.config"]=function(...)
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
package.preload["arena.ecs"]=function(...)
local a,c={},20
local b=(1<<c)-1
function a.new()
return{generations={},free={},alive={},stores={},count=0}
end
function a.slot(a)return a&b end
function a.generation(a)return a>>c end
function a.spawn(a)
local b=table.remove(a.free)
if not b then
b=#a.generations+1
a.generations[b]=0
end
local b=(a.generations[b]<<c)|b
a.alive[b]=true
a.count=a.count+1
return b
end
function a.is_alive(a,b)
return a.alive[b]==true
end
function a.despawn(b,c)
if not b.alive[c]then return false end
b.alive[c]=nil
for _,a in pairs(b.stores)do a[c]=nil end
local a=a.slot(c)
b.generations[a]=b.generations[a]+1
table.insert(b.free,a)
b.count=b.count-1
return true
end
function a.set(b,c,d,e)
assert(b.alive[c],'ecs.set: entity '..tostring(c)..' is not alive')
local a=b.stores[d]
if not a then
a={}
b.stores[d]=a
end
a[c]=e
return e
end
function a.get(a,b,c)
local a=a.stores[c]
return a and a[b]
end
function a.remove(a,b,c)
local a=a.stores[c]
if a then a[b]=nil end
end
function a.query(c,...)
local b={...}
local d,a=c.stores[b[1]],{}
if not d then return a end
for e in pairs(d)do
local d=true
for i=2,#b do
local a=c.stores[b[i]]
if not(a and a[e]~=nil)then d=false;break end
end
if d then a[#a+1]=e end
end
table.sort(a)
return a
end
function a.counts(b)
local a={}
for c,d in pairs(b.stores)do
local n=0
for _ in pairs(d)do n=n+1 end
a[c]=n
end
return a
end
return a
end
package.preload["arena.systems"]=function(...)
local b=require'arena.ecs'
local d=require'arena.components'
local a,c=require'arena.config',{}
local function f(a,x,y)
for _,c in ipairs(b.query(a,'position','player'))do
local p=b.get(a,c,'position')
if p.x==x and p.y==y then return c end
end
return nil
end
c.occupant=f
function c.spawn_point(c,n)
local b=a.WIDTH*a.HEIGHT
for k=0,b-1 do
local b=((n-1)*37+k*7)%b
local x,y=b%a.WIDTH+1,b//a.WIDTH+1
if not f(c,x,y)then return x,y end
end
return nil
end
function c.move(e,h,g)
local g=d.DIRECTIONS[g]
assert(g,'unknown direction')
local d=b.get(e,h,'position')
local x,y=d.x+g.dx,d.y+g.dy
if x<1 or y<1 or x>a.WIDTH or y>a.HEIGHT then
return'blocked'
end
local f=f(e,x,y)
if f then
local g=b.get(e,f,'health')
local d=b.get(e,h,'score')
g.hp=g.hp-1
d.hits=d.hits+1
d.points=d.points+a.HIT_POINTS
if g.hp<=0 then
d.knockouts=d.knockouts+1
d.points=d.points+a.KO_POINTS
local a,c=c.spawn_point(e,f)
local b=b.get(e,f,'position')
if a then b.x,b.y=a,c end
g.hp=g.max
return'knockout',f
end
return'hit',f
end
d.x,d.y=x,y
return'moved'
end
function c.regenerate(c,d)
if d%a.REGEN_EVERY~=0 then return 0 end
local a=0
for _,d in ipairs(b.query(c,'health'))do
local h=b.get(c,d,'health')
if h.hp<h.max then
h.hp=h.hp+1
a=a+1
end
end
return a
end
function c.tick(a)
a.tick=a.tick+1
local b=c.regenerate(a.world,a.tick)
return{tick=a.tick,healed=b}
end
return c
end
package.preload["main"]=function(...)
local h=require'json'
local a=require'arena.ecs'
local d=require'arena.components'
local f=require'arena.systems'
local e=require'arena.config'
Arena=Arena or{world=a.new(),tick=0,players={},joined=0,version=1}
local function g(a)
return Arena.players[a]
end
local function i(b)
local w=Arena.world
local p,h,s,a=a.get(w,b,'position'),a.get(w,b,'health'),a.get(w,b,'score'),a.get(w,b,'player')
return{id=b,name=a.name,wallet=a.wallet,x=p.x,y=p.y,hp=h.hp,points=s.points}
end
local function c(b,c,a)
b.reply{Action=c,Error=a,Data=a}
end
Handlers.add('Join','Join',function(b)
if g(b.From)then
return c(b,'Join-Error','already joined')
end
if Arena.joined>=e.MAX_PLAYERS then
return c(b,'Join-Error','arena is full')
end
local w=Arena.world
local x,y=f.spawn_point(w,Arena.joined+1)
if not x then return c(b,'Join-Error','no free spawn point')end
local c=a.spawn(w)
a.set(w,c,'player',d.player(b.From,b.Name))
a.set(w,c,'position',d.position(x,y))
a.set(w,c,'health',d.health(e.START_HP,e.MAX_HP))
a.set(w,c,'score',d.score())
Arena.players[b.From]=c
Arena.joined=Arena.joined+1
b.reply{Action='Joined',Entity=tostring(c),X=tostring(x),Y=tostring(y)}
end)
Handlers.add('Move','Move',function(b)
local e=g(b.From)
if not e then return c(b,'Move-Error','not joined')end
local g=b.Direction
if not d.DIRECTIONS[g]then
return c(b,'Move-Error','invalid direction '..tostring(g)..' (use N, S, E or W)')
end
local d,c=f.move(Arena.world,e,g)
local a=a.get(Arena.world,e,'position')
b.reply{
Action='Moved',Outcome=d,X=tostring(a.x),Y=tostring(a.y),
Victim=c and tostring(c)or nil,
}
end)
Handlers.add('Tick','Tick',function(a)
if a.From~=Owner then
return c(a,'Tick-Error','only the owner may tick')
end
local b=f.tick(Arena)
a.reply{Action='Ticked',Tick=tostring(b.tick),Healed=tostring(b.healed)}
end)
Handlers.add('State','State',function(c)
local b={}
for _,c in ipairs(a.query(Arena.world,'player'))do
b[#b+1]=i(c)
end
c.reply{
Action='State',
Data=h.encode{
tick=Arena.tick,version=Arena.version,players=b,
entities=Arena.world.count,components=a.counts(Arena.world),
size={w=e.WIDTH,h=e.HEIGHT},
},
}
end)
Handlers.add('Ping','Ping',function(a)
a.reply{Action='Pong',Data='pong'}
end)
end
require("main")
