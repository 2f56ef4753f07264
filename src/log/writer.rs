//! The writer: one task per broker that turns queued batches into objects.
//!
//! Group commit (DESIGN §2): while a flush slot is free a batch is flushed
//! at once; while all `flushes_in_flight_max` flushes are in flight, newly
//! admitted batches queue and all of them (up to `flush_bytes_max`) go into
//! the next object. A flush is one create-only PUT, then one metadata
//! transaction assigning offsets to every batch, and only then are the
//! producers answered. PUTs of different flushes overlap (an object store
//! PUT is the slow part); commits run one at a time, each as soon as its
//! flush is stored and no earlier uncommitted flush shares a partition with
//! it, so commit order per partition is admission order and a slow PUT
//! holds back only the partitions it carries.
//!
//! Backpressure: admission takes permits worth the batch's bytes from a
//! semaphore of `writer_buffered_bytes_max`; they are returned when the
//! flush holding the batch finishes. Producers wait rather than grow memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tracing::{debug, warn};
use uuid::Uuid;

use super::append::{AppendFlow, Appended, BatchAppend, BatchKind, BatchOutcome};
use super::object_format::{BatchPlacement, ObjectBuilder};
use super::{LogError, PartitionKey, Shared};
use crate::config::limits::{COMMIT_REFRESH_ATTEMPTS_MAX, COMMIT_REFRESH_INTERVAL_MS};
use crate::metadata::{IndexRow, ObjectRecord, PartitionOffsets};
use crate::metrics as m;
use crate::producer::ProducerBatch;
use crate::protocol::batch::BatchHeader;
use crate::protocol::control::{ATTR_CONTROL, ATTR_TRANSACTIONAL};

/// A batch waiting for its flush.
struct Append {
    key: PartitionKey,
    bytes: Bytes,
    header: BatchHeader,
    kind: BatchKind,
    done: oneshot::Sender<Result<i64, LogError>>,
    _permit: OwnedSemaphorePermit,
}

/// The receiving end of an admitted batch: resolves to its base offset.
pub type AppendReceipt = oneshot::Receiver<Result<i64, LogError>>;

#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::UnboundedSender<Append>,
    buffer: Arc<Semaphore>,
    buffer_bytes_max: usize,
}

impl WriterHandle {
    /// Queues a validated batch. Waits while the writer's buffer is full;
    /// the returned receipt resolves once the batch is committed (or failed).
    /// Queues a produced batch (plain, or part of a transaction as its
    /// attributes say).
    pub async fn admit(&self, key: PartitionKey, bytes: Bytes, header: BatchHeader) -> Result<AppendReceipt, LogError> {
        let kind =
            if header.attributes & ATTR_TRANSACTIONAL != 0 { BatchKind::Transactional } else { BatchKind::Plain };
        self.queue(key, bytes, header, kind).await
    }

    /// Queues a transaction marker built by the coordinator
    /// ([`crate::protocol::control::marker_batch`]).
    pub async fn admit_marker(&self, key: PartitionKey, bytes: Bytes, commit: bool) -> Result<AppendReceipt, LogError> {
        let header = crate::protocol::batch::read_header(&bytes)?;
        debug_assert!(header.attributes & ATTR_CONTROL != 0, "markers are control batches");
        self.queue(key, bytes, header, BatchKind::Marker { commit }).await
    }

    async fn queue(
        &self,
        key: PartitionKey,
        bytes: Bytes,
        header: BatchHeader,
        kind: BatchKind,
    ) -> Result<AppendReceipt, LogError> {
        // A batch larger than the whole buffer takes the whole buffer.
        let permits = bytes.len().clamp(1, self.buffer_bytes_max) as u32;
        let permit = self.buffer.clone().acquire_many_owned(permits).await.map_err(|_| LogError::WriterStopped)?;
        let (done, receipt) = oneshot::channel();
        let append = Append { key, bytes, header, kind, done, _permit: permit };
        self.tx.send(append).map_err(|_| LogError::WriterStopped)?;
        Ok(receipt)
    }
}

pub(crate) fn spawn(shared: Arc<Shared>) -> WriterHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let buffer_bytes_max = shared.limits.writer_buffered_bytes_max.min(u32::MAX as usize);
    let buffer = Arc::new(Semaphore::new(buffer_bytes_max));
    tokio::spawn(run(shared, rx));
    WriterHandle { tx, buffer, buffer_bytes_max }
}

