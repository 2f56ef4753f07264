//! The metadata store: topics, the per-partition offset counters and the
//! offset index that maps offsets to byte ranges of objects.
//!
//! The trait holds persistence primitives, not Kafka semantics: Kafka logic
//! (validation, error codes, long polls) lives above it and is written once.
//! The embedded default is SQLite ([`sqlite`]); the production backend is
//! PostgreSQL ([`postgres`]), shared by every broker. Both pass the same
//! [`conformance`] suite.
//!
//! Several brokers learn about each other's commits through the
//! [`Change`] feed (PostgreSQL LISTEN/NOTIFY); SQLite serves one broker and
//! has no feed.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use thiserror::Error;
use uuid::Uuid;

use crate::producer::{ProducerBatch, SequenceError};
use crate::txn::{TxnMetadata, TxnState};

pub mod bounded;
mod commit_flow;
pub mod conformance;
pub mod postgres;
pub mod sqlite;

#[derive(Debug, Error)]
pub enum MetaError {
    #[error("topic {name} already exists")]
    TopicExists { name: String },
    #[error("topic {name} does not exist")]
    TopicNotFound { name: String },
    #[error("partition {partition} of topic {topic_id} does not exist")]
    PartitionNotFound { topic_id: Uuid, partition: i32 },
    #[error("metadata store unavailable during {operation}: {detail}")]
    Unavailable { operation: &'static str, detail: String },
    #[error("metadata store did not answer {operation} within {after_ms} ms; it may or may not have taken effect")]
    TimedOut { operation: &'static str, after_ms: u64 },
    #[error("producer {producer_id}: {error}")]
    Sequence { producer_id: i64, error: SequenceError },
    #[error("producer {producer_id} epoch {producer_epoch} has no open transaction on partition {partition} of topic {topic_id}")]
    NotInTransaction { producer_id: i64, producer_epoch: i16, topic_id: Uuid, partition: i32 },
    #[error("offsets for transactional id {transactional_id:?} not staged: {refusal}")]
    TxnOffsetsRefused { transactional_id: String, refusal: TxnOffsetsRefusal },
    #[error("metadata store holds inconsistent data: {detail}")]
    Corrupt { detail: String },
}

/// A topic as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRecord {
    pub id: Uuid,
    pub name: String,
    pub partitions: i32,
    pub configs: BTreeMap<String, String>,
    pub created_ms: i64,
}

/// What a stored batch is, as far as transactions care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchKind {
    /// Outside any transaction.
    Plain,
    /// Part of its producer's open transaction: refused unless the
    /// partition was added to it (AddPartitionsToTxn).
    Transactional,
    /// The coordinator's commit (true) or abort (false) marker, closing the
    /// producer's transaction on the partition.
    Marker { commit: bool },
}

/// One batch of an object, to be given offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAppend {
    pub topic_id: Uuid,
    pub partition: i32,
    /// Offsets the batch occupies (lastOffsetDelta + 1).
    pub offset_count: i32,
    pub position: u64,
    pub length: u32,
    pub max_timestamp: i64,
    /// The producer fields of the batch; checked against the partition's
    /// producer state when the producer is idempotent.
    pub producer: ProducerBatch,
    pub kind: BatchKind,
}

/// What happened to one batch of a committed object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Given offsets from this base offset.
    New(i64),
    /// A retry of a batch an idempotent producer already stored at this
    /// base offset; nothing new was stored.
    Duplicate(i64),
}

impl Appended {
    pub fn base_offset(&self) -> i64 {
        match *self {
            Appended::New(o) | Appended::Duplicate(o) => o,
        }
    }
}

/// The outcome of one batch of [`MetadataStore::commit_object`].
pub type BatchOutcome = Result<Appended, MetaError>;

/// What [`MetadataStore::commit_object`] did: an outcome per batch, and
/// the offsets of every partition it advanced, as of the commit.
#[derive(Debug, Default)]
pub struct CommitOutcome {
    pub batches: Vec<BatchOutcome>,
    pub partitions: Vec<(Uuid, i32, PartitionOffsets)>,
}

/// A producer's stored state (epoch, encoded batches), or the empty state
/// of a producer never seen; shared by the stores.
pub(crate) fn decode_producer(stored: Option<(i16, String)>) -> Result<crate::producer::ProducerState, MetaError> {
    match stored {
        None => Ok(crate::producer::ProducerState::default()),
        Some((epoch, batches)) => crate::producer::ProducerState::decode(epoch, &batches)
            .ok_or_else(|| MetaError::Corrupt { detail: format!("producer state batches {batches:?}") }),
    }
}

