//! Engine tests on the real embedded stores (SQLite file, local directory):
//! group commit, read-back with offset patching, restart, orphan GC.

use std::sync::Arc;

use bytes::Bytes;
use uuid::Uuid;

use super::{Isolation, Log, LogConfig, LogError, LogLimits, LogStores};

const RU: Isolation = Isolation::ReadUncommitted;
use crate::clock::{Clock, ManualClock};
use crate::metadata::sqlite::SqliteStore;
use crate::metadata::{MetadataStore, TopicRecord};
use crate::object_store::local::LocalStore;
use crate::object_store::ObjectStore;
use crate::protocol::batch::tests::build_batch;
use crate::protocol::batch::{read_header, validate_produced_batch};

pub(super) struct Fixture {
    pub _dir: tempfile::TempDir,
    pub meta: Arc<dyn MetadataStore>,
    pub store: Arc<dyn ObjectStore>,
    pub clock: Arc<ManualClock>,
    pub topic: TopicRecord,
}

pub(super) fn limits(linger_ms: u64) -> LogLimits {
    LogLimits {
        node_id: 1,
        flush_bytes_max: 1 << 20,
        flush_linger_ms: linger_ms,
        flushes_in_flight_max: 4,
        writer_buffered_bytes_max: 16 << 20,
        object_cache_bytes_max: 16 << 20,
        index_tail_rows_max: 4,
        decompressed_bytes_max: 1 << 20,
        orphan_grace_ms: 1000,
        // Every flush an object: these tests look at the objects written
        // (inline flushes have their own tests, in spill_tests.rs).
        inline_bytes_max: 0,
        spill_bytes_max: 8 << 20,
    }
}

pub(super) async fn fixture(partitions: i32) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let meta: Arc<dyn MetadataStore> = Arc::new(SqliteStore::open(&dir.path().join("meta.sqlite")).unwrap());
    let store: Arc<dyn ObjectStore> = Arc::new(LocalStore::open(dir.path().join("objects")).unwrap());
    let topic =
        TopicRecord { id: Uuid::new_v4(), name: "t".into(), partitions, configs: Default::default(), created_ms: 0 };
    meta.create_topic(&topic).await.unwrap();
    Fixture { _dir: dir, meta, store, clock: Arc::new(ManualClock::new(1_000_000)), topic }
}

async fn open(f: &Fixture, linger_ms: u64) -> Log {
    let clock: Arc<dyn Clock> = f.clock.clone();
    let stores = LogStores { index: f.meta.clone(), objects: f.meta.clone(), producers: f.meta.clone() };
    let log = Log::open(stores, f.store.clone(), clock, limits(linger_ms));
    log.load_topic(&f.topic, LogConfig::default()).await.unwrap();
    log
}

pub(super) async fn append(log: &Log, topic: Uuid, partition: i32, values: &[&[u8]], ts: i64) -> i64 {
    let b = build_batch(values, ts);
    let h = validate_produced_batch(&b, 1 << 20).unwrap();
    let receipt = log.writer().admit((topic, partition), Bytes::from(b), h).await.unwrap();
    receipt.await.unwrap().unwrap()
}

pub(super) fn base_offsets(records: &[u8]) -> Vec<(i64, i32)> {
    let mut out = Vec::new();
    let mut rest = records;
    while !rest.is_empty() {
        let h = read_header(rest).unwrap();
        out.push((i64::from_be_bytes(rest[..8].try_into().unwrap()), h.records_count));
        rest = &rest[h.size_bytes..];
    }
    out
}

#[tokio::test]
async fn batches_of_many_partitions_share_one_object_and_one_commit() {
    let f = fixture(16).await;
    let log = open(&f, 200).await;
    let mut receipts = Vec::new();
    for p in 0..16 {
        let b = build_batch(&[b"a", b"b"], 10);
        let h = validate_produced_batch(&b, 1 << 20).unwrap();
        receipts.push(log.writer().admit((f.topic.id, p), Bytes::from(b), h).await.unwrap());
    }
    for r in receipts {
        assert_eq!(r.await.unwrap().unwrap(), 0);
    }
    let objects = f.store.list("").await.unwrap();
    assert_eq!(objects.len(), 1, "one flush, one object: {objects:?}");
    for p in 0..16 {
        assert_eq!(log.offsets(f.topic.id, p).unwrap().next_offset, 2);
        let rows = f.meta.index_rows(f.topic.id, p, 0, 10).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(&*rows[0].object_key, objects[0].key.as_str());
    }
}

