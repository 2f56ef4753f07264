//! Topics: the one owner of the broker's view of them (names, ids,
//! partition counts, parsed configs) and of every change to it — creation
//! (CreateTopics and Metadata's auto-creation), deletion, and the changes
//! other brokers make, which arrive through the metadata store's change
//! feed ([`Topics::follow_changes`]). Each change goes to the store, the
//! log and the in-memory view together.
//!
//! - [`config`]: topic configs, their checks and effective values.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use thiserror::Error;
use tokio::sync::mpsc;
use tracing::{info, warn};
use uuid::Uuid;

use crate::clock::Clock;
use crate::config::limits::RESYNC_RETRY_MS;
use crate::log::{Log, LogError};
use crate::metadata::{Change, MetaError, TopicCatalog, TopicRecord};
use crate::metrics as m;
use crate::protocol::names::topic_name_problem;

pub mod config;

pub use config::{validate_configs, TimestampType, TopicConfig, TopicDefaults};

/// A topic as this broker serves it.
#[derive(Debug)]
pub struct Topic {
    pub id: Uuid,
    pub name: String,
    pub partitions: i32,
    /// The configs set on the topic itself, as given.
    pub configs: BTreeMap<String, String>,
    /// The effective values StreamHouse acts on (the topic's own, else the
    /// broker's defaults).
    pub config: TopicConfig,
}

