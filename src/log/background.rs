//! The log's periodic passes: garbage collection, retention (with the
//! expiry of idle idempotent-producer state) and merging run on one live
//! broker at a time, the one that [`Membership::owns`] the pass's key;
//! every pass is idempotent, so two brokers briefly disagreeing about the
//! owner (while brokers come and go) is harmless, only wasteful. Spilling
//! runs on every broker, for the inline flushes it wrote.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::merge::MergePolicy;
use super::Log;
use crate::cluster::Membership;
use crate::metrics as m;

/// How often each pass runs, and what it keeps.
#[derive(Debug, Clone, Copy)]
pub struct BackgroundSettings {
    pub gc_interval_ms: u64,
    pub retention_check_interval_ms: u64,
    pub merge_interval_ms: u64,
    pub merge: MergePolicy,
    /// Idempotent-producer state idle this long is forgotten (Kafka's
    /// producer.id.expiration.ms).
    pub producer_id_expiration_ms: i64,
    /// How often inline flushes are spilled, and when any broker spills
    /// them.
    pub spill_interval_ms: u64,
    pub spill_takeover_ms: i64,
}

/// The keys placing each pass on one live broker.
const GC_OWNER_KEY: &str = "__streamhouse_gc";
const RETENTION_OWNER_KEY: &str = "__streamhouse_retention";
const MERGE_OWNER_KEY: &str = "__streamhouse_merge";

/// Starts the passes; they run until the process ends.
pub fn spawn(log: &Log, membership: &Arc<Membership>, settings: BackgroundSettings) {
    tokio::spawn(collect_garbage(log.clone(), membership.clone(), settings));
    tokio::spawn(enforce_retention(log.clone(), membership.clone(), settings));
    tokio::spawn(merge_segments(log.clone(), membership.clone(), settings));
    tokio::spawn(spill(log.clone(), settings));
}

/// Spills inline flushes every interval, or sooner when the backlog fills
/// up; a spill that could not take every inline flush due is followed by
/// another at once (up to a few), so a backlog drains. Otherwise one spill
/// per interval: that is what bounds PUTs at low load.
async fn spill(log: Log, settings: BackgroundSettings) {
    const SPILLS_PER_WAKE_MAX: usize = 16;
    let every = Duration::from_millis(settings.spill_interval_ms);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = log.spill_wanted() => {}
        }
        for _ in 0..SPILLS_PER_WAKE_MAX {
            match log.spill(settings.spill_takeover_ms).await {
                Ok(Some(r)) if r.more => continue,
                Ok(_) => break,
                Err(e) => {
                    warn!(error = %e, "spilling inline flushes failed; retrying next interval");
                    break;
                }
            }
        }
    }
}

async fn collect_garbage(log: Log, membership: Arc<Membership>, settings: BackgroundSettings) {
    let every = Duration::from_millis(settings.gc_interval_ms);
    loop {
        if membership.owns(GC_OWNER_KEY) {
            if let Err(e) = log.collect_garbage().await {
                warn!(error = %e, "garbage collection pass failed; retrying next interval");
            }
        }
        tokio::time::sleep(every).await;
    }
}

/// Retention passes over every partition of topics with a retention
/// policy; each pass also forgets idle idempotent-producer state.
async fn enforce_retention(log: Log, membership: Arc<Membership>, settings: BackgroundSettings) {
    let every = Duration::from_millis(settings.retention_check_interval_ms);
    loop {
        tokio::time::sleep(every).await;
        if !membership.owns(RETENTION_OWNER_KEY) {
            continue;
        }
        let mut failed = 0usize;
        for topic in log.topics() {
            let Some(policy) = topic.config.retention else { continue };
            for p in 0..topic.partitions {
                if let Err(e) = log.enforce_retention(topic.id, p, policy).await {
                    failed += 1;
                    if failed == 1 {
                        warn!(topic = %topic.name, partition = p, error = %e,
                            "retention pass failed for a partition; retrying next interval");
                    }
                }
            }
        }
        match log.expire_producers(settings.producer_id_expiration_ms).await {
            Ok(0) => {}
            Ok(n) => info!(expired = n, "forgot idle idempotent producers"),
            Err(e) => {
                failed += 1;
                warn!(error = %e, "cannot expire idle producer state; retrying next interval");
            }
        }
        let outcome = if failed == 0 { "ok" } else { "failed" };
        metrics::counter!(m::RETENTION_PASSES_TOTAL, "outcome" => outcome).increment(1);
    }
}

/// Merge passes: per partition, at most one run of flush batches per pass,
/// so a pass stays short. Two brokers merging the same rows at once is safe
/// (the second swap finds the rows moved and changes nothing).
async fn merge_segments(log: Log, membership: Arc<Membership>, settings: BackgroundSettings) {
    let every = Duration::from_millis(settings.merge_interval_ms);
    loop {
        tokio::time::sleep(every).await;
        if !membership.owns(MERGE_OWNER_KEY) {
            continue;
        }
        let mut failed = 0usize;
        for topic in log.topics() {
            for p in 0..topic.partitions {
                if let Err(e) = log.merge_partition(topic.id, p, settings.merge).await {
                    failed += 1;
                    if failed == 1 {
                        warn!(topic = %topic.name, partition = p, error = %e,
                            "merge failed for a partition; retrying next interval");
                    }
                }
            }
        }
    }
}