#[tokio::test]
async fn offsets_are_contiguous_and_patched_when_read() {
    let f = fixture(1).await;
    let log = open(&f, 0).await;
    assert_eq!(append(&log, f.topic.id, 0, &[b"a", b"b", b"c"], 100).await, 0);
    assert_eq!(append(&log, f.topic.id, 0, &[b"d"], 200).await, 3);
    assert_eq!(append(&log, f.topic.id, 0, &[b"e", b"f"], 300).await, 4);

    let all = log.read(f.topic.id, 0, 0, 1 << 20, true, RU).await.unwrap();
    assert_eq!(all.high_watermark, 6);
    assert_eq!(base_offsets(&all.records), vec![(0, 3), (3, 1), (4, 2)]);
    // From inside a batch: the whole batch comes back (clients skip ahead).
    let mid = log.read(f.topic.id, 0, 4, 1 << 20, true, RU).await.unwrap();
    assert_eq!(base_offsets(&mid.records), vec![(4, 2)]);
    // A budget smaller than one batch still returns one when allowed.
    let one = log.read(f.topic.id, 0, 0, 1, true, RU).await.unwrap();
    assert_eq!(base_offsets(&one.records), vec![(0, 3)]);
    assert!(log.read(f.topic.id, 0, 0, 1, false, RU).await.unwrap().records.is_empty());
    assert!(log.read(f.topic.id, 0, 6, 1 << 20, true, RU).await.unwrap().records.is_empty());
    assert!(matches!(log.read(f.topic.id, 0, 7, 1, true, RU).await, Err(LogError::OffsetOutOfRange { offset: 7, .. })));

    // Exact timestamp lookups: first offset whose timestamp >= target.
    assert_eq!(log.offset_for_timestamp(f.topic.id, 0, 101).await.unwrap(), Some((1, 101)));
    assert_eq!(log.offset_for_timestamp(f.topic.id, 0, 150).await.unwrap(), Some((3, 200)));
    assert_eq!(log.offset_for_timestamp(f.topic.id, 0, 301).await.unwrap(), Some((5, 301)));
    assert_eq!(log.offset_for_timestamp(f.topic.id, 0, 302).await.unwrap(), None);
}

#[tokio::test]
async fn a_restarted_log_serves_the_same_offsets_from_the_store() {
    let f = fixture(1).await;
    {
        let log = open(&f, 0).await;
        for i in 0..10 {
            assert_eq!(append(&log, f.topic.id, 0, &[b"x"], i).await, i);
        }
    }
    let log = open(&f, 0).await;
    assert_eq!(log.offsets(f.topic.id, 0).unwrap().next_offset, 10);
    // The tail cache is empty after a restart: everything comes from the
    // index in the metadata store and ranged reads of the objects.
    let read = log.read(f.topic.id, 0, 0, 1 << 20, true, RU).await.unwrap();
    assert_eq!(base_offsets(&read.records), (0..10).map(|o| (o, 1)).collect::<Vec<_>>());
    assert_eq!(append(&log, f.topic.id, 0, &[b"y"], 99).await, 10);
}

#[tokio::test]
async fn uncommitted_objects_are_ignored_then_collected_after_the_grace_period() {
    let f = fixture(1).await;
    let log = open(&f, 0).await;
    append(&log, f.topic.id, 0, &[b"kept"], 1).await;
    // A flush that crashed between its PUT and its metadata commit.
    f.store.put_new("ab/cd/1-orphan.sho", Bytes::from_static(b"half a flush")).await.unwrap();
    assert_eq!(log.read(f.topic.id, 0, 0, 1 << 20, true, RU).await.unwrap().high_watermark, 1);

    let mtime = f.store.list("").await.unwrap().iter().map(|o| o.last_modified_ms).max().unwrap();
    f.clock.advance_ms(mtime - f.clock.now_ms()); // now == the orphan's mtime: inside the grace period
    assert_eq!(log.collect_garbage().await.unwrap(), super::gc::GcReport::default());
    assert_eq!(f.store.list("").await.unwrap().len(), 2);

    f.clock.advance_ms(1001);
    let report = log.collect_garbage().await.unwrap();
    assert_eq!(report, super::gc::GcReport { unreferenced_deleted: 0, orphans_deleted: 1 });
    let left = f.store.list("").await.unwrap();
    assert_eq!(left.len(), 1);
    assert!(!left[0].key.contains("orphan"));
    assert_eq!(base_offsets(&log.read(f.topic.id, 0, 0, 1 << 20, true, RU).await.unwrap().records), vec![(0, 1)]);
}

