//! `.bint`: fixed-width big integers for Lua, native, with the API of the public
//! lua-bint library that aos ships (`local bint = require('.bint')(256)`).
//!
//! Values are two's-complement integers of the class's width (a multiple of 32
//! bits, 32 to 8192); arithmetic wraps modulo 2^bits as in lua-bint.
//! Instances are userdata; the class table is callable (`bint(x)` = `bint.new(x)`)
//! and carries the metamethods too (`bint.__lt(0, bint(q))`, `bint.__add(a, b)`),
//! as token blueprints use them. Mixed operands convert: integers and integral
//! floats become bints; a non-integral float makes the operation a float one
//! (and `/` and `^` are always float operations, as in lua-bint).
//!
//! Differences from lua-bint: instances are userdata rather than tables, and
//! `fromstring` accepts only decimal, `0x` hexadecimal and `0b` binary forms.

use std::cmp::Ordering;
use std::sync::Arc;

use mlua::{AnyUserData, Function, Lua, MetaMethod, Table, UserData, UserDataMethods, Value};

const MIN_BITS: i64 = 32;
const MAX_BITS: i64 = 8192;

/// One bint value: `words` little-endian 32-bit limbs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bint {
    w: Arc<[u32]>,
}

fn rt(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::runtime(msg.into())
}

impl Bint {
    fn words(&self) -> usize {
        self.w.len()
    }

    fn from_vec(v: Vec<u32>) -> Self {
        Self { w: v.into() }
    }

    fn zero(words: usize) -> Self {
        Self::from_vec(vec![0; words])
    }

    /// The low 64 bits from `v`, the rest filled with `fill` (all ones sign-extends).
    fn from_u64_fill(v: u64, fill: u32, words: usize) -> Self {
        let mut w = vec![fill; words];
        w[0] = v as u32;
        if words > 1 {
            w[1] = (v >> 32) as u32;
        }
        Self::from_vec(w)
    }

    fn from_i64(v: i64, words: usize) -> Self {
        Self::from_u64_fill(v as u64, if v < 0 { u32::MAX } else { 0 }, words)
    }

    fn from_u64(v: u64, words: usize) -> Self {
        Self::from_u64_fill(v, 0, words)
    }

    fn is_neg(&self) -> bool {
        self.w[self.words() - 1] >> 31 == 1
    }

    fn is_zero(&self) -> bool {
        self.w.iter().all(|&x| x == 0)
    }

    fn not(&self) -> Self {
        Self::from_vec(self.w.iter().map(|x| !x).collect())
    }

    fn neg(&self) -> Self {
        self.not().add(&Self::from_i64(1, self.words()))
    }

    fn abs(&self) -> Self {
        if self.is_neg() { self.neg() } else { self.clone() }
    }

    fn add(&self, o: &Self) -> Self {
        let mut carry = 0u64;
        let v = self
            .w
            .iter()
            .zip(o.w.iter())
            .map(|(&a, &b)| {
                let s = u64::from(a) + u64::from(b) + carry;
                carry = s >> 32;
                s as u32
            })
            .collect();
        Self::from_vec(v)
    }

    fn sub(&self, o: &Self) -> Self {
        self.add(&o.neg())
    }

    fn mul(&self, o: &Self) -> Self {
        let n = self.words();
        let mut out = vec![0u32; n];
        for i in 0..n {
            if self.w[i] == 0 {
                continue;
            }
            let mut carry = 0u64;
            for j in 0..n - i {
                let cur = u64::from(out[i + j]) + u64::from(self.w[i]) * u64::from(o.w[j]) + carry;
                out[i + j] = cur as u32;
                carry = cur >> 32;
            }
        }
        Self::from_vec(out)
    }

    fn bitwise(&self, o: &Self, f: impl Fn(u32, u32) -> u32) -> Self {
        Self::from_vec(self.w.iter().zip(o.w.iter()).map(|(&a, &b)| f(a, b)).collect())
    }

    fn bits(&self) -> usize {
        self.words() * 32
    }

    fn bit(&self, i: usize) -> bool {
        (self.w[i / 32] >> (i % 32)) & 1 == 1
    }

