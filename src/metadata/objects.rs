//! Committed objects (table `objects`), for garbage collection: an object
//! is recorded by the commit that first references it ([`super::LogIndex`])
//! and forgotten once deleted from the object store. Inline objects (table
//! `inline_objects`, docs/design/0004-inline-flushes.md) keep their bytes
//! here until they are spilled into an object.

use std::collections::HashSet;

use bytes::Bytes;

use super::bounded::store_trait;
use super::MetaError;

/// An inline object waiting to be spilled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineObject {
    pub object_key: String,
    pub size_bytes: u64,
    pub node_id: i32,
    pub created_ms: i64,
}

store_trait! {
    pub trait ObjectCatalog {
        /// Keys of committed objects that no index row references any more.
        async fn unreferenced_objects(&self) -> Result<Vec<String>, MetaError>;

        /// Which of `keys` are committed objects (not yet forgotten).
        async fn known_objects(&self, keys: &[String]) -> Result<HashSet<String>, MetaError>;

        /// Drops the record of an object that was deleted from the object
        /// store, or of an inline object with its bytes.
        async fn forget_object(&self, key: &str) -> Result<(), MetaError>;

        /// Bytes `start..end` of an inline object; `None` once it is gone
        /// (spilled, or its rows dropped).
        async fn read_inline(&self, key: &str, start: u64, end: u64) -> Result<Option<Bytes>, MetaError>;

        /// Inline objects, oldest first, at most `limit`: what spillers
        /// move into objects.
        async fn inline_objects(&self, limit: u32) -> Result<Vec<InlineObject>, MetaError>;
    }
}
