//! The transaction coordinator: the requests of the transactional APIs
//! applied to a transactional id's [`TxnMetadata`], which lives in the
//! metadata store (see docs/design/0002-transactions.md).
//!
//! Placement is the group coordinator's: the broker that
//! [`Membership::owns`] the transactional id. Each request loads the id's
//! metadata from the store, decides with the pure state machine of
//! [`super`], saves the result with a compare on the state it was decided
//! from (so a coordinator that lost the id to another broker cannot
//! overwrite a newer decision) and carries out the effect before it
//! answers: commit/abort markers go through the log's writer like produced
//! batches, then the groups' pending offsets are applied or dropped, then
//! the transaction is completed. A decided transaction (PrepareCommit /
//! PrepareAbort) whose markers could not be written is finished by the next
//! request for the id or by the coordinator's ticker ([`TxnCoordinator::run`]),
//! on whichever broker coordinates the id by then: markers are safe to
//! write twice.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::{Mutex, MutexGuard};
use tracing::{info, warn};

use super::{Effect, TxnMetadata, TxnPartition, TxnState, ALL_STATES};
use crate::clock::Clock;
use crate::cluster::Membership;
use crate::config::limits::TXN_LOCK_STRIPES;
use crate::log::{Log, LogError};
use crate::metadata::{GroupOffsets, MetaError, ProducerStore};
use crate::metrics as m;
use crate::protocol::control::{marker_batch, COORDINATOR_EPOCH};
use crate::protocol::ErrorCode;
use crate::topics::Topics;

/// Attempts to apply one request when the saved state keeps changing under
/// it (another broker coordinating the same id for a moment).
const ATTEMPTS_MAX: usize = 3;

/// The key placing the cluster-wide producer count on one broker.
const PRODUCERS_OWNER_KEY: &str = "__streamhouse_producers";

/// What the coordinator works with.
pub struct TxnParts {
    pub producers: Arc<dyn ProducerStore>,
    /// Where the offsets sent with transactions wait to be settled.
    pub groups: Arc<dyn GroupOffsets>,
    /// Markers are written through the log's writer.
    pub log: Log,
    pub topics: Arc<Topics>,
    pub membership: Arc<Membership>,
    pub clock: Arc<dyn Clock>,
}

/// The coordinator's limits and intervals (Kafka's names in the flags).
#[derive(Debug, Clone, Copy)]
pub struct TxnSettings {
    /// transaction.max.timeout.ms
    pub timeout_max_ms: i32,
    /// transactional.id.expiration.ms
    pub id_expiration_ms: i64,
    /// transaction.abort.timed.out.transaction.cleanup.interval.ms
    pub abort_check_interval_ms: u64,
    /// Longest wait for a transaction's markers to be committed before the
    /// attempt is given up (and retried later).
    pub marker_write_timeout_ms: u64,
}

/// Why a transactional request failed.
#[derive(Debug, Error)]
pub enum TxnError {
    /// The answer Kafka's coordinator gives in this situation.
    #[error("refused with {0:?}")]
    Refused(ErrorCode),
    #[error(transparent)]
    Store(#[from] MetaError),
    #[error("transaction markers not written: {0}")]
    Markers(String),
}

impl From<ErrorCode> for TxnError {
    fn from(code: ErrorCode) -> Self {
        TxnError::Refused(code)
    }
}

const CONCURRENT: TxnError = TxnError::Refused(ErrorCode::ConcurrentTransactions);

fn is_concurrent(e: &TxnError) -> bool {
    matches!(e, TxnError::Refused(ErrorCode::ConcurrentTransactions))
}

pub struct TxnCoordinator {
    parts: TxnParts,
    settings: TxnSettings,
    /// Requests for the same transactional id are serialised on one of
    /// these (by hash), which bounds the coordinator's memory whatever ids
    /// clients use.
    locks: Vec<Mutex<()>>,
}

/// What identifies the stored state a decision was made from.
type StateKey = (i64, i16, TxnState);

fn key_of(m: &TxnMetadata) -> StateKey {
    (m.producer_id, m.producer_epoch, m.state)
}

impl TxnCoordinator {
    pub fn new(parts: TxnParts, settings: TxnSettings) -> Self {
        Self { parts, settings, locks: (0..TXN_LOCK_STRIPES).map(|_| Mutex::new(())).collect() }
    }

