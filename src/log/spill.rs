//! Spilling (docs/design/0004-inline-flushes.md): the small flushes a
//! broker committed inline, in the metadata store, are gathered into ONE
//! object, PUT, and their index rows pointed at it in one metadata
//! transaction that also forgets the inline objects left without rows.
//!
//! Safe against everything running at the same time: a row is moved only
//! if it still points at the inline object it was read from (retention, a
//! merge or another spiller may have moved it), and an inline object is
//! forgotten only once no row references it. A fetch that looked up rows
//! just before they moved finds the inline object gone and looks the rows
//! up again ([`super::reader`]). A spill object whose move found every row
//! gone is an orphan for [`super::gc`].

use std::collections::HashMap;

use bytes::Bytes;
use tracing::{debug, info};
use uuid::Uuid;

use super::object_format::{read_footer, BatchPlacement, ObjectBuilder};
use super::writer::object_key;
use super::{LogError, Shared};
use crate::config::limits::SPILL_LISTED_OBJECTS_MAX;
use crate::metadata::{InlineObject, ObjectRecord, RowMove};
use crate::metrics as m;

/// What one spill did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpillReport {
    pub object_key: String,
    /// Inline objects read.
    pub inline_objects: usize,
    /// Rows pointed at the new object.
    pub rows_moved: u64,
    pub bytes: usize,
    /// More inline objects were due than one spill takes: spill again now.
    pub more: bool,
}

/// Which inline objects this broker spills now: its own, and those of a
/// broker gone for longer than `takeover_ms`; oldest first, up to the
/// spill size. Also whether more were due than fit.
fn choose(
    listed: Vec<InlineObject>,
    node_id: i32,
    now_ms: i64,
    takeover_ms: i64,
    bytes_max: usize,
) -> (Vec<InlineObject>, bool) {
    let mut total = 0usize;
    let mut chosen = Vec::new();
    for o in listed {
        if o.node_id != node_id && now_ms - o.created_ms < takeover_ms {
            continue;
        }
        if !chosen.is_empty() && total + o.size_bytes as usize > bytes_max {
            return (chosen, true);
        }
        total += o.size_bytes as usize;
        chosen.push(o);
    }
    (chosen, false)
}

