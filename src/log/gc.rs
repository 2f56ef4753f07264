//! Garbage collection: deleting objects that no index row references.
//!
//! Two kinds of garbage: committed objects whose every batch was dropped
//! (a deleted topic), and orphans — objects written by a flush whose
//! metadata commit never happened (crash between PUT and commit, failed
//! commit). Orphans are only deleted once older than `orphan_grace_ms`, so an
//! object whose flush is still in flight on some broker is never taken.

use tracing::{info, warn};

use super::{LogError, Shared};
use crate::metrics as m;

/// Objects listed per GC pass.
const LIST_OBJECTS_MAX: usize = 100_000;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub unreferenced_deleted: usize,
    pub orphans_deleted: usize,
}

pub(crate) async fn collect(shared: &Shared) -> Result<GcReport, LogError> {
    let mut report = GcReport::default();
    for key in shared.meta.unreferenced_objects().await? {
        shared.store.delete(&key).await?;
        shared.cache.remove(&key);
        shared.meta.forget_object(&key).await?;
        report.unreferenced_deleted += 1;
    }

    let cutoff = shared.clock.now_ms() - shared.limits.orphan_grace_ms;
    let mut listed = shared.store.list("").await?;
    if listed.len() > LIST_OBJECTS_MAX {
        warn!(objects = listed.len(), "GC pass capped; the rest waits for the next pass");
        listed.truncate(LIST_OBJECTS_MAX);
    }
    let old: Vec<String> = listed.into_iter().filter(|o| o.last_modified_ms < cutoff).map(|o| o.key).collect();
    for chunk in old.chunks(500) {
        let known = shared.meta.known_objects(chunk).await?;
        for key in chunk.iter().filter(|k| !known.contains(*k)) {
            shared.store.delete(key).await?;
            report.orphans_deleted += 1;
        }
    }
    if report != GcReport::default() {
        info!(
            unreferenced = report.unreferenced_deleted,
            orphans = report.orphans_deleted,
            "garbage collected objects"
        );
    }
    metrics::counter!(m::GC_OBJECTS_DELETED_TOTAL, "kind" => "unreferenced")
        .increment(report.unreferenced_deleted as u64);
    metrics::counter!(m::GC_OBJECTS_DELETED_TOTAL, "kind" => "orphan").increment(report.orphans_deleted as u64);
    Ok(report)
}