/// Why a topic could not be created or deleted.
#[derive(Debug, Error)]
pub enum TopicError {
    #[error("{0}")]
    InvalidName(&'static str),
    #[error("Topic '{name}' already exists.")]
    Exists { name: String },
    #[error(transparent)]
    Store(#[from] MetaError),
    #[error(transparent)]
    Log(#[from] LogError),
}

#[derive(Default)]
struct Maps {
    by_name: HashMap<String, Arc<Topic>>,
    by_id: HashMap<Uuid, Arc<Topic>>,
}

pub struct Topics {
    maps: RwLock<Maps>,
    defaults: TopicDefaults,
    catalog: Arc<dyn TopicCatalog>,
    log: Log,
    clock: Arc<dyn Clock>,
}

impl Topics {
    /// Loads every stored topic into the view and the log.
    pub async fn load(
        catalog: Arc<dyn TopicCatalog>,
        log: Log,
        clock: Arc<dyn Clock>,
        defaults: TopicDefaults,
    ) -> Result<Self, TopicError> {
        let topics = Self { maps: RwLock::new(Maps::default()), defaults, catalog, log, clock };
        for record in topics.catalog.list_topics().await? {
            let config = TopicConfig::from_map(&record.configs, &topics.defaults);
            topics.log.load_topic(&record, config.log_config()).await?;
            topics.insert(record, config);
        }
        Ok(topics)
    }

    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.maps.read().unwrap_or_else(|p| p.into_inner()).by_name.get(name).cloned()
    }

    pub fn get_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.maps.read().unwrap_or_else(|p| p.into_inner()).by_id.get(&id).cloned()
    }

    /// Every topic, sorted by name.
    pub fn all(&self) -> Vec<Arc<Topic>> {
        let mut v: Vec<_> = self.maps.read().unwrap_or_else(|p| p.into_inner()).by_name.values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    fn insert(&self, record: TopicRecord, config: TopicConfig) -> Arc<Topic> {
        let TopicRecord { id, name, partitions, configs, .. } = record;
        let topic = Arc::new(Topic { id, name, partitions, configs, config });
        let mut maps = self.maps.write().unwrap_or_else(|p| p.into_inner());
        maps.by_name.insert(topic.name.clone(), topic.clone());
        maps.by_id.insert(topic.id, topic.clone());
        topic
    }

    fn remove(&self, topic: &Topic) {
        self.log.remove_topic(topic.id);
        let mut maps = self.maps.write().unwrap_or_else(|p| p.into_inner());
        if maps.by_name.get(&topic.name).is_some_and(|t| t.id == topic.id) {
            maps.by_name.remove(&topic.name);
        }
        maps.by_id.remove(&topic.id);
    }

    /// Adds a topic the store holds to the log and the view (a no-op for
    /// one already known).
    fn adopt(&self, record: TopicRecord) -> Arc<Topic> {
        if let Some(known) = self.get_by_id(record.id) {
            return known;
        }
        let config = TopicConfig::from_map(&record.configs, &self.defaults);
        self.log.add_topic(&record, config.log_config());
        self.insert(record, config)
    }

    /// Creates a topic in the store, the log and the view: CreateTopics,
    /// and Metadata's auto-creation. The configs were checked by the
    /// caller. A topic created concurrently by someone else is
    /// [`TopicError::Exists`] (and this broker learns of it).
    pub async fn create(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, TopicError> {
        if let Some(problem) = topic_name_problem(name) {
            return Err(TopicError::InvalidName(problem));
        }
        let record = TopicRecord {
            id: Uuid::new_v4(),
            name: name.to_string(),
            partitions,
            configs,
            created_ms: self.clock.now_ms(),
        };
        match self.catalog.create_topic(&record).await {
            Ok(()) => {}
            Err(MetaError::TopicExists { .. }) => {
                // Another request won the race; make sure we know its topic.
                if let Ok(all) = self.catalog.list_topics().await {
                    if let Some(existing) = all.into_iter().find(|t| t.name == name) {
                        self.adopt(existing);
                    }
                }
                return Err(TopicError::Exists { name: name.to_string() });
            }
            Err(e) => return Err(e.into()),
        }
        info!(topic = %name, partitions, id = %record.id, "topic created");
        Ok(self.adopt(record))
    }

    /// Deletes a topic with its index rows; its objects become garbage.
    pub async fn delete(&self, topic: &Topic) -> Result<(), TopicError> {
        self.catalog.delete_topic(&topic.name).await?;
        self.remove(topic);
        info!(topic = %topic.name, id = %topic.id, "topic deleted");
        Ok(())
    }

    /// Applies what other brokers change, as the store's feed reports it:
    /// new offsets (waking long polls) and topic changes. After the feed
    /// (re)connects, everything is reloaded once. Runs until the feed ends.
    pub async fn follow_changes(self: Arc<Self>, node_id: i32, mut feed: mpsc::Receiver<Change>) {
        while let Some(change) = feed.recv().await {
            match change {
                Change::Partition { node_id: from, topic_id, partition, offsets } => {
                    if from != node_id {
                        metrics::counter!(m::METADATA_REMOTE_CHANGES_TOTAL, "kind" => "partition").increment(1);
                        self.log.apply_remote(topic_id, partition, offsets);
                    }
                }
                Change::Topics | Change::Resync => {
                    metrics::counter!(m::METADATA_REMOTE_CHANGES_TOTAL, "kind" => "resync").increment(1);
                    while let Err(e) = self.resync().await {
                        warn!(error = %e, "cannot reload topics and offsets from the metadata store; retrying");
                        tokio::time::sleep(Duration::from_millis(RESYNC_RETRY_MS)).await;
                    }
                }
            }
        }
    }

    /// Reloads topics (adding and removing) and every partition's offsets.
    pub async fn resync(&self) -> Result<(), TopicError> {
        let stored = self.catalog.list_topics().await?;
        let stored_ids: HashSet<Uuid> = stored.iter().map(|t| t.id).collect();
        for t in self.all() {
            if stored_ids.contains(&t.id) {
                continue;
            }
            // The list may predate a topic this broker created meanwhile:
            // forget a topic only once the store confirms it is gone.
            if !self.log.topic_exists(t.id).await? {
                info!(topic = %t.name, "topic gone from the metadata store; forgotten");
                self.remove(&t);
            }
        }
        for t in stored {
            if self.get_by_id(t.id).is_none() {
                info!(topic = %t.name, partitions = t.partitions, "topic loaded from the metadata store");
                self.adopt(t);
            }
        }
        self.log.reload_offsets().await?;
        Ok(())
    }
}