async fn run(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Append>) {
    let linger = Duration::from_millis(shared.limits.flush_linger_ms);
    // Flushes in flight (PUT or commit). While all slots are taken, new
    // batches gather for the next flush.
    let slots = Arc::new(Semaphore::new(shared.limits.flushes_in_flight_max.max(1)));
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let committer = tokio::spawn(commit_when_ready(shared.clone(), events_rx));
    let mut seq = 0u64;
    while let Some(first) = rx.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else { break };
        let mut bytes = first.bytes.len();
        let mut pending = vec![first];
        let deadline = tokio::time::Instant::now() + linger;
        loop {
            if bytes >= shared.limits.flush_bytes_max {
                break;
            }
            let next = match rx.try_recv() {
                Ok(a) => Some(a),
                Err(_) if linger.is_zero() => None,
                Err(_) => tokio::time::timeout_at(deadline, rx.recv()).await.ok().flatten(),
            };
            let Some(a) = next else { break };
            bytes += a.bytes.len();
            pending.push(a);
        }
        // PUTs run side by side; the committer commits each flush once it
        // is stored and no earlier flush sharing a partition is still
        // waiting, so a partition's offsets follow the order its batches
        // arrived in. The cut is announced before the PUT can report.
        seq += 1;
        let mut partitions: Vec<PartitionKey> = pending.iter().map(|a| a.key).collect();
        partitions.sort_unstable();
        partitions.dedup();
        if events_tx.send(FlushEvent::Cut { seq, partitions, slot }).is_err() {
            break;
        }
        let (shared, events) = (shared.clone(), events_tx.clone());
        tokio::spawn(async move {
            let flush = put_object(shared, pending).await;
            let _ = events.send(FlushEvent::Stored { seq, flush });
        });
    }
    drop(events_tx);
    let _ = committer.await;
    debug!("writer stopped: every handle dropped");
}

/// What the committer hears about flushes.
enum FlushEvent {
    /// A flush was cut (in this order) and its PUT started.
    Cut { seq: u64, partitions: Vec<PartitionKey>, slot: OwnedSemaphorePermit },
    /// Its bytes are durable (`None`: the PUT failed and every batch of
    /// it has been answered).
    Stored { seq: u64, flush: Option<Staged> },
}

/// A cut flush the committer has not finished with.
struct InFlight {
    seq: u64,
    /// Sorted, without duplicates.
    partitions: Vec<PartitionKey>,
    /// Set once stored.
    flush: Option<Staged>,
    _slot: OwnedSemaphorePermit,
}

/// Commits flushes one at a time, each as soon as its bytes are durable
/// and no earlier, uncommitted flush shares a partition with it — so a
/// slow PUT holds back only the flushes that must follow it (see
/// docs/design/0005-write-path-tails.md). The queue is at most
/// `flushes_in_flight_max` long: each entry holds a slot.
async fn commit_when_ready(shared: Arc<Shared>, mut events: mpsc::UnboundedReceiver<FlushEvent>) {
    let mut queue: std::collections::VecDeque<InFlight> = std::collections::VecDeque::new();
    while let Some(event) = events.recv().await {
        match event {
            FlushEvent::Cut { seq, partitions, slot } => {
                queue.push_back(InFlight { seq, partitions, flush: None, _slot: slot })
            }
            FlushEvent::Stored { seq, flush: None } => queue.retain(|f| f.seq != seq),
            FlushEvent::Stored { seq, flush: Some(flush) } => {
                if let Some(f) = queue.iter_mut().find(|f| f.seq == seq) {
                    f.flush = Some(flush);
                }
            }
        }
        while let Some(i) = next_committable(&queue) {
            let Some(entry) = queue.remove(i) else { break };
            if let Some(flush) = entry.flush {
                if i > 0 {
                    metrics::counter!(m::FLUSHES_COMMITTED_AHEAD_TOTAL).increment(1);
                }
                commit(&shared, flush).await;
            }
        }
    }
}

/// The first stored flush that no earlier flush in the queue shares a
/// partition with. The queue is a few flushes long; each comparison is a
/// merge of two sorted lists, so a flush of thousands of partitions costs
/// linear time, not quadratic.
fn next_committable(queue: &std::collections::VecDeque<InFlight>) -> Option<usize> {
    queue.iter().enumerate().position(|(i, f)| {
        f.flush.is_some() && queue.iter().take(i).all(|earlier| disjoint(&earlier.partitions, &f.partitions))
    })
}

/// Whether two sorted lists have no element in common.
fn disjoint(a: &[PartitionKey], b: &[PartitionKey]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return false,
        }
    }
    true
}

/// `<2 hex>/<2 hex>/<node>-<uuid>.sho`: the random UUID spreads keys over
/// prefixes.
pub(crate) fn object_key(node_id: i32) -> String {
    let id = Uuid::new_v4();
    let b = id.as_bytes();
    format!("{:02x}/{:02x}/{node_id}-{}.sho", b[0], b[1], id.simple())
}

/// Keys of inline objects (kept in the metadata store, see
/// docs/design/0004-inline-flushes.md) start with this.
const INLINE_PREFIX: &str = "inline/";

