//! One behaviour suite for every [`MetadataStore`] backend. Backends call
//! [`run`] from their own tests with a fresh, empty store.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::producer::{ProducerBatch, SequenceError};

use super::{
    Appended, BatchAppend, BatchKind, CommittedOffset, GroupRecord, MetaError, MetadataStore, ObjectCommit,
    TopicRecord, TxnOffsetsFor,
};

fn topic(name: &str, partitions: i32) -> TopicRecord {
    let mut configs = BTreeMap::new();
    configs.insert("retention.ms".to_string(), "1000".to_string());
    TopicRecord { id: Uuid::new_v4(), name: name.to_string(), partitions, configs, created_ms: 1 }
}

fn append(topic_id: Uuid, partition: i32, offset_count: i32, position: u64, max_timestamp: i64) -> BatchAppend {
    let producer = ProducerBatch { producer_id: -1, producer_epoch: -1, base_sequence: -1, offset_count };
    BatchAppend {
        topic_id,
        partition,
        offset_count,
        position,
        length: 100,
        max_timestamp,
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
    let mut b = append(topic_id, partition, count, 0, 1);
    b.producer = ProducerBatch { producer_id, producer_epoch: epoch, base_sequence, offset_count: count };
    b
}

/// Creates `name` with one partition holding one committed batch of 3 offsets.
pub async fn seed_one_topic(store: &dyn MetadataStore, name: &str) -> TopicRecord {
    let t = topic(name, 1);
    store.create_topic(&t).await.expect("create");
    let commit = ObjectCommit {
        object_key: format!("seed/{name}"),
        size_bytes: 100,
        node_id: 1,
        created_ms: 1,
        batches: vec![append(t.id, 0, 3, 0, 10)],
    };
    let out = store.commit_object(&commit).await.expect("commit").batches;
    out.into_iter().for_each(|r| assert_eq!(r.expect("batch"), Appended::New(0)));
    t
}

/// Runs every check; panics at the first behaviour that differs.
pub async fn run(store: &dyn MetadataStore) {
    let cluster = store.cluster_id().await.expect("cluster id");
    assert_eq!(store.cluster_id().await.expect("cluster id again"), cluster, "cluster id is stable");

    let first = store.allocate_producer_id().await.expect("producer id");
    let second = store.allocate_producer_id().await.expect("producer id");
    assert!(first >= 0 && second > first, "producer ids are unique and increasing: {first}, {second}");

    topics(store).await;
    offsets_and_index(store).await;
    timestamps(store).await;
    objects_and_deletion(store).await;
    group_offsets(store).await;
    broker_registry(store).await;
    all_offsets(store).await;
    retention(store).await;
    swapping_rows(store).await;
    idempotent_producers(store).await;
    transactions(store).await;
    transactional_offsets(store).await;
}

/// TxnOffsetCommit's offsets wait in the store until the transaction ends:
/// a commit applies them, an abort drops them, other producers' stay.
fn assert_refused(got: Result<(), MetaError>, want: super::TxnOffsetsRefusal, what: &str) {
    match got {
        Err(MetaError::TxnOffsetsRefused { refusal, .. }) => assert_eq!(refusal, want, "{what}"),
        other => panic!("{what}: expected refusal {want:?}, got {other:?}"),
    }
}

async fn transactional_offsets(store: &dyn MetadataStore) {
    use super::TxnOffsetsRefusal;
    use crate::txn::{TxnMetadata, TxnState};
    // Two producers with open transactions that hold the group.
    let open = |id: &str, pid: i64| {
        let mut t = TxnMetadata::new(id, pid, 60_000, 1);
        t.add(pid, 0, &[], Some("conf-txn-group"), 2).expect("add group");
        t
    };
    let (t900, t901) = (open("offsets-900", 900), open("offsets-901", 901));
    assert!(store.save_transaction(&t900, None, &[]).await.expect("save 900"));
    assert!(store.save_transaction(&t901, None, &[]).await.expect("save 901"));
    let of = |t: &TxnMetadata| TxnOffsetsFor {
        transactional_id: t.transactional_id.clone(),
        producer_id: t.producer_id,
        producer_epoch: t.producer_epoch,
    };
    let g = GroupRecord { group_id: "conf-txn-group".into(), protocol_type: String::new() };
    store.commit_offsets(&g, &[committed("in", 0, 5, None)]).await.expect("plain commit");
    store.stage_txn_offsets(&g, &of(&t900), &[committed("in", 0, 10, Some("m"))]).await.expect("stage");
    store
        .stage_txn_offsets(&g, &of(&t900), &[committed("in", 0, 12, Some("m2")), committed("in", 1, 3, None)])
        .await
        .expect("restage");
    store.stage_txn_offsets(&g, &of(&t901), &[committed("in", 2, 7, None)]).await.expect("other producer");
    // Refused without staging: a stale epoch, an unknown id, a group not
    // added, a transaction no longer open.
    let stale = TxnOffsetsFor { producer_epoch: 1, ..of(&t900) };
    assert_refused(
        store.stage_txn_offsets(&g, &stale, &[committed("in", 5, 1, None)]).await,
        TxnOffsetsRefusal::Fenced,
        "stale",
    );
    let unknown = TxnOffsetsFor { transactional_id: "offsets-none".into(), ..of(&t900) };
    assert_refused(
        store.stage_txn_offsets(&g, &unknown, &[committed("in", 5, 1, None)]).await,
        TxnOffsetsRefusal::UnknownProducer,
        "unknown",
    );
    let other = GroupRecord { group_id: "conf-txn-other".into(), protocol_type: String::new() };
    assert_refused(
        store.stage_txn_offsets(&other, &of(&t900), &[committed("in", 5, 1, None)]).await,
        TxnOffsetsRefusal::NotInTransaction,
        "not added",
    );
    assert_eq!(
        store.fetch_offsets("conf-txn-group").await.expect("fetch"),
        vec![committed("in", 0, 5, None)],
        "pending offsets are not committed"
    );
    assert_eq!(
        store.pending_txn_offsets("conf-txn-group").await.expect("pending"),
        vec![("in".to_string(), 0), ("in".to_string(), 1), ("in".to_string(), 2)]
    );
    let groups = ["conf-txn-group".to_string()];
    assert_eq!(store.settle_txn_offsets(900, &groups, true).await.expect("commit"), 2);
    assert_eq!(store.settle_txn_offsets(900, &groups, true).await.expect("again"), 0, "settling twice finds nothing");
    assert_eq!(
        store.fetch_offsets("conf-txn-group").await.expect("fetch"),
        vec![committed("in", 0, 12, Some("m2")), committed("in", 1, 3, None)]
    );
    assert_eq!(store.settle_txn_offsets(901, &groups, false).await.expect("abort"), 1);
    assert_eq!(store.fetch_offsets("conf-txn-group").await.expect("fetch").len(), 2, "aborted offsets dropped");
    assert!(store.pending_txn_offsets("conf-txn-group").await.expect("pending").is_empty());
    // Once the transaction is over, nothing more is staged for it.
    let mut ended = t901.clone();
    ended.end(901, 0, false, 3).expect("end");
    assert!(store.save_transaction(&ended, Some((901, 0, TxnState::Ongoing)), &[]).await.expect("prepare abort"));
    assert_refused(
        store.stage_txn_offsets(&g, &of(&t901), &[committed("in", 2, 8, None)]).await,
        TxnOffsetsRefusal::NotInTransaction,
        "ended",
    );
    // Staging records the group, so it is listed.
    let lone_txn = {
        let mut t = TxnMetadata::new("offsets-902", 902, 60_000, 1);
        t.add(902, 0, &[], Some("conf-txn-lone"), 2).expect("add lone");
        t
    };
    assert!(store.save_transaction(&lone_txn, None, &[]).await.expect("save 902"));
    let lone = GroupRecord { group_id: "conf-txn-lone".into(), protocol_type: String::new() };
    store.stage_txn_offsets(&lone, &of(&lone_txn), &[committed("in", 0, 1, None)]).await.expect("lone");
    assert!(store.list_groups().await.expect("list").iter().any(|x| x.group_id == "conf-txn-lone"));
}

/// Coordinator state saves only over the state it was decided from, so a
/// stale coordinator cannot overwrite a newer decision.
async fn transactions(store: &dyn MetadataStore) {
    use crate::txn::{TxnMetadata, TxnState};
    let t = topic("txn-data", 2);
    store.create_topic(&t).await.expect("create");
    assert_eq!(store.load_transaction("app-1").await.expect("load"), None);
    let mut m = TxnMetadata::new("app-1", 500, 60_000, 1);
    assert!(store.save_transaction(&m, None, &[]).await.expect("insert"));
    assert!(!store.save_transaction(&m, None, &[]).await.expect("second insert"), "insert-only when new");
    assert_eq!(store.load_transaction("app-1").await.expect("load").as_ref(), Some(&m));

    let before = (m.producer_id, m.producer_epoch, m.state);
    m.add(500, 0, &[("txn-data".into(), 0), ("txn-data".into(), 1)], Some("grp:1"), 2).expect("add");
    assert!(store.save_transaction(&m, Some(before), &[(t.id, 0), (t.id, 1)]).await.expect("save"));
    // A coordinator deciding from the old state loses.
    let mut stale = TxnMetadata::new("app-1", 500, 60_000, 1);
    stale.state = TxnState::Empty;
    assert!(!store.save_transaction(&stale, Some(before), &[]).await.expect("stale save"));
    let loaded = store.load_transaction("app-1").await.expect("load").expect("stored");
    assert_eq!(loaded, m);
    assert_eq!(loaded.partitions.len(), 2);
    assert!(loaded.groups.contains("grp:1"));

    let other = TxnMetadata::new("app-0", 501, 1_000, 3);
    assert!(store.save_transaction(&other, None, &[]).await.expect("insert other"));
    let ids: Vec<String> =
        store.list_transactions().await.expect("list").into_iter().map(|m| m.transactional_id).collect();
    assert_eq!(ids, ["app-0", "app-1"]);
    // Expiring an id compares like saving does.
    let gone = TxnMetadata::new("app-gone", 502, 1_000, 3);
    assert!(store.save_transaction(&gone, None, &[]).await.expect("insert gone"));
    assert!(!store.delete_transaction("app-gone", (502, 1, TxnState::Empty)).await.expect("stale delete"));
    assert!(store.delete_transaction("app-gone", (502, 0, TxnState::Empty)).await.expect("delete"));
    assert_eq!(store.load_transaction("app-gone").await.expect("load"), None);

    transactional_batches(store, &t).await;
}

/// Transactional batches go only into registered partitions, hold the last
/// stable offset back until their marker, and aborts are listed for
/// read_committed fetches; markers fence the producer's older epoch.
async fn transactional_batches(store: &dyn MetadataStore, t: &TopicRecord) {
    let object = |key: &str, batches| ObjectCommit {
        object_key: key.into(),
        size_bytes: 100,
        node_id: 1,
        created_ms: 1,
        batches,
    };
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
    let lso_of = |out: &super::CommitOutcome, partition| {
        out.partitions.iter().find(|(_, p, _)| *p == partition).map(|(_, _, o)| (o.next_offset, o.last_stable_offset))
    };
    // app-1 (producer 500, epoch 0) registered partitions 0 and 1 above.
    let out = store
        .commit_object(&object(
            "txn/1",
            vec![
                append(t.id, 0, 2, 0, 1),
                txn(0, 500, 0, 0, 3),
                txn(1, 500, 0, 0, 1),
                txn(0, 777, 0, 0, 1),
                txn(0, 500, 0, 3, 1),
            ],
        ))
        .await
        .expect("commit");
    assert_eq!(out.batches[0].as_ref().expect("plain"), &Appended::New(0));
    assert_eq!(out.batches[1].as_ref().expect("txn p0"), &Appended::New(2));
    assert_eq!(out.batches[2].as_ref().expect("txn p1"), &Appended::New(0));
    assert!(matches!(out.batches[3], Err(MetaError::NotInTransaction { producer_id: 777, .. })));
    assert_eq!(out.batches[4].as_ref().expect("txn p0 again"), &Appended::New(5));
    assert_eq!(lso_of(&out, 0), Some((6, 2)), "p0 is stable up to where the transaction began");
    assert_eq!(lso_of(&out, 1), Some((1, 0)));
    assert_eq!(store.partition_offsets(t.id, 0).await.expect("offsets").last_stable_offset, 2);

    // Plain writes go on; the last stable offset stays.
    let out = store.commit_object(&object("txn/2", vec![append(t.id, 0, 1, 0, 1)])).await.expect("commit 2");
    assert_eq!(lso_of(&out, 0), Some((7, 2)));

    // Abort on p0, commit on p1, with the epoch bumped to 1.
    let out = store
        .commit_object(&object("txn/3", vec![marker(0, 500, 1, false), marker(1, 500, 1, true)]))
        .await
        .expect("markers");
    assert_eq!(out.batches[0].as_ref().expect("abort marker"), &Appended::New(7));
    assert_eq!(out.batches[1].as_ref().expect("commit marker"), &Appended::New(1));
    assert_eq!(lso_of(&out, 0), Some((8, 8)));
    assert_eq!(lso_of(&out, 1), Some((2, 2)));
    assert_eq!(store.aborted_transactions(t.id, 0, 0, 100).await.expect("aborted"), vec![(500, 2)]);
    assert_eq!(store.aborted_transactions(t.id, 0, 3, 4).await.expect("inside"), vec![(500, 2)]);
    assert!(store.aborted_transactions(t.id, 0, 0, 2).await.expect("before").is_empty());
    assert!(store.aborted_transactions(t.id, 0, 8, 100).await.expect("after").is_empty());
    assert!(store.aborted_transactions(t.id, 1, 0, 100).await.expect("p1 committed").is_empty());

    // The transaction is closed: more transactional data needs a new
    // AddPartitionsToTxn, and epoch 0 is fenced by the markers.
    let out = store
        .commit_object(&object("txn/4", vec![txn(0, 500, 1, 0, 1), idempotent(t.id, 1, 500, 0, 9, 1)]))
        .await
        .expect("after markers");
    assert!(matches!(out.batches[0], Err(MetaError::NotInTransaction { producer_epoch: 1, .. })));
    assert!(matches!(
        out.batches[1],
        Err(MetaError::Sequence { error: SequenceError::InvalidEpoch { batch: 0, current: 1 }, .. })
    ));

    // Retention drops aborted ranges only once they are wholly before the log.
    store.advance_log_start(1, t.id, 0, 7).await.expect("advance to the abort marker");
    assert_eq!(store.aborted_transactions(t.id, 0, 0, 100).await.expect("aborted"), vec![(500, 2)]);
    store.advance_log_start(1, t.id, 0, 8).await.expect("advance past it");
    assert!(store.aborted_transactions(t.id, 0, 0, 100).await.expect("trimmed").is_empty());

    // DescribeProducers: producer 500 is known on both partitions at the
    // markers' epoch, with nothing open.
    let producers = store.partition_producers(t.id, 0).await.expect("producers");
    assert_eq!(
        producers.iter().map(|p| (p.producer_id, p.producer_epoch, p.txn_first_offset)).collect::<Vec<_>>(),
        vec![(500, 1, None)]
    );
    let producers_before = store.count_producers().await.expect("count");
    let open = crate::txn::TxnMetadata::new("app-open", 600, 60_000, 1);
    assert!(store.save_transaction(&open, None, &[(t.id, 1)]).await.expect("open"));
    let mut stamped = txn(1, 600, 0, 0, 2);
    stamped.max_timestamp = 1_700_000_000_123;
    let out = store.commit_object(&object("txn/5", vec![stamped])).await.expect("open write");
    assert_eq!(out.batches[0].as_ref().expect("open batch"), &Appended::New(2));
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

/// Producer state is checked and advanced inside the commit: retries are
/// answered with the original offsets, gaps and old epochs are refused,
/// and the state persists from one commit (one broker) to the next.
async fn idempotent_producers(store: &dyn MetadataStore) {
    let t = topic("idempotent", 2);
    store.create_topic(&t).await.expect("create");
    let object = |key: &str, batches| ObjectCommit {
        object_key: key.into(),
        size_bytes: 100,
        node_id: 1,
        created_ms: 1,
        batches,
    };
    let first = object(
        "idem/1",
        vec![
            idempotent(t.id, 0, 42, 0, 0, 3),
            idempotent(t.id, 1, 42, 0, 0, 1),
            // In the same object: a retry of the first batch, then the next.
            idempotent(t.id, 0, 42, 0, 0, 3),
            idempotent(t.id, 0, 42, 0, 3, 2),
            append(t.id, 0, 4, 0, 1),
        ],
    );
    let out = store.commit_object(&first).await.expect("commit").batches;
    assert_eq!(out[0].as_ref().expect("new"), &Appended::New(0));
    assert_eq!(out[1].as_ref().expect("p1"), &Appended::New(0));
    assert_eq!(out[2].as_ref().expect("duplicate"), &Appended::Duplicate(0));
    assert_eq!(out[3].as_ref().expect("next"), &Appended::New(3));
    assert_eq!(out[4].as_ref().expect("plain"), &Appended::New(5));

    // A later commit (any broker) sees the stored state.
    let second = object(
        "idem/2",
        vec![
            idempotent(t.id, 0, 42, 0, 3, 2),
            idempotent(t.id, 0, 42, 0, 9, 1),
            idempotent(t.id, 0, 42, 0, 5, 1),
            idempotent(t.id, 1, 41, 0, 7, 1),
        ],
    );
    let out = store.commit_object(&second).await.expect("commit 2").batches;
    assert_eq!(out[0].as_ref().expect("retry across commits"), &Appended::Duplicate(3));
    assert!(matches!(
        out[1],
        Err(MetaError::Sequence { producer_id: 42, error: SequenceError::OutOfOrder { expected: 5, got: 9 } })
    ));
    assert_eq!(out[2].as_ref().expect("in order"), &Appended::New(9));
    assert_eq!(out[3].as_ref().expect("an unknown producer starts anywhere"), &Appended::New(1));

    // A bumped epoch restarts at 0 and fences the old one.
    let third = object(
        "idem/3",
        vec![idempotent(t.id, 0, 42, 1, 0, 1), idempotent(t.id, 0, 42, 0, 6, 1), idempotent(t.id, 0, 42, 1, 1, 1)],
    );
    let out = store.commit_object(&third).await.expect("commit 3").batches;
    assert_eq!(out[0].as_ref().expect("new epoch"), &Appended::New(10));
    assert!(matches!(
        out[1],
        Err(MetaError::Sequence { error: SequenceError::InvalidEpoch { batch: 0, current: 1 }, .. })
    ));
    assert_eq!(out[2].as_ref().expect("next in new epoch"), &Appended::New(11));
    // Duplicates and refusals take no offsets and write no rows.
    assert_eq!(store.partition_offsets(t.id, 0).await.expect("offsets").next_offset, 12);
    // A commit holding only a retry still reports the partition's offsets,
    // so a broker that had not heard of the original catches up before it
    // answers.
    let retry = store.commit_object(&object("idem/3b", vec![idempotent(t.id, 0, 42, 1, 1, 1)])).await.expect("retry");
    assert_eq!(retry.batches[0].as_ref().expect("duplicate"), &Appended::Duplicate(11));
    let reported: Vec<(i32, i64)> = retry.partitions.iter().map(|(_, p, o)| (*p, o.next_offset)).collect();
    assert_eq!(reported, vec![(0, 12)]);
    let rows = store.index_rows(t.id, 0, 0, 100).await.expect("rows");
    assert_eq!(rows.iter().map(|r| r.base_offset).collect::<Vec<_>>(), vec![0, 3, 5, 9, 10, 11]);

    // Expired state is forgotten: the producer may start anywhere again.
    assert_eq!(store.expire_producers(1).await.expect("nothing older"), 0);
    assert_eq!(store.expire_producers(2).await.expect("expire"), 3);
    let fourth = object("idem/4", vec![idempotent(t.id, 0, 42, 1, 50, 1)]);
    assert_eq!(
        store.commit_object(&fourth).await.expect("commit 4").batches[0].as_ref().expect("new"),
        &Appended::New(12)
    );
}

async fn swapping_rows(store: &dyn MetadataStore) {
    use super::{RowMove, SegmentRecord};
    let t = topic("swap", 1);
    store.create_topic(&t).await.expect("create");
    for (i, key) in ["swap/a", "swap/b", "swap/c"].iter().enumerate() {
        let commit = ObjectCommit {
            object_key: key.to_string(),
            size_bytes: 100,
            node_id: 1,
            created_ms: 1,
            batches: vec![append(t.id, 0, 2, 0, i as i64)],
        };
        store.commit_object(&commit).await.expect("commit");
    }
    let segment = |key: &str| SegmentRecord { object_key: key.into(), size_bytes: 300, node_id: 1, created_ms: 2 };
    let mv = |base_offset, from: &str, position| RowMove { base_offset, from_key: from.into(), position };
    // A move whose source changed is refused whole.
    let stale = [mv(0, "swap/a", 0), mv(2, "swap/WRONG", 100)];
    assert!(!store.swap_index_rows(t.id, 0, &stale, &segment("swap/seg1")).await.expect("stale swap"));
    let rows = store.index_rows(t.id, 0, 0, 10).await.expect("rows");
    assert_eq!(rows.iter().map(|r| r.object_key.to_string()).collect::<Vec<_>>(), ["swap/a", "swap/b", "swap/c"]);
    assert!(store.known_objects(&["swap/seg1".to_string()]).await.expect("known").is_empty());

    let moves = [mv(0, "swap/a", 0), mv(2, "swap/b", 100)];
    assert!(store.swap_index_rows(t.id, 0, &moves, &segment("swap/seg2")).await.expect("swap"));
    let rows = store.index_rows(t.id, 0, 0, 10).await.expect("rows");
    let placed: Vec<(i64, String, u64)> =
        rows.iter().map(|r| (r.base_offset, r.object_key.to_string(), r.position)).collect();
    assert_eq!(placed, vec![(0, "swap/seg2".into(), 0), (2, "swap/seg2".into(), 100), (4, "swap/c".into(), 0)]);
    assert_eq!(store.known_objects(&["swap/seg2".to_string()]).await.expect("known").len(), 1);
    let unreferenced = store.unreferenced_objects().await.expect("unreferenced");
    assert!(unreferenced.contains(&"swap/a".to_string()) && unreferenced.contains(&"swap/b".to_string()));
    assert!(!unreferenced.contains(&"swap/c".to_string()) && !unreferenced.contains(&"swap/seg2".to_string()));
}

async fn retention(store: &dyn MetadataStore) {
    let t = topic("retention", 1);
    store.create_topic(&t).await.expect("create");
    assert_eq!(store.offset_keeping_bytes(t.id, 0, 0).await.expect("empty"), None);
    // Five batches of 100 bytes: offsets 0-1, 2-3, 4-5, 6-7, 8-9.
    let commit = ObjectCommit {
        object_key: "retention/1".into(),
        size_bytes: 500,
        node_id: 1,
        created_ms: 1,
        batches: (0..5).map(|i| append(t.id, 0, 2, i * 100, 10 * i as i64)).collect(),
    };
    store.commit_object(&commit).await.expect("commit");
    // Keep at least 250 bytes: the two oldest batches can go (300 remain).
    assert_eq!(store.offset_keeping_bytes(t.id, 0, 250).await.expect("250"), Some(4));
    assert_eq!(store.offset_keeping_bytes(t.id, 0, 300).await.expect("300"), Some(4));
    assert_eq!(store.offset_keeping_bytes(t.id, 0, 301).await.expect("301"), Some(2));
    assert_eq!(store.offset_keeping_bytes(t.id, 0, 500).await.expect("500"), None);
    assert_eq!(store.offset_keeping_bytes(t.id, 0, 0).await.expect("0"), Some(10));

    let o = store.advance_log_start(1, t.id, 0, 4).await.expect("advance");
    assert_eq!((o.log_start_offset, o.next_offset), (4, 10));
    let rows = store.index_rows(t.id, 0, 0, 100).await.expect("rows");
    assert_eq!(rows.iter().map(|r| r.base_offset).collect::<Vec<_>>(), vec![4, 6, 8]);
    assert_eq!(store.partition_offsets(t.id, 0).await.expect("offsets").log_start_offset, 4);
    // Never back, never past the end; a start inside a batch keeps it.
    assert_eq!(store.advance_log_start(1, t.id, 0, 2).await.expect("back").log_start_offset, 4);
    assert_eq!(store.advance_log_start(1, t.id, 0, 7).await.expect("inside").log_start_offset, 7);
    let rows = store.index_rows(t.id, 0, 7, 100).await.expect("rows");
    assert_eq!(rows.iter().map(|r| r.base_offset).collect::<Vec<_>>(), vec![6, 8]);
    assert_eq!(store.advance_log_start(1, t.id, 0, 99).await.expect("past end").log_start_offset, 10);
    assert!(store.index_rows(t.id, 0, 0, 100).await.expect("rows").is_empty());
    assert!(store.unreferenced_objects().await.expect("unreferenced").contains(&"retention/1".to_string()));
    assert!(matches!(
        store.advance_log_start(1, t.id, 5, 1).await,
        Err(MetaError::PartitionNotFound { partition: 5, .. })
    ));
}

async fn broker_registry(store: &dyn MetadataStore) {
    assert!(store.live_brokers(0).await.expect("live").is_empty(), "no broker registered yet");
    let e1 = store.register_broker(1, "127.0.0.1", 9092, 1_000).await.expect("register 1");
    let e2 = store.register_broker(2, "127.0.0.1", 9093, 1_000).await.expect("register 2");
    assert!(store.heartbeat_broker(1, e1, 2_000).await.expect("heartbeat"));
    let live = store.live_brokers(1_500).await.expect("live");
    assert_eq!(live.iter().map(|b| (b.node_id, b.port, b.heartbeat_ms)).collect::<Vec<_>>(), vec![(1, 9092, 2_000)]);
    let both = store.live_brokers(1_000).await.expect("live");
    assert_eq!(both.iter().map(|b| b.node_id).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(both[1].epoch, e2);
    // A heartbeat never moves the clock back.
    assert!(store.heartbeat_broker(1, e1, 1_200).await.expect("late heartbeat"));
    assert_eq!(store.live_brokers(1_500).await.expect("live")[0].heartbeat_ms, 2_000);
    // A second process registering node 1 fences the first.
    let e1b = store.register_broker(1, "127.0.0.1", 9094, 3_000).await.expect("re-register");
    assert!(e1b > e1, "a new registration has a newer epoch: {e1b} after {e1}");
    assert!(!store.heartbeat_broker(1, e1, 4_000).await.expect("fenced heartbeat"), "the old process is fenced");
    assert!(store.heartbeat_broker(1, e1b, 4_000).await.expect("heartbeat"));
    let live = store.live_brokers(3_500).await.expect("live");
    assert_eq!(live.iter().map(|b| (b.node_id, b.port, b.epoch)).collect::<Vec<_>>(), vec![(1, 9094, e1b)]);
    assert!(!store.heartbeat_broker(7, 1, 4_000).await.expect("unknown node"), "an unregistered node is not renewed");
}

async fn all_offsets(store: &dyn MetadataStore) {
    let t = seed_one_topic(store, "all-offsets").await;
    let all = store.all_partition_offsets().await.expect("all offsets");
    let mine: Vec<_> = all.iter().filter(|(id, _, _)| *id == t.id).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].1, 0);
    assert_eq!(mine[0].2.next_offset, 3);
    assert_eq!(mine[0].2.log_start_offset, 0);
    assert_eq!(mine[0].2.max_timestamp, 10);
    for (id, p, o) in &all {
        assert_eq!(store.partition_offsets(*id, *p).await.expect("one partition"), *o);
    }
}

fn committed(topic: &str, partition: i32, offset: i64, metadata: Option<&str>) -> CommittedOffset {
    CommittedOffset {
        topic: topic.into(),
        partition,
        offset,
        leader_epoch: 0,
        metadata: metadata.map(String::from),
        commit_ms: 5,
    }
}

async fn group_offsets(store: &dyn MetadataStore) {
    let g = GroupRecord { group_id: "conf-group".into(), protocol_type: "consumer".into() };
    store
        .commit_offsets(
            &g,
            &[committed("a", 0, 10, Some("m")), committed("a", 1, 20, None), committed("b", 0, 5, Some(""))],
        )
        .await
        .expect("commit");
    // A later commit overwrites, and an empty protocol type keeps the old one.
    let anon = GroupRecord { group_id: "conf-group".into(), protocol_type: String::new() };
    store.commit_offsets(&anon, &[committed("a", 0, 11, None)]).await.expect("commit 2");
    let got = store.fetch_offsets("conf-group").await.expect("fetch");
    assert_eq!(got, vec![committed("a", 0, 11, None), committed("a", 1, 20, None), committed("b", 0, 5, Some(""))]);
    let groups = store.list_groups().await.expect("list");
    assert!(groups.contains(&g), "{groups:?}");
    assert!(store.fetch_offsets("conf-none").await.expect("fetch none").is_empty());

    store.delete_offsets("conf-group", Some(&[("a".into(), 1)])).await.expect("delete some");
    let got = store.fetch_offsets("conf-group").await.expect("fetch");
    assert_eq!(got.iter().map(|o| (o.topic.as_str(), o.partition)).collect::<Vec<_>>(), vec![("a", 0), ("b", 0)]);
    store.delete_offsets("conf-group", None).await.expect("delete group");
    assert!(store.fetch_offsets("conf-group").await.expect("fetch").is_empty());
    assert!(!store.list_groups().await.expect("list").iter().any(|x| x.group_id == "conf-group"));
}

async fn topics(store: &dyn MetadataStore) {
    let a = topic("conf-a", 3);
    store.create_topic(&a).await.expect("create a");
    match store.create_topic(&topic("conf-a", 1)).await {
        Err(MetaError::TopicExists { name }) => assert_eq!(name, "conf-a"),
        other => panic!("duplicate create must be TopicExists, got {other:?}"),
    }
    let listed = store.list_topics().await.expect("list");
    let found = listed.iter().find(|t| t.name == "conf-a").expect("listed");
    assert_eq!(found, &a, "a topic reads back exactly as created");
    for p in 0..3 {
        let o = store.partition_offsets(a.id, p).await.expect("offsets");
        assert_eq!((o.log_start_offset, o.next_offset, o.max_timestamp), (0, 0, -1));
    }
    assert!(matches!(store.partition_offsets(a.id, 3).await, Err(MetaError::PartitionNotFound { partition: 3, .. })));
    assert!(matches!(store.delete_topic("conf-missing").await, Err(MetaError::TopicNotFound { .. })));
}

async fn offsets_and_index(store: &dyn MetadataStore) {
    let t = topic("conf-index", 2);
    store.create_topic(&t).await.expect("create");
    let gone = Uuid::new_v4();
    // One object holding batches of two partitions, interleaved, plus one
    // batch for a partition that does not exist.
    let commit = ObjectCommit {
        object_key: "aa/obj-1".into(),
        size_bytes: 1000,
        node_id: 1,
        created_ms: 5,
        batches: vec![
            append(t.id, 0, 5, 0, 100),
            append(t.id, 1, 2, 100, 50),
            append(gone, 0, 1, 200, 1),
            append(t.id, 0, 3, 300, 90),
        ],
    };
    let out = store.commit_object(&commit).await.expect("commit").batches;
    assert_eq!(out.len(), 4);
    assert_eq!(out[0].as_ref().expect("p0 first"), &Appended::New(0));
    assert_eq!(out[1].as_ref().expect("p1"), &Appended::New(0));
    assert!(matches!(out[2], Err(MetaError::PartitionNotFound { .. })));
    assert_eq!(
        out[3].as_ref().expect("p0 second"),
        &Appended::New(5),
        "commit order is offset order within a partition"
    );

    let commit2 = ObjectCommit {
        object_key: "bb/obj-2".into(),
        size_bytes: 10,
        node_id: 1,
        created_ms: 6,
        batches: vec![append(t.id, 0, 1, 0, 200)],
    };
    assert_eq!(
        store.commit_object(&commit2).await.expect("commit 2").batches[0].as_ref().expect("ok"),
        &Appended::New(8)
    );

    let o = store.partition_offsets(t.id, 0).await.expect("offsets");
    assert_eq!((o.log_start_offset, o.next_offset, o.max_timestamp), (0, 9, 200));
    let o1 = store.partition_offsets(t.id, 1).await.expect("offsets p1");
    assert_eq!(o1.next_offset, 2);

    let rows = store.index_rows(t.id, 0, 0, 100).await.expect("rows");
    let spans: Vec<(i64, i64, &str, u64)> =
        rows.iter().map(|r| (r.base_offset, r.last_offset, &*r.object_key, r.position)).collect();
    assert_eq!(spans, vec![(0, 4, "aa/obj-1", 0), (5, 7, "aa/obj-1", 300), (8, 8, "bb/obj-2", 0)]);
    // From the middle of a batch: that batch comes first.
    let mid = store.index_rows(t.id, 0, 6, 100).await.expect("rows mid");
    assert_eq!(mid.iter().map(|r| r.base_offset).collect::<Vec<_>>(), vec![5, 8]);
    let limited = store.index_rows(t.id, 0, 0, 2).await.expect("limited");
    assert_eq!(limited.len(), 2);
    assert!(store.index_rows(t.id, 0, 9, 10).await.expect("at end").is_empty());
}

async fn timestamps(store: &dyn MetadataStore) {
    let t = topic("conf-ts", 1);
    store.create_topic(&t).await.expect("create");
    // Batch max timestamps 100, 50 (out of order), 300.
    let commit = ObjectCommit {
        object_key: "cc/obj-ts".into(),
        size_bytes: 300,
        node_id: 1,
        created_ms: 1,
        batches: vec![append(t.id, 0, 2, 0, 100), append(t.id, 0, 2, 100, 50), append(t.id, 0, 2, 200, 300)],
    };
    store.commit_object(&commit).await.expect("commit");
    let first = |ts| store.first_row_at_or_after_timestamp(t.id, 0, ts);
    assert_eq!(first(0).await.expect("q").expect("row").base_offset, 0);
    assert_eq!(first(100).await.expect("q").expect("row").base_offset, 0);
    assert_eq!(first(101).await.expect("q").expect("row").base_offset, 4, "skips the batch whose max is only 50");
    assert_eq!(first(300).await.expect("q").expect("row").base_offset, 4);
    assert!(first(301).await.expect("q").is_none());
}

async fn objects_and_deletion(store: &dyn MetadataStore) {
    let t = seed_one_topic(store, "conf-del").await;
    let key = "seed/conf-del".to_string();
    let unknown = "zz/never-committed".to_string();
    let known = store.known_objects(&[key.clone(), unknown.clone()]).await.expect("known");
    assert!(known.contains(&key) && !known.contains(&unknown));
    assert!(!store.unreferenced_objects().await.expect("unref").contains(&key));

    let deleted = store.delete_topic("conf-del").await.expect("delete");
    assert_eq!(deleted.id, t.id);
    assert!(!store.list_topics().await.expect("list").iter().any(|x| x.name == "conf-del"));
    assert!(matches!(store.partition_offsets(t.id, 0).await, Err(MetaError::PartitionNotFound { .. })));
    assert!(store.index_rows(t.id, 0, 0, 10).await.expect("rows").is_empty());
    assert!(store.unreferenced_objects().await.expect("unref").contains(&key), "a deleted topic's object is garbage");
    store.forget_object(&key).await.expect("forget");
    assert!(!store.unreferenced_objects().await.expect("unref").contains(&key));

    // Recreating a topic of the same name starts from offset 0.
    let again = seed_one_topic(store, "conf-del-2").await;
    assert_eq!(store.partition_offsets(again.id, 0).await.expect("offsets").next_offset, 3);
}
