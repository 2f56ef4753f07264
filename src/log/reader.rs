//! The read path (DESIGN §3): find the index rows covering a fetch offset
//! (near the tail from memory, otherwise from the metadata store), read their
//! byte ranges (from the object cache, otherwise one ranged GET per run of
//! adjacent batches), and patch each batch's base offset.

use bytes::{Bytes, BytesMut};

use super::writer::is_inline;
use super::{LogError, PartitionKey, Shared};
use crate::config::limits::INDEX_LOOKUP_ROWS_MAX;
use crate::metadata::IndexRow;
use crate::metrics as m;
use crate::object_store::StoreError;
use crate::protocol::batch::{patch_for_fetch, read_header, BATCH_HEADER_BYTES};
use crate::protocol::records::record_positions;

/// The leader epoch StreamHouse reports for every partition: there is no
/// leader election, so it never changes.
pub const LEADER_EPOCH: i32 = 0;

/// Which records a fetch may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Everything up to the high watermark.
    ReadUncommitted,
    /// Up to the last stable offset, with the aborted transactions listed.
    ReadCommitted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRead {
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
    /// Whole batches with patched offsets; empty when nothing is available.
    pub records: Bytes,
    /// For read_committed: the aborted transactions overlapping the
    /// records, as (producer id, first offset).
    pub aborted: Vec<(i64, i64)>,
}

pub(crate) async fn read(
    shared: &Shared,
    key: PartitionKey,
    fetch_offset: i64,
    bytes_max: usize,
    min_one_batch: bool,
    isolation: Isolation,
) -> Result<PartitionRead, LogError> {
    let (offsets, tail) = shared
        .tail_from(key, fetch_offset, bytes_max)
        .ok_or(LogError::UnknownPartition { topic_id: key.0, partition: key.1 })?;
    let hw = offsets.next_offset;
    let log_start = offsets.log_start_offset;
    if fetch_offset < log_start || fetch_offset > hw {
        return Err(LogError::OffsetOutOfRange { offset: fetch_offset, log_start, high_watermark: hw });
    }
    let empty = PartitionRead {
        high_watermark: hw,
        last_stable_offset: offsets.last_stable_offset,
        log_start_offset: log_start,
        records: Bytes::new(),
        aborted: Vec::new(),
    };
    // What this fetch may see ends at the high watermark, or at the last
    // stable offset for read_committed (a batch boundary: where the oldest
    // open transaction began).
    let end = match isolation {
        Isolation::ReadUncommitted => hw,
        Isolation::ReadCommitted => offsets.last_stable_offset,
    };
    if fetch_offset >= end || (bytes_max == 0 && !min_one_batch) {
        return Ok(empty);
    }
    let hw = end;

    let rows: Vec<IndexRow> = match tail {
        Some(rows) => {
            metrics::counter!(m::INDEX_LOOKUPS_TOTAL, "source" => "memory").increment(1);
            rows
        }
        None => {
            metrics::counter!(m::INDEX_LOOKUPS_TOTAL, "source" => "store").increment(1);
            shared.index.index_rows(key.0, key.1, fetch_offset, INDEX_LOOKUP_ROWS_MAX).await?
        }
    };
    let chosen = choose_rows(&rows, hw, bytes_max, min_one_batch);
    if chosen.is_empty() {
        return Ok(empty);
    }
    let records = match read_rows(shared, chosen).await {
        // The rows were merged into a segment and their old object is gone
        // (a long-idle cached tail, or another broker's merge): look the
        // rows up again, once.
        Err(LogError::Store(e)) if matches!(*e, StoreError::NotFound { .. }) => {
            metrics::counter!(m::INDEX_LOOKUPS_TOTAL, "source" => "store_after_move").increment(1);
            shared.forget_tail(key);
            let rows = shared.index.index_rows(key.0, key.1, fetch_offset, INDEX_LOOKUP_ROWS_MAX).await?;
            let chosen = choose_rows(&rows, hw, bytes_max, min_one_batch);
            if chosen.is_empty() {
                return Ok(empty);
            }
            read_rows(shared, chosen).await?
        }
        other => other?,
    };
    let aborted = match isolation {
        Isolation::ReadCommitted => {
            let upto = last_offset_in(&records).map_or(fetch_offset, |last| last + 1);
            shared.index.aborted_transactions(key.0, key.1, fetch_offset, upto).await?
        }
        Isolation::ReadUncommitted => Vec::new(),
    };
    Ok(PartitionRead { records, aborted, ..empty })
}

/// The last offset of the last batch in `records` (patched batches).
fn last_offset_in(records: &[u8]) -> Option<i64> {
    let mut rest = records;
    let mut last = None;
    while rest.len() >= BATCH_HEADER_BYTES {
        let h = read_header(rest).ok()?;
        let base = i64::from_be_bytes(rest[..8].try_into().ok()?);
        last = Some(base + i64::from(h.last_offset_delta));
        rest = &rest[h.size_bytes..];
    }
    last
}

/// The rows that fit `bytes_max`, in order, below the high watermark; the
/// first row is taken whatever its size when `min_one_batch` (Kafka's rule
/// that a consumer always makes progress).
fn choose_rows(rows: &[IndexRow], hw: i64, bytes_max: usize, min_one_batch: bool) -> &[IndexRow] {
    let mut total = 0usize;
    let mut n = 0;
    for r in rows {
        if r.last_offset >= hw {
            break;
        }
        let len = r.length as usize;
        if total + len > bytes_max && !(n == 0 && min_one_batch) {
            break;
        }
        total += len;
        n += 1;
    }
    &rows[..n]
}