fn inline_key(node_id: i32) -> String {
    format!("{INLINE_PREFIX}{node_id}-{}", Uuid::new_v4().simple())
}

/// Whether `key` names an inline object rather than one in the object store.
pub(crate) fn is_inline(key: &str) -> bool {
    key.starts_with(INLINE_PREFIX)
}

/// A flush whose object is stored, waiting for its metadata commit.
struct Staged {
    pending: Vec<Append>,
    record: ObjectRecord,
    /// One per pending batch, in order.
    batches: Vec<BatchAppend>,
    object: Bytes,
    started: Instant,
}

/// Builds the flush's object and PUTs it — or, when it is small and the
/// inline backlog has room, keeps it for the metadata commit to store
/// inline; `None` (with every batch answered) when the PUT fails.
async fn put_object(shared: Arc<Shared>, pending: Vec<Append>) -> Option<Staged> {
    let started = Instant::now();
    let batch_bytes: usize = pending.iter().map(|a| a.bytes.len()).sum();
    let mut builder = ObjectBuilder::with_capacity(batch_bytes, pending.len());
    let mut appends = Vec::with_capacity(pending.len());
    for a in &pending {
        let h = &a.header;
        let entry = builder.push(BatchPlacement {
            topic_id: a.key.0,
            partition: a.key.1,
            bytes: &a.bytes,
            offset_count: h.last_offset_delta + 1,
            base_timestamp: h.base_timestamp,
            max_timestamp: h.max_timestamp,
            producer_id: h.producer_id,
            producer_epoch: h.producer_epoch,
            base_sequence: h.base_sequence,
        });
        appends.push(BatchAppend {
            topic_id: a.key.0,
            partition: a.key.1,
            offset_count: entry.offset_count,
            position: entry.position,
            length: entry.length,
            max_timestamp: h.max_timestamp,
            kind: a.kind,
            producer: ProducerBatch {
                producer_id: h.producer_id,
                producer_epoch: h.producer_epoch,
                base_sequence: h.base_sequence,
                offset_count: entry.offset_count,
            },
        });
    }
    let (object, _) = builder.finish();
    let node_id = shared.limits.node_id;
    let inline = shared.inline_room(object.len());
    let key = if inline {
        inline_key(node_id)
    } else {
        // A slow PUT may be hedged under a second key: the one that
        // landed first is the flush's.
        let put_started = Instant::now();
        match shared.store.put_fresh(object.clone(), &|| object_key(node_id)).await {
            Ok(key) => {
                metrics::histogram!(m::OBJECT_PUT_SECONDS).record(put_started.elapsed().as_secs_f64());
                key
            }
            Err(e) => {
                warn!(error = %e, batches = pending.len(), "object PUT failed; failing the produce requests it held");
                metrics::counter!(m::FLUSH_FAILURES_TOTAL, "stage" => "put").increment(1);
                let e = Arc::new(e);
                fail_all(pending, || LogError::Store(e.clone()));
                return None;
            }
        }
    };

    let record = ObjectRecord {
        object_key: key,
        size_bytes: object.len() as u64,
        node_id,
        created_ms: shared.clock.now_ms(),
        data: inline.then(|| object.clone()),
    };
    Some(Staged { pending, record, batches: appends, object, started })
}

/// Commits a stored flush's offsets, updates the partitions and answers
/// the producers.
async fn commit(shared: &Arc<Shared>, flush: Staged) {
    let Staged { pending, record, batches, object, started } = flush;
    let commit_started = Instant::now();
    let mut flow = AppendFlow::new(&batches, record.created_ms);
    let committed = shared.index.commit_object(&record, &mut flow).await;
    let key = record.object_key;
    let advanced = match committed {
        Ok(advanced) => advanced,
        Err(e) => {
            // The object stays unreferenced; garbage collection removes it.
            warn!(object = %key, error = %e, "metadata commit failed; failing the produce requests it held");
            metrics::counter!(m::FLUSH_FAILURES_TOTAL, "stage" => "commit").increment(1);
            // The commit may have landed before the failure (a timeout, a
            // connection lost at COMMIT): re-read the offsets it touched.
            let keys: std::collections::BTreeSet<PartitionKey> = pending.iter().map(|a| a.key).collect();
            tokio::spawn(refresh_offsets(shared.clone(), keys));
            let e = Arc::new(e);
            fail_all(pending, || LogError::Meta(e.clone()));
            return;
        }
    };
    metrics::histogram!(m::METADATA_COMMIT_SECONDS).record(commit_started.elapsed().as_secs_f64());
    let outcomes = flow.outcomes();
    assert_eq!(outcomes.len(), pending.len(), "one outcome per batch");

    let key: Arc<str> = Arc::from(key);
    apply_commit(shared, &key, &batches, &outcomes, &advanced);
    shared.cache.insert(key.clone(), object.clone());
    shared.commits.send_modify(|n| *n += 1);

    if is_inline(&key) {
        shared.inline_committed(object.len());
        metrics::counter!(m::INLINE_FLUSHES_TOTAL).increment(1);
        metrics::counter!(m::INLINE_BYTES_TOTAL).increment(object.len() as u64);
    } else {
        metrics::counter!(m::OBJECTS_WRITTEN_TOTAL).increment(1);
        metrics::counter!(m::OBJECT_BYTES_WRITTEN_TOTAL).increment(object.len() as u64);
    }
    metrics::histogram!(m::FLUSH_BYTES).record(object.len() as f64);
    metrics::histogram!(m::FLUSH_BATCHES).record(pending.len() as f64);
    metrics::histogram!(m::FLUSH_SECONDS).record(started.elapsed().as_secs_f64());
    debug!(object = %key, bytes = object.len(), batches = pending.len(), "object committed");

    for (a, outcome) in pending.into_iter().zip(outcomes) {
        match outcome {
            Ok(Appended::Duplicate(_)) => metrics::counter!(m::PRODUCER_DUPLICATES_TOTAL).increment(1),
            // Produced records stored now (markers are not produced records).
            Ok(Appended::New(_)) if !matches!(a.kind, BatchKind::Marker { .. }) => {
                metrics::counter!(m::RECORDS_IN_TOTAL).increment(a.header.records_count as u64)
            }
            _ => {}
        }
        let _ = a.done.send(outcome.map(|o| o.base_offset()).map_err(LogError::from));
    }
}

