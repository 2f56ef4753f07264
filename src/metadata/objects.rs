//! Committed objects (table `objects`), for garbage collection: an object
//! is recorded by the commit that first references it ([`super::LogIndex`])
//! and forgotten once deleted from the object store.

use std::collections::HashSet;

use super::bounded::store_trait;
use super::MetaError;

store_trait! {
    pub trait ObjectCatalog {
        /// Keys of committed objects that no index row references any more.
        async fn unreferenced_objects(&self) -> Result<Vec<String>, MetaError>;

        /// Which of `keys` are committed objects (not yet forgotten).
        async fn known_objects(&self, keys: &[String]) -> Result<HashSet<String>, MetaError>;

        /// Drops the record of an object that was deleted from the object store.
        async fn forget_object(&self, key: &str) -> Result<(), MetaError>;
    }
}