#[tokio::test]
async fn a_deleted_topics_objects_are_collected() {
    let f = fixture(1).await;
    let log = open(&f, 0).await;
    append(&log, f.topic.id, 0, &[b"gone"], 1).await;
    f.meta.delete_topic("t").await.unwrap();
    log.remove_topic(f.topic.id);
    // First seen unreferenced now: kept through the grace period for
    // fetches that looked the rows up just before they went.
    assert_eq!(log.collect_garbage().await.unwrap().unreferenced_deleted, 0);
    assert_eq!(f.store.list("").await.unwrap().len(), 1);
    f.clock.advance_ms(1000);
    let report = log.collect_garbage().await.unwrap();
    assert_eq!(report.unreferenced_deleted, 1);
    assert!(f.store.list("").await.unwrap().is_empty());
}

#[tokio::test]
async fn retention_moves_the_log_start_by_time_and_by_size() {
    use super::retention::RetentionPolicy;
    let f = fixture(1).await;
    let log = open(&f, 0).await;
    let t = f.topic.id;
    // Five single-batch objects, timestamps 100_000 .. 500_000.
    for i in 0..5i64 {
        assert_eq!(append(&log, t, 0, &[b"aaaa", b"bbbb"], (i + 1) * 100_000).await, 2 * i);
    }
    let by_time = |ms| RetentionPolicy { retention_ms: Some(ms), retention_bytes: None };
    // now = 1_000_000: keep records from 50_000 on: nothing goes.
    assert_eq!(log.enforce_retention(t, 0, by_time(950_000)).await.unwrap(), None);
    // Keep from 250_000: the first two batches (ts 100k, 200k) go.
    assert_eq!(log.enforce_retention(t, 0, by_time(750_000)).await.unwrap(), Some(4));
    let o = log.offsets(t, 0).unwrap();
    assert_eq!((o.log_start_offset, o.next_offset), (4, 10));
    assert!(matches!(
        log.read(t, 0, 2, 1 << 20, true, RU).await,
        Err(LogError::OffsetOutOfRange { offset: 2, log_start: 4, high_watermark: 10 })
    ));
    assert_eq!(
        base_offsets(&log.read(t, 0, 4, 1 << 20, true, RU).await.unwrap().records),
        vec![(4, 2), (6, 2), (8, 2)]
    );

    // By size: keep at least two batches' bytes; the oldest remaining goes.
    let batch_len = build_batch(&[b"aaaa", b"bbbb"], 0).len() as i64;
    let by_size = RetentionPolicy { retention_ms: None, retention_bytes: Some(2 * batch_len) };
    assert_eq!(log.enforce_retention(t, 0, by_size).await.unwrap(), Some(6));
    assert_eq!(log.enforce_retention(t, 0, by_size).await.unwrap(), None, "idempotent");

    // The objects of dropped batches are collected after the grace period.
    assert_eq!(f.store.list("").await.unwrap().len(), 5);
    assert_eq!(log.collect_garbage().await.unwrap().unreferenced_deleted, 0);
    f.clock.advance_ms(1000);
    assert_eq!(log.collect_garbage().await.unwrap().unreferenced_deleted, 3);
    assert_eq!(f.store.list("").await.unwrap().len(), 2);

    // Everything expired: the log is empty at its high watermark, and
    // producing goes on at the next offset.
    assert_eq!(log.enforce_retention(t, 0, by_time(1)).await.unwrap(), Some(10));
    assert_eq!(append(&log, t, 0, &[b"new"], f.clock.now_ms()).await, 10);
    let read = log.read(t, 0, 10, 1 << 20, true, RU).await.unwrap();
    assert_eq!((read.log_start_offset, read.high_watermark), (10, 11));
    assert_eq!(base_offsets(&read.records), vec![(10, 1)]);
}

