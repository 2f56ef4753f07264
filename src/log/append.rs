//! The append rules: what a flush's commit decides for each of its batches,
//! written once above the stores and run inside the store's one
//! transaction for the object ([`crate::metadata::LogIndex::commit_object`]).
//!
//! For each batch, in flush order: an idempotent producer's sequence is
//! checked against its state on the partition ([`crate::producer`]), so a
//! retry is answered with the original offsets and a gap or an old epoch is
//! refused; a transactional batch must belong to its producer's open
//! transaction on the partition; then the batch gets offsets and its index
//! row; a marker closes its producer's transaction there (recording the
//! aborted range for an abort). Producer state is saved at the end of the
//! same transaction, so deduplication holds across brokers and restarts.

use std::collections::btree_map::Entry as BTreeEntry;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use thiserror::Error;
use uuid::Uuid;

use crate::metadata::{CommitFlow, CommitTx, MetaError, PartitionOffsets, ProducerKey, RowInsert};
use crate::producer::{ProducerBatch, ProducerState, SequenceError, Verdict};
use crate::protocol::control::COORDINATOR_EPOCH;

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

/// One batch of a flushed object, to be given offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAppend {
    pub topic_id: Uuid,
    pub partition: i32,
    /// Offsets the batch occupies (lastOffsetDelta + 1).
    pub offset_count: i32,
    pub position: u64,
    pub length: u32,
    pub max_timestamp: i64,
    /// The producer fields of the batch.
    pub producer: ProducerBatch,
    pub kind: BatchKind,
}

/// What happened to one batch.
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

/// Why one batch was not stored (the others of its flush still were).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AppendRefusal {
    #[error("producer {producer_id}: {error}")]
    Sequence { producer_id: i64, error: SequenceError },
    #[error("producer {producer_id} epoch {producer_epoch} has no open transaction on partition {partition} of topic {topic_id}")]
    NotInTransaction { producer_id: i64, producer_epoch: i16, topic_id: Uuid, partition: i32 },
    #[error("partition {partition} of topic {topic_id} does not exist")]
    UnknownPartition { topic_id: Uuid, partition: i32 },
}

/// The outcome of one batch.
pub type BatchOutcome = Result<Appended, AppendRefusal>;

/// The append rules over one flush's batches; after a successful commit,
/// [`AppendFlow::outcomes`] holds one outcome per batch, in order.
pub struct AppendFlow<'a> {
    batches: &'a [BatchAppend],
    created_ms: i64,
    outcomes: Vec<BatchOutcome>,
}

impl<'a> AppendFlow<'a> {
    pub fn new(batches: &'a [BatchAppend], created_ms: i64) -> Self {
        Self { batches, created_ms, outcomes: Vec::new() }
    }

    pub fn outcomes(self) -> Vec<BatchOutcome> {
        self.outcomes
    }
}

/// What the flow tracks per producer written to in this commit.
#[derive(Default)]
struct Touched {
    state: ProducerState,
    /// The newest batch's max timestamp, -1 if none was stored.
    last_timestamp: i64,
    /// The coordinator epoch of a marker written for it, -1 if none.
    coordinator_epoch: i32,
}

fn corrupt_state(batches: &str) -> MetaError {
    MetaError::Corrupt { detail: format!("producer state batches {batches:?}") }
}

#[async_trait]
impl CommitFlow for AppendFlow<'_> {
    async fn run(&mut self, tx: &mut dyn CommitTx) -> Result<Vec<(Uuid, i32, PartitionOffsets)>, MetaError> {
        // A retried store transaction starts over.
        self.outcomes.clear();
        let mut advanced: BTreeMap<(Uuid, i32), PartitionOffsets> = BTreeMap::new();
        let mut producers: HashMap<ProducerKey, Touched> = HashMap::new();
        for b in self.batches {
            let outcome = append_one(tx, b, &mut producers, &mut advanced).await?;
            self.outcomes.push(outcome);
        }
        for (key, p) in &producers {
            if let Some(epoch) = p.state.epoch {
                let batches = p.state.encode_batches();
                tx.save_producer(*key, epoch, &batches, self.created_ms, p.last_timestamp, p.coordinator_epoch).await?;
            }
        }
        Ok(advanced.into_iter().map(|((t, p), o)| (t, p, o)).collect())
    }
}

