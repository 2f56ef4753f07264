//! The transaction coordinator: the requests of the transactional APIs
//! applied to a transactional id's [`TxnMetadata`], which lives in the
//! metadata store (see docs/design/0002-transactions.md).
//!
//! Placement is the group coordinator's: the broker that
//! [`crate::cluster::Membership::owns`] the transactional id. Each request
//! loads the id's metadata from the store, decides with the pure state
//! machine of [`super`], saves the result with a compare on the state it
//! was decided from (so a coordinator that lost the id to another broker
//! cannot overwrite a newer decision) and carries out the effect before it
//! answers: commit/abort markers go through the log's writer like produced
//! batches, then the groups' pending offsets are applied or dropped, then
//! the transaction is completed. A decided transaction (PrepareCommit /
//! PrepareAbort) whose markers could not be written is finished by the next
//! request for the id or by [`TxnCoordinator::tick`], on whichever broker
//! coordinates the id by then: markers are safe to write twice.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};
use tracing::{info, warn};

use super::{Effect, TxnMetadata, TxnPartition, TxnState, ALL_STATES};
use crate::handlers::Context;
use crate::metrics as m;
use crate::protocol::control::{marker_batch, COORDINATOR_EPOCH};
use crate::protocol::ErrorCode;

/// Requests for the same transactional id are serialised on one of these
/// (by hash), which bounds the coordinator's memory whatever ids clients use.
const LOCK_STRIPES: usize = 64;

/// Longest wait for a transaction's markers to be committed before the
/// attempt is given up (and retried later).
const MARKER_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Attempts to apply one request when the saved state keeps changing under
/// it (another broker coordinating the same id for a moment).
const ATTEMPTS_MAX: usize = 3;

pub struct TxnCoordinator {
    locks: Vec<Mutex<()>>,
    timeout_max_ms: i32,
    id_expiration_ms: i64,
}

/// What identifies the stored state a decision was made from.
type StateKey = (i64, i16, TxnState);

fn key_of(m: &TxnMetadata) -> StateKey {
    (m.producer_id, m.producer_epoch, m.state)
}

fn store_error(e: crate::metadata::MetaError) -> ErrorCode {
    warn!(error = %e, "transaction coordinator: metadata store call failed");
    match ErrorCode::from(&e) {
        // Clients retry these after finding the coordinator again.
        ErrorCode::KafkaStorageError => ErrorCode::CoordinatorNotAvailable,
        other => other,
    }
}

impl TxnCoordinator {
    pub fn new(timeout_max_ms: i32, id_expiration_ms: i64) -> Self {
        Self { locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(), timeout_max_ms, id_expiration_ms }
    }