#[tokio::test]
async fn merging_moves_flush_batches_into_one_segment_without_changing_reads() {
    use super::merge::{is_segment, MergePolicy};
    let f = fixture(2).await;
    let log = open(&f, 0).await;
    let t = f.topic.id;
    // Six flushes, each holding a batch of partition 0 and one of 1.
    for i in 0..6i64 {
        let mut receipts = Vec::new();
        for p in 0..2 {
            let value = format!("p{p}-r{i}");
            let b = build_batch(&[value.as_bytes()], i);
            let h = validate_produced_batch(&b, 1 << 20).unwrap();
            receipts.push(log.writer().admit((t, p), Bytes::from(b), h).await.unwrap());
        }
        for r in receipts {
            r.await.unwrap().unwrap();
        }
    }
    let before_p0 = log.read(t, 0, 0, 1 << 20, true, RU).await.unwrap();
    let before_p1 = log.read(t, 1, 0, 1 << 20, true, RU).await.unwrap();
    let objects_before = f.store.list("").await.unwrap().len();
    assert!(objects_before >= 1);

    let policy = MergePolicy { segment_bytes_max: 1 << 20, rows_min: 4 };
    let report = log.merge_partition(t, 0, policy).await.unwrap().expect("six rows are worth merging");
    assert_eq!((report.batches, report.base_offset, report.last_offset), (6, 0, 5));
    assert!(is_segment(&report.segment_key));
    let rows = f.meta.index_rows(t, 0, 0, 100).await.unwrap();
    assert!(rows.iter().all(|r| *r.object_key == *report.segment_key), "every row of p0 now in the segment");
    assert_eq!(log.merge_partition(t, 0, policy).await.unwrap(), None, "nothing left to merge");
    // Reads are byte for byte the same.
    assert_eq!(log.read(t, 0, 0, 1 << 20, true, RU).await.unwrap(), before_p0);
    assert_eq!(log.read(t, 0, 3, 1 << 20, true, RU).await.unwrap().records, {
        let r = log.read(t, 0, 3, 1 << 20, true, RU).await.unwrap();
        assert_eq!(base_offsets(&r.records), vec![(3, 1), (4, 1), (5, 1)]);
        r.records
    });
    // Partition 1 still uses the flush objects, which therefore stay.
    f.clock.advance_ms(5_000);
    assert_eq!(log.collect_garbage().await.unwrap().unreferenced_deleted, 0);
    assert_eq!(log.read(t, 1, 0, 1 << 20, true, RU).await.unwrap(), before_p1);

    let report = log.merge_partition(t, 1, policy).await.unwrap().expect("partition 1 merges too");
    assert_eq!(report.batches, 6);
    // Now the flush objects are unreferenced: kept for the grace period,
    // then collected; only the two segments remain.
    assert_eq!(log.collect_garbage().await.unwrap().unreferenced_deleted, 0);
    f.clock.advance_ms(1_000);
    assert_eq!(log.collect_garbage().await.unwrap().unreferenced_deleted, objects_before);
    let left: Vec<String> = f.store.list("").await.unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|k| is_segment(k)));
    assert_eq!(log.read(t, 0, 0, 1 << 20, true, RU).await.unwrap(), before_p0);
    assert_eq!(log.read(t, 1, 0, 1 << 20, true, RU).await.unwrap(), before_p1);

    // A restarted broker (cold cache) reads the segments by ranged GETs.
    drop(log);
    let log = open(&f, 0).await;
    assert_eq!(log.read(t, 0, 0, 1 << 20, true, RU).await.unwrap(), before_p0);
    assert_eq!(log.read(t, 1, 2, 1 << 20, true, RU).await.unwrap().high_watermark, 6);
}

