//! The topic catalog: topics, their configs and their partitions (tables
//! `topics`, `topic_configs`, `partitions`). Used by [`crate::topics`],
//! the one owner of topic creation and deletion.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::bounded::store_trait;
use super::MetaError;

/// A topic as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRecord {
    pub id: Uuid,
    pub name: String,
    pub partitions: i32,
    pub configs: BTreeMap<String, String>,
    pub created_ms: i64,
}

store_trait! {
    pub trait TopicCatalog {
        /// Creates the topic with its configs and partitions (each starting
        /// at offset 0); [`MetaError::TopicExists`] if the name is taken.
        async fn create_topic(&self, topic: &TopicRecord) -> Result<(), MetaError>;

        /// Deletes a topic with its partitions and index rows; returns it.
        async fn delete_topic(&self, name: &str) -> Result<TopicRecord, MetaError>;

        /// Every topic, by name.
        async fn list_topics(&self) -> Result<Vec<TopicRecord>, MetaError>;
    }
}