/// Everything one flush commits, in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectCommit {
    pub object_key: String,
    pub size_bytes: u64,
    pub node_id: i32,
    pub created_ms: i64,
    pub batches: Vec<BatchAppend>,
}

/// One index row: where the batch holding offsets base..=last lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRow {
    pub base_offset: i64,
    pub last_offset: i64,
    pub object_key: Arc<str>,
    pub position: u64,
    pub length: u32,
    pub max_timestamp: i64,
}

/// One index row moving to a segment object (see `log::merge`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowMove {
    pub base_offset: i64,
    /// The object the row must still point at for the move to happen.
    pub from_key: String,
    /// The batch's position in the segment.
    pub position: u64,
}

/// A segment object written by a merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRecord {
    pub object_key: String,
    pub size_bytes: u64,
    pub node_id: i32,
    pub created_ms: i64,
}

/// Offsets of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    pub log_start_offset: i64,
    /// The next offset to assign: the high watermark.
    pub next_offset: i64,
    /// The largest record timestamp so far, -1 when empty.
    pub max_timestamp: i64,
    /// The first offset of the oldest open transaction, or the next offset
    /// when none is open: read_committed consumers stop here.
    pub last_stable_offset: i64,
}

/// A committed consumer-group offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_ms: i64,
}

/// An idempotent or transactional producer known on a partition
/// (DescribeProducers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    pub producer_id: i64,
    pub producer_epoch: i16,
    /// The last batches accepted, in [`crate::producer::ProducerState`]'s
    /// stored form.
    pub batches: String,
    pub updated_ms: i64,
    /// The largest record timestamp of its last batch on the partition, -1
    /// when unknown.
    pub last_timestamp: i64,
    /// The coordinator epoch of the last transaction marker written for it,
    /// -1 when none.
    pub coordinator_epoch: i32,
    /// Where its open transaction began on the partition, if one is open
    /// and has written there.
    pub txn_first_offset: Option<i64>,
}

/// The transaction offsets are staged for: a transactional id and the
/// producer id and epoch it must still hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetsFor {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

/// The columns of the `transactions` table, in the order both stores read
/// them into a [`TxnMetadata`].
pub(crate) const TXN_COLUMNS: &str =
    "transactional_id, producer_id, producer_epoch, state, timeout_ms, partitions, groups, started_ms, updated_ms";

/// Why offsets were not staged for a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TxnOffsetsRefusal {
    #[error("the transactional id is unknown or held by another producer id")]
    UnknownProducer,
    #[error("the producer's epoch is not the transactional id's current one")]
    Fenced,
    #[error("the producer has no open transaction holding the group")]
    NotInTransaction,
}

impl TxnOffsetsFor {
    /// Whether `stored` is this producer's open transaction holding
    /// `group_id`; why not, otherwise.
    pub(crate) fn check(&self, stored: Option<&TxnMetadata>, group_id: &str) -> Result<(), MetaError> {
        let refusal = match stored {
            Some(t) if t.producer_id != self.producer_id => Some(TxnOffsetsRefusal::UnknownProducer),
            None => Some(TxnOffsetsRefusal::UnknownProducer),
            Some(t) if t.producer_epoch != self.producer_epoch => Some(TxnOffsetsRefusal::Fenced),
            Some(t) if t.state != TxnState::Ongoing || !t.groups.contains(group_id) => {
                Some(TxnOffsetsRefusal::NotInTransaction)
            }
            Some(_) => None,
        };
        match refusal {
            None => Ok(()),
            Some(refusal) => {
                Err(MetaError::TxnOffsetsRefused { transactional_id: self.transactional_id.clone(), refusal })
            }
        }
    }
}

/// A registered broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerRecord {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub epoch: i64,
    pub heartbeat_ms: i64,
}

/// Something another broker changed, as the store reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The feed (re)connected: notifications may have been missed, so
    /// everything cached should be reloaded.
    Resync,
    /// Topics were created or deleted.
    Topics,
    /// A partition's offsets advanced (a commit, or retention).
    Partition { node_id: i32, topic_id: Uuid, partition: i32, offsets: PartitionOffsets },
}

/// Most changes buffered between the store and the broker applying them;
/// past this the feed waits (and PostgreSQL queues notifications).
pub const CHANGE_FEED_CAPACITY: usize = 4096;

/// A group as stored: enough to list it after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    pub group_id: String,
    pub protocol_type: String,
}