    async fn lock(&self, transactional_id: &str) -> MutexGuard<'_, ()> {
        let mut h = DefaultHasher::new();
        transactional_id.hash(&mut h);
        self.locks[(h.finish() % TXN_LOCK_STRIPES as u64) as usize].lock().await
    }

    /// NOT_COORDINATOR unless this broker coordinates the id;
    /// COORDINATOR_NOT_AVAILABLE while its own registration has lapsed.
    pub fn check_coordinator(&self, transactional_id: &str) -> Result<(), ErrorCode> {
        let membership = &self.parts.membership;
        if transactional_id.is_empty() {
            Err(ErrorCode::InvalidRequest)
        } else if membership.owns(transactional_id) {
            Ok(())
        } else if !membership.is_live() {
            Err(ErrorCode::CoordinatorNotAvailable)
        } else {
            Err(ErrorCode::NotCoordinator)
        }
    }

    /// A producer id never handed out before, for an idempotent producer
    /// without a transactional id (no coordinator is involved, so a store
    /// failure is the store's, not the coordinator's).
    pub async fn allocate_producer_id(&self) -> Result<i64, MetaError> {
        self.parts.producers.allocate_producer_id().await
    }

    async fn load(&self, transactional_id: &str) -> Result<Option<TxnMetadata>, TxnError> {
        match self.parts.producers.load_transaction(transactional_id).await? {
            None => Ok(None),
            Some(record) => Ok(Some(TxnMetadata::from_record(record)?)),
        }
    }

    /// DescribeTransactions: the id's state, if this broker coordinates it.
    pub async fn describe(&self, transactional_id: &str) -> Result<Option<TxnMetadata>, TxnError> {
        self.check_coordinator(transactional_id)?;
        self.load(transactional_id).await
    }

    /// ListTransactions: the ids this broker coordinates, by id.
    pub async fn list(&self) -> Result<Vec<TxnMetadata>, TxnError> {
        let mut mine = Vec::new();
        for record in self.parts.producers.list_transactions().await? {
            if self.parts.membership.owns(&record.transactional_id) {
                mine.push(TxnMetadata::from_record(record)?);
            }
        }
        Ok(mine)
    }

    /// Loads the id's metadata, first finishing a transaction left decided
    /// but incomplete (markers not yet written).
    async fn load_settled(&self, transactional_id: &str) -> Result<Option<TxnMetadata>, TxnError> {
        let mut loaded = self.load(transactional_id).await?;
        if let Some(txn) = loaded.as_mut() {
            if matches!(txn.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
                self.complete(txn).await?;
            }
        }
        Ok(loaded)
    }

    /// Saves `txn` over the state `before`; CONCURRENT_TRANSACTIONS when the
    /// stored state moved meanwhile (the client retries).
    async fn save(
        &self,
        txn: &TxnMetadata,
        before: Option<StateKey>,
        open: &[(uuid::Uuid, i32)],
    ) -> Result<(), TxnError> {
        let expected = before.map(|(pid, epoch, state)| (pid, epoch, state.name()));
        if self.parts.producers.save_transaction(&txn.to_record(), expected, open).await? {
            Ok(())
        } else {
            warn!(transactional_id = %txn.transactional_id, "transaction state changed under this coordinator; retrying");
            Err(CONCURRENT)
        }
    }

