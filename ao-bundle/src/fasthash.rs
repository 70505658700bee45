//! A fast hasher for the bundler's maps keyed by byte offsets and names.
//!
//! The keys come from the project being bundled (the developer's own code),
//! so resistance to crafted collisions (what std's `SipHash` buys) is not
//! needed; a multiply-rotate hash in the style of rustc's `FxHasher` makes
//! those lookups several times cheaper.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Multiply-rotate hashing of machine words.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
/// A `HashSet` with [`FastHasher`].
pub(crate) type FastSet<K> = HashSet<K, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_behave_like_std_maps() {
        let mut fast: FastMap<String, usize> = FastMap::default();
        let mut std_map: HashMap<String, usize> = HashMap::new();
        for i in 0..2000usize {
            let key = format!("name_{}", i * 7919 % 1000);
            *fast.entry(key.clone()).or_default() += i;
            *std_map.entry(key).or_default() += i;
        }
        assert_eq!(fast.len(), std_map.len());
        assert!(std_map.iter().all(|(k, v)| fast.get(k) == Some(v)));
        let offsets: FastSet<usize> = (0..10_000).map(|i| i * 13).collect();
        assert!((0..10_000).all(|i| offsets.contains(&(i * 13)) && !offsets.contains(&(i * 13 + 1))));
    }
}
