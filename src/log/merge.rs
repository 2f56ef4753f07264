//! Merging (DESIGN §4): the batches one partition has scattered over many
//! small multi-partition flush objects are copied, byte for byte, into one
//! per-partition segment object, and their index rows are pointed at it in
//! one metadata transaction. Reading old data then costs one GET per
//! segment instead of one per flush.
//!
//! Safe against everything running at the same time:
//! - the swap only moves rows still pointing where the merge read them (a
//!   row retention dropped meanwhile makes the whole swap a no-op, and the
//!   new segment an orphan for [`super::gc`]);
//! - the old objects become unreferenced only once every partition's rows
//!   have left them, and [`super::gc`] waits the grace period before
//!   deleting them, so fetches that looked up the old rows still read them;
//! - a reader that holds old rows past that (a long-idle cached tail on
//!   some broker) gets NotFound and looks the rows up again
//!   ([`super::reader`]).

use bytes::Bytes;
use tracing::info;
use uuid::Uuid;

use super::object_format::{BatchPlacement, ObjectBuilder};
use super::{LogError, PartitionKey, Shared};
use crate::config::limits::{MERGE_LOOKUP_ROWS_MAX, MERGE_SCANNED_ROWS_MAX};
use crate::metadata::{IndexRow, ObjectRecord, RowMove};
use crate::metrics as m;
use crate::protocol::batch::read_header;

/// When a partition's flush rows are worth merging, and how big a segment
/// may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergePolicy {
    /// A segment stops growing at this size (bytes of batches held in
    /// memory while it is built).
    pub segment_bytes_max: usize,
    /// A run of fewer flush rows than this is left alone, unless it
    /// already fills half a segment.
    pub rows_min: usize,
}

/// What one merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeReport {
    pub segment_key: String,
    pub batches: usize,
    pub bytes: usize,
    pub base_offset: i64,
    pub last_offset: i64,
}

/// Segment keys carry this marker; everything else is a flush object.
const SEGMENT_MARKER: &str = "/seg-";

pub fn is_segment(key: &str) -> bool {
    key.contains(SEGMENT_MARKER)
}

fn segment_key(key: PartitionKey, base_offset: i64) -> String {
    let id = Uuid::new_v4();
    let b = id.as_bytes();
    format!("{:02x}/{:02x}{SEGMENT_MARKER}{}-{}-{base_offset}-{}.sho", b[0], b[1], key.0.simple(), key.1, id.simple())
}

/// Finds the oldest run of flush rows worth merging (contiguous offsets,
/// no segment in between, within the size bound).
async fn find_run(shared: &Shared, key: PartitionKey, policy: MergePolicy) -> Result<Vec<IndexRow>, LogError> {
    let Some(offsets) = shared.offsets(key) else {
        return Err(LogError::UnknownPartition { topic_id: key.0, partition: key.1 });
    };
    let worth = |run: &[IndexRow], bytes: usize| {
        run.len() >= 2 && (run.len() >= policy.rows_min || 2 * bytes >= policy.segment_bytes_max)
    };
    let mut run: Vec<IndexRow> = Vec::new();
    let mut run_bytes = 0usize;
    let mut from = offsets.log_start_offset;
    let mut scanned = 0usize;
    while scanned < MERGE_SCANNED_ROWS_MAX {
        let rows = shared.index.index_rows(key.0, key.1, from, MERGE_LOOKUP_ROWS_MAX).await?;
        let Some(last) = rows.last() else { break };
        from = last.last_offset + 1;
        scanned += rows.len();
        for row in rows {
            let len = row.length as usize;
            let joins = !is_segment(&row.object_key)
                && run.last().is_none_or(|prev| prev.last_offset + 1 == row.base_offset)
                && run_bytes + len <= policy.segment_bytes_max;
            if joins {
                run_bytes += len;
                run.push(row);
                continue;
            }
            if worth(&run, run_bytes) {
                return Ok(run);
            }
            run.clear();
            run_bytes = 0;
            if !is_segment(&row.object_key) && len <= policy.segment_bytes_max {
                run_bytes = len;
                run.push(row);
            }
        }
    }
    Ok(if worth(&run, run_bytes) { run } else { Vec::new() })
}

/// Merges the oldest run of flush rows of one partition into a segment;
/// `None` when there is nothing worth merging or the rows changed while
/// the segment was written.
pub(crate) async fn merge_partition(
    shared: &Shared,
    key: PartitionKey,
    policy: MergePolicy,
) -> Result<Option<MergeReport>, LogError> {
    let run = find_run(shared, key, policy).await?;
    if run.is_empty() {
        return Ok(None);
    }
    let batches = super::reader::read_stored(shared, &run).await?;
    let bytes: usize = batches.iter().map(Bytes::len).sum();
    let mut builder = ObjectBuilder::with_capacity(bytes, batches.len());
    let mut moves = Vec::with_capacity(run.len());
    for (row, batch) in run.iter().zip(&batches) {
        // Stored batches were validated on the way in; a damaged one stops
        // the merge rather than being copied.
        let h = read_header(batch)?;
        let entry = builder.push(BatchPlacement {
            topic_id: key.0,
            partition: key.1,
            bytes: batch,
            offset_count: (row.last_offset - row.base_offset + 1) as i32,
            base_timestamp: h.base_timestamp,
            max_timestamp: h.max_timestamp,
            producer_id: h.producer_id,
            producer_epoch: h.producer_epoch,
            base_sequence: h.base_sequence,
        });
        moves.push(RowMove {
            base_offset: row.base_offset,
            from_key: row.object_key.to_string(),
            position: entry.position,
        });
    }
    let (object, _) = builder.finish();
    let base_offset = run[0].base_offset;
    let last_offset = run[run.len() - 1].last_offset;
    let segment = ObjectRecord {
        data: None,
        object_key: segment_key(key, base_offset),
        size_bytes: object.len() as u64,
        node_id: shared.limits.node_id,
        created_ms: shared.clock.now_ms(),
    };
    shared.store.put_new(&segment.object_key, object).await?;
    if !shared.index.swap_index_rows(key.0, key.1, &moves, &segment).await? {
        info!(topic_id = %key.0, partition = key.1, "rows changed while merging; the unused segment is collected later");
        metrics::counter!(m::MERGE_SEGMENTS_TOTAL, "outcome" => "superseded").increment(1);
        return Ok(None);
    }
    // Cached rows of this partition may point at the old objects.
    shared.forget_tail(key);
    metrics::counter!(m::MERGE_SEGMENTS_TOTAL, "outcome" => "written").increment(1);
    metrics::counter!(m::MERGE_BATCHES_TOTAL).increment(run.len() as u64);
    metrics::counter!(m::MERGE_BYTES_TOTAL).increment(bytes as u64);
    info!(
        topic_id = %key.0,
        partition = key.1,
        segment = %segment.object_key,
        batches = run.len(),
        bytes,
        base_offset,
        last_offset,
        "merged flush rows into a segment"
    );
    Ok(Some(MergeReport { segment_key: segment.object_key, batches: run.len(), bytes, base_offset, last_offset }))
}
