//! Derived keys by (secret, salt), bounded: when full, the key cached longest ago goes, one
//! at a time, so a burst of new values never wipes the keys that every account load needs.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::{KEY_LEN, SALT_LEN};

type Slot = (String, [u8; SALT_LEN]);

#[derive(Default)]
struct Entries {
    keys: HashMap<Slot, [u8; KEY_LEN]>,
    /// Insertion order, oldest first.
    order: VecDeque<Slot>,
}

/// A bounded, first-in first-out cache of derived keys.
pub(super) struct KeyCache {
    max: usize,
    entries: Mutex<Entries>,
}

impl KeyCache {
    pub fn new(max: usize) -> KeyCache {
        KeyCache {
            max: max.max(1),
            entries: Mutex::default(),
        }
    }

    pub fn get(&self, secret: &str, salt: &[u8; SALT_LEN]) -> Option<[u8; KEY_LEN]> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.keys.get(&(secret.to_string(), *salt)).copied()
    }

    pub fn insert(&self, secret: &str, salt: &[u8; SALT_LEN], key: [u8; KEY_LEN]) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let slot = (secret.to_string(), *salt);
        if entries.keys.insert(slot.clone(), key).is_some() {
            return;
        }
        entries.order.push_back(slot);
        while entries.order.len() > self.max {
            if let Some(oldest) = entries.order.pop_front() {
                entries.keys.remove(&oldest);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap().keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_cache_drops_only_its_oldest_key() {
        let cache = KeyCache::new(3);
        for i in 0..5u8 {
            cache.insert("s", &[i; SALT_LEN], [i; KEY_LEN]);
        }
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get("s", &[0; SALT_LEN]), None);
        assert_eq!(cache.get("s", &[1; SALT_LEN]), None);
        for i in 2..5u8 {
            assert_eq!(cache.get("s", &[i; SALT_LEN]), Some([i; KEY_LEN]));
        }
        assert_eq!(
            cache.get("other", &[4; SALT_LEN]),
            None,
            "keyed by secret too"
        );
        // Inserting a key again does not count twice.
        cache.insert("s", &[4; SALT_LEN], [4; KEY_LEN]);
        assert_eq!(cache.len(), 3);
    }
}