/// Decides and stores one batch; see the module comment.
async fn append_one(
    tx: &mut dyn CommitTx,
    b: &BatchAppend,
    producers: &mut HashMap<ProducerKey, Touched>,
    advanced: &mut BTreeMap<(Uuid, i32), PartitionOffsets>,
) -> Result<BatchOutcome, MetaError> {
    let key = (b.topic_id, b.partition, b.producer.producer_id);
    let transactional = b.kind != BatchKind::Plain;
    if b.producer.is_idempotent() && !producers.contains_key(&key) || transactional {
        // Lock the partition first: a concurrent commit of another broker
        // for this partition then finishes before producer and transaction
        // state is read, so both cannot accept the same sequence (a missing
        // state row cannot be locked).
        tx.lock_partition(b.topic_id, b.partition).await?;
    }
    // The sequence is checked before the transaction, so that a fenced
    // producer's batch is told INVALID_PRODUCER_EPOCH rather than that its
    // partition is not in a transaction.
    if b.producer.is_idempotent() {
        let touched = match producers.entry(key) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let state = match tx.load_producer(key).await? {
                    None => ProducerState::default(),
                    Some((epoch, batches)) => {
                        ProducerState::decode(epoch, &batches).ok_or_else(|| corrupt_state(&batches))?
                    }
                };
                v.insert(Touched { state, last_timestamp: -1, coordinator_epoch: -1 })
            }
        };
        if !matches!(b.kind, BatchKind::Marker { .. }) {
            match touched.state.check(&b.producer) {
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
                    return Ok(Ok(Appended::Duplicate(base_offset)));
                }
                Verdict::Refuse(error) => {
                    return Ok(Err(AppendRefusal::Sequence { producer_id: b.producer.producer_id, error }));
                }
            }
        }
    }
    // A transactional batch goes only into a transaction that holds its
    // partition. Data must come from the epoch that opened it; a marker
    // may carry a bumped epoch.
    let mut open_first_offset: Option<Option<i64>> = None;
    if transactional {
        let open = tx.open_txn(key).await?.filter(|open| match b.kind {
            BatchKind::Marker { .. } => open.producer_epoch <= b.producer.producer_epoch,
            _ => open.producer_epoch == b.producer.producer_epoch,
        });
        match (open, b.kind) {
            (Some(open), _) => open_first_offset = Some(open.first_offset),
            (None, BatchKind::Transactional) => {
                return Ok(Err(AppendRefusal::NotInTransaction {
                    producer_id: b.producer.producer_id,
                    producer_epoch: b.producer.producer_epoch,
                    topic_id: b.topic_id,
                    partition: b.partition,
                }));
            }
            // A marker for a partition whose transaction wrote nothing (or
            // was closed already) is still written, as Kafka writes one to
            // every partition added.
            (None, _) => {}
        }
    }
    let count = i64::from(b.offset_count);
    let Some(mut offsets) = tx.advance(b.topic_id, b.partition, count, b.max_timestamp).await? else {
        return Ok(Err(AppendRefusal::UnknownPartition { topic_id: b.topic_id, partition: b.partition }));
    };
    let row = RowInsert::after_advance(b.topic_id, b.partition, &offsets, count, b.position, b.length, b.max_timestamp);
    let base_offset = row.base_offset;
    tx.insert_row(&row).await?;
    if let Some(first_offset) = open_first_offset {
        let changed = match (b.kind, first_offset) {
            (BatchKind::Transactional, None) => {
                tx.set_txn_first_offset(key, base_offset).await?;
                true
            }
            (BatchKind::Marker { commit }, first) => {
                let aborted = if commit { None } else { first.map(|first| (first, base_offset)) };
                tx.close_txn(key, aborted).await?;
                true
            }
            // A later batch of a transaction already begun here moves
            // nothing: `advance` returned the current stable offset.
            _ => false,
        };
        if changed {
            offsets.last_stable_offset =
                tx.refresh_first_unstable(b.topic_id, b.partition).await?.unwrap_or(offsets.next_offset);
        }
    }
    advanced.insert((b.topic_id, b.partition), offsets);
    if let Some(touched) = producers.get_mut(&key) {
        match b.kind {
            BatchKind::Marker { .. } => {
                touched.state.fence(b.producer.producer_epoch);
                touched.coordinator_epoch = COORDINATOR_EPOCH;
            }
            _ => touched.state.record(&b.producer, base_offset),
        }
        touched.last_timestamp = b.max_timestamp;
    }
    Ok(Ok(Appended::New(base_offset)))
}

#[cfg(test)]
#[path = "append_tests.rs"]
mod tests;
