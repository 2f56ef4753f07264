//! The storage engine: the log of every partition, on an object store and a
//! metadata store.
//!
//! - [`writer`]: group commit — the batches of many partitions become ONE
//!   object and ONE metadata transaction per flush; producers are answered
//!   only after the commit.
//! - [`reader`]: index lookup (tail rows from memory), byte ranges from the
//!   write-through [`cache`] or ranged GETs, base-offset patching.
//! - [`gc`]: deletion of objects no index row references.
//! - [`object_format`]: the bytes of an object.
//!
//! Callers are the handlers; the log sees only the two store traits and
//! never a protocol type.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use thiserror::Error;
use tokio::sync::watch;
use uuid::Uuid;

use crate::clock::Clock;
use crate::metadata::{IndexRow, MetaError, MetadataStore, PartitionOffsets, TopicRecord};
use crate::object_store::{ObjectStore, StoreError};
use crate::protocol::batch::BatchError;

pub mod cache;
pub mod gc;
pub mod object_format;
pub mod reader;
pub mod writer;

#[cfg(test)]
mod tests;

pub use reader::PartitionRead;

/// Every bound of the storage engine.
#[derive(Debug, Clone)]
pub struct LogLimits {
    pub node_id: i32,
    /// A flush stops gathering batches at this size.
    pub flush_bytes_max: usize,
    /// How long an idle writer waits for more batches before flushing;
    /// 0 flushes at once (lowest latency).
    pub flush_linger_ms: u64,
    /// Bytes admitted to the writer but not yet committed; producers wait
    /// (backpressure) beyond this.
    pub writer_buffered_bytes_max: usize,
    pub object_cache_bytes_max: usize,
    /// Index rows per partition kept in memory near the tail.
    pub index_tail_rows_max: usize,
    /// Budget for inflating one compressed batch when looking inside it.
    pub decompressed_bytes_max: usize,
    /// Unreferenced objects younger than this are never deleted.
    pub orphan_grace_ms: i64,
}

#[derive(Debug, Error)]
pub enum LogError {
    #[error(transparent)]
    Store(Arc<StoreError>),
    #[error(transparent)]
    Meta(Arc<MetaError>),
    #[error("offset {offset} is outside {log_start}..={high_watermark}")]
    OffsetOutOfRange { offset: i64, log_start: i64, high_watermark: i64 },
    #[error("partition {partition} of topic {topic_id} is not known to the log")]
    UnknownPartition { topic_id: Uuid, partition: i32 },
    #[error("stored batch is damaged: {0}")]
    Damaged(#[from] BatchError),
    #[error("the writer has stopped")]
    WriterStopped,
}

impl From<StoreError> for LogError {
    fn from(e: StoreError) -> Self {
        LogError::Store(Arc::new(e))
    }
}

impl From<MetaError> for LogError {
    fn from(e: MetaError) -> Self {
        LogError::Meta(Arc::new(e))
    }
}

pub type PartitionKey = (Uuid, i32);

/// What the broker knows about one partition without asking the store.
#[derive(Debug, Clone)]
pub(crate) struct PartitionState {
    pub offsets: PartitionOffsets,
    /// The newest index rows, contiguous, ending at the high watermark.
    pub tail: VecDeque<IndexRow>,
}

/// State shared by the writer task and readers.
pub(crate) struct Shared {
    pub meta: Arc<dyn MetadataStore>,
    pub store: Arc<dyn ObjectStore>,
    pub clock: Arc<dyn Clock>,
    pub limits: LogLimits,
    pub partitions: Mutex<HashMap<PartitionKey, PartitionState>>,
    pub cache: cache::ObjectCache,
    /// Bumped after every commit; long-polling fetches wait on it.
    pub commits: watch::Sender<u64>,
}

impl Shared {
    pub fn offsets(&self, key: PartitionKey) -> Option<PartitionOffsets> {
        self.partitions.lock().unwrap_or_else(|p| p.into_inner()).get(&key).map(|s| s.offsets)
    }