    async fn lock(&self, transactional_id: &str) -> MutexGuard<'_, ()> {
        let mut h = DefaultHasher::new();
        transactional_id.hash(&mut h);
        self.locks[(h.finish() % LOCK_STRIPES as u64) as usize].lock().await
    }

    /// NOT_COORDINATOR unless this broker coordinates the id;
    /// COORDINATOR_NOT_AVAILABLE while its own registration has lapsed.
    pub fn check_coordinator(ctx: &Context, transactional_id: &str) -> Result<(), ErrorCode> {
        if transactional_id.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        if ctx.membership.owns(transactional_id) {
            Ok(())
        } else if !ctx.membership.is_live() {
            Err(ErrorCode::CoordinatorNotAvailable)
        } else {
            Err(ErrorCode::NotCoordinator)
        }
    }

    async fn load(ctx: &Context, transactional_id: &str) -> Result<Option<TxnMetadata>, ErrorCode> {
        ctx.meta.load_transaction(transactional_id).await.map_err(store_error)
    }

    /// Loads the id's metadata, first finishing a transaction left decided
    /// but incomplete (markers not yet written).
    async fn load_settled(ctx: &Context, transactional_id: &str) -> Result<Option<TxnMetadata>, ErrorCode> {
        let mut loaded = Self::load(ctx, transactional_id).await?;
        if let Some(txn) = loaded.as_mut() {
            if matches!(txn.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
                Self::complete(ctx, txn).await?;
            }
        }
        Ok(loaded)
    }

    /// Saves `txn` over the state `before`; CONCURRENT_TRANSACTIONS when the
    /// stored state moved meanwhile (the client retries).
    async fn save(
        ctx: &Context,
        txn: &TxnMetadata,
        before: Option<StateKey>,
        open: &[(uuid::Uuid, i32)],
    ) -> Result<(), ErrorCode> {
        if ctx.meta.save_transaction(txn, before, open).await.map_err(store_error)? {
            Ok(())
        } else {
            warn!(transactional_id = %txn.transactional_id, "transaction state changed under this coordinator; retrying");
            Err(ErrorCode::ConcurrentTransactions)
        }
    }

    /// InitProducerId for a transactional id: the producer id and the
    /// (bumped) epoch. An open transaction is aborted first, which fences
    /// the producer that opened it.
    pub async fn init_producer(
        &self,
        ctx: &Context,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ErrorCode> {
        Self::check_coordinator(ctx, transactional_id)?;
        if !(1..=self.timeout_max_ms).contains(&timeout_ms) {
            return Err(ErrorCode::InvalidTransactionTimeout);
        }
        let _guard = self.lock(transactional_id).await;
        for _ in 0..ATTEMPTS_MAX {
            let now = ctx.clock.now_ms();
            let Some(mut txn) = Self::load_settled(ctx, transactional_id).await? else {
                let producer_id = ctx.meta.allocate_producer_id().await.map_err(store_error)?;
                let txn = TxnMetadata::new(transactional_id, producer_id, timeout_ms, now);
                match Self::save(ctx, &txn, None, &[]).await {
                    Ok(()) => {
                        info!(transactional_id, producer_id, "new transactional id");
                        return Ok((producer_id, 0));
                    }
                    Err(ErrorCode::ConcurrentTransactions) => continue,
                    Err(e) => return Err(e),
                }
            };
            let before = key_of(&txn);
            // A fresh producer id is needed only when the epoch is spent;
            // take it from the store before deciding.
            let spare_id = if txn.epoch_exhausted() {
                Some(ctx.meta.allocate_producer_id().await.map_err(store_error)?)
            } else {
                None
            };
            let effect = txn.init_producer(timeout_ms, expected, now, || spare_id.unwrap_or(-1))?;
            match Self::save(ctx, &txn, Some(before), &[]).await {
                Ok(()) => {}
                Err(ErrorCode::ConcurrentTransactions) => continue,
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
                    Self::complete(ctx, &mut txn).await?;
                    // The next pass bumps the epoch again for the new producer.
                }
            }
        }
        Err(ErrorCode::ConcurrentTransactions)
    }

    /// AddPartitionsToTxn: the partitions join the open transaction (which
    /// begins if none is open). Topics must exist; the caller has checked.
    pub async fn add_partitions(
        &self,
        ctx: &Context,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(TxnPartition, uuid::Uuid)],
    ) -> Result<(), ErrorCode> {
        Self::check_coordinator(ctx, transactional_id)?;
        let _guard = self.lock(transactional_id).await;
        let mut txn = Self::load_settled(ctx, transactional_id).await?.ok_or(ErrorCode::InvalidProducerIdMapping)?;
        let before = key_of(&txn);
        let new: Vec<(uuid::Uuid, i32)> = partitions
            .iter()
            .filter(|(p, _)| txn.state != TxnState::Ongoing || !txn.partitions.contains(p))
            .map(|((_, partition), id)| (*id, *partition))
            .collect();
        let names: Vec<TxnPartition> = partitions.iter().map(|(p, _)| p.clone()).collect();
        txn.add(producer_id, producer_epoch, &names, None, ctx.clock.now_ms())?;
        if new.is_empty() && before.2 == TxnState::Ongoing {
            return Ok(());
        }
        Self::save(ctx, &txn, Some(before), &new).await
    }

    /// AddPartitionsToTxn's verify-only form (KIP-890): whether each
    /// partition is part of the producer's open transaction.
    pub async fn verify_partitions(
        &self,
        ctx: &Context,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[TxnPartition],
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        Self::check_coordinator(ctx, transactional_id)?;
        let txn = Self::load(ctx, transactional_id).await?.ok_or(ErrorCode::InvalidProducerIdMapping)?;
        if txn.producer_id != producer_id {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if txn.producer_epoch != producer_epoch {
            return Err(ErrorCode::ProducerFenced);
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
        ctx: &Context,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        group_id: &str,
    ) -> Result<(), ErrorCode> {
        Self::check_coordinator(ctx, transactional_id)?;
        let _guard = self.lock(transactional_id).await;
        let mut txn = Self::load_settled(ctx, transactional_id).await?.ok_or(ErrorCode::InvalidProducerIdMapping)?;
        let before = key_of(&txn);
        let known = txn.state == TxnState::Ongoing && txn.groups.contains(group_id);
        txn.add(producer_id, producer_epoch, &[], Some(group_id), ctx.clock.now_ms())?;
        if known {
            return Ok(());
        }
        Self::save(ctx, &txn, Some(before), &[]).await
    }

    /// EndTxn: commit or abort. The answer is sent once the decision is
    /// saved and, normally, the markers are written; if writing them fails
    /// the decision still stands and is finished later.
    pub async fn end(
        &self,
        ctx: &Context,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> Result<(), ErrorCode> {
        Self::check_coordinator(ctx, transactional_id)?;
        let _guard = self.lock(transactional_id).await;
        let mut txn = Self::load_settled(ctx, transactional_id).await?.ok_or(ErrorCode::InvalidProducerIdMapping)?;
        let before = key_of(&txn);
        let effect = txn.end(producer_id, producer_epoch, commit, ctx.clock.now_ms())?;
        if effect == Effect::None {
            return Ok(());
        }
        Self::save(ctx, &txn, Some(before), &[]).await?;
        if let Err(code) = Self::complete(ctx, &mut txn).await {
            warn!(
                transactional_id,
                ?code,
                commit,
                "transaction decided but its markers are not all written yet; it will be finished later"
            );
        }
        Ok(())
    }

    /// Finishes a decided transaction: markers to every partition, the
    /// groups' offsets settled, then CompleteCommit / CompleteAbort saved.
    async fn complete(ctx: &Context, txn: &mut TxnMetadata) -> Result<(), ErrorCode> {
        let commit = match txn.state {
            TxnState::PrepareCommit => true,
            TxnState::PrepareAbort => false,
            other => unreachable!("complete() in state {other:?}"),
        };
        match tokio::time::timeout(MARKER_WRITE_TIMEOUT, write_markers(ctx, txn, commit)).await {
            Ok(Ok(())) => {}
            Ok(Err(code)) => {
                metrics::counter!(m::TXN_MARKER_FAILURES_TOTAL).increment(1);
                return Err(code);
            }
            Err(_) => {
                metrics::counter!(m::TXN_MARKER_FAILURES_TOTAL).increment(1);
                warn!(transactional_id = %txn.transactional_id, "transaction markers not written within {MARKER_WRITE_TIMEOUT:?}");
                return Err(ErrorCode::CoordinatorNotAvailable);
            }
        }
        if !txn.groups.is_empty() {
            let groups: Vec<String> = txn.groups.iter().cloned().collect();
            ctx.meta.settle_txn_offsets(txn.producer_id, &groups, commit).await.map_err(store_error)?;
        }
        let before = key_of(txn);
        txn.complete(ctx.clock.now_ms());
        Self::save(ctx, txn, Some(before), &[]).await?;
        metrics::counter!(m::TXN_COMPLETED_TOTAL, "result" => if commit { "commit" } else { "abort" }).increment(1);
        Ok(())
    }

    /// The periodic pass of the coordinator, for the ids this broker
    /// coordinates: aborts transactions open longer than their timeout,
    /// finishes decided ones, forgets ids idle longer than the expiration;
    /// refreshes the per-state gauge. Returns how many ids it acted on.
    pub async fn tick(&self, ctx: &Context) -> usize {
        let all = match ctx.meta.list_transactions().await {
            Ok(all) => all,
            Err(e) => {
                warn!(error = %e, "transaction coordinator: cannot list transactions");
                return 0;
            }
        };
        let mine: Vec<TxnMetadata> = all.into_iter().filter(|t| ctx.membership.owns(&t.transactional_id)).collect();
        let mut by_state: BTreeMap<&'static str, usize> = ALL_STATES.iter().map(|s| (s.name(), 0)).collect();
        for t in &mine {
            *by_state.entry(t.state.name()).or_default() += 1;
        }
        for (state, n) in by_state {
            metrics::gauge!(m::TXN_TRANSACTIONS, "state" => state).set(n as f64);
        }
        let now = ctx.clock.now_ms();
        let due: BTreeSet<String> = mine
            .into_iter()
            .filter(|t| match t.state {
                TxnState::Ongoing => now - t.started_ms > i64::from(t.timeout_ms),
                TxnState::PrepareCommit | TxnState::PrepareAbort => true,
                TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                    now - t.updated_ms > self.id_expiration_ms
                }
                _ => false,
            })
            .map(|t| t.transactional_id)
            .collect();
        let mut done = 0;
        for id in due {
            match self.expire_one(ctx, &id).await {
                Ok(true) => done += 1,
                Ok(false) => {}
                Err(code) => warn!(transactional_id = %id, ?code, "cannot abort, finish or expire the transaction yet"),
            }
        }
        done
    }

    async fn expire_one(&self, ctx: &Context, transactional_id: &str) -> Result<bool, ErrorCode> {
        let _guard = self.lock(transactional_id).await;
        let Some(mut txn) = Self::load(ctx, transactional_id).await? else { return Ok(false) };
        match txn.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                info!(transactional_id, state = txn.state.name(), "finishing a decided transaction");
                Self::complete(ctx, &mut txn).await?;
                Ok(true)
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                if ctx.clock.now_ms() - txn.updated_ms <= self.id_expiration_ms {
                    return Ok(false);
                }
                let gone = ctx.meta.delete_transaction(transactional_id, key_of(&txn)).await.map_err(store_error)?;
                if gone {
                    info!(transactional_id, producer_id = txn.producer_id, "transactional id expired");
                    metrics::counter!(m::TXN_IDS_EXPIRED_TOTAL).increment(1);
                }
                Ok(gone)
            }
            TxnState::Ongoing => {
                let before = key_of(&txn);
                let Some(_) = txn.expire(ctx.clock.now_ms()) else { return Ok(false) };
                Self::save(ctx, &txn, Some(before), &[]).await?;
                info!(
                    transactional_id,
                    producer_id = txn.producer_id,
                    timeout_ms = txn.timeout_ms,
                    "transaction outlived its timeout: aborting it and fencing its producer"
                );
                metrics::counter!(m::TXN_TIMED_OUT_TOTAL).increment(1);
                metrics::counter!(m::TXN_PRODUCERS_FENCED_TOTAL).increment(1);
                Self::complete(ctx, &mut txn).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// Queues a marker for every partition of the transaction and waits until
/// all are committed. Partitions of topics deleted meanwhile are skipped.
async fn write_markers(ctx: &Context, txn: &TxnMetadata, commit: bool) -> Result<(), ErrorCode> {
    let now = ctx.clock.now_ms();
    let mut receipts = Vec::with_capacity(txn.partitions.len());
    for (topic_name, partition) in &txn.partitions {
        let Some(topic) = ctx.topics.get(topic_name) else {
            info!(transactional_id = %txn.transactional_id, topic = %topic_name, "topic gone: no marker written");
            continue;
        };
        if !(0..topic.record.partitions).contains(partition) {
            continue;
        }
        let bytes = marker_batch(txn.producer_id, txn.producer_epoch, commit, COORDINATOR_EPOCH, now);
        let receipt =
            ctx.log.writer().admit_marker((topic.record.id, *partition), bytes, commit).await.map_err(|e| {
                warn!(error = %e, "cannot queue a transaction marker");
                ErrorCode::CoordinatorNotAvailable
            })?;
        receipts.push(receipt);
    }
    let result = if commit { "commit" } else { "abort" };
    for receipt in receipts {
        match receipt.await {
            Ok(Ok(_)) => metrics::counter!(m::TXN_MARKERS_WRITTEN_TOTAL, "result" => result).increment(1),
            // The topic was deleted after the marker was queued.
            Ok(Err(e)) if ErrorCode::from(&e) == ErrorCode::UnknownTopicOrPartition => {}
            Ok(Err(e)) => {
                warn!(transactional_id = %txn.transactional_id, error = %e, "a transaction marker was not written");
                return Err(ErrorCode::CoordinatorNotAvailable);
            }
            Err(_) => return Err(ErrorCode::CoordinatorNotAvailable),
        }
    }
    Ok(())
}