    /// Logical shift: left by `n` bits, right for negative `n`; bits shifted
    /// past either end are lost (lua-bint's `shl`/`shr`).
    fn shift(&self, n: i64) -> Self {
        let words = self.words();
        let m = usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX);
        if m >= self.bits() {
            return Self::zero(words);
        }
        let (ws, bs) = ((m / 32) as isize, (m % 32) as u32);
        let at = |k: isize| usize::try_from(k).ok().and_then(|k| self.w.get(k).copied()).unwrap_or(0);
        let out = (0..words as isize)
            .map(|i| {
                let (near, far) =
                    if n >= 0 { (at(i - ws), at(i - ws - 1)) } else { (at(i + ws), at(i + ws + 1)) };
                match (bs, n >= 0) {
                    (0, _) => near,
                    (_, true) => (near << bs) | (far >> (32 - bs)),
                    (_, false) => (near >> bs) | (far << (32 - bs)),
                }
            })
            .collect();
        Self::from_vec(out)
    }

    fn shl(&self, n: i64) -> Self {
        self.shift(n)
    }

    fn shr(&self, n: i64) -> Self {
        self.shift(n.saturating_neg())
    }

    /// Arithmetic shift right (sign-filling).
    fn sar(&self, n: i64) -> Self {
        if n <= 0 || !self.is_neg() {
            return self.shr(n);
        }
        let n = (n as usize).min(self.bits());
        let shifted = self.shr(n as i64);
        let fill = Self::from_i64(-1, self.words()).shl((self.bits() - n) as i64);
        if n == self.bits() { Self::from_i64(-1, self.words()) } else { shifted.bitwise(&fill, |a, b| a | b) }
    }

    fn ucmp(&self, o: &Self) -> Ordering {
        self.w.iter().rev().cmp(o.w.iter().rev())
    }

    fn scmp(&self, o: &Self) -> Ordering {
        match (self.is_neg(), o.is_neg()) {
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            _ => self.ucmp(o),
        }
    }

    /// Unsigned division with remainder; `None` when dividing by zero.
    fn udivmod(&self, d: &Self) -> Option<(Self, Self)> {
        if d.is_zero() {
            return None;
        }
        let words = self.words();
        if d.w[1..].iter().all(|&x| x == 0) {
            let (q, r) = self.divmod_small(d.w[0]);
            return Some((q, Self::from_u64(u64::from(r), words)));
        }
        let mut q = vec![0u32; words];
        let mut r = Self::zero(words);
        for i in (0..self.bits()).rev() {
            r = r.shl(1);
            if self.bit(i) {
                let mut v = r.w.to_vec();
                v[0] |= 1;
                r = Self::from_vec(v);
            }
            if r.ucmp(d) != Ordering::Less {
                r = r.sub(d);
                q[i / 32] |= 1 << (i % 32);
            }
        }
        Some((Self::from_vec(q), r))
    }

    fn divmod_small(&self, d: u32) -> (Self, u32) {
        let mut out = vec![0u32; self.words()];
        let mut rem = 0u64;
        for i in (0..self.words()).rev() {
            let cur = (rem << 32) | u64::from(self.w[i]);
            out[i] = (cur / u64::from(d)) as u32;
            rem = cur % u64::from(d);
        }
        (Self::from_vec(out), rem as u32)
    }

    /// Truncating signed division (C-like).
    fn tdivmod(&self, d: &Self) -> Option<(Self, Self)> {
        let (q, r) = self.abs().udivmod(&d.abs())?;
        let q = if self.is_neg() == d.is_neg() { q } else { q.neg() };
        let r = if self.is_neg() { r.neg() } else { r };
        Some((q, r))
    }

    /// Floor division and modulo (Lua's `//` and `%`).
    fn fdivmod(&self, d: &Self) -> Option<(Self, Self)> {
        let (q, r) = self.tdivmod(d)?;
        if !r.is_zero() && (r.is_neg() != d.is_neg()) {
            Some((q.sub(&Self::from_i64(1, self.words())), r.add(d)))
        } else {
            Some((q, r))
        }
    }

    fn pow(&self, e: &Self) -> Self {
        let words = self.words();
        let mut result = Self::from_i64(1, words);
        if e.is_neg() {
            // x^-n: only 1 and -1 have integral results; lua-bint gives 0 otherwise.
            return if self.ucmp(&result) == Ordering::Equal {
                result
            } else if self.scmp(&Self::from_i64(-1, words)) == Ordering::Equal {
                if e.bit(0) { self.clone() } else { result }
            } else {
                Self::zero(words)
            };
        }
        let mut base = self.clone();
        for i in 0..e.bits() {
            if e.bit(i) {
                result = result.mul(&base);
            }
            base = base.mul(&base);
        }
        result
    }

    fn to_f64(&self) -> f64 {
        let a = self.abs();
        let mut f = 0.0f64;
        for &x in a.w.iter().rev() {
            f = f * 4_294_967_296.0 + f64::from(x);
        }
        if self.is_neg() { -f } else { f }
    }

    /// The low 64 bits as a signed integer.
    fn low_i64(&self) -> i64 {
        let lo = u64::from(self.w[0]) | (u64::from(*self.w.get(1).unwrap_or(&0)) << 32);
        lo as i64
    }

    /// Whether the value fits a Lua integer (signed 64 bits).
    fn fits_i64(&self) -> bool {
        let v = self.low_i64();
        Self::from_i64(v, self.words()) == *self
    }

    fn to_radix(&self, base: u32, unsigned: bool) -> String {
        let neg = !unsigned && self.is_neg();
        let mut v = if neg { self.neg() } else { self.clone() };
        if v.is_zero() {
            return "0".into();
        }
        let mut digits = Vec::new();
        while !v.is_zero() {
            let (q, r) = v.divmod_small(base);
            digits.push(std::char::from_digit(r, base).unwrap_or('?'));
            v = q;
        }
        if neg {
            digits.push('-');
        }
        digits.iter().rev().collect()
    }

    fn parse(s: &str, base: Option<u32>, words: usize) -> Option<Self> {
        let s = s.trim();
        let (neg, rest) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let (base, digits) = if let Some(b) = base {
            (b, rest)
        } else {
            let lower = rest.get(..2).map(str::to_ascii_lowercase);
            match lower.as_deref() {
                Some("0x") => (16, &rest[2..]),
                Some("0b") => (2, &rest[2..]),
                _ => (10, rest),
            }
        };
        if digits.is_empty() || !(2..=36).contains(&base) {
            return None;
        }
        let radix = Self::from_u64(u64::from(base), words);
        let mut v = Self::zero(words);
        for c in digits.chars() {
            if c == '_' {
                continue;
            }
            let d = c.to_digit(base)?;
            v = v.mul(&radix).add(&Self::from_u64(u64::from(d), words));
        }
        Some(if neg { v.neg() } else { v })
    }

    /// An integral float, exactly (large floats are exact integers).
    fn from_f64(f: f64, words: usize) -> Option<Self> {
        if !f.is_finite() || f.fract() != 0.0 {
            return None;
        }
        if f.abs() < 9.2e18 {
            return Some(Self::from_i64(f as i64, words));
        }
        let bits = f.abs().to_bits();
        let exp = ((bits >> 52) & 0x7ff) as i64 - 1075;
        let mantissa = (bits & ((1 << 52) - 1)) | (1 << 52);
        let v = Self::from_u64(mantissa, words).shl(exp);
        Some(if f < 0.0 { v.neg() } else { v })
    }
}