#[async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    /// The cluster id, created on first use and stable afterwards.
    async fn cluster_id(&self) -> Result<String, MetaError>;

    async fn create_topic(&self, topic: &TopicRecord) -> Result<(), MetaError>;

    /// Deletes a topic with its partitions and index rows; returns it.
    async fn delete_topic(&self, name: &str) -> Result<TopicRecord, MetaError>;

    async fn list_topics(&self) -> Result<Vec<TopicRecord>, MetaError>;

    /// In ONE transaction: for each batch in order, check an idempotent
    /// producer's batch against the partition's producer state
    /// ([`crate::producer`]) and a transactional batch against the open
    /// transactions, then advance the partition's next offset by the
    /// batch's offset count, insert its index row and advance the producer
    /// state; a marker closes its producer's transaction on the partition
    /// (recording the aborted range for an abort). Record the object.
    /// Returns each batch's outcome (new offsets, the offsets of the
    /// original for a retried batch, or the error for a refused batch or a
    /// partition that no longer exists — the others still commit) and the
    /// resulting offsets of each partition advanced.
    async fn commit_object(&self, commit: &ObjectCommit) -> Result<CommitOutcome, MetaError>;

    async fn partition_offsets(&self, topic_id: Uuid, partition: i32) -> Result<PartitionOffsets, MetaError>;

    /// Index rows with `last_offset >= from_offset`, in offset order.
    async fn index_rows(
        &self,
        topic_id: Uuid,
        partition: i32,
        from_offset: i64,
        rows_max: u32,
    ) -> Result<Vec<IndexRow>, MetaError>;

    /// The first index row (by offset) holding a record whose timestamp is
    /// at least `timestamp`.
    async fn first_row_at_or_after_timestamp(
        &self,
        topic_id: Uuid,
        partition: i32,
        timestamp: i64,
    ) -> Result<Option<IndexRow>, MetaError>;

    /// Keys of committed objects that no index row references any more.
    async fn unreferenced_objects(&self) -> Result<Vec<String>, MetaError>;

    /// Which of `keys` are committed objects (not yet forgotten).
    async fn known_objects(&self, keys: &[String]) -> Result<std::collections::HashSet<String>, MetaError>;

    /// A producer id never handed out before.
    async fn allocate_producer_id(&self) -> Result<i64, MetaError>;

    /// Every stored group.
    async fn list_groups(&self) -> Result<Vec<GroupRecord>, MetaError>;

    /// In one transaction: records the group (keeping an existing
    /// protocol type unless `protocol_type` is non-empty) and upserts offsets.
    async fn commit_offsets(&self, group: &GroupRecord, offsets: &[CommittedOffset]) -> Result<(), MetaError>;

    /// The group's committed offsets, ordered by topic and partition.
    async fn fetch_offsets(&self, group_id: &str) -> Result<Vec<CommittedOffset>, MetaError>;

    /// Deletes some of a group's offsets (`Some`) or the group and all of
    /// its offsets (`None`).
    async fn delete_offsets(&self, group_id: &str, which: Option<&[(String, i32)]>) -> Result<(), MetaError>;

    /// Drops the record of an object that was deleted from the object store.
    async fn forget_object(&self, key: &str) -> Result<(), MetaError>;

    /// Where the partition's log would start if its oldest batches were
    /// dropped by size, Kafka's way: drop the oldest while what remains
    /// still holds at least `keep_bytes`. `None` when nothing can go.
    async fn offset_keeping_bytes(
        &self,
        topic_id: Uuid,
        partition: i32,
        keep_bytes: i64,
    ) -> Result<Option<i64>, MetaError>;

    /// In one transaction: moves the log start offset forward to `offset`
    /// (never back, never past the next offset) and drops the index rows
    /// wholly below it; other brokers hear of it. Returns the new offsets.
    async fn advance_log_start(
        &self,
        node_id: i32,
        topic_id: Uuid,
        partition: i32,
        offset: i64,
    ) -> Result<PartitionOffsets, MetaError>;

    /// In one transaction: records the segment and points every row of
    /// `moves` at it, but only if every one of them still points at its
    /// `from_key` (nothing moved or dropped them meanwhile); otherwise
    /// changes nothing and returns `false`.
    async fn swap_index_rows(
        &self,
        topic_id: Uuid,
        partition: i32,
        moves: &[RowMove],
        segment: &SegmentRecord,
    ) -> Result<bool, MetaError>;

    /// Forgets idempotent-producer state not updated since `before_ms`
    /// (Kafka's producer.id.expiration.ms); returns how many states went.
    async fn expire_producers(&self, before_ms: i64) -> Result<u64, MetaError>;

    /// Aborted transactions on a partition overlapping offsets
    /// `from..to`, as (producer id, first offset), by first offset: what a
    /// read_committed fetch of that range must skip.
    async fn aborted_transactions(
        &self,
        topic_id: Uuid,
        partition: i32,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64)>, MetaError>;

    /// A transactional id's coordinator state.
    async fn load_transaction(&self, transactional_id: &str) -> Result<Option<TxnMetadata>, MetaError>;

    /// Every transactional id's state, by id.
    async fn list_transactions(&self) -> Result<Vec<TxnMetadata>, MetaError>;

    /// In one transaction: saves `txn` if the stored state still matches
    /// `expected` (producer id, epoch and state before this decision;
    /// `None`: nothing stored yet), and registers `open` partitions (by
    /// topic id) as part of its producer's open transaction. `false` when
    /// the compare failed: another coordinator decided first.
    async fn save_transaction(
        &self,
        txn: &TxnMetadata,
        expected: Option<(i64, i16, TxnState)>,
        open: &[(Uuid, i32)],
    ) -> Result<bool, MetaError>;

    /// In one transaction, and only while `txn` is the transactional id's
    /// open transaction and holds the group (see [`TxnOffsetsFor`]): records
    /// the group (as [`Self::commit_offsets`] does) and stages offsets the
    /// producer sent to it (TxnOffsetCommit), replacing its earlier pending
    /// offset for the same partition. They take effect only through
    /// [`Self::settle_txn_offsets`]. [`MetaError::TxnOffsetsRefused`]
    /// (nothing staged) otherwise: the check and the insert are atomic with
    /// respect to the coordinator ending the transaction, so no staged
    /// offset outlives it.
    async fn stage_txn_offsets(
        &self,
        group: &GroupRecord,
        txn: &TxnOffsetsFor,
        offsets: &[CommittedOffset],
    ) -> Result<(), MetaError>;

    /// In one transaction: the producer's transaction ended; its pending
    /// offsets for `groups` become the groups' committed offsets (`commit`)
    /// or are dropped (abort). Returns how many were applied or dropped.
    /// Idempotent: a second call finds nothing pending.
    async fn settle_txn_offsets(&self, producer_id: i64, groups: &[String], commit: bool) -> Result<u64, MetaError>;

    /// The partitions with offsets pending in some open transaction for the
    /// group, by topic and partition (OffsetFetch's require_stable).
    async fn pending_txn_offsets(&self, group_id: &str) -> Result<Vec<(String, i32)>, MetaError>;

    /// How many distinct idempotent or transactional producer ids have state
    /// on some partition (not yet expired).
    async fn count_producers(&self) -> Result<u64, MetaError>;

    /// The producers known on a partition, by producer id.
    async fn partition_producers(&self, topic_id: Uuid, partition: i32) -> Result<Vec<ProducerRecord>, MetaError>;

    /// Forgets a transactional id whose stored state still matches
    /// `expected` (producer id, epoch, state); `false` when it moved on.
    async fn delete_transaction(
        &self,
        transactional_id: &str,
        expected: (i64, i16, TxnState),
    ) -> Result<bool, MetaError>;

    /// Offsets of every partition of every topic, to refresh what a broker
    /// caches after it may have missed changes.
    async fn all_partition_offsets(&self) -> Result<Vec<(Uuid, i32, PartitionOffsets)>, MetaError>;

    /// Registers a starting broker process: bumps the node's epoch (fencing
    /// any earlier process with the same node id) and returns the new epoch.
    async fn register_broker(&self, node_id: i32, host: &str, port: i32, now_ms: i64) -> Result<i64, MetaError>;

    /// Renews a registration. `false` when the node id has been registered
    /// again since (this process is fenced) or the row is gone.
    async fn heartbeat_broker(&self, node_id: i32, epoch: i64, now_ms: i64) -> Result<bool, MetaError>;

    /// Brokers whose last heartbeat is at or after `since_ms`, by node id.
    async fn live_brokers(&self, since_ms: i64) -> Result<Vec<BrokerRecord>, MetaError>;

    /// The feed of changes made by any broker, or `None` where the store
    /// serves a single broker. Called once, at start-up.
    fn change_feed(&self) -> Option<tokio::sync::mpsc::Receiver<Change>> {
        None
    }

    /// Updates the store's own gauges (e.g. connection pool use).
    fn report_metrics(&self) {}
}
