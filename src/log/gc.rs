//! Garbage collection: deleting objects that no index row references.
//!
//! Two kinds of garbage: committed objects whose every batch was dropped
//! (a deleted topic, retention), and orphans — objects written by a flush
//! whose metadata commit never happened (crash between PUT and commit,
//! failed commit). Orphans are only deleted once older than
//! `orphan_grace_ms`, so an object whose flush is still in flight on some
//! broker is never taken; unreferenced objects only once this collector has
//! seen them unreferenced for as long, so a fetch that looked up the index
//! just before the rows went still reads its bytes.

use tracing::{info, warn};

use super::writer::is_inline;
use super::{LogError, Shared};
use crate::config::limits::GC_LISTED_OBJECTS_MAX;
use crate::metrics as m;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub unreferenced_deleted: usize,
    pub orphans_deleted: usize,
}

pub(crate) async fn collect(shared: &Shared) -> Result<GcReport, LogError> {
    let mut report = GcReport::default();
    let now = shared.clock.now_ms();
    let (inline, unreferenced): (Vec<String>, Vec<String>) =
        shared.objects.unreferenced_objects().await?.into_iter().partition(|k| is_inline(k));
    // An inline object without rows goes at once: a fetch that still holds
    // its rows finds it gone and looks the rows up again.
    for key in inline {
        shared.cache.remove(&key);
        shared.objects.forget_object(&key).await?;
        report.unreferenced_deleted += 1;
    }
    let due: Vec<String> = {
        let mut since = shared.unreferenced_since.lock().unwrap_or_else(|p| p.into_inner());
        let listed: std::collections::HashSet<&String> = unreferenced.iter().collect();
        since.retain(|k, _| listed.contains(k));
        unreferenced
            .into_iter()
            .filter(|k| now - *since.entry(k.clone()).or_insert(now) >= shared.limits.orphan_grace_ms)
            .collect()
    };
    for key in due {
        shared.store.delete(&key).await?;
        shared.cache.remove(&key);
        shared.objects.forget_object(&key).await?;
        shared.unreferenced_since.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        report.unreferenced_deleted += 1;
    }

    let cutoff = shared.clock.now_ms() - shared.limits.orphan_grace_ms;
    let mut listed = shared.store.list("").await?;
    if listed.len() > GC_LISTED_OBJECTS_MAX {
        warn!(objects = listed.len(), "GC pass capped; the rest waits for the next pass");
        listed.truncate(GC_LISTED_OBJECTS_MAX);
    }
    let old: Vec<String> = listed.into_iter().filter(|o| o.last_modified_ms < cutoff).map(|o| o.key).collect();
    for chunk in old.chunks(500) {
        let known = shared.objects.known_objects(chunk).await?;
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