impl UserData for Bint {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| Ok(this.to_radix(10, false)));
        methods.add_meta_function(MetaMethod::Index, |lua, (ud, key): (AnyUserData, Value)| {
            let words = ud.borrow::<Bint>()?.words();
            class_table(lua, words)?.get::<Value>(key)
        });
        for (mm, name) in METAMETHODS {
            methods.add_meta_function(mm, move |lua, (a, b): (Value, Value)| {
                let words =
                    width_of(&a).or_else(|| width_of(&b)).ok_or_else(|| rt("bint: no bint operand"))?;
                call_op(lua, name, words, &a, &b)
            });
        }
    }
}

/// Binary and unary metamethods, by the operation name they dispatch to.
const METAMETHODS: [(MetaMethod, &str); 15] = [
    (MetaMethod::Add, "add"),
    (MetaMethod::Sub, "sub"),
    (MetaMethod::Mul, "mul"),
    (MetaMethod::Div, "div"),
    (MetaMethod::IDiv, "idiv"),
    (MetaMethod::Mod, "mod"),
    (MetaMethod::Pow, "pow"),
    (MetaMethod::Unm, "unm"),
    (MetaMethod::Eq, "eq"),
    (MetaMethod::Lt, "lt"),
    (MetaMethod::Le, "le"),
    (MetaMethod::BAnd, "band"),
    (MetaMethod::BOr, "bor"),
    (MetaMethod::BXor, "bxor"),
    (MetaMethod::BNot, "bnot"),
];

fn width_of(v: &Value) -> Option<usize> {
    match v {
        Value::UserData(ud) => ud.borrow::<Bint>().ok().map(|b| b.words()),
        _ => None,
    }
}

fn registry_key(words: usize) -> String {
    format!("ao_local.bint.{}", words * 32)
}

fn class_table(lua: &Lua, words: usize) -> mlua::Result<Table> {
    lua.named_registry_value::<Table>(&registry_key(words))
}

/// Converts to a bint of `words` words; `None` if not representable.
fn to_bint(v: &Value, words: usize) -> mlua::Result<Option<Bint>> {
    Ok(match v {
        Value::UserData(ud) => match ud.borrow::<Bint>() {
            Ok(b) if b.words() == words => Some(b.clone()),
            // Another width: sign-extend or truncate, like lua-bint's tobint.
            Ok(b) => {
                let fill = if b.is_neg() { u32::MAX } else { 0 };
                Some(Bint::from_vec((0..words).map(|i| *b.w.get(i).unwrap_or(&fill)).collect()))
            }
            Err(_) => None,
        },
        Value::Integer(i) => Some(Bint::from_i64(*i, words)),
        Value::Number(f) => Bint::from_f64(*f, words),
        Value::String(s) => Bint::parse(&s.to_str()?, None, words),
        _ => None,
    })
}

fn convert(v: &Value, words: usize) -> mlua::Result<Bint> {
    to_bint(v, words)?
        .ok_or_else(|| rt(format!("bint: value cannot be represented by a bint ({})", describe(v))))
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("string {:?}", s.to_string_lossy()),
        Value::Number(n) => format!("number {n}"),
        other => other.type_name().to_owned(),
    }
}

/// A Lua number for float arithmetic (bints convert to floats).
fn as_float(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(f) => Some(*f),
        Value::UserData(ud) => ud.borrow::<Bint>().ok().map(|b| b.to_f64()),
        Value::String(s) => s.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()),
        _ => None,
    }
}

