//! The object store: where record batches live.
//!
//! A deliberately small trait with semantic errors, so every backend (the
//! local directory of the embedded default, S3 later) behaves the same and
//! one conformance suite ([`conformance`]) checks them all.

use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use thiserror::Error;

pub mod budget;
pub mod conformance;
pub mod hedge;
pub mod latency;
pub mod local;
pub mod s3;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("object {key} not found")]
    NotFound { key: String },
    #[error("object {key} already exists")]
    AlreadyExists { key: String },
    #[error("range {start}..{end} is outside object {key} of {size_bytes} bytes")]
    BadRange { key: String, start: u64, end: u64, size_bytes: u64 },
    #[error("object store unavailable during {operation} of {key}: {source}")]
    Unavailable {
        operation: &'static str,
        key: String,
        #[source]
        source: std::io::Error,
    },
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size_bytes: u64,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
}

#[async_trait]
pub trait ObjectStore: Send + Sync + 'static {
    /// Stores a new object. Create-only: an existing key is never replaced
    /// and yields [`StoreError::AlreadyExists`].
    async fn put_new(&self, key: &str, bytes: Bytes) -> Result<(), StoreError>;

    /// Stores a new object under a fresh key from `new_key` and returns
    /// the key. A store may write a second copy under another fresh key
    /// when the first is slow ([`hedge::Hedged`]) and return whichever
    /// landed first; the other is unreferenced, for garbage collection.
    async fn put_fresh(
        &self,
        bytes: Bytes,
        new_key: &(dyn Fn() -> String + Send + Sync),
    ) -> Result<String, StoreError> {
        let key = new_key();
        self.put_new(&key, bytes).await.map(|()| key)
    }

    /// Reads `range` of an object.
    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError>;

    /// Lists objects whose key starts with `prefix`.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError>;

    /// Deletes an object; deleting a missing object succeeds.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// A human-readable location for logs.
    fn describe(&self) -> String;
}