/// One spill; `None` when there is nothing to spill.
pub(crate) async fn spill_once(shared: &Shared, takeover_ms: i64) -> Result<Option<SpillReport>, LogError> {
    let node_id = shared.limits.node_id;
    let listed = shared.objects.inline_objects(SPILL_LISTED_OBJECTS_MAX).await?;
    let (chosen, more) = choose(listed, node_id, shared.clock.now_ms(), takeover_ms, shared.limits.spill_bytes_max);
    if chosen.is_empty() {
        return Ok(None);
    }
    let keys: Vec<String> = chosen.iter().map(|o| o.object_key.clone()).collect();
    // Where each batch's row is now, by (object, position).
    let rows: HashMap<(String, u64), (Uuid, i32, i64)> = shared
        .index
        .rows_in_objects(&keys)
        .await?
        .into_iter()
        .map(|r| ((r.row.object_key.to_string(), r.row.position), (r.topic_id, r.partition, r.row.base_offset)))
        .collect();
    let total: usize = chosen.iter().map(|o| o.size_bytes as usize).sum();
    let mut builder = ObjectBuilder::with_capacity(total, rows.len());
    let mut moves = Vec::with_capacity(rows.len());
    let mut own_bytes = 0usize;
    for o in &chosen {
        let Some(bytes) = inline_bytes(shared, o).await? else { continue };
        if o.node_id == node_id {
            own_bytes += bytes.len();
        }
        let footer = read_footer(&bytes)?;
        for entry in footer {
            // A batch whose row is gone (retention) or elsewhere already
            // (a merge, another spiller) is not copied.
            let Some(&(topic_id, partition, base_offset)) = rows.get(&(o.object_key.clone(), entry.position)) else {
                continue;
            };
            let batch = &bytes[entry.position as usize..(entry.position + u64::from(entry.length)) as usize];
            let placed = builder.push(BatchPlacement {
                topic_id,
                partition,
                bytes: batch,
                offset_count: entry.offset_count,
                base_timestamp: entry.base_timestamp,
                max_timestamp: entry.max_timestamp,
                producer_id: entry.producer_id,
                producer_epoch: entry.producer_epoch,
                base_sequence: entry.base_sequence,
            });
            let from_key = o.object_key.clone();
            moves.push((topic_id, partition, RowMove { base_offset, from_key, position: placed.position }));
        }
    }
    let (object, _) = builder.finish();
    let record = ObjectRecord {
        object_key: object_key(node_id),
        size_bytes: object.len() as u64,
        node_id,
        created_ms: shared.clock.now_ms(),
        data: None,
    };
    // Nothing left to copy: the inline objects have no rows, and garbage
    // collection forgets them.
    if moves.is_empty() {
        shared.inline_spilled(own_bytes);
        return Ok(None);
    }
    shared.store.put_new(&record.object_key, object.clone()).await.inspect_err(|_| {
        metrics::counter!(m::SPILL_FAILURES_TOTAL, "stage" => "put").increment(1);
    })?;
    let moved = shared.index.move_rows(&moves, &record).await.inspect_err(|_| {
        metrics::counter!(m::SPILL_FAILURES_TOTAL, "stage" => "commit").increment(1);
    })?;
    shared.relocate_tail(&moves, &record.object_key);
    if moved > 0 {
        shared.cache.insert(std::sync::Arc::from(record.object_key.as_str()), object.clone());
    }
    for o in &chosen {
        shared.cache.remove(&o.object_key);
    }
    shared.inline_spilled(own_bytes);
    metrics::counter!(m::SPILL_OBJECTS_TOTAL).increment(1);
    metrics::counter!(m::SPILL_BYTES_TOTAL).increment(object.len() as u64);
    metrics::counter!(m::SPILL_ROWS_MOVED_TOTAL).increment(moved);
    let report = SpillReport {
        object_key: record.object_key,
        inline_objects: chosen.len(),
        rows_moved: moved,
        bytes: object.len(),
        more,
    };
    if chosen.iter().any(|o| o.node_id != node_id) {
        info!(object = %report.object_key, inline_objects = report.inline_objects, rows = moved,
            "spilled inline flushes, some of a broker that is gone");
    } else {
        debug!(object = %report.object_key, inline_objects = report.inline_objects, rows = moved, "spilled inline flushes");
    }
    Ok(Some(report))
}

/// The bytes of an inline object: from the cache when this broker wrote it
/// recently, else from the metadata store; `None` once it is gone.
async fn inline_bytes(shared: &Shared, o: &InlineObject) -> Result<Option<Bytes>, LogError> {
    if let Some(bytes) = shared.cache.get(&o.object_key) {
        return Ok(Some(bytes));
    }
    Ok(shared.objects.read_inline(&o.object_key, 0, o.size_bytes).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inline(key: &str, node_id: i32, created_ms: i64, size_bytes: u64) -> InlineObject {
        InlineObject { object_key: key.into(), size_bytes, node_id, created_ms }
    }

    #[test]
    fn a_broker_spills_its_own_and_takes_over_those_long_gone() {
        let listed = vec![
            inline("a", 1, 100, 10),
            inline("b", 2, 100, 10),
            inline("c", 2, 900, 10),
            inline("d", 1, 950, 10),
            inline("e", 1, 960, 10),
        ];
        let keys = |(v, more): (Vec<InlineObject>, bool)| {
            (v.into_iter().map(|o| o.object_key).collect::<Vec<_>>().join(","), more)
        };
        // Node 1 at 1000 with a takeover age of 500: b is old enough, c not.
        assert_eq!(keys(choose(listed.clone(), 1, 1000, 500, 1 << 20)), ("a,b,d,e".into(), false));
        // The spill size bounds a spill (but one object always goes), and
        // says that more are due.
        assert_eq!(keys(choose(listed.clone(), 1, 1000, 500, 25)), ("a,b".into(), true));
        assert_eq!(keys(choose(listed.clone(), 1, 1000, 500, 5)), ("a".into(), true));
        assert_eq!(keys(choose(listed, 3, 1000, 500, 1 << 20)), ("a,b".into(), false));
    }
}