    /// The partition's offsets and, when the cached tail reaches back to
    /// `from_offset`, the tail rows from there on — only as many as
    /// `bytes_max` can use (at least one), so a fetch copies little under
    /// the lock.
    pub fn tail_from(
        &self,
        key: PartitionKey,
        from_offset: i64,
        bytes_max: usize,
    ) -> Option<(PartitionOffsets, Option<Vec<IndexRow>>)> {
        let parts = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        let state = parts.get(&key)?;
        let covered = state.tail.front().is_some_and(|r| r.base_offset <= from_offset);
        let rows = covered.then(|| {
            let mut total = 0usize;
            state
                .tail
                .iter()
                .filter(|r| r.last_offset >= from_offset)
                .take_while(|r| {
                    let keep = total == 0 || total < bytes_max;
                    total += r.length as usize;
                    keep
                })
                .cloned()
                .collect()
        });
        Some((state.offsets, rows))
    }
}

pub struct Log {
    shared: Arc<Shared>,
    writer: writer::WriterHandle,
}

impl Log {
    /// Loads the state of every partition and starts the writer task.
    pub async fn open(
        meta: Arc<dyn MetadataStore>,
        store: Arc<dyn ObjectStore>,
        clock: Arc<dyn Clock>,
        limits: LogLimits,
        topics: &[TopicRecord],
    ) -> Result<Self, LogError> {
        let mut partitions = HashMap::new();
        for t in topics {
            for p in 0..t.partitions {
                let offsets = meta.partition_offsets(t.id, p).await?;
                partitions.insert((t.id, p), PartitionState { offsets, tail: VecDeque::new() });
            }
        }
        let (commits, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            meta,
            store,
            clock,
            cache: cache::ObjectCache::new(limits.object_cache_bytes_max),
            limits,
            partitions: Mutex::new(partitions),
            commits,
        });
        let writer = writer::spawn(shared.clone());
        Ok(Self { shared, writer })
    }

    pub fn writer(&self) -> &writer::WriterHandle {
        &self.writer
    }

    /// Registers the partitions of a newly created topic.
    pub fn add_topic(&self, topic: &TopicRecord) {
        let mut parts = self.shared.partitions.lock().unwrap_or_else(|p| p.into_inner());
        for p in 0..topic.partitions {
            let offsets = PartitionOffsets { log_start_offset: 0, next_offset: 0, max_timestamp: -1 };
            parts.insert((topic.id, p), PartitionState { offsets, tail: VecDeque::new() });
        }
    }

    /// Forgets the partitions of a deleted topic.
    pub fn remove_topic(&self, topic: &TopicRecord) {
        let mut parts = self.shared.partitions.lock().unwrap_or_else(|p| p.into_inner());
        for p in 0..topic.partitions {
            parts.remove(&(topic.id, p));
        }
    }

    pub fn offsets(&self, topic_id: Uuid, partition: i32) -> Option<PartitionOffsets> {
        self.shared.offsets((topic_id, partition))
    }

    /// A receiver that changes after every commit.
    pub fn commit_watch(&self) -> watch::Receiver<u64> {
        self.shared.commits.subscribe()
    }

    pub async fn read(
        &self,
        topic_id: Uuid,
        partition: i32,
        fetch_offset: i64,
        bytes_max: usize,
        min_one_batch: bool,
    ) -> Result<PartitionRead, LogError> {
        reader::read(&self.shared, (topic_id, partition), fetch_offset, bytes_max, min_one_batch).await
    }

    /// The first offset whose record timestamp is at least `timestamp`, with
    /// that record's timestamp; `None` past the newest record.
    pub async fn offset_for_timestamp(
        &self,
        topic_id: Uuid,
        partition: i32,
        timestamp: i64,
    ) -> Result<Option<(i64, i64)>, LogError> {
        reader::offset_for_timestamp(&self.shared, (topic_id, partition), timestamp).await
    }

    /// Deletes unreferenced objects; see [`gc`].
    pub async fn collect_garbage(&self) -> Result<gc::GcReport, LogError> {
        gc::collect(&self.shared).await
    }
}
