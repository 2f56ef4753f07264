//! The decisions of [`super::MetadataStore::commit_object`], written once
//! for both stores: for each batch of a flushed object, check an idempotent
//! producer's sequence and a transactional batch's open transaction, assign
//! offsets, index the batch, move the transaction's first offset or close
//! it (a marker), and keep the producer's state — all inside the store's
//! one transaction, reached through [`CommitTx`].
//!
//! SQLite runs this on its blocking writer thread: its [`CommitTx`] never
//! suspends, so [`run_ready`] drives the future to completion in one poll.

use std::collections::btree_map::Entry as BTreeEntry;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use uuid::Uuid;

use super::{
    decode_producer, Appended, BatchAppend, BatchKind, BatchOutcome, MetaError, ObjectCommit, PartitionOffsets,
};
use crate::producer::{ProducerState, Verdict};
use crate::protocol::control::COORDINATOR_EPOCH;

/// A producer on a partition: (topic id, partition, producer id).
pub(crate) type ProducerKey = (Uuid, i32, i64);

/// The statements the flow needs, inside one open store transaction.
/// (Whether its futures are `Send` is left to each store: PostgreSQL's are,
/// and its `commit_object` needs them to be; SQLite's are polled on one
/// thread.)
pub(crate) trait CommitTx {
    /// Serialises commits touching producer or transaction state of the
    /// partition (PostgreSQL row lock; SQLite's write transaction is
    /// already exclusive).
    async fn lock_partition(&mut self, topic_id: Uuid, partition: i32) -> Result<(), MetaError>;

    /// The stored (epoch, encoded batches) of a producer on a partition.
    async fn load_producer(&mut self, key: ProducerKey) -> Result<Option<(i16, String)>, MetaError>;

    /// The producer's open transaction on the partition: (first offset
    /// written, epoch that opened it).
    async fn open_txn(&mut self, key: ProducerKey) -> Result<Option<(Option<i64>, i16)>, MetaError>;

    /// The partition's offsets as stored now, `None` if it does not exist.
    async fn current_offsets(&mut self, topic_id: Uuid, partition: i32) -> Result<Option<PartitionOffsets>, MetaError>;

    /// Moves the partition's next offset on by `count` and its largest
    /// timestamp up to `max_timestamp`; the offsets after the move with
    /// `next_offset - count` as the batch's base offset (so
    /// `log_start_offset`, `max_timestamp` and `last_stable_offset` are
    /// as stored). `None` if the partition does not exist.
    async fn advance(
        &mut self,
        topic_id: Uuid,
        partition: i32,
        count: i64,
        max_timestamp: i64,
    ) -> Result<Option<PartitionOffsets>, MetaError>;

    /// Inserts the batch's index row.
    async fn insert_row(
        &mut self,
        b: &BatchAppend,
        object_key: &str,
        base_offset: i64,
        running_max_ts: i64,
    ) -> Result<(), MetaError>;

    /// After a transactional batch or marker got offsets: a data batch
    /// records where its transaction began on the partition (when it is
    /// the first); a marker closes the transaction there, recording the
    /// aborted range for an abort. Returns the partition's first unstable
    /// offset afterwards (`None`: no transaction open).
    async fn settle_open_txn(
        &mut self,
        b: &BatchAppend,
        first_offset: Option<i64>,
        base_offset: i64,
    ) -> Result<Option<i64>, MetaError>;

    /// Saves a producer's state; a `last_timestamp` or `coordinator_epoch`
    /// of -1 keeps the stored one.
    async fn save_producer(
        &mut self,
        key: ProducerKey,
        state: &ProducerState,
        updated_ms: i64,
        last_timestamp: i64,
        coordinator_epoch: i32,
    ) -> Result<(), MetaError>;
}

/// What the flow decided: an outcome per batch and the offsets of every
/// partition it advanced (or reported, for a duplicate).
pub(crate) struct Assigned {
    pub outcomes: Vec<BatchOutcome>,
    pub advanced: BTreeMap<(Uuid, i32), PartitionOffsets>,
}