#[tokio::test]
async fn a_reader_whose_cached_rows_moved_looks_them_up_again() {
    use super::merge::MergePolicy;
    let f = fixture(1).await;
    let reader = open(&f, 0).await;
    let t = f.topic.id;
    for i in 0..4i64 {
        append(&reader, t, 0, &[b"x"], i).await;
    }
    let flush_objects: Vec<String> = f.store.list("").await.unwrap().into_iter().map(|o| o.key).collect();
    // Another broker on the same stores merges and collects; this broker's
    // cached tail still names the deleted flush objects.
    let other = open(&f, 0).await;
    let policy = MergePolicy { segment_bytes_max: 1 << 20, rows_min: 2 };
    other.merge_partition(t, 0, policy).await.unwrap().expect("merged");
    other.collect_garbage().await.unwrap();
    f.clock.advance_ms(1_000);
    assert_eq!(other.collect_garbage().await.unwrap().unreferenced_deleted, 4);
    // Without the old objects in this broker's cache either, the cached
    // rows lead to NotFound, and the reader falls back to the store.
    for key in &flush_objects {
        reader.shared.cache.remove(key);
    }
    let read = reader.read(t, 0, 1, 1 << 20, true, RU).await.unwrap();
    assert_eq!(base_offsets(&read.records), vec![(1, 1), (2, 1), (3, 1)]);
}

