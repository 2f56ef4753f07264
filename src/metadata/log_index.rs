//! The log index: per partition, its offsets and the rows mapping offsets
//! to byte ranges of objects, and the aborted transaction ranges read_committed
//! fetches skip (tables `partitions`, `batches`, `txn_aborted`, and the
//! `txn_open` and `producer_state` rows a commit reads and writes). Used by
//! the log.
//!
//! A commit runs in ONE store transaction. The store opens it and hands the
//! caller's [`CommitFlow`] a [`CommitTx`]: the statements a commit may run,
//! each a persistence primitive. The decisions (which batch is a duplicate,
//! which is refused, who closes which transaction) are the flow's, written
//! once above the stores (`crate::log::append`).

use std::sync::Arc;

use uuid::Uuid;

use super::bounded::store_trait;
use super::MetaError;

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

/// An object the index starts to reference: a flush, a merged segment, or
/// a spill of inline flushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRecord {
    pub object_key: String,
    pub size_bytes: u64,
    pub node_id: i32,
    pub created_ms: i64,
    /// The object's bytes when the metadata store itself keeps them (an
    /// inline object: a small flush not yet spilled, see
    /// docs/design/0004-inline-flushes.md); `None` for an object in the
    /// object store.
    pub data: Option<bytes::Bytes>,
}

/// An index row with its partition: a row found by object rather than by
/// partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRow {
    pub topic_id: Uuid,
    pub partition: i32,
    pub row: IndexRow,
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

/// A batch's index row as a commit inserts it; its object is the commit's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowInsert {
    pub topic_id: Uuid,
    pub partition: i32,
    pub base_offset: i64,
    pub last_offset: i64,
    pub position: u64,
    pub length: u32,
    pub max_timestamp: i64,
    /// The partition's largest timestamp up to and including this batch,
    /// for timestamp lookups.
    pub running_max_timestamp: i64,
}

impl RowInsert {
    /// The row of a batch of `count` offsets once [`CommitTx::advance`]
    /// moved its partition past it; `after` is what `advance` returned.
    pub fn after_advance(
        topic_id: Uuid,
        partition: i32,
        after: &PartitionOffsets,
        count: i64,
        position: u64,
        length: u32,
        max_timestamp: i64,
    ) -> Self {
        Self {
            topic_id,
            partition,
            base_offset: after.next_offset - count,
            last_offset: after.next_offset - 1,
            position,
            length,
            max_timestamp,
            running_max_timestamp: after.max_timestamp,
        }
    }
}

/// A producer on a partition: (topic id, partition, producer id).
pub type ProducerKey = (Uuid, i32, i64);

/// A producer's open transaction on a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenTxn {
    /// Its first offset there, `None` until it writes data there.
    pub first_offset: Option<i64>,
    /// The producer epoch that opened it.
    pub producer_epoch: i16,
}

/// The statements a commit may run, inside the store's one open
/// transaction for it.
#[async_trait::async_trait]
pub trait CommitTx: Send {
    /// Serialises commits touching producer or transaction state of the
    /// partition (PostgreSQL row lock; SQLite's write transaction is
    /// already exclusive).
    async fn lock_partition(&mut self, topic_id: Uuid, partition: i32) -> Result<(), MetaError>;

    /// The stored (epoch, encoded batches) of a producer on a partition.
    async fn load_producer(&mut self, key: ProducerKey) -> Result<Option<(i16, String)>, MetaError>;

    /// Saves a producer's (epoch, encoded batches); a `last_timestamp` or
    /// `coordinator_epoch` of -1 keeps the stored one.
    async fn save_producer(
        &mut self,
        key: ProducerKey,
        epoch: i16,
        batches: &str,
        updated_ms: i64,
        last_timestamp: i64,
        coordinator_epoch: i32,
    ) -> Result<(), MetaError>;

    /// The partition's offsets as stored now, `None` if it does not exist.
    async fn current_offsets(&mut self, topic_id: Uuid, partition: i32) -> Result<Option<PartitionOffsets>, MetaError>;

    /// Moves the partition's next offset on by `count` and its largest
    /// timestamp up to `max_timestamp`; returns the offsets after the move
    /// (`next_offset - count` is the batch's base offset). `None` if the
    /// partition does not exist.
    async fn advance(
        &mut self,
        topic_id: Uuid,
        partition: i32,
        count: i64,
        max_timestamp: i64,
    ) -> Result<Option<PartitionOffsets>, MetaError>;

    /// Inserts a batch's index row, pointing at the commit's object.
    async fn insert_row(&mut self, row: &RowInsert) -> Result<(), MetaError>;

