//! The storage engine: the log of every partition, on an object store and a
//! metadata store.
//!
//! - [`writer`]: group commit — the batches of many partitions become ONE
//!   object and ONE metadata transaction per flush; producers are answered
//!   only after the commit. Object PUTs of a few flushes overlap; commits
//!   run one at a time, in order.
//! - [`reader`]: index lookup (tail rows from memory), byte ranges from the
//!   write-through [`cache`] or ranged GETs, base-offset patching.
//! - [`append`]: the rules a commit applies to each batch (idempotent
//!   producers, transactions), run inside the metadata store's transaction.
//! - [`gc`]: deletion of objects no index row references.
//! - [`merge`], [`retention`]: rewriting small objects into segments, and
//!   moving the log start; [`background`] runs them (and GC) periodically.
//! - [`object_format`]: the bytes of an object.
//!
//! Callers are the handlers, the topic owner and the transaction
//! coordinator; the log sees only the store traits it uses ([`LogStores`])
//! and never a protocol type.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use thiserror::Error;
use tokio::sync::{watch, Notify};
use uuid::Uuid;

use crate::clock::Clock;
use crate::metadata::{
    IndexRow, LogIndex, MetaError, ObjectCatalog, PartitionOffsets, ProducerRecord, ProducerStore, RowMove, TopicRecord,
};
use crate::object_store::{ObjectStore, StoreError};
use crate::protocol::batch::BatchError;

pub mod append;
pub mod background;
pub mod cache;
pub mod gc;
pub mod merge;
pub mod object_format;
pub mod reader;
pub mod retention;
pub mod spill;
pub mod writer;

#[cfg(test)]
mod inline_tests;
#[cfg(test)]
mod tests;

pub use reader::{Isolation, PartitionRead};

/// The parts of the metadata store the log uses.
#[derive(Clone)]
pub struct LogStores {
    pub index: Arc<dyn LogIndex>,
    pub objects: Arc<dyn ObjectCatalog>,
    /// Producer state per partition, which commits write: described and
    /// expired here.
    pub producers: Arc<dyn ProducerStore>,
}

/// A topic as the log knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicLog {
    pub id: Uuid,
    pub name: String,
    pub partitions: i32,
    pub config: LogConfig,
}

impl TopicLog {
    fn new(topic: &TopicRecord, config: LogConfig) -> Self {
        Self { id: topic.id, name: topic.name.clone(), partitions: topic.partitions, config }
    }
}

/// How the log keeps one topic's partitions, from the topic's configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogConfig {
    /// What retention removes; `None` when the cleanup policy has no
    /// "delete" or nothing is limited.
    pub retention: Option<retention::RetentionPolicy>,
}

