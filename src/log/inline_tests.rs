//! Inline flushes and spilling (docs/design/0004-inline-flushes.md) on the
//! real embedded stores: small flushes are committed in the metadata store
//! and read back from there, spills gather them into one object, any broker
//! takes over a gone broker's, and readers holding rows that moved recover.

use std::sync::Arc;

use super::tests::{append, base_offsets, fixture, limits, Fixture};
use super::{Isolation, Log, LogConfig, LogLimits, LogStores};
use crate::clock::Clock;

const RU: Isolation = Isolation::ReadUncommitted;

/// A log on the fixture's stores as broker `node_id`, with inline flushes
/// up to `inline_bytes_max`.
async fn open_inline(f: &Fixture, node_id: i32, tune: impl FnOnce(&mut LogLimits)) -> Log {
    let clock: Arc<dyn Clock> = f.clock.clone();
    let stores = LogStores { index: f.meta.clone(), objects: f.meta.clone(), producers: f.meta.clone() };
    let mut l = limits(0);
    l.node_id = node_id;
    l.inline_bytes_max = 64 << 10;
    tune(&mut l);
    let log = Log::open(stores, f.store.clone(), clock, l);
    log.load_topic(&f.topic, LogConfig::default()).await.unwrap();
    log
}

async fn object_count(f: &Fixture) -> usize {
    f.store.list("").await.unwrap().len()
}

async fn read_all(log: &Log, f: &Fixture, partition: i32) -> Vec<(i64, i32)> {
    base_offsets(&log.read(f.topic.id, partition, 0, 1 << 20, true, RU).await.unwrap().records)
}