    /// The producer's open transaction on the partition, if any.
    async fn open_txn(&mut self, key: ProducerKey) -> Result<Option<OpenTxn>, MetaError>;

    /// Records where the producer's open transaction began on the partition.
    async fn set_txn_first_offset(&mut self, key: ProducerKey, first_offset: i64) -> Result<(), MetaError>;

    /// Closes the producer's open transaction on the partition, recording
    /// `aborted` (first and last offset) as an aborted range.
    async fn close_txn(&mut self, key: ProducerKey, aborted: Option<(i64, i64)>) -> Result<(), MetaError>;

    /// Recomputes the partition's first unstable offset (the first offset
    /// of its oldest open transaction) and returns it; `None` when no
    /// transaction is open there.
    async fn refresh_first_unstable(&mut self, topic_id: Uuid, partition: i32) -> Result<Option<i64>, MetaError>;
}

/// What a commit decides, run by the store inside the commit's transaction
/// ([`LogIndex::commit_object`]). Returns the offsets of every partition it
/// advanced or reported, as of the commit, by partition; the store announces
/// them to other brokers with the commit.
#[async_trait::async_trait]
pub trait CommitFlow: Send {
    async fn run(&mut self, tx: &mut dyn CommitTx) -> Result<Vec<(Uuid, i32, PartitionOffsets)>, MetaError>;
}

store_trait! {
    pub trait LogIndex {
        /// In ONE transaction: runs `flow` over a [`CommitTx`] whose rows
        /// point at `object`, records the object (with its bytes, for an
        /// inline object) and announces the partitions the flow returns.
        /// Returns what the flow returned. Nothing of it is stored if any
        /// statement fails.
        async fn commit_object(
            &self,
            object: &ObjectRecord,
            flow: &mut dyn CommitFlow,
        ) -> Result<Vec<(Uuid, i32, PartitionOffsets)>, MetaError>;

        async fn partition_offsets(&self, topic_id: Uuid, partition: i32) -> Result<PartitionOffsets, MetaError>;

        /// Offsets of every partition of every topic, to refresh what a
        /// broker caches after it may have missed changes.
        async fn all_partition_offsets(&self) -> Result<Vec<(Uuid, i32, PartitionOffsets)>, MetaError>;

        /// Index rows with `last_offset >= from_offset`, in offset order.
        async fn index_rows(
            &self,
            topic_id: Uuid,
            partition: i32,
            from_offset: i64,
            rows_max: u32,
        ) -> Result<Vec<IndexRow>, MetaError>;

        /// The first index row (by offset) holding a record whose timestamp
        /// is at least `timestamp`.
        async fn first_row_at_or_after_timestamp(
            &self,
            topic_id: Uuid,
            partition: i32,
            timestamp: i64,
        ) -> Result<Option<IndexRow>, MetaError>;

        /// Where the partition's log would start if its oldest batches were
        /// dropped by size, Kafka's way: drop the oldest while what remains
        /// still holds at least `keep_bytes`. `None` when nothing can go.
        async fn offset_keeping_bytes(
            &self,
            topic_id: Uuid,
            partition: i32,
            keep_bytes: i64,
        ) -> Result<Option<i64>, MetaError>;

        /// In one transaction: moves the log start offset forward to
        /// `offset` (never back, never past the next offset) and drops the
        /// index rows and aborted ranges wholly below it; other brokers hear
        /// of it. Returns the new offsets.
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
            segment: &ObjectRecord,
        ) -> Result<bool, MetaError>;

        /// The index rows that point into any of `keys`, by key and
        /// position.
        async fn rows_in_objects(&self, keys: &[String]) -> Result<Vec<ObjectRow>, MetaError>;

        /// In one transaction: records `object` and points each row of
        /// `moves` (by topic id and partition) at it, where the row still
        /// points at its `from_key`; rows that moved or went meanwhile are
        /// left alone. Then forgets the inline objects among the `from_key`s
        /// that no row references any more. Returns how many rows moved.
        async fn move_rows(&self, moves: &[(Uuid, i32, RowMove)], object: &ObjectRecord) -> Result<u64, MetaError>;

        /// Aborted transactions on a partition overlapping offsets
        /// `from..to`, as (producer id, first offset), by first offset: what
        /// a read_committed fetch of that range must skip.
        async fn aborted_transactions(
            &self,
            topic_id: Uuid,
            partition: i32,
            from: i64,
            to: i64,
        ) -> Result<Vec<(i64, i64)>, MetaError>;
    }
}