/// Every bound of the storage engine.
#[derive(Debug, Clone)]
pub struct LogLimits {
    pub node_id: i32,
    /// A flush stops gathering batches at this size.
    pub flush_bytes_max: usize,
    /// How long an idle writer waits for more batches before flushing;
    /// 0 flushes at once (lowest latency).
    pub flush_linger_ms: u64,
    /// Flushes in flight at once: their PUTs overlap, their commits run in
    /// order. 1 makes flushes strictly one after another.
    pub flushes_in_flight_max: usize,
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
    /// A flush whose object is at most this big is committed inline, in
    /// the metadata store, instead of PUT (docs/design/0004); 0 turns
    /// inline flushes off.
    pub inline_bytes_max: usize,
    /// No flush goes inline while this many inline bytes of this broker
    /// wait to be spilled; a spill object gathers at most this much.
    pub spill_bytes_max: usize,
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
    #[error(transparent)]
    Refused(#[from] append::AppendRefusal),
    #[error("stored object is damaged: {0}")]
    DamagedObject(#[from] object_format::FormatError),
}

impl LogError {
    /// Whether the partition (or its topic) does not exist, or no longer.
    pub fn is_unknown_partition(&self) -> bool {
        match self {
            LogError::UnknownPartition { .. } | LogError::Refused(append::AppendRefusal::UnknownPartition { .. }) => {
                true
            }
            LogError::Meta(m) => matches!(**m, MetaError::PartitionNotFound { .. } | MetaError::TopicNotFound { .. }),
            _ => false,
        }
    }
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
    /// The newest index rows, contiguous and ending at the high watermark;
    /// empty when unknown (after other brokers appended, or at start-up).
    pub tail: VecDeque<IndexRow>,
}

impl PartitionState {
    fn new(offsets: PartitionOffsets) -> Self {
        Self { offsets, tail: VecDeque::new() }
    }

    /// Records a batch this broker committed. Offsets come from the store,
    /// so other brokers may have appended before it (a gap) or after it
    /// (already reported by the change feed); the tail keeps only rows it
    /// knows to be contiguous up to the high watermark.
    pub fn append_own(&mut self, row: IndexRow, tail_rows_max: usize) {
        self.offsets.max_timestamp = self.offsets.max_timestamp.max(row.max_timestamp);
        let next = row.last_offset + 1;
        if next <= self.offsets.next_offset {
            // A later commit by another broker is already known; this row
            // is in the middle of the log, which the tail no longer holds.
            return;
        }
        if row.base_offset != self.offsets.next_offset {
            self.tail.clear();
        }
        self.offsets.next_offset = next;
        self.tail.push_back(row);
        while self.tail.len() > tail_rows_max {
            self.tail.pop_front();
        }
    }

    /// Applies offsets another broker (or retention, or this broker's own
    /// commit) moved; true when the high watermark or the last stable
    /// offset advanced.
    pub fn advance(&mut self, o: PartitionOffsets) -> bool {
        let advanced =
            o.next_offset > self.offsets.next_offset || o.last_stable_offset > self.offsets.last_stable_offset;
        self.offsets.next_offset = self.offsets.next_offset.max(o.next_offset);
        self.offsets.log_start_offset = self.offsets.log_start_offset.max(o.log_start_offset);
        self.offsets.max_timestamp = self.offsets.max_timestamp.max(o.max_timestamp);
        // The last stable offset only moves forward, and never past the end.
        self.offsets.last_stable_offset =
            self.offsets.last_stable_offset.max(o.last_stable_offset).min(self.offsets.next_offset);
        if self.tail.back().is_some_and(|r| r.last_offset + 1 != self.offsets.next_offset) {
            self.tail.clear();
        }
        while self.tail.front().is_some_and(|r| r.last_offset < self.offsets.log_start_offset) {
            self.tail.pop_front();
        }
        advanced
    }

    /// Whether the tail holds every row from `offset` to the high watermark.
    fn tail_covers(&self, offset: i64) -> bool {
        match (self.tail.front(), self.tail.back()) {
            (Some(first), Some(last)) => {
                first.base_offset <= offset && last.last_offset + 1 == self.offsets.next_offset
            }
            _ => false,
        }
    }
}

/// State shared by the writer task and readers.
pub(crate) struct Shared {
    pub index: Arc<dyn LogIndex>,
    pub objects: Arc<dyn ObjectCatalog>,
    pub producers: Arc<dyn ProducerStore>,
    pub store: Arc<dyn ObjectStore>,
    pub clock: Arc<dyn Clock>,
    pub limits: LogLimits,
    pub partitions: Mutex<HashMap<PartitionKey, PartitionState>>,
    /// Each topic's name, partition count and config, for the background
    /// passes.
    pub topics: Mutex<HashMap<Uuid, TopicLog>>,
    pub cache: cache::ObjectCache,
    /// Objects the collector found unreferenced, with when it first did:
    /// they are deleted only after `orphan_grace_ms`, so a fetch that read
    /// the index just before retention dropped the rows still finds them.
    pub unreferenced_since: Mutex<HashMap<String, i64>>,
    /// Bumped after every commit; long-polling fetches wait on it.
    pub commits: watch::Sender<u64>,
    /// Bytes this broker committed inline and has not spilled yet.
    pub inline_pending_bytes: AtomicUsize,
    /// Wakes the spiller early when the inline backlog fills up.
    pub spill_wake: Notify,
}

impl Shared {
    /// Whether a flush object of `len` bytes goes inline: small enough,
    /// and the inline backlog has room.
    pub fn inline_room(&self, len: usize) -> bool {
        len <= self.limits.inline_bytes_max
            && self.inline_pending_bytes.load(Ordering::Relaxed) + len <= self.limits.spill_bytes_max
    }

    /// An inline flush of `len` bytes was committed.
    pub fn inline_committed(&self, len: usize) {
        let pending = self.inline_pending_bytes.fetch_add(len, Ordering::Relaxed) + len;
        metrics::gauge!(crate::metrics::SPILL_PENDING_BYTES).set(pending as f64);
        if 2 * pending >= self.limits.spill_bytes_max {
            self.spill_wake.notify_one();
        }
    }

    /// `len` bytes of this broker's inline flushes were spilled.
    pub fn inline_spilled(&self, len: usize) {
        let before = self
            .inline_pending_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| Some(p.saturating_sub(len)))
            .unwrap_or(0);
        metrics::gauge!(crate::metrics::SPILL_PENDING_BYTES).set(before.saturating_sub(len) as f64);
    }

    /// Points the cached tail rows of `moves` at `object_key`, where they
    /// still point where the move took them from.
    pub fn relocate_tail(&self, moves: &[(Uuid, i32, RowMove)], object_key: &str) {
        let key: Arc<str> = Arc::from(object_key);
        let mut parts = lock(&self.partitions);
        for (topic_id, partition, m) in moves {
            let Some(state) = parts.get_mut(&(*topic_id, *partition)) else { continue };
            if let Some(row) = state.tail.iter_mut().find(|r| r.base_offset == m.base_offset) {
                if *row.object_key == *m.from_key {
                    row.object_key = key.clone();
                    row.position = m.position;
                }
            }
        }
    }

    pub fn offsets(&self, key: PartitionKey) -> Option<PartitionOffsets> {
        self.partitions.lock().unwrap_or_else(|p| p.into_inner()).get(&key).map(|s| s.offsets)
    }

    /// Drops the cached tail rows of a partition (they may point at objects
    /// that are gone).
    pub fn forget_tail(&self, key: PartitionKey) {
        if let Some(s) = self.partitions.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&key) {
            s.tail.clear();
        }
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
        let rows = state.tail_covers(from_offset).then(|| {
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

#[derive(Clone)]
pub struct Log {
    shared: Arc<Shared>,
    writer: writer::WriterHandle,
}

impl Log {
    /// Starts the writer task; topics are added with [`Log::load_topic`].
    pub fn open(stores: LogStores, store: Arc<dyn ObjectStore>, clock: Arc<dyn Clock>, limits: LogLimits) -> Self {
        let (commits, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            index: stores.index,
            objects: stores.objects,
            producers: stores.producers,
            store,
            clock,
            cache: cache::ObjectCache::new(limits.object_cache_bytes_max),
            limits,
            partitions: Mutex::new(HashMap::new()),
            topics: Mutex::new(HashMap::new()),
            unreferenced_since: Mutex::new(HashMap::new()),
            commits,
            inline_pending_bytes: AtomicUsize::new(0),
            spill_wake: Notify::new(),
        });
        let writer = writer::spawn(shared.clone());
        Self { shared, writer }
    }

    /// Registers a stored topic with its partitions' offsets as stored.
    pub async fn load_topic(&self, topic: &TopicRecord, config: LogConfig) -> Result<(), LogError> {
        let mut loaded = Vec::with_capacity(topic.partitions.max(0) as usize);
        for p in 0..topic.partitions {
            loaded.push((p, self.shared.index.partition_offsets(topic.id, p).await?));
        }
        let mut parts = lock(&self.shared.partitions);
        for (p, offsets) in loaded {
            parts.insert((topic.id, p), PartitionState::new(offsets));
        }
        lock(&self.shared.topics).insert(topic.id, TopicLog::new(topic, config));
        Ok(())
    }

    pub fn writer(&self) -> &writer::WriterHandle {
        &self.writer
    }

    /// Registers the partitions of a new topic (a no-op for partitions
    /// already known). A topic another broker created may already hold
    /// records: [`Log::apply_remote`] brings its offsets up to date.
    pub fn add_topic(&self, topic: &TopicRecord, config: LogConfig) {
        let mut parts = lock(&self.shared.partitions);
        for p in 0..topic.partitions {
            let offsets =
                PartitionOffsets { log_start_offset: 0, next_offset: 0, max_timestamp: -1, last_stable_offset: 0 };
            parts.entry((topic.id, p)).or_insert_with(|| PartitionState::new(offsets));
        }
        lock(&self.shared.topics).insert(topic.id, TopicLog::new(topic, config));
    }

    /// Brings every partition's offsets up to the store's, after changes
    /// may have been missed.
    pub async fn reload_offsets(&self) -> Result<(), LogError> {
        for (topic_id, partition, offsets) in self.shared.index.all_partition_offsets().await? {
            self.apply_remote(topic_id, partition, offsets);
        }
        Ok(())
    }

    /// Whether the store still has the topic (a topic missing from a list
    /// read earlier may have been created since).
    pub async fn topic_exists(&self, topic_id: Uuid) -> Result<bool, LogError> {
        match self.shared.index.partition_offsets(topic_id, 0).await {
            Ok(_) => Ok(true),
            Err(MetaError::PartitionNotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Every topic the log holds, by name.
    pub fn topics(&self) -> Vec<TopicLog> {
        let mut all: Vec<TopicLog> = lock(&self.shared.topics).values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Forgets idempotent-producer state idle for `expiration_ms`; returns
    /// how many producer states went.
    pub async fn expire_producers(&self, expiration_ms: i64) -> Result<u64, LogError> {
        let before = self.shared.clock.now_ms() - expiration_ms;
        Ok(self.shared.producers.expire_producers(before).await?)
    }

    /// The idempotent and transactional producers known on a partition.
    pub async fn producers(&self, topic_id: Uuid, partition: i32) -> Result<Vec<ProducerRecord>, LogError> {
        Ok(self.shared.producers.partition_producers(topic_id, partition).await?)
    }

    /// Applies offsets that another broker committed (from the change feed
    /// or a resync); wakes long-polling fetches when the log grew.
    pub fn apply_remote(&self, topic_id: Uuid, partition: i32, offsets: PartitionOffsets) {
        let advanced = {
            let mut parts = lock(&self.shared.partitions);
            parts.get_mut(&(topic_id, partition)).is_some_and(|s| s.advance(offsets))
        };
        if advanced {
            self.shared.commits.send_modify(|n| *n += 1);
        }
    }

    /// Forgets the partitions of a deleted topic.
    pub fn remove_topic(&self, topic_id: Uuid) {
        let Some(topic) = lock(&self.shared.topics).remove(&topic_id) else { return };
        let mut parts = lock(&self.shared.partitions);
        for p in 0..topic.partitions {
            parts.remove(&(topic_id, p));
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
        isolation: Isolation,
    ) -> Result<PartitionRead, LogError> {
        reader::read(&self.shared, (topic_id, partition), fetch_offset, bytes_max, min_one_batch, isolation).await
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

    /// Spills inline flushes into one object; see [`spill`]. `None` when
    /// there was nothing to spill.
    pub async fn spill(&self, takeover_ms: i64) -> Result<Option<spill::SpillReport>, LogError> {
        spill::spill_once(&self.shared, takeover_ms).await
    }

    /// Waits until the inline backlog asks for an early spill.
    pub async fn spill_wanted(&self) {
        self.shared.spill_wake.notified().await
    }

    /// Merges one run of a partition's flush rows into a segment; see
    /// [`merge`].
    pub async fn merge_partition(
        &self,
        topic_id: Uuid,
        partition: i32,
        policy: merge::MergePolicy,
    ) -> Result<Option<merge::MergeReport>, LogError> {
        merge::merge_partition(&self.shared, (topic_id, partition), policy).await
    }

    /// Applies a retention policy to one partition; see [`retention`].
    pub async fn enforce_retention(
        &self,
        topic_id: Uuid,
        partition: i32,
        policy: retention::RetentionPolicy,
    ) -> Result<Option<i64>, LogError> {
        retention::enforce(&self.shared, (topic_id, partition), policy).await
    }
}

/// Locks a mutex whose holders never leave its data inconsistent, so a
/// panic while holding it does not poison it for everyone else.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod state_tests {
    use super::*;

    fn row(base: i64, last: i64) -> IndexRow {
        IndexRow {
            base_offset: base,
            last_offset: last,
            object_key: Arc::from("o"),
            position: 0,
            length: 1,
            max_timestamp: base,
        }
    }

    fn offsets(log_start: i64, next: i64) -> PartitionOffsets {
        PartitionOffsets { log_start_offset: log_start, next_offset: next, max_timestamp: -1, last_stable_offset: next }
    }

    /// This broker's commit as the writer applies it: the row, then the
    /// partition's offsets as of the commit (no transaction open).
    fn own(s: &mut PartitionState, r: IndexRow, tail_rows_max: usize) {
        let next = r.last_offset + 1;
        s.append_own(r, tail_rows_max);
        s.advance(PartitionOffsets { next_offset: next, last_stable_offset: next, ..s.offsets });
    }

    fn tail(s: &PartitionState) -> Vec<(i64, i64)> {
        s.tail.iter().map(|r| (r.base_offset, r.last_offset)).collect()
    }

    /// Commits of this broker and of others interleave in any order; the
    /// tail only ever holds rows contiguous up to the high watermark.
    #[test]
    fn the_tail_stays_contiguous_up_to_the_high_watermark() {
        let mut s = PartitionState::new(offsets(0, 0));
        own(&mut s, row(0, 4), 10);
        own(&mut s, row(5, 9), 10);
        assert_eq!((s.offsets.next_offset, tail(&s)), (10, vec![(0, 4), (5, 9)]));
        assert!(s.tail_covers(0) && s.tail_covers(7));

        // Another broker appended 10..=14 and we heard of it: the tail no
        // longer reaches the high watermark, so it is dropped.
        assert!(s.advance(offsets(0, 15)));
        assert_eq!((s.offsets.next_offset, tail(&s)), (15, vec![]));
        assert!(!s.tail_covers(12));

        // Our commit lands after a gap we have not heard of yet (15..=19
        // by another broker): keep only our row.
        own(&mut s, row(20, 21), 10);
        assert_eq!((s.offsets.next_offset, tail(&s)), (22, vec![(20, 21)]));
        assert!(s.tail_covers(20) && !s.tail_covers(19));

        // The feed reports the other broker's commit late: nothing moves back.
        assert!(!s.advance(offsets(0, 20)));
        assert_eq!((s.offsets.next_offset, tail(&s)), (22, vec![(20, 21)]));

        // Another broker's later commit is heard before our earlier one
        // returns: our row is in the middle and is not kept.
        assert!(s.advance(offsets(0, 30)));
        own(&mut s, row(22, 24), 10);
        assert_eq!((s.offsets.next_offset, tail(&s)), (30, vec![]));

        // Retention moves the log start past the oldest tail rows.
        own(&mut s, row(30, 31), 10);
        own(&mut s, row(32, 33), 10);
        s.advance(offsets(32, 34));
        assert_eq!((s.offsets.log_start_offset, tail(&s)), (32, vec![(32, 33)]));

        // The tail is bounded.
        for i in 0..20 {
            own(&mut s, row(34 + i, 34 + i), 3);
        }
        assert_eq!(tail(&s), vec![(51, 51), (52, 52), (53, 53)]);
    }
}