/// Gives the object's batches offsets in order; see the module comment.
pub(crate) async fn assign_offsets<T: CommitTx>(tx: &mut T, commit: &ObjectCommit) -> Result<Assigned, MetaError> {
    let mut outcomes = Vec::with_capacity(commit.batches.len());
    let mut advanced: BTreeMap<(Uuid, i32), PartitionOffsets> = BTreeMap::new();
    let mut producers: HashMap<ProducerKey, ProducerState> = HashMap::new();
    // The newest batch's max timestamp per producer written to, and the
    // coordinator epoch of the markers written for it.
    let mut last_timestamps: HashMap<ProducerKey, i64> = HashMap::new();
    let mut coordinator_epochs: HashMap<ProducerKey, i32> = HashMap::new();
    for b in &commit.batches {
        let key = (b.topic_id, b.partition, b.producer.producer_id);
        let transactional = b.kind != BatchKind::Plain;
        if b.producer.is_idempotent() && !producers.contains_key(&key) || transactional {
            // Lock the partition first: a concurrent commit of another
            // broker for this partition then finishes before producer and
            // transaction state is read, so both cannot accept the same
            // sequence (a missing state row cannot be locked).
            tx.lock_partition(b.topic_id, b.partition).await?;
        }
        // The sequence is checked before the transaction, so that a fenced
        // producer's batch is told INVALID_PRODUCER_EPOCH rather than that
        // its partition is not in a transaction.
        if b.producer.is_idempotent() {
            let state = match producers.entry(key) {
                Entry::Occupied(o) => o.into_mut(),
                Entry::Vacant(v) => v.insert(decode_producer(tx.load_producer(key).await?)?),
            };
            if !matches!(b.kind, BatchKind::Marker { .. }) {
                match state.check(&b.producer) {
                    Verdict::Append => {}
                    Verdict::Duplicate { base_offset } => {
                        // The original may be another broker's commit this
                        // broker has not heard of: report the partition's
                        // offsets so the answer never outruns what it serves.
                        if let BTreeEntry::Vacant(v) = advanced.entry((b.topic_id, b.partition)) {
                            if let Some(current) = tx.current_offsets(b.topic_id, b.partition).await? {
                                v.insert(current);
                            }
                        }
                        outcomes.push(Ok(Appended::Duplicate(base_offset)));
                        continue;
                    }
                    Verdict::Refuse(error) => {
                        outcomes.push(Err(MetaError::Sequence { producer_id: b.producer.producer_id, error }));
                        continue;
                    }
                }
            }
        }
        // A transactional batch goes only into a transaction that holds its
        // partition.
        let mut txn_first_offset: Option<Option<i64>> = None;
        if transactional {
            // Data must come from the epoch that opened the transaction; a
            // marker may carry a bumped epoch.
            let open = tx.open_txn(key).await?.filter(|(_, epoch)| match b.kind {
                BatchKind::Marker { .. } => *epoch <= b.producer.producer_epoch,
                _ => *epoch == b.producer.producer_epoch,
            });
            match (open, b.kind) {
                (Some((first, _)), _) => txn_first_offset = Some(first),
                (None, BatchKind::Transactional) => {
                    outcomes.push(Err(MetaError::NotInTransaction {
                        producer_id: b.producer.producer_id,
                        producer_epoch: b.producer.producer_epoch,
                        topic_id: b.topic_id,
                        partition: b.partition,
                    }));
                    continue;
                }
                // A marker for a partition whose transaction wrote nothing
                // (or was closed already) is still written, as Kafka writes
                // one to every partition added.
                (None, _) => {}
            }
        }
        let count = i64::from(b.offset_count);
        let Some(mut offsets) = tx.advance(b.topic_id, b.partition, count, b.max_timestamp).await? else {
            outcomes.push(Err(MetaError::PartitionNotFound { topic_id: b.topic_id, partition: b.partition }));
            continue;
        };
        let base_offset = offsets.next_offset - count;
        tx.insert_row(b, &commit.object_key, base_offset, offsets.max_timestamp).await?;
        if let Some(first) = txn_first_offset {
            offsets.last_stable_offset =
                tx.settle_open_txn(b, first, base_offset).await?.unwrap_or(offsets.next_offset);
        }
        advanced.insert((b.topic_id, b.partition), offsets);
        if let Some(state) = producers.get_mut(&key) {
            match b.kind {
                BatchKind::Marker { .. } => {
                    state.fence(b.producer.producer_epoch);
                    coordinator_epochs.insert(key, COORDINATOR_EPOCH);
                }
                _ => state.record(&b.producer, base_offset),
            }
            last_timestamps.insert(key, b.max_timestamp);
        }
        outcomes.push(Ok(Appended::New(base_offset)));
    }
    for (key, state) in &producers {
        if state.epoch.is_some() {
            let last_timestamp = last_timestamps.get(key).copied().unwrap_or(-1);
            let coordinator_epoch = coordinator_epochs.get(key).copied().unwrap_or(-1);
            tx.save_producer(*key, state, commit.created_ms, last_timestamp, coordinator_epoch).await?;
        }
    }
    Ok(Assigned { outcomes, advanced })
}

/// Drives a future that never suspends (one whose every await is on work
/// done synchronously) to its output.
pub(crate) fn run_ready<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => unreachable!("a synchronous store transaction suspended"),
    }
}
