//! A small fast hasher for short string keys (the rustc FxHasher idea); no DoS concern
//! here: keys come from the rule sets, and look-ups with event strings only read.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// A map for the few keys of one pricing call: a vector searched in order while small,
/// indexed by a hash map once it grows (so a 1000-line order stays linear).
pub struct SmallMap<K, V> {
    entries: Vec<(K, V)>,
    index: Option<FxMap<K, usize>>,
}

const SMALL: usize = 16;

impl<K: Copy + Eq + std::hash::Hash, V> SmallMap<K, V> {
    pub fn new() -> Self {
        SmallMap {
            entries: Vec::new(),
            index: None,
        }
    }

    #[inline]
    fn position(&self, key: &K) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.entries.iter().position(|e| e.0 == *key),
        }
    }

    #[inline]
    pub fn get(&self, key: &K) -> Option<&V> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    #[inline]
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        match self.position(key) {
            Some(i) => Some(&mut self.entries[i].1),
            None => None,
        }
    }

    /// Adds a key that is not in the map yet.
    pub fn insert_new(&mut self, key: K, value: V) {
        self.entries.push((key, value));
        let at = self.entries.len() - 1;
        match &mut self.index {
            Some(index) => {
                index.insert(key, at);
            }
            None if self.entries.len() > SMALL => {
                self.index = Some(
                    self.entries
                        .iter()
                        .enumerate()
                        .map(|(i, e)| (e.0, i))
                        .collect(),
                );
            }
            None => {}
        }
    }

    pub fn into_entries(self) -> Vec<(K, V)> {
        self.entries
    }
}