/// A transactional batch with producer `pid`/epoch 0, sequence `seq`.
fn txn_batch(values: &[&[u8]], pid: i64, seq: i32) -> Vec<u8> {
    let mut b = build_batch(values, 1);
    b[21..23].copy_from_slice(&crate::protocol::control::ATTR_TRANSACTIONAL.to_be_bytes());
    b[43..51].copy_from_slice(&pid.to_be_bytes());
    b[51..53].copy_from_slice(&0i16.to_be_bytes());
    b[53..57].copy_from_slice(&seq.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

#[tokio::test]
async fn read_committed_stops_at_the_last_stable_offset_and_lists_aborts() {
    use crate::txn::TxnMetadata;
    let f = fixture(1).await;
    let log = open(&f, 0).await;
    let t = f.topic.id;
    let rc = Isolation::ReadCommitted;
    append(&log, t, 0, &[b"plain-0"], 1).await;
    // A transaction of producer 900 opens on the partition.
    let mut m = TxnMetadata::new("app", 900, 60_000, 0);
    m.add(900, 0, &[("t".into(), 0)], None, 1).unwrap();
    assert!(f.meta.save_transaction(&m.to_record(), None, &[(t, 0)]).await.unwrap());
    let admit = |bytes: Vec<u8>| {
        let h = validate_produced_batch(&bytes, 1 << 20).unwrap();
        log.writer().admit((t, 0), Bytes::from(bytes), h)
    };
    assert_eq!(admit(txn_batch(&[b"t-1", b"t-2"], 900, 0)).await.unwrap().await.unwrap().unwrap(), 1);
    append(&log, t, 0, &[b"plain-3"], 1).await;

    let committed = log.read(t, 0, 0, 1 << 20, true, rc).await.unwrap();
    assert_eq!((committed.high_watermark, committed.last_stable_offset), (4, 1));
    assert_eq!(base_offsets(&committed.records), vec![(0, 1)], "read_committed stops where the transaction began");
    assert!(log.read(t, 0, 1, 1 << 20, true, rc).await.unwrap().records.is_empty());
    let everything = log.read(t, 0, 0, 1 << 20, true, RU).await.unwrap();
    assert_eq!(base_offsets(&everything.records), vec![(0, 1), (1, 2), (3, 1)]);

    // The coordinator aborts: the marker lands at 4, the partition is stable.
    let marker = crate::protocol::control::marker_batch(900, 1, false, 0, 5);
    assert_eq!(log.writer().admit_marker((t, 0), marker, false).await.unwrap().await.unwrap().unwrap(), 4);
    let after = log.read(t, 0, 0, 1 << 20, true, rc).await.unwrap();
    assert_eq!((after.high_watermark, after.last_stable_offset), (5, 5));
    assert_eq!(base_offsets(&after.records), vec![(0, 1), (1, 2), (3, 1), (4, 1)]);
    assert_eq!(after.aborted, vec![(900, 1)], "the consumer is told to skip producer 900 from offset 1");
    // Kafka lists every aborted transaction whose range (first offset to
    // marker) overlaps the fetched offsets.
    let from_marker = log.read(t, 0, 4, 1 << 20, true, rc).await.unwrap();
    assert_eq!(from_marker.aborted, vec![(900, 1)]);
    let plain = append(&log, t, 0, &[b"plain-5"], 1).await;
    let later = log.read(t, 0, plain, 1 << 20, true, rc).await.unwrap();
    assert!(later.aborted.is_empty(), "an aborted range wholly before the fetched data is not listed");
    // A restarted broker reads the same from the store.
    drop(log);
    let log = open(&f, 0).await;
    let again = log.read(t, 0, 0, 1 << 20, true, rc).await.unwrap();
    assert_eq!((again.last_stable_offset, again.aborted.clone()), (6, vec![(900, 1)]));
    assert_eq!(base_offsets(&again.records), vec![(0, 1), (1, 2), (3, 1), (4, 1), (5, 1)]);
}

/// The real local store, whose first PUT waits until released.
struct GatedFirstPut {
    inner: LocalStore,
    entered: tokio::sync::Semaphore,
    release: tokio::sync::Semaphore,
    puts: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl ObjectStore for GatedFirstPut {
    async fn put_new(&self, key: &str, bytes: Bytes) -> Result<(), crate::object_store::StoreError> {
        if self.puts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            self.entered.add_permits(1);
            self.release.acquire().await.unwrap().forget();
        }
        self.inner.put_new(key, bytes).await
    }
    async fn get_range(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> Result<Bytes, crate::object_store::StoreError> {
        self.inner.get_range(key, range).await
    }
    async fn list(
        &self,
        prefix: &str,
    ) -> Result<Vec<crate::object_store::ObjectMeta>, crate::object_store::StoreError> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, key: &str) -> Result<(), crate::object_store::StoreError> {
        self.inner.delete(key).await
    }
    fn describe(&self) -> String {
        "gated".into()
    }
}

#[tokio::test]
async fn a_slow_put_holds_back_only_the_partitions_it_carries() {
    let mut f = fixture(2).await;
    let gated = Arc::new(GatedFirstPut {
        inner: LocalStore::open(f._dir.path().join("objects")).unwrap(),
        entered: tokio::sync::Semaphore::new(0),
        release: tokio::sync::Semaphore::new(0),
        puts: Default::default(),
    });
    f.store = gated.clone();
    let log = open(&f, 0).await;
    let admit = |p: i32, v: &'static [u8]| {
        let b = build_batch(&[v], 10);
        let h = validate_produced_batch(&b, 1 << 20).unwrap();
        log.writer().admit((f.topic.id, p), Bytes::from(b), h)
    };
    // Flush 1 (partition 0) is stuck in its PUT.
    let mut first = admit(0, b"a").await.unwrap();
    gated.entered.acquire().await.unwrap().forget();
    // Flush 2 (partition 1) is stored and committed meanwhile.
    let second = admit(1, b"b").await.unwrap();
    let second = tokio::time::timeout(std::time::Duration::from_secs(10), second).await;
    assert_eq!(second.expect("flush 2 waited behind flush 1").unwrap().unwrap(), 0);
    assert!(first.try_recv().is_err(), "flush 1 is still uploading");
    assert_eq!(log.offsets(f.topic.id, 1).unwrap().next_offset, 1);
    // Flush 3 (partition 0 again) is stored but must wait for flush 1.
    let mut third = admit(0, b"c").await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while gated.inner.list("").await.unwrap().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "flush 3's PUT never landed");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    tokio::task::yield_now().await;
    assert!(third.try_recv().is_err(), "flush 3 must not commit before flush 1 on partition 0");
    assert_eq!(log.offsets(f.topic.id, 0).unwrap().next_offset, 0);
    // Released: partition 0 gets its offsets in admission order.
    gated.release.add_permits(1);
    assert_eq!(first.await.unwrap().unwrap(), 0);
    assert_eq!(third.await.unwrap().unwrap(), 1);
    let all = log.read(f.topic.id, 0, 0, 1 << 20, true, RU).await.unwrap();
    assert_eq!(base_offsets(&all.records), vec![(0, 1), (1, 1)]);
}