    /// InitProducerId for a transactional id: the producer id and the
    /// (bumped) epoch. An open transaction is aborted first, which fences
    /// the producer that opened it.
    pub async fn init_producer(
        &self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), TxnError> {
        self.check_coordinator(transactional_id)?;
        if !(1..=self.settings.timeout_max_ms).contains(&timeout_ms) {
            return Err(ErrorCode::InvalidTransactionTimeout.into());
        }
        let _guard = self.lock(transactional_id).await;
        for _ in 0..ATTEMPTS_MAX {
            let now = self.parts.clock.now_ms();
            let Some(mut txn) = self.load_settled(transactional_id).await? else {
                let producer_id = self.parts.producers.allocate_producer_id().await?;
                let txn = TxnMetadata::new(transactional_id, producer_id, timeout_ms, now);
                match self.save(&txn, None, &[]).await {
                    Ok(()) => {
                        info!(transactional_id, producer_id, "new transactional id");
                        return Ok((producer_id, 0));
                    }
                    Err(e) if is_concurrent(&e) => continue,
                    Err(e) => return Err(e),
                }
            };
            let before = key_of(&txn);
            // A fresh producer id is needed only when the epoch is spent;
            // take it from the store before deciding.
            let spare_id =
                if txn.epoch_exhausted() { Some(self.parts.producers.allocate_producer_id().await?) } else { None };
            let effect = txn.init_producer(timeout_ms, expected, now, || spare_id.unwrap_or(-1))?;
            match self.save(&txn, Some(before), &[]).await {
                Ok(()) => {}
                Err(e) if is_concurrent(&e) => continue,
                Err(e) => return Err(e),
            }
            match effect {
                Effect::None => return Ok((txn.producer_id, txn.producer_epoch)),
                Effect::WriteMarkers { .. } => {
                    metrics::counter!(m::TXN_PRODUCERS_FENCED_TOTAL).increment(1);
                    info!(
                        transactional_id,
                        producer_id = txn.producer_id,
                        "InitProducerId with a transaction open: aborting it and fencing the old producer"
                    );
                    self.complete(&mut txn).await?;
                    // The next pass bumps the epoch again for the new producer.
                }
            }
        }
        Err(CONCURRENT)
    }

