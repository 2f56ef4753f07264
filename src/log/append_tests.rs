//! The append rules on both stores: idempotent producers' retries, gaps
//! and epochs, and transactional batches and markers.

use uuid::Uuid;

use super::*;
use crate::metadata::conformance::{open_txn, topic};
use crate::metadata::sqlite::SqliteStore;
use crate::metadata::{MetadataStore, ObjectRecord};

fn plain(topic_id: Uuid, partition: i32, offset_count: i32) -> BatchAppend {
    let producer = ProducerBatch { producer_id: -1, producer_epoch: -1, base_sequence: -1, offset_count };
    BatchAppend {
        topic_id,
        partition,
        offset_count,
        position: 0,
        length: 100,
        max_timestamp: 1,
        producer,
        kind: BatchKind::Plain,
    }
}

fn idempotent(
    topic_id: Uuid,
    partition: i32,
    producer_id: i64,
    epoch: i16,
    base_sequence: i32,
    count: i32,
) -> BatchAppend {
    let mut b = plain(topic_id, partition, count);
    b.producer = ProducerBatch { producer_id, producer_epoch: epoch, base_sequence, offset_count: count };
    b
}

/// What one commit reported: an outcome per batch and the offsets by partition.
struct Committed {
    batches: Vec<BatchOutcome>,
    partitions: Vec<(Uuid, i32, PartitionOffsets)>,
}

async fn commit(store: &dyn MetadataStore, key: &str, batches: Vec<BatchAppend>) -> Committed {
    let object = ObjectRecord { object_key: key.into(), size_bytes: 100, node_id: 1, created_ms: 1, data: None };
    let mut flow = AppendFlow::new(&batches, 1);
    let partitions = store.commit_object(&object, &mut flow).await.expect("commit");
    Committed { batches: flow.outcomes(), partitions }
}

fn new(outcome: &BatchOutcome) -> i64 {
    match outcome {
        Ok(Appended::New(o)) => *o,
        other => panic!("expected new offsets, got {other:?}"),
    }
}

/// Producer state is checked and advanced inside the commit: retries are
/// answered with the original offsets, gaps and old epochs are refused,
/// and the state persists from one commit (one broker) to the next.
async fn idempotent_producers(store: &dyn MetadataStore) {
    let t = topic("idempotent", 2);
    store.create_topic(&t).await.expect("create");
    let out = commit(
        store,
        "idem/1",
        vec![
            idempotent(t.id, 0, 42, 0, 0, 3),
            idempotent(t.id, 1, 42, 0, 0, 1),
            // In the same object: a retry of the first batch, then the next.
            idempotent(t.id, 0, 42, 0, 0, 3),
            idempotent(t.id, 0, 42, 0, 3, 2),
            plain(t.id, 0, 4),
        ],
    )
    .await
    .batches;
    assert_eq!(
        out,
        [
            Ok(Appended::New(0)),
            Ok(Appended::New(0)),
            Ok(Appended::Duplicate(0)),
            Ok(Appended::New(3)),
            Ok(Appended::New(5))
        ]
    );

    // A later commit (any broker) sees the stored state.
    let second = vec![
        idempotent(t.id, 0, 42, 0, 3, 2),
        idempotent(t.id, 0, 42, 0, 9, 1),
        idempotent(t.id, 0, 42, 0, 5, 1),
        idempotent(t.id, 1, 41, 0, 7, 1),
    ];
    let out = commit(store, "idem/2", second).await.batches;
    assert_eq!(out[0], Ok(Appended::Duplicate(3)), "a retry across commits");
    assert_eq!(
        out[1],
        Err(AppendRefusal::Sequence { producer_id: 42, error: SequenceError::OutOfOrder { expected: 5, got: 9 } })
    );
    assert_eq!(out[2], Ok(Appended::New(9)), "in order");
    assert_eq!(out[3], Ok(Appended::New(1)), "an unknown producer starts anywhere");

    // A bumped epoch restarts at 0 and fences the old one.
    let third =
        vec![idempotent(t.id, 0, 42, 1, 0, 1), idempotent(t.id, 0, 42, 0, 6, 1), idempotent(t.id, 0, 42, 1, 1, 1)];
    let out = commit(store, "idem/3", third).await.batches;
    assert_eq!(out[0], Ok(Appended::New(10)));
    assert_eq!(
        out[1],
        Err(AppendRefusal::Sequence { producer_id: 42, error: SequenceError::InvalidEpoch { batch: 0, current: 1 } })
    );
    assert_eq!(out[2], Ok(Appended::New(11)));
    // Duplicates and refusals take no offsets and write no rows.
    assert_eq!(store.partition_offsets(t.id, 0).await.expect("offsets").next_offset, 12);
    // A commit holding only a retry still reports the partition's offsets,
    // so a broker that had not heard of the original catches up before it
    // answers.
    let retry = commit(store, "idem/3b", vec![idempotent(t.id, 0, 42, 1, 1, 1)]).await;
    assert_eq!(retry.batches, [Ok(Appended::Duplicate(11))]);
    let reported: Vec<(i32, i64)> = retry.partitions.iter().map(|(_, p, o)| (*p, o.next_offset)).collect();
    assert_eq!(reported, vec![(0, 12)]);
    let rows = store.index_rows(t.id, 0, 0, 100).await.expect("rows");
    assert_eq!(rows.iter().map(|r| r.base_offset).collect::<Vec<_>>(), vec![0, 3, 5, 9, 10, 11]);

    // Expired state is forgotten: the producer may start anywhere again.
    assert_eq!(store.expire_producers(1).await.expect("nothing older"), 0);
    assert_eq!(store.expire_producers(2).await.expect("expire"), 3);
    let out = commit(store, "idem/4", vec![idempotent(t.id, 0, 42, 1, 50, 1)]).await.batches;
    assert_eq!(out, [Ok(Appended::New(12))]);
}

