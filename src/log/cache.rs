//! A size-capped LRU cache of whole objects. The writer puts every object it
//! commits here (write-through), so consumers reading near the tail are
//! served from memory and never issue a GET.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

pub struct ObjectCache {
    inner: Mutex<Inner>,
    bytes_max: usize,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Arc<str>, (Bytes, u64)>,
    by_age: BTreeMap<u64, Arc<str>>,
    tick: u64,
    bytes: usize,
}

impl ObjectCache {
    pub fn new(bytes_max: usize) -> Self {
        Self { inner: Mutex::new(Inner::default()), bytes_max }
    }

    pub fn get(&self, key: &str) -> Option<Bytes> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.tick += 1;
        let tick = inner.tick;
        let (bytes, old_tick, key) = {
            let (k, (bytes, t)) = inner.entries.get_key_value(key)?;
            (bytes.clone(), *t, k.clone())
        };
        inner.by_age.remove(&old_tick);
        inner.by_age.insert(tick, key.clone());
        inner.entries.insert(key, (bytes.clone(), tick));
        Some(bytes)
    }

    pub fn insert(&self, key: Arc<str>, object: Bytes) {
        if object.len() > self.bytes_max {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.tick += 1;
        let tick = inner.tick;
        inner.bytes += object.len();
        if let Some((old, old_tick)) = inner.entries.insert(key.clone(), (object, tick)) {
            inner.bytes -= old.len();
            inner.by_age.remove(&old_tick);
        }
        inner.by_age.insert(tick, key);
        while inner.bytes > self.bytes_max {
            let Some((_, oldest)) = inner.by_age.pop_first() else {
                break;
            };
            if let Some((b, _)) = inner.entries.remove(&oldest) {
                inner.bytes -= b.len();
            }
        }
        metrics::gauge!(crate::metrics::CACHE_BYTES).set(inner.bytes as f64);
    }

    pub fn remove(&self, key: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((b, t)) = inner.entries.remove(key) {
            inner.bytes -= b.len();
            inner.by_age.remove(&t);
        }
    }

    pub fn bytes(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_within_the_cap() {
        let c = ObjectCache::new(10);
        c.insert("a".into(), Bytes::from_static(b"aaaa"));
        c.insert("b".into(), Bytes::from_static(b"bbbb"));
        assert!(c.get("a").is_some()); // a is now newer than b
        c.insert("c".into(), Bytes::from_static(b"cccc"));
        assert!(c.get("b").is_none());
        assert!(c.get("a").is_some() && c.get("c").is_some());
        assert_eq!(c.bytes(), 8);
        c.insert("huge".into(), Bytes::from(vec![0u8; 11]));
        assert!(c.get("huge").is_none());
        c.remove("a");
        assert_eq!(c.bytes(), 4);
    }
}