fn is_fractional(v: &Value) -> bool {
    matches!(v, Value::Number(f) if f.fract() != 0.0 || !f.is_finite())
}

fn new_ud(lua: &Lua, b: Bint) -> mlua::Result<Value> {
    lua.create_userdata(b).map(Value::UserData)
}

fn float_op(name: &str, a: &Value, b: &Value) -> mlua::Result<Value> {
    let (Some(x), Some(y)) = (as_float(a), as_float(b)) else {
        return Err(rt(format!("bint: cannot {name} {} and {}", describe(a), describe(b))));
    };
    Ok(Value::Number(match name {
        "add" => x + y,
        "sub" => x - y,
        "mul" => x * y,
        "div" => x / y,
        "idiv" => (x / y).floor(),
        "mod" => x - (x / y).floor() * y,
        _ => x.powf(y),
    }))
}

/// Every operator, for both the userdata metatable and the class table.
fn call_op(lua: &Lua, name: &str, words: usize, lhs: &Value, rhs: &Value) -> mlua::Result<Value> {
    match name {
        "div" | "pow" => return float_op(name, lhs, rhs),
        "add" | "sub" | "mul" | "idiv" | "mod" if is_fractional(lhs) || is_fractional(rhs) => {
            return float_op(name, lhs, rhs);
        }
        "eq" => {
            return Ok(Value::Boolean(match (to_bint(lhs, words)?, to_bint(rhs, words)?) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            }));
        }
        "lt" | "le" => {
            if is_fractional(lhs) || is_fractional(rhs) {
                let (x, y) = (as_float(lhs).unwrap_or(f64::NAN), as_float(rhs).unwrap_or(f64::NAN));
                return Ok(Value::Boolean(if name == "lt" { x < y } else { x <= y }));
            }
            let ord = convert(lhs, words)?.scmp(&convert(rhs, words)?);
            return Ok(Value::Boolean(if name == "lt" { ord.is_lt() } else { ord.is_le() }));
        }
        "unm" => return new_ud(lua, convert(lhs, words)?.neg()),
        "bnot" => return new_ud(lua, convert(lhs, words)?.not()),
        _ => {}
    }
    let (x, y) = (convert(lhs, words)?, convert(rhs, words)?);
    let zero_div = || rt("attempt to divide by zero");
    let r = match name {
        "add" => x.add(&y),
        "sub" => x.sub(&y),
        "mul" => x.mul(&y),
        "idiv" => x.fdivmod(&y).ok_or_else(zero_div)?.0,
        "mod" => x.fdivmod(&y).ok_or_else(zero_div)?.1,
        "band" => x.bitwise(&y, |p, q| p & q),
        "bor" => x.bitwise(&y, |p, q| p | q),
        "bxor" => x.bitwise(&y, |p, q| p ^ q),
        other => return Err(rt(format!("bint: unknown operation {other}"))),
    };
    new_ud(lua, r)
}

fn int_arg(v: &Value, what: &str) -> mlua::Result<i64> {
    match v {
        Value::Integer(i) => Ok(*i),
        Value::Number(f) if f.fract() == 0.0 => Ok(*f as i64),
        Value::UserData(ud) => Ok(ud.borrow::<Bint>()?.low_i64()),
        other => Err(rt(format!("bint: {what} expects an integer, got {}", describe(other)))),
    }
}

type Predicate = fn(&Bint) -> bool;
type Unary = fn(&Bint) -> Bint;
type DivMod = fn(&Bint, &Bint) -> Option<(Bint, Bint)>;