    /// AddPartitionsToTxn: the partitions join the open transaction (which
    /// begins if none is open). Topics must exist; the caller has checked.
    pub async fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(TxnPartition, uuid::Uuid)],
    ) -> Result<(), TxnError> {
        self.check_coordinator(transactional_id)?;
        let _guard = self.lock(transactional_id).await;
        let mut txn =
            self.load_settled(transactional_id).await?.ok_or(TxnError::Refused(ErrorCode::InvalidProducerIdMapping))?;
        let before = key_of(&txn);
        let new: Vec<(uuid::Uuid, i32)> = partitions
            .iter()
            .filter(|(p, _)| txn.state != TxnState::Ongoing || !txn.partitions.contains(p))
            .map(|((_, partition), id)| (*id, *partition))
            .collect();
        let names: Vec<TxnPartition> = partitions.iter().map(|(p, _)| p.clone()).collect();
        txn.add(producer_id, producer_epoch, &names, None, self.parts.clock.now_ms())?;
        if new.is_empty() && before.2 == TxnState::Ongoing {
            return Ok(());
        }
        self.save(&txn, Some(before), &new).await
    }

    /// AddPartitionsToTxn's verify-only form (KIP-890): whether each
    /// partition is part of the producer's open transaction.
    pub async fn verify_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[TxnPartition],
    ) -> Result<Vec<ErrorCode>, TxnError> {
        self.check_coordinator(transactional_id)?;
        let txn = self.load(transactional_id).await?.ok_or(TxnError::Refused(ErrorCode::InvalidProducerIdMapping))?;
        if txn.producer_id != producer_id {
            return Err(ErrorCode::InvalidProducerIdMapping.into());
        }
        if txn.producer_epoch != producer_epoch {
            return Err(ErrorCode::ProducerFenced.into());
        }
        let open = txn.state == TxnState::Ongoing;
        Ok(partitions
            .iter()
            .map(|p| if open && txn.partitions.contains(p) { ErrorCode::None } else { ErrorCode::InvalidTxnState })
            .collect())
    }

    /// AddOffsetsToTxn: the group's offsets (sent with TxnOffsetCommit)
    /// are applied or dropped with the transaction.
    pub async fn add_offsets(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        group_id: &str,
    ) -> Result<(), TxnError> {
        self.check_coordinator(transactional_id)?;
        let _guard = self.lock(transactional_id).await;
        let mut txn =
            self.load_settled(transactional_id).await?.ok_or(TxnError::Refused(ErrorCode::InvalidProducerIdMapping))?;
        let before = key_of(&txn);
        let known = txn.state == TxnState::Ongoing && txn.groups.contains(group_id);
        txn.add(producer_id, producer_epoch, &[], Some(group_id), self.parts.clock.now_ms())?;
        if known {
            return Ok(());
        }
        self.save(&txn, Some(before), &[]).await
    }

    /// EndTxn: commit or abort. The answer is sent once the decision is
    /// saved and, normally, the markers are written; if writing them fails
    /// the decision still stands and is finished later.
    pub async fn end(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> Result<(), TxnError> {
        self.check_coordinator(transactional_id)?;
        let _guard = self.lock(transactional_id).await;
        let mut txn =
            self.load_settled(transactional_id).await?.ok_or(TxnError::Refused(ErrorCode::InvalidProducerIdMapping))?;
        let before = key_of(&txn);
        let effect = txn.end(producer_id, producer_epoch, commit, self.parts.clock.now_ms())?;
        if effect == Effect::None {
            return Ok(());
        }
        self.save(&txn, Some(before), &[]).await?;
        if let Err(e) = self.complete(&mut txn).await {
            warn!(
                transactional_id,
                error = %e,
                commit,
                "transaction decided but its markers are not all written yet; it will be finished later"
            );
        }
        Ok(())
    }

    /// Finishes a decided transaction: markers to every partition, the
    /// groups' offsets settled, then CompleteCommit / CompleteAbort saved.
    async fn complete(&self, txn: &mut TxnMetadata) -> Result<(), TxnError> {
        let commit = match txn.state {
            TxnState::PrepareCommit => true,
            TxnState::PrepareAbort => false,
            other => unreachable!("complete() in state {other:?}"),
        };
        let timeout = Duration::from_millis(self.settings.marker_write_timeout_ms);
        let written = match tokio::time::timeout(timeout, self.write_markers(txn, commit)).await {
            Ok(result) => result,
            Err(_) => Err(TxnError::Markers(format!("not committed within {timeout:?}"))),
        };
        if let Err(e) = written {
            metrics::counter!(m::TXN_MARKER_FAILURES_TOTAL).increment(1);
            warn!(transactional_id = %txn.transactional_id, error = %e, "transaction markers not written");
            return Err(e);
        }
        if !txn.groups.is_empty() {
            let groups: Vec<String> = txn.groups.iter().cloned().collect();
            self.parts.groups.settle_txn_offsets(txn.producer_id, &groups, commit).await?;
        }
        let before = key_of(txn);
        txn.complete(self.parts.clock.now_ms());
        self.save(txn, Some(before), &[]).await?;
        metrics::counter!(m::TXN_COMPLETED_TOTAL, "result" => if commit { "commit" } else { "abort" }).increment(1);
        Ok(())
    }

    /// Queues a marker for every partition of the transaction and waits
    /// until all are committed. Partitions of topics deleted meanwhile are
    /// skipped.
    async fn write_markers(&self, txn: &TxnMetadata, commit: bool) -> Result<(), TxnError> {
        let now = self.parts.clock.now_ms();
        let mut receipts = Vec::with_capacity(txn.partitions.len());
        for (topic_name, partition) in &txn.partitions {
            let Some(topic) = self.parts.topics.get(topic_name) else {
                info!(transactional_id = %txn.transactional_id, topic = %topic_name, "topic gone: no marker written");
                continue;
            };
            if !(0..topic.partitions).contains(partition) {
                continue;
            }
            let bytes = marker_batch(txn.producer_id, txn.producer_epoch, commit, COORDINATOR_EPOCH, now);
            let receipt = self
                .parts
                .log
                .writer()
                .admit_marker((topic.id, *partition), bytes, commit)
                .await
                .map_err(|e| TxnError::Markers(format!("cannot queue a marker: {e}")))?;
            receipts.push(receipt);
        }
        let result = if commit { "commit" } else { "abort" };
        for receipt in receipts {
            match receipt.await {
                Ok(Ok(_)) => metrics::counter!(m::TXN_MARKERS_WRITTEN_TOTAL, "result" => result).increment(1),
                // The topic was deleted after the marker was queued.
                Ok(Err(e)) if e.is_unknown_partition() => {}
                Ok(Err(e)) => return Err(TxnError::Markers(e.to_string())),
                Err(_) => return Err(TxnError::Markers(LogError::WriterStopped.to_string())),
            }
        }
        Ok(())
    }

    /// The coordinator's periodic pass, until the process ends: every
    /// `abort_check_interval_ms`, [`Self::tick`], and on one broker the
    /// cluster-wide count of producers.
    pub async fn run(self: Arc<Self>) {
        let every = Duration::from_millis(self.settings.abort_check_interval_ms);
        loop {
            tokio::time::sleep(every).await;
            let done = self.tick().await;
            if done > 0 {
                info!(transactions = done, "aborted timed-out or finished decided transactions");
            }
            if self.parts.membership.owns(PRODUCERS_OWNER_KEY) {
                match self.parts.producers.count_producers().await {
                    Ok(n) => metrics::gauge!(m::PRODUCERS_ACTIVE).set(n as f64),
                    Err(e) => warn!(error = %e, "cannot count producers"),
                }
            }
        }
    }

    /// One pass over the ids this broker coordinates: aborts transactions
    /// open longer than their timeout, finishes decided ones, forgets ids
    /// idle longer than the expiration; refreshes the per-state gauge.
    /// Returns how many ids it acted on.
    pub async fn tick(&self) -> usize {
        let mine = match self.list().await {
            Ok(mine) => mine,
            Err(e) => {
                warn!(error = %e, "transaction coordinator: cannot list transactions");
                return 0;
            }
        };
        let mut by_state: BTreeMap<&'static str, usize> = ALL_STATES.iter().map(|s| (s.name(), 0)).collect();
        for t in &mine {
            *by_state.entry(t.state.name()).or_default() += 1;
        }
        for (state, n) in by_state {
            metrics::gauge!(m::TXN_TRANSACTIONS, "state" => state).set(n as f64);
        }
        let now = self.parts.clock.now_ms();
        let due: BTreeSet<String> = mine
            .into_iter()
            .filter(|t| match t.state {
                TxnState::Ongoing => now - t.started_ms > i64::from(t.timeout_ms),
                TxnState::PrepareCommit | TxnState::PrepareAbort => true,
                TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                    now - t.updated_ms > self.settings.id_expiration_ms
                }
                _ => false,
            })
            .map(|t| t.transactional_id)
            .collect();
        let mut done = 0;
        for id in due {
            match self.expire_one(&id).await {
                Ok(true) => done += 1,
                Ok(false) => {}
                Err(e) => {
                    warn!(transactional_id = %id, error = %e, "cannot abort, finish or expire the transaction yet")
                }
            }
        }
        done
    }

    async fn expire_one(&self, transactional_id: &str) -> Result<bool, TxnError> {
        let _guard = self.lock(transactional_id).await;
        let Some(mut txn) = self.load(transactional_id).await? else { return Ok(false) };
        let now = self.parts.clock.now_ms();
        match txn.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                info!(transactional_id, state = txn.state.name(), "finishing a decided transaction");
                self.complete(&mut txn).await?;
                Ok(true)
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                if now - txn.updated_ms <= self.settings.id_expiration_ms {
                    return Ok(false);
                }
                let (pid, epoch, state) = key_of(&txn);
                let gone =
                    self.parts.producers.delete_transaction(transactional_id, (pid, epoch, state.name())).await?;
                if gone {
                    info!(transactional_id, producer_id = txn.producer_id, "transactional id expired");
                    metrics::counter!(m::TXN_IDS_EXPIRED_TOTAL).increment(1);
                }
                Ok(gone)
            }
            TxnState::Ongoing => {
                let before = key_of(&txn);
                let Some(_) = txn.expire(now) else { return Ok(false) };
                self.save(&txn, Some(before), &[]).await?;
                info!(
                    transactional_id,
                    producer_id = txn.producer_id,
                    timeout_ms = txn.timeout_ms,
                    "transaction outlived its timeout: aborting it and fencing its producer"
                );
                metrics::counter!(m::TXN_TIMED_OUT_TOTAL).increment(1);
                metrics::counter!(m::TXN_PRODUCERS_FENCED_TOTAL).increment(1);
                self.complete(&mut txn).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
