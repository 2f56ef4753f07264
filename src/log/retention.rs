//! Retention (DESIGN §4): the log start offset moves past batches older
//! than `retention.ms` or beyond `retention.bytes`, their index rows go in
//! the same metadata transaction, and objects no row references any more
//! are left to [`super::gc`]. Like Kafka, whole batches go (Kafka: whole
//! segments); a batch straddling the cut stays.

use tracing::info;

use super::{LogError, PartitionKey, Shared};
use crate::metrics as m;

/// What a topic keeps; `None` means no limit of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub retention_ms: Option<i64>,
    pub retention_bytes: Option<i64>,
}

/// Applies `policy` to one partition; returns the new log start offset
/// when it moved.
pub(crate) async fn enforce(
    shared: &Shared,
    key: PartitionKey,
    policy: RetentionPolicy,
) -> Result<Option<i64>, LogError> {
    let Some(current) = shared.offsets(key) else {
        return Err(LogError::UnknownPartition { topic_id: key.0, partition: key.1 });
    };
    let mut start = current.log_start_offset;
    if let Some(ms) = policy.retention_ms {
        let cutoff = shared.clock.now_ms().saturating_sub(ms);
        // Every batch before the first one holding a record at or after the
        // cutoff holds only older records.
        let keep_from = match shared.index.first_row_at_or_after_timestamp(key.0, key.1, cutoff).await? {
            Some(row) => row.base_offset,
            None => current.next_offset,
        };
        start = start.max(keep_from);
    }
    if let Some(bytes) = policy.retention_bytes {
        if let Some(keep_from) = shared.index.offset_keeping_bytes(key.0, key.1, bytes).await? {
            start = start.max(keep_from);
        }
    }
    if start <= current.log_start_offset {
        return Ok(None);
    }
    let node_id = shared.limits.node_id;
    let offsets = shared.index.advance_log_start(node_id, key.0, key.1, start).await?;
    let moved = {
        let mut parts = shared.partitions.lock().unwrap_or_else(|p| p.into_inner());
        let state = parts.get_mut(&key);
        let before = state.as_ref().map_or(current.log_start_offset, |s| s.offsets.log_start_offset);
        if let Some(s) = state {
            s.advance(offsets);
        }
        offsets.log_start_offset - before
    };
    metrics::counter!(m::RETENTION_OFFSETS_DELETED_TOTAL).increment(moved.max(0) as u64);
    info!(
        topic_id = %key.0,
        partition = key.1,
        log_start_offset = offsets.log_start_offset,
        "retention moved the log start"
    );
    Ok(Some(offsets.log_start_offset))
}