/// Builds the class of `bits` bits.
fn make_class(lua: &Lua, bits: i64) -> mlua::Result<Table> {
    let words = (bits / 32) as usize;
    let class = lua.create_table()?;
    let set = |name: &str, f: Function| class.raw_set(name, f);

    for (_, op) in METAMETHODS {
        set(
            &format!("__{op}"),
            lua.create_function(move |lua, (a, b): (Value, Value)| call_op(lua, op, words, &a, &b))?,
        )?;
    }
    set("__tostring", lua.create_function(move |_, a: Value| Ok(convert(&a, words)?.to_radix(10, false)))?)?;
    for (name, op) in [("idiv", "idiv"), ("imod", "mod"), ("eq", "eq")] {
        set(name, lua.create_function(move |lua, (a, b): (Value, Value)| call_op(lua, op, words, &a, &b))?)?;
    }
    set(
        "new",
        lua.create_function(move |lua, v: Value| {
            let b = convert(&v, words)?;
            new_ud(lua, b)
        })?,
    )?;
    set(
        "tobint",
        lua.create_function(move |lua, v: Value| match to_bint(&v, words)? {
            Some(b) => new_ud(lua, b),
            None => Ok(Value::Nil),
        })?,
    )?;
    set("parse", class.raw_get::<Function>("tobint")?)?;
    set(
        "frominteger",
        lua.create_function(move |lua, v: Value| {
            new_ud(lua, Bint::from_i64(int_arg(&v, "frominteger")?, words))
        })?,
    )?;
    set(
        "fromuinteger",
        lua.create_function(move |lua, v: Value| {
            new_ud(lua, Bint::from_u64(int_arg(&v, "fromuinteger")? as u64, words))
        })?,
    )?;
    set(
        "fromstring",
        lua.create_function(move |lua, s: mlua::LuaString| match Bint::parse(&s.to_str()?, None, words) {
            Some(b) => new_ud(lua, b),
            None => Ok(Value::Nil),
        })?,
    )?;
    set(
        "frombase",
        lua.create_function(move |lua, (s, base): (mlua::LuaString, Option<u32>)| {
            match Bint::parse(&s.to_str()?, Some(base.unwrap_or(10)), words) {
                Some(b) => new_ud(lua, b),
                None => Ok(Value::Nil),
            }
        })?,
    )?;
    set(
        "fromle",
        lua.create_function(move |lua, s: mlua::LuaString| {
            let mut v = vec![0u32; words];
            for (i, byte) in s.as_bytes().iter().take(words * 4).enumerate() {
                v[i / 4] |= u32::from(*byte) << (8 * (i % 4));
            }
            new_ud(lua, Bint::from_vec(v))
        })?,
    )?;
    set(
        "tole",
        lua.create_function(move |lua, (a, trim): (Value, Option<bool>)| {
            let b = convert(&a, words)?;
            let mut bytes: Vec<u8> = b.w.iter().flat_map(|x| x.to_le_bytes()).collect();
            if trim.unwrap_or(false) {
                while bytes.len() > 1 && bytes.last() == Some(&0) {
                    bytes.pop();
                }
            }
            lua.create_string(bytes)
        })?,
    )?;
    set("zero", lua.create_function(move |lua, ()| new_ud(lua, Bint::zero(words)))?)?;
    set("one", lua.create_function(move |lua, ()| new_ud(lua, Bint::from_i64(1, words)))?)?;
    set("maxinteger", lua.create_function(move |lua, ()| new_ud(lua, Bint::from_i64(-1, words).shr(1)))?)?;
    set(
        "mininteger",
        lua.create_function(move |lua, ()| new_ud(lua, Bint::from_i64(1, words).shl(bits - 1)))?,
    )?;
    set(
        "tonumber",
        lua.create_function(move |_, a: Value| {
            let b = convert(&a, words)?;
            Ok(if b.fits_i64() { Value::Integer(b.low_i64()) } else { Value::Number(b.to_f64()) })
        })?,
    )?;
    set("tointeger", lua.create_function(move |_, a: Value| Ok(convert(&a, words)?.low_i64()))?)?;
    set("touinteger", lua.create_function(move |_, a: Value| Ok(convert(&a, words)?.low_i64()))?)?;
    set(
        "tostring",
        lua.create_function(move |_, (a, base, unsigned): (Value, Option<u32>, Option<bool>)| {
            let base = base.unwrap_or(10);
            if !(2..=36).contains(&base) {
                return Err(rt(format!("bint: base {base} is out of range 2..36")));
            }
            Ok(convert(&a, words)?.to_radix(base, unsigned.unwrap_or(false)))
        })?,
    )?;
    set(
        "tobase",
        lua.create_function(move |_, (a, base, unsigned): (Value, Option<u32>, Option<bool>)| {
            let base = base.unwrap_or(10);
            if !(2..=36).contains(&base) {
                return Err(rt(format!("bint: base {base} is out of range 2..36")));
            }
            Ok(convert(&a, words)?.to_radix(base, unsigned.unwrap_or(base != 10)))
        })?,
    )?;
    set("isbint", lua.create_function(|_, a: Value| Ok(width_of(&a).is_some()))?)?;
    set(
        "isintegral",
        lua.create_function(|_, a: Value| {
            Ok(matches!(a, Value::Integer(_))
                || width_of(&a).is_some()
                || matches!(a, Value::Number(f) if f.fract() == 0.0))
        })?,
    )?;
    set(
        "isnumeric",
        lua.create_function(|_, a: Value| {
            Ok(matches!(a, Value::Integer(_) | Value::Number(_)) || width_of(&a).is_some())
        })?,
    )?;
    let predicates: [(&str, Predicate); 8] = [
        ("iszero", Bint::is_zero),
        ("isone", |b| *b == Bint::from_i64(1, b.words())),
        ("isminusone", |b| *b == Bint::from_i64(-1, b.words())),
        ("isneg", Bint::is_neg),
        ("ispos", |b| !b.is_neg() && !b.is_zero()),
        ("iseven", |b| !b.bit(0)),
        ("isodd", |b| b.bit(0)),
        ("isunsigned", |_| true),
    ];
    for (name, pred) in predicates {
        set(name, lua.create_function(move |_, a: Value| Ok(pred(&convert(&a, words)?)))?)?;
    }
    let unary: [(&str, Unary); 7] = [
        ("abs", Bint::abs),
        ("floor", Bint::clone),
        ("ceil", Bint::clone),
        ("trunc", Bint::clone),
        ("bnot", Bint::not),
        ("inc", |b| b.add(&Bint::from_i64(1, b.words()))),
        ("dec", |b| b.sub(&Bint::from_i64(1, b.words()))),
    ];
    for (name, f) in unary {
        set(name, lua.create_function(move |lua, a: Value| new_ud(lua, f(&convert(&a, words)?)))?)?;
    }
    set(
        "max",
        lua.create_function(move |lua, (a, b): (Value, Value)| {
            let (x, y) = (convert(&a, words)?, convert(&b, words)?);
            new_ud(lua, if x.scmp(&y).is_ge() { x } else { y })
        })?,
    )?;
    set(
        "min",
        lua.create_function(move |lua, (a, b): (Value, Value)| {
            let (x, y) = (convert(&a, words)?, convert(&b, words)?);
            new_ud(lua, if x.scmp(&y).is_le() { x } else { y })
        })?,
    )?;
    set(
        "ult",
        lua.create_function(move |_, (a, b): (Value, Value)| {
            Ok(convert(&a, words)?.ucmp(&convert(&b, words)?).is_lt())
        })?,
    )?;
    set(
        "ule",
        lua.create_function(move |_, (a, b): (Value, Value)| {
            Ok(convert(&a, words)?.ucmp(&convert(&b, words)?).is_le())
        })?,
    )?;
    let divisions: [(&str, DivMod); 3] =
        [("udivmod", Bint::udivmod), ("tdivmod", Bint::tdivmod), ("idivmod", Bint::fdivmod)];
    for (prefix, f) in divisions {
        let kind = &prefix[..1];
        set(
            prefix,
            lua.create_function(move |lua, (a, b): (Value, Value)| {
                let (q, r) = f(&convert(&a, words)?, &convert(&b, words)?)
                    .ok_or_else(|| rt("attempt to divide by zero"))?;
                Ok((new_ud(lua, q)?, new_ud(lua, r)?))
            })?,
        )?;
        // Floor division's names (idiv/imod) are the operators above.
        let names = match kind {
            "u" => [("udiv", true), ("umod", false)],
            "t" => [("tdiv", true), ("tmod", false)],
            _ => continue,
        };
        for (name, want_q) in names {
            set(
                name,
                lua.create_function(move |lua, (a, b): (Value, Value)| {
                    let (q, r) = f(&convert(&a, words)?, &convert(&b, words)?)
                        .ok_or_else(|| rt("attempt to divide by zero"))?;
                    new_ud(lua, if want_q { q } else { r })
                })?,
            )?;
        }
    }
    set(
        "ipow",
        lua.create_function(move |lua, (a, b): (Value, Value)| {
            new_ud(lua, convert(&a, words)?.pow(&convert(&b, words)?))
        })?,
    )?;
    set(
        "upowmod",
        lua.create_function(move |lua, (a, b, m): (Value, Value, Value)| {
            let (mut base, e, m) = (convert(&a, words)?, convert(&b, words)?, convert(&m, words)?);
            if m.is_zero() {
                return Err(rt("attempt to divide by zero"));
            }
            let mut result =
                Bint::from_i64(1, words).udivmod(&m).map_or_else(|| Bint::zero(words), |(_, r)| r);
            base = base.udivmod(&m).map_or(base, |(_, r)| r);
            for i in 0..e.bits() {
                if e.bit(i) {
                    result = result.mul(&base).udivmod(&m).map_or(result, |(_, r)| r);
                }
                base = base.mul(&base).udivmod(&m).map_or(base, |(_, r)| r);
            }
            new_ud(lua, result)
        })?,
    )?;
    for (name, op) in [("shl", 0u8), ("shr", 1), ("sar", 2)] {
        set(
            name,
            lua.create_function(move |lua, (a, n): (Value, Value)| {
                let (x, n) = (convert(&a, words)?, int_arg(&n, "shift")?);
                new_ud(
                    lua,
                    match op {
                        0 => x.shl(n),
                        1 => x.shr(n),
                        _ => x.sar(n),
                    },
                )
            })?,
        )?;
    }
    for (name, op) in [("band", "band"), ("bor", "bor"), ("bxor", "bxor")] {
        set(name, lua.create_function(move |lua, (a, b): (Value, Value)| call_op(lua, op, words, &a, &b))?)?;
    }
    class.raw_set("bits", bits)?;
    // `bint(x)` is `bint.new(x)`.
    let meta = lua.create_table()?;
    meta.raw_set(
        "__call",
        lua.create_function(move |lua, (_, v): (Value, Value)| new_ud(lua, convert(&v, words)?))?,
    )?;
    class.set_metatable(Some(meta))?;
    Ok(class)
}