/// The stored bytes of each of `rows`, one GET (or cache read) per run of
/// rows adjacent in the same object. Shared with merging.
pub(crate) async fn read_stored(shared: &Shared, rows: &[IndexRow]) -> Result<Vec<Bytes>, LogError> {
    let mut out = Vec::with_capacity(rows.len());
    let mut i = 0;
    while i < rows.len() {
        let mut j = i + 1;
        while j < rows.len()
            && rows[j].object_key == rows[i].object_key
            && rows[j].position == rows[j - 1].position + u64::from(rows[j - 1].length)
        {
            j += 1;
        }
        let start = rows[i].position;
        let end = rows[j - 1].position + u64::from(rows[j - 1].length);
        let run = read_range(shared, &rows[i].object_key, start, end).await?;
        for r in &rows[i..j] {
            let at = (r.position - start) as usize;
            out.push(run.slice(at..at + r.length as usize));
        }
        i = j;
    }
    Ok(out)
}

/// Reads the bytes of `rows` and patches their offsets.
async fn read_rows(shared: &Shared, rows: &[IndexRow]) -> Result<Bytes, LogError> {
    let stored = read_stored(shared, rows).await?;
    let mut out = BytesMut::with_capacity(stored.iter().map(Bytes::len).sum());
    for (r, batch) in rows.iter().zip(&stored) {
        let batch_start = out.len();
        out.extend_from_slice(batch);
        let batch = &mut out[batch_start..];
        // A stored batch was validated on the way in; re-check the header
        // so damage in the store surfaces as an error, not as garbage sent
        // to a client.
        read_header(batch)?;
        patch_for_fetch(batch, r.base_offset, LEADER_EPOCH);
    }
    metrics::counter!(m::BYTES_OUT_TOTAL).increment(out.len() as u64);
    Ok(out.freeze())
}

/// Bytes `start..end` of an object: from the cache, else from the
/// metadata store for an inline object, else from the object store. An
/// inline object already spilled is NotFound, like an object already
/// merged, so the caller looks its rows up again.
async fn read_range(shared: &Shared, key: &str, start: u64, end: u64) -> Result<Bytes, LogError> {
    if let Some(object) = shared.cache.get(key) {
        metrics::counter!(m::CACHE_READS_TOTAL, "result" => "hit").increment(1);
        if end as usize <= object.len() {
            return Ok(object.slice(start as usize..end as usize));
        }
    }
    if is_inline(key) {
        metrics::counter!(m::CACHE_READS_TOTAL, "result" => "inline").increment(1);
        return match shared.objects.read_inline(key, start, end).await? {
            Some(bytes) if bytes.len() as u64 == end - start => Ok(bytes),
            Some(bytes) => Err(LogError::Store(std::sync::Arc::new(StoreError::BadRange {
                key: key.to_string(),
                start,
                end,
                size_bytes: start + bytes.len() as u64,
            }))),
            None => Err(LogError::Store(std::sync::Arc::new(StoreError::NotFound { key: key.to_string() }))),
        };
    }
    metrics::counter!(m::CACHE_READS_TOTAL, "result" => "miss").increment(1);
    Ok(shared.store.get_range(key, start..end).await?)
}

pub(crate) async fn offset_for_timestamp(
    shared: &Shared,
    key: PartitionKey,
    timestamp: i64,
) -> Result<Option<(i64, i64)>, LogError> {
    let offsets = shared.offsets(key).ok_or(LogError::UnknownPartition { topic_id: key.0, partition: key.1 })?;
    let Some(row) = shared.index.first_row_at_or_after_timestamp(key.0, key.1, timestamp).await? else {
        return Ok(None);
    };
    if row.base_offset < offsets.log_start_offset {
        // Records before the log start are gone; Kafka answers from the
        // remaining log.
        return Ok(Some((offsets.log_start_offset, row.max_timestamp)));
    }
    let batch = read_range(shared, &row.object_key, row.position, row.position + u64::from(row.length)).await?;
    if batch.len() < BATCH_HEADER_BYTES {
        return Err(LogError::Damaged(crate::protocol::batch::BatchError::TooShort { size_bytes: batch.len() }));
    }
    let positions = record_positions(&batch, shared.limits.decompressed_bytes_max)?;
    Ok(positions.iter().find(|p| p.timestamp >= timestamp).map(|p| (row.base_offset + p.offset_delta, p.timestamp)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn row(base: i64, last: i64, key: &str, position: u64, length: u32) -> IndexRow {
        IndexRow {
            base_offset: base,
            last_offset: last,
            object_key: Arc::from(key),
            position,
            length,
            max_timestamp: 0,
        }
    }

    #[test]
    fn at_least_one_batch_even_when_it_is_too_big() {
        let rows = vec![row(0, 9, "a", 0, 1000), row(10, 19, "a", 1000, 10)];
        assert_eq!(choose_rows(&rows, 20, 100, true).len(), 1);
        assert_eq!(choose_rows(&rows, 20, 100, false).len(), 0);
        assert_eq!(choose_rows(&rows, 20, 1010, false).len(), 2);
        assert_eq!(choose_rows(&rows, 20, 1009, true).len(), 1);
    }

    #[test]
    fn never_beyond_the_high_watermark() {
        let rows = vec![row(0, 9, "a", 0, 10), row(10, 19, "a", 10, 10)];
        assert_eq!(choose_rows(&rows, 10, 1 << 20, true).len(), 1);
    }
}