/// Advances the in-memory partition state to match a commit: the new index
/// rows, then the partitions' offsets as of the commit (which carry the
/// last stable offset).
fn apply_commit(
    shared: &Shared,
    key: &Arc<str>,
    batches: &[BatchAppend],
    outcomes: &[BatchOutcome],
    advanced: &[(Uuid, i32, PartitionOffsets)],
) {
    let mut parts = shared.partitions.lock().unwrap_or_else(|p| p.into_inner());
    for (b, outcome) in batches.iter().zip(outcomes) {
        // Refused batches and retries of stored ones add nothing.
        let Ok(Appended::New(base_offset)) = outcome else { continue };
        let Some(state) = parts.get_mut(&(b.topic_id, b.partition)) else {
            continue;
        };
        let base_offset = *base_offset;
        let last_offset = base_offset + i64::from(b.offset_count) - 1;
        let row = IndexRow {
            base_offset,
            last_offset,
            object_key: key.clone(),
            position: b.position,
            length: b.length,
            max_timestamp: b.max_timestamp,
        };
        state.append_own(row, shared.limits.index_tail_rows_max);
    }
    for (topic_id, partition, offsets) in advanced {
        if let Some(state) = parts.get_mut(&(*topic_id, *partition)) {
            state.advance(*offsets);
        }
    }
}

/// Brings the cached offsets of `keys` up to the store's, retrying while
/// the store is unreachable, so records a failed-looking commit did store
/// become readable without waiting for the next commit.
async fn refresh_offsets(shared: Arc<Shared>, keys: std::collections::BTreeSet<PartitionKey>) {
    let mut left: Vec<PartitionKey> = keys.into_iter().collect();
    for _ in 0..COMMIT_REFRESH_ATTEMPTS_MAX {
        let mut failed = Vec::new();
        for key in left {
            match shared.index.partition_offsets(key.0, key.1).await {
                Ok(o) => {
                    let advanced = shared
                        .partitions
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_mut(&key)
                        .is_some_and(|s| s.advance(o));
                    if advanced {
                        shared.commits.send_modify(|n| *n += 1);
                    }
                }
                Err(_) => failed.push(key),
            }
        }
        if failed.is_empty() {
            return;
        }
        left = failed;
        tokio::time::sleep(Duration::from_millis(COMMIT_REFRESH_INTERVAL_MS)).await;
    }
    warn!(partitions = left.len(), "could not re-read offsets after a failed commit; the next commit updates them");
}

fn fail_all(pending: Vec<Append>, error: impl Fn() -> LogError) {
    for a in pending {
        let _ = a.done.send(Err(error()));
    }
}

#[cfg(test)]
mod tests {
    use super::disjoint;
    use uuid::Uuid;

    #[test]
    fn sorted_partition_lists_are_compared_by_merge() {
        let (t1, t2) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let a = [(t1, 0), (t1, 3), (t2, 1)];
        assert!(disjoint(&a, &[(t1, 1), (t1, 2), (t2, 0), (t2, 2)]));
        assert!(!disjoint(&a, &[(t1, 1), (t2, 1)]));
        assert!(!disjoint(&a, &[(t1, 0)]));
        assert!(disjoint(&a, &[]));
        assert!(disjoint(&[], &a));
    }
}