pub(crate) fn open(lua: &Lua) -> mlua::Result<Function> {
    lua.create_function(|lua, (bits, _wordbits): (Option<i64>, Option<i64>)| {
        let bits = bits.unwrap_or(256);
        if !(MIN_BITS..=MAX_BITS).contains(&bits) || bits % 32 != 0 {
            return Err(rt(format!(
                "bint: bits must be a multiple of 32 from {MIN_BITS} to {MAX_BITS}, got {bits}"
            )));
        }
        let key = registry_key((bits / 32) as usize);
        if let Ok(existing) = lua.named_registry_value::<Table>(&key) {
            return Ok(existing);
        }
        let class = make_class(lua, bits)?;
        lua.set_named_registry_value(&key, &class)?;
        Ok(class)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lua() -> Lua {
        let lua = Lua::new();
        let preload: Table = lua.globals().get::<Table>("package").unwrap().get("preload").unwrap();
        let module = open(&lua).unwrap();
        preload.set(".bint", lua.create_function(move |_, ()| Ok(module.clone())).unwrap()).unwrap();
        lua.load("bint = require('.bint')(256)").exec().unwrap();
        lua
    }

    fn eval(lua: &Lua, code: &str) -> Result<String, String> {
        lua.load(format!("return tostring({code})")).eval::<String>().map_err(|e| e.to_string())
    }

    #[test]
    fn token_blueprint_idioms() {
        let lua = lua();
        let cases = [
            ("tostring(bint('1000000000000000000') + bint('2500'))", "1000000000000002500"),
            ("tostring(bint(100) - bint('30'))", "70"),
            ("bint('5') <= bint('10')", "true"),
            ("bint.__lt(0, bint('5'))", "true"),
            ("bint.__lt(bint('5'), 0)", "false"),
            ("bint.__le(bint('5'), '5')", "true"),
            ("tostring(bint.__add(bint('1'), '2'))", "3"),
            ("bint.tonumber(bint('42'))", "42"),
            ("math.type(bint.tonumber(bint('42')))", "integer"),
            ("bint.tonumber(bint('100000000000000000000000'))", "1e+23"),
            ("bint(7) == bint(7)", "true"),
            ("bint(7) == bint(8)", "false"),
            ("bint.isbint(bint(1)) and not bint.isbint(1)", "true"),
            ("bint.ipow(bint(2), 200)", "1606938044258990275541962092341162602522202993782792835301376"),
            ("bint.ipow(2, 256)", "0"),
            ("bint.ipow(2, 255) == bint.mininteger()", "true"),
            ("bint.maxinteger() + 1 == bint.mininteger()", "true"),
            ("-bint(5)", "-5"),
            ("bint(-7) // 2", "-4"),
            ("bint(-7) % 2", "1"),
            ("bint(7) // -2", "-4"),
            ("bint(7) % -2", "-1"),
            ("bint.tdiv(-7, 2)", "-3"),
            ("bint.tmod(-7, 2)", "-1"),
            ("bint(10) / 4", "2.5"),
            ("bint(3) * 1.5", "4.5"),
            ("bint(2) ^ 10", "1024.0"),
            ("bint('0xff') + bint('0b101')", "260"),
            ("bint.tobase(bint(255), 16)", "ff"),
            ("bint.tobase(bint(-1), 16)", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
            ("bint.tobase(bint(-255), 10)", "-255"),
            ("bint(6) & 3", "2"),
            ("bint(6) | 3", "7"),
            ("bint(6) ~ 3", "5"),
            ("~bint(0)", "-1"),
            ("bint.shl(1, 100)", "1267650600228229401496703205376"),
            ("bint.shr(bint.shl(1, 100), 99)", "2"),
            ("bint.sar(-8, 1)", "-4"),
            ("bint.upowmod(4, 13, 497)", "445"),
            ("bint(12):iszero()", "false"),
            ("bint(12):tobase(2)", "1100"),
            ("bint.fromstring('nope')", "nil"),
            ("bint(1e30)", "1000000000000000019884624838656"),
            ("bint.max(3, bint(9))", "9"),
            ("bint.min(-3, bint(9))", "-3"),
            ("bint.abs(-12)", "12"),
            ("select(2, bint.udivmod(17, 5))", "2"),
            ("bint.isneg(bint(-1)) and bint.ispos(bint(1)) and bint.iseven(4) and bint.isodd(3)", "true"),
            ("require('.bint')(256) == bint", "true"),
            ("require('.bint')(64)(-1) + 1", "0"),
        ];
        for (code, expected) in cases {
            assert_eq!(eval(&lua, code).unwrap(), expected, "{code}");
        }
    }

    #[test]
    fn errors_are_lua_errors_with_reasons() {
        let lua = lua();
        let cases = [
            ("bint('12abc')", "value cannot be represented by a bint (string \"12abc\")"),
            ("bint(1.5)", "value cannot be represented by a bint (number 1.5)"),
            ("bint({})", "value cannot be represented by a bint (table)"),
            ("bint(1) // 0", "attempt to divide by zero"),
            ("bint(1) % bint(0)", "attempt to divide by zero"),
            ("require('.bint')(100)", "bits must be a multiple of 32"),
            ("bint.tobase(1, 99)", "base 99 is out of range"),
        ];
        for (code, expected) in cases {
            let err = eval(&lua, code).unwrap_err();
            assert!(err.contains(expected), "{code}: {err}");
        }
    }

    /// Differential: on values where 64-bit Lua integers do not overflow, bint
    /// arithmetic must agree with Lua's own.
    #[test]
    fn agrees_with_lua_integers() {
        let lua = lua();
        let code = r#"
            local seed = 12345
            local function rnd()
                seed = (seed * 6364136223846793005 + 1442695040888963407)
                return (seed >> 33) - (1 << 30)
            end
            for i = 1, 3000 do
                local a, b = rnd(), rnd()
                if b == 0 then b = 7 end
                local A, B = bint(a), bint(b)
                local checks = {
                    { A + B, a + b }, { A - B, a - b }, { A * B, a * b },
                    { A // B, a // b }, { A % B, a % b }, { A & B, a & b }, { A | B, a | b }, { A ~ B, a ~ b },
                }
                for k, c in ipairs(checks) do
                    if tostring(c[1]) ~= tostring(c[2]) then
                        error(string.format("op %d on %d, %d: bint %s, lua %s", k, a, b, tostring(c[1]), tostring(c[2])))
                    end
                end
                if (A < B) ~= (a < b) or (A <= B) ~= (a <= b) or (A == B) ~= (a == b) then
                    error("comparison differs on " .. a .. ", " .. b)
                end
                if bint.tonumber(A) ~= a then error("tonumber " .. a) end
            end
            return "ok"
        "#;
        assert_eq!(lua.load(code).eval::<String>().unwrap(), "ok");
    }

    #[test]
    fn parse_print_round_trip_at_full_width() {
        let lua = lua();
        let code = r#"
            local x = bint.ipow(3, 160) - bint.ipow(7, 80)
            local s = tostring(x)
            assert(tostring(bint(s)) == s)
            assert(bint.frombase(bint.tobase(x, 16), 16) == x)
            assert(bint.fromle(bint.tole(x)) == x)
            local y = -x
            assert(tostring(bint(tostring(y))) == tostring(y))
            return s
        "#;
        // 3^160 - 7^80, computed independently (Python big integers).
        assert_eq!(
            lua.load(code).eval::<String>().unwrap(),
            "21847450012302997027086269670924369033550376304037529629800740202470477907200"
        );
    }

    mod oracle {
        //! Bint at 128 bits against Rust's own `u128`/`i128`, which wrap the same way.
        use super::super::Bint;
        use proptest::prelude::*;

        fn b(v: u128) -> Bint {
            Bint::from_vec((0..4).map(|i| (v >> (32 * i)) as u32).collect())
        }

        fn u(x: &Bint) -> u128 {
            x.w.iter().rev().fold(0u128, |acc, &w| (acc << 32) | u128::from(w))
        }

        proptest! {
            #[test]
            fn arithmetic_matches_u128(x in any::<u128>(), y in any::<u128>(), n in -140i64..140) {
                prop_assert_eq!(u(&b(x).add(&b(y))), x.wrapping_add(y));
                prop_assert_eq!(u(&b(x).sub(&b(y))), x.wrapping_sub(y));
                prop_assert_eq!(u(&b(x).mul(&b(y))), x.wrapping_mul(y));
                prop_assert_eq!(u(&b(x).neg()), x.wrapping_neg());
                let shl = if n >= 128 { 0 } else if n >= 0 { x << n } else if n > -128 { x >> -n } else { 0 };
                prop_assert_eq!(u(&b(x).shl(n)), shl);
                let sar = if n <= 0 { None } else { Some(((x as i128) >> n.min(127)) as u128) };
                if let Some(expected) = sar {
                    prop_assert_eq!(u(&b(x).sar(n)), expected);
                }
                prop_assert_eq!(b(x).ucmp(&b(y)), x.cmp(&y));
                prop_assert_eq!(b(x).scmp(&b(y)), (x as i128).cmp(&(y as i128)));
                if y != 0 {
                    let (q, r) = b(x).udivmod(&b(y)).unwrap();
                    prop_assert_eq!((u(&q), u(&r)), (x / y, x % y));
                    let (xs, ys) = (x as i128, y as i128);
                    if !(xs == i128::MIN && ys == -1) {
                        // Floor division: truncate, then step down when the signs differ.
                        let (mut fq, mut fr) = (xs / ys, xs % ys);
                        if fr != 0 && (fr < 0) != (ys < 0) {
                            fq -= 1;
                            fr += ys;
                        }
                        let (q, r) = b(x).fdivmod(&b(y)).unwrap();
                        prop_assert_eq!((u(&q) as i128, u(&r) as i128), (fq, fr));
                    }
                } else {
                    prop_assert!(b(x).udivmod(&b(y)).is_none());
                }
                prop_assert_eq!(b(x).to_radix(10, true), x.to_string());
                prop_assert_eq!(b(x).to_radix(10, false), (x as i128).to_string());
                prop_assert_eq!(Bint::parse(&(x as i128).to_string(), None, 4), Some(b(x)));
                prop_assert_eq!(Bint::parse(&format!("0x{x:x}"), None, 4), Some(b(x)));
            }
        }
    }
}