#[tokio::test]
async fn small_flushes_are_committed_inline_and_read_back_from_the_store() {
    let f = fixture(2).await;
    let log = open_inline(&f, 1, |_| {}).await;
    assert_eq!(append(&log, f.topic.id, 0, &[b"a", b"b"], 10).await, 0);
    assert_eq!(append(&log, f.topic.id, 1, &[b"c"], 20).await, 0);
    assert_eq!(append(&log, f.topic.id, 0, &[b"d"], 30).await, 2);
    assert_eq!(object_count(&f).await, 0, "no object PUT for a small flush");
    let inline = f.meta.inline_objects(10).await.unwrap();
    assert_eq!(inline.len(), 3);
    assert!(inline.iter().all(|o| o.object_key.starts_with("inline/1-") && o.node_id == 1));
    assert_eq!(read_all(&log, &f, 0).await, [(0, 2), (2, 1)]);
    // Another broker (no cache) reads the same records from the store.
    let other = open_inline(&f, 2, |_| {}).await;
    assert_eq!(read_all(&other, &f, 0).await, [(0, 2), (2, 1)]);
    assert_eq!(read_all(&other, &f, 1).await, [(0, 1)]);
    // A flush bigger than the inline limit is an object.
    let big = vec![b'x'; 100 << 10];
    assert_eq!(append(&log, f.topic.id, 1, &[&big], 40).await, 1);
    assert_eq!(object_count(&f).await, 1);
    assert_eq!(f.meta.inline_objects(10).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_spill_gathers_inline_flushes_into_one_object() {
    let f = fixture(3).await;
    let log = open_inline(&f, 1, |_| {}).await;
    for p in 0..3 {
        for i in 0..4 {
            append(&log, f.topic.id, p, &[format!("v{i}").as_bytes()], 10 + i).await;
        }
    }
    assert_eq!(f.meta.inline_objects(100).await.unwrap().len(), 12);
    let report = log.spill(30_000).await.unwrap().expect("something to spill");
    assert_eq!((report.inline_objects, report.rows_moved), (12, 12));
    assert_eq!(object_count(&f).await, 1, "one object for the twelve flushes");
    assert!(f.meta.inline_objects(100).await.unwrap().is_empty(), "inline objects forgotten");
    for p in 0..3 {
        let rows = f.meta.index_rows(f.topic.id, p, 0, 10).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.base_offset).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert!(rows.iter().all(|r| *r.object_key == *report.object_key));
        // This broker (its tail moved to the new object) and another read
        // every record.
        assert_eq!(read_all(&log, &f, p).await, [(0, 1), (1, 1), (2, 1), (3, 1)]);
    }
    let other = open_inline(&f, 2, |_| {}).await;
    assert_eq!(read_all(&other, &f, 2).await, [(0, 1), (1, 1), (2, 1), (3, 1)]);
    assert!(log.spill(30_000).await.unwrap().is_none(), "nothing left");
}

#[tokio::test]
async fn a_gone_brokers_inline_flushes_are_taken_over() {
    let f = fixture(1).await;
    let gone = open_inline(&f, 1, |_| {}).await;
    append(&gone, f.topic.id, 0, &[b"a"], 10).await;
    append(&gone, f.topic.id, 0, &[b"b"], 20).await;
    let survivor = open_inline(&f, 2, |_| {}).await;
    assert!(survivor.spill(30_000).await.unwrap().is_none(), "not before the takeover age");
    f.clock.advance_ms(31_000);
    let report = survivor.spill(30_000).await.unwrap().expect("taken over");
    assert_eq!(report.rows_moved, 2);
    assert_eq!(read_all(&survivor, &f, 0).await, [(0, 1), (1, 1)]);
}

/// A reader holding rows of inline objects that a spill (by another
/// broker) has since forgotten looks the rows up again.
#[tokio::test]
async fn a_reader_holding_moved_rows_looks_them_up_again() {
    let f = fixture(1).await;
    // No cache: every read goes to the stores.
    let writer = open_inline(&f, 1, |l| l.object_cache_bytes_max = 0).await;
    append(&writer, f.topic.id, 0, &[b"a"], 10).await;
    append(&writer, f.topic.id, 0, &[b"b"], 20).await;
    assert_eq!(read_all(&writer, &f, 0).await, [(0, 1), (1, 1)], "from the inline objects");
    f.clock.advance_ms(31_000);
    let other = open_inline(&f, 2, |_| {}).await;
    other.spill(30_000).await.unwrap().expect("spilled by the other broker");
    // The writer's tail still names the inline objects, which are gone.
    assert_eq!(read_all(&writer, &f, 0).await, [(0, 1), (1, 1)]);
}

/// The inline backlog is bounded: past it, flushes are objects again until
/// a spill makes room.
#[tokio::test]
async fn the_inline_backlog_is_bounded() {
    let f = fixture(1).await;
    let log = open_inline(&f, 1, |l| {
        l.inline_bytes_max = 4 << 10;
        l.spill_bytes_max = 4 << 10;
    })
    .await;
    let value = vec![b'v'; 1500];
    for _ in 0..4 {
        append(&log, f.topic.id, 0, &[&value], 10).await;
    }
    // Each flush is about 1.6 KB: two fit the 4 KiB backlog.
    assert_eq!(f.meta.inline_objects(10).await.unwrap().len(), 2);
    assert_eq!(object_count(&f).await, 2);
    log.spill(30_000).await.unwrap().expect("spilled");
    append(&log, f.topic.id, 0, &[&value], 10).await;
    assert_eq!(f.meta.inline_objects(10).await.unwrap().len(), 1, "room again after the spill");
    assert_eq!(read_all(&log, &f, 0).await, [(0, 1), (1, 1), (2, 1), (3, 1), (4, 1)]);
}

/// Retention drops inline rows like any other; garbage collection then
/// forgets their inline objects at once, bytes and record.
#[tokio::test]
async fn garbage_collection_forgets_inline_flushes_without_rows() {
    let f = fixture(1).await;
    let log = open_inline(&f, 1, |_| {}).await;
    append(&log, f.topic.id, 0, &[b"a"], 10).await;
    append(&log, f.topic.id, 0, &[b"b"], 20).await;
    f.meta.advance_log_start(1, f.topic.id, 0, 1).await.unwrap();
    let report = log.collect_garbage().await.unwrap();
    assert_eq!(report.unreferenced_deleted, 1);
    assert_eq!(f.meta.inline_objects(10).await.unwrap().len(), 1, "the flush still referenced stays");
}