/// Transactional batches go only into registered partitions, hold the last
/// stable offset back until their marker, and aborts are listed for
/// read_committed fetches; markers fence the producer's older epoch.
async fn transactional_batches(store: &dyn MetadataStore) {
    let t = topic("txn-data", 2);
    store.create_topic(&t).await.expect("create");
    assert!(store.save_transaction(&open_txn("app-1", 500, &[]), None, &[(t.id, 0), (t.id, 1)]).await.expect("open"));
    let txn = |partition, pid, epoch, seq, count| {
        let mut b = idempotent(t.id, partition, pid, epoch, seq, count);
        b.kind = BatchKind::Transactional;
        b
    };
    let marker = |partition, pid, epoch, commit| {
        let mut b = idempotent(t.id, partition, pid, epoch, -1, 1);
        b.kind = BatchKind::Marker { commit };
        b
    };
    let lso_of = |out: &Committed, partition| {
        out.partitions.iter().find(|(_, p, _)| *p == partition).map(|(_, _, o)| (o.next_offset, o.last_stable_offset))
    };
    let out = commit(
        store,
        "txn/1",
        vec![plain(t.id, 0, 2), txn(0, 500, 0, 0, 3), txn(1, 500, 0, 0, 1), txn(0, 777, 0, 0, 1), txn(0, 500, 0, 3, 1)],
    )
    .await;
    assert_eq!(new(&out.batches[0]), 0);
    assert_eq!(new(&out.batches[1]), 2);
    assert_eq!(new(&out.batches[2]), 0);
    assert!(matches!(out.batches[3], Err(AppendRefusal::NotInTransaction { producer_id: 777, .. })));
    assert_eq!(new(&out.batches[4]), 5);
    assert_eq!(lso_of(&out, 0), Some((6, 2)), "p0 is stable up to where the transaction began");
    assert_eq!(lso_of(&out, 1), Some((1, 0)));
    assert_eq!(store.partition_offsets(t.id, 0).await.expect("offsets").last_stable_offset, 2);

    // Plain writes go on; the last stable offset stays.
    let out = commit(store, "txn/2", vec![plain(t.id, 0, 1)]).await;
    assert_eq!(lso_of(&out, 0), Some((7, 2)));

    // Abort on p0, commit on p1, with the epoch bumped to 1.
    let out = commit(store, "txn/3", vec![marker(0, 500, 1, false), marker(1, 500, 1, true)]).await;
    assert_eq!(out.batches, [Ok(Appended::New(7)), Ok(Appended::New(1))]);
    assert_eq!(lso_of(&out, 0), Some((8, 8)));
    assert_eq!(lso_of(&out, 1), Some((2, 2)));
    assert_eq!(store.aborted_transactions(t.id, 0, 0, 100).await.expect("aborted"), vec![(500, 2)]);
    assert_eq!(store.aborted_transactions(t.id, 0, 3, 4).await.expect("inside"), vec![(500, 2)]);
    assert!(store.aborted_transactions(t.id, 0, 0, 2).await.expect("before").is_empty());
    assert!(store.aborted_transactions(t.id, 0, 8, 100).await.expect("after").is_empty());
    assert!(store.aborted_transactions(t.id, 1, 0, 100).await.expect("p1 committed").is_empty());

    // The transaction is closed: more transactional data needs a new
    // AddPartitionsToTxn, and epoch 0 is fenced by the markers.
    let out = commit(store, "txn/4", vec![txn(0, 500, 1, 0, 1), idempotent(t.id, 1, 500, 0, 9, 1)]).await;
    assert!(matches!(out.batches[0], Err(AppendRefusal::NotInTransaction { producer_epoch: 1, .. })));
    assert_eq!(
        out.batches[1],
        Err(AppendRefusal::Sequence { producer_id: 500, error: SequenceError::InvalidEpoch { batch: 0, current: 1 } })
    );

    // DescribeProducers: producer 500 is known on both partitions at the
    // markers' epoch, with nothing open.
    let producers = store.partition_producers(t.id, 0).await.expect("producers");
    assert_eq!(
        producers.iter().map(|p| (p.producer_id, p.producer_epoch, p.txn_first_offset)).collect::<Vec<_>>(),
        vec![(500, 1, None)]
    );
    let producers_before = store.count_producers().await.expect("count");
    assert!(store.save_transaction(&open_txn("app-open", 600, &[]), None, &[(t.id, 1)]).await.expect("open"));
    let mut stamped = txn(1, 600, 0, 0, 2);
    stamped.max_timestamp = 1_700_000_000_123;
    let out = commit(store, "txn/5", vec![stamped]).await;
    assert_eq!(out.batches, [Ok(Appended::New(2))]);
    assert_eq!(store.count_producers().await.expect("count"), producers_before + 1, "600 is new; 500 counts once");
    let producers = store.partition_producers(t.id, 1).await.expect("producers");
    assert_eq!(
        producers
            .iter()
            .map(|p| (p.producer_id, p.txn_first_offset, p.last_timestamp, p.coordinator_epoch))
            .collect::<Vec<_>>(),
        vec![(500, None, 1, 0), (600, Some(2), 1_700_000_000_123, -1)],
        "the last batch's max timestamp (500's last write on p1 was its commit marker) and the markers' \
         coordinator epoch (none yet for 600)"
    );
}

async fn all_rules(store: &dyn MetadataStore) {
    idempotent_producers(store).await;
    transactional_batches(store).await;
}

#[tokio::test]
async fn append_rules_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    all_rules(&SqliteStore::open(&dir.path().join("m.sqlite")).unwrap()).await;
}

/// Several flushes committing at once on SQLite, from a multi-threaded
/// runtime (the commit blocks its worker rather than moving to the pool).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_rules_on_sqlite_from_many_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let store: std::sync::Arc<dyn MetadataStore> =
        std::sync::Arc::new(SqliteStore::open(&dir.path().join("m.sqlite")).unwrap());
    let t = topic("parallel", 1);
    store.create_topic(&t).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { commit(store.as_ref(), &format!("par/{i}"), vec![plain(t.id, 0, 5)]).await })
        })
        .collect();
    let mut bases = Vec::new();
    for task in tasks {
        bases.push(new(&task.await.unwrap().batches[0]));
    }
    bases.sort_unstable();
    assert_eq!(bases, [0, 5, 10, 15, 20, 25, 30, 35]);
}

#[tokio::test]
async fn append_rules_on_postgres() {
    let (store, _db) = crate::metadata::postgres::testing::fresh_store().await;
    all_rules(&store).await;
}
