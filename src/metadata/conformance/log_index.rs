//! [`LogIndex`](crate::metadata::LogIndex) and the [`CommitTx`] statements:
//! offsets are assigned in commit order, rows are found by offset and
//! timestamp, retention and merges move rows safely, transaction state on
//! a partition holds the last stable offset back, and a failed commit
//! leaves nothing behind.
//!
//! [`CommitTx`]: crate::metadata::CommitTx

use uuid::Uuid;

use super::{by_partition, commit, open_txn, run_script, seed_one_topic, topic, Append, Op, Out};
use crate::metadata::{MetaError, MetadataStore, ObjectRecord, OpenTxn, RowMove, TxnRecord};

pub async fn run(store: &dyn MetadataStore) {
    offsets_and_index(store).await;
    timestamps(store).await;
    all_offsets(store).await;
    retention(store).await;
    swapping_rows(store).await;
    producer_state(store).await;
    transaction_ranges(store).await;
    failed_commits_leave_nothing(store).await;
}

async fn offsets_and_index(store: &dyn MetadataStore) {
    let t = topic("conf-index", 2);
    store.create_topic(&t).await.expect("create");
    let gone = Uuid::new_v4();
    // One object holding batches of two partitions, interleaved, plus one
    // batch for a partition that does not exist.
    let first = [
        Append::new(t.id, 0, 5, 100),
        Append::new(t.id, 1, 2, 50).at(100),
        Append::new(gone, 0, 1, 1).at(200),
        Append::new(t.id, 0, 3, 90).at(300),
    ];
    let bases = commit(store, 1, "aa/obj-1", &first).await;
    assert_eq!(bases, [Some(0), Some(0), None, Some(5)], "commit order is offset order within a partition");
    assert_eq!(commit(store, 1, "bb/obj-2", &[Append::new(t.id, 0, 1, 200)]).await, [Some(8)]);

    let o = store.partition_offsets(t.id, 0).await.expect("offsets");
    assert_eq!((o.log_start_offset, o.next_offset, o.max_timestamp, o.last_stable_offset), (0, 9, 200, 9));
    assert_eq!(store.partition_offsets(t.id, 1).await.expect("offsets p1").next_offset, 2);

    let rows = store.index_rows(t.id, 0, 0, 100).await.expect("rows");
    let spans: Vec<(i64, i64, &str, u64, u32, i64)> = rows
        .iter()
        .map(|r| (r.base_offset, r.last_offset, &*r.object_key, r.position, r.length, r.max_timestamp))
        .collect();
    assert_eq!(
        spans,
        vec![(0, 4, "aa/obj-1", 0, 100, 100), (5, 7, "aa/obj-1", 300, 100, 90), (8, 8, "bb/obj-2", 0, 100, 200)]
    );
    // From the middle of a batch: that batch comes first.
    let mid = store.index_rows(t.id, 0, 6, 100).await.expect("rows mid");
    assert_eq!(mid.iter().map(|r| r.base_offset).collect::<Vec<_>>(), vec![5, 8]);
    let limited = store.index_rows(t.id, 0, 0, 2).await.expect("limited");
    assert_eq!(limited.iter().map(|r| r.base_offset).collect::<Vec<_>>(), vec![0, 5]);
    assert!(store.index_rows(t.id, 0, 9, 10).await.expect("at end").is_empty());
}

async fn timestamps(store: &dyn MetadataStore) {
    let t = topic("conf-ts", 1);
    store.create_topic(&t).await.expect("create");
    // Batch max timestamps 100, 50 (out of order), 300.
    let appends = [Append::new(t.id, 0, 2, 100), Append::new(t.id, 0, 2, 50), Append::new(t.id, 0, 2, 300)];
    commit(store, 1, "cc/obj-ts", &appends).await;
    let first = |ts| store.first_row_at_or_after_timestamp(t.id, 0, ts);
    assert_eq!(first(0).await.expect("q").expect("row").base_offset, 0);
    assert_eq!(first(100).await.expect("q").expect("row").base_offset, 0);
    assert_eq!(first(101).await.expect("q").expect("row").base_offset, 4, "skips the batch whose max is only 50");
    assert_eq!(first(300).await.expect("q").expect("row").base_offset, 4);
    assert!(first(301).await.expect("q").is_none());
}

async fn all_offsets(store: &dyn MetadataStore) {
    let t = seed_one_topic(store, "all-offsets").await;
    let all = store.all_partition_offsets().await.expect("all offsets");
    let mine: Vec<_> = all.iter().filter(|(id, _, _)| *id == t.id).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].1, 0);
    assert_eq!((mine[0].2.log_start_offset, mine[0].2.next_offset, mine[0].2.max_timestamp), (0, 3, 10));
    for (id, p, o) in &all {
        assert_eq!(store.partition_offsets(*id, *p).await.expect("one partition"), *o);
    }
}

async fn retention(store: &dyn MetadataStore) {
    let t = topic("retention", 1);
    store.create_topic(&t).await.expect("create");
    assert_eq!(store.offset_keeping_bytes(t.id, 0, 0).await.expect("empty"), None);
    // Five batches of 100 bytes: offsets 0-1, 2-3, 4-5, 6-7, 8-9.
    let appends: Vec<Append> = (0..5).map(|i| Append::new(t.id, 0, 2, 10 * i as i64).at(i * 100)).collect();
    commit(store, 1, "retention/1", &appends).await;
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
    assert!(matches!(
        store.advance_log_start(1, t.id, 5, 1).await,
        Err(MetaError::PartitionNotFound { partition: 5, .. })
    ));
}

async fn swapping_rows(store: &dyn MetadataStore) {
    let t = topic("swap", 1);
    store.create_topic(&t).await.expect("create");
    for (i, key) in ["swap/a", "swap/b", "swap/c"].iter().enumerate() {
        commit(store, 1, key, &[Append::new(t.id, 0, 2, i as i64)]).await;
    }
    let segment =
        |key: &str| ObjectRecord { object_key: key.into(), size_bytes: 300, node_id: 1, created_ms: 2, data: None };
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

/// Producer state saved by one commit is what the next commit loads; a
/// timestamp or coordinator epoch of -1 keeps the stored one.
async fn producer_state(store: &dyn MetadataStore) {
    let t = topic("conf-producers", 1);
    store.create_topic(&t).await.expect("create");
    let key = (t.id, 0, 42);
    let save = |epoch, batches, updated_ms, last_timestamp, coordinator_epoch| Op::SaveProducer {
        key,
        epoch,
        batches,
        updated_ms,
        last_timestamp,
        coordinator_epoch,
    };
    let (outs, _) = run_script(
        store,
        "prod/1",
        vec![Op::Lock(t.id, 0), Op::LoadProducer(key), save(0, "0:0:0", 5, 77, -1), Op::LoadProducer(key)],
    )
    .await
    .expect("first");
    assert_eq!(outs, [Out::Done, Out::Producer(None), Out::Done, Out::Producer(Some((0, "0:0:0".into())))]);
    let (outs, _) =
        run_script(store, "prod/2", vec![Op::LoadProducer(key), save(1, "1:1:3", 6, -1, 4)]).await.expect("second");
    assert_eq!(outs[0], Out::Producer(Some((0, "0:0:0".into()))), "a later commit sees the saved state");
    let described = store.partition_producers(t.id, 0).await.expect("describe");
    let got: Vec<_> = described
        .iter()
        .map(|p| {
            (p.producer_id, p.producer_epoch, p.batches.as_str(), p.updated_ms, p.last_timestamp, p.coordinator_epoch)
        })
        .collect();
    assert_eq!(got, [(42, 1, "1:1:3", 6, 77, 4)], "-1 keeps the stored timestamp");
}

/// Open transactions registered by the coordinator are found by commits,
/// get their first offset, and hold the last stable offset back until
/// closed; an abort's range is listed for read_committed fetches and
/// trimmed by retention once wholly before the log.
async fn transaction_ranges(store: &dyn MetadataStore) {
    let t = topic("conf-txn-ranges", 2);
    store.create_topic(&t).await.expect("create");
    let (p500, p600) = ((t.id, 0, 500), (t.id, 0, 600));
    let open_for = |id: &str, pid| TxnRecord { producer_epoch: 3, ..open_txn(id, pid, &[]) };
    assert!(store.save_transaction(&open_for("r-500", 500), None, &[(t.id, 0)]).await.expect("open 500"));
    assert!(store.save_transaction(&open_for("r-600", 600), None, &[(t.id, 0), (t.id, 1)]).await.expect("open 600"));

    let (outs, advanced) = run_script(
        store,
        "ranges/1",
        vec![
            Op::OpenTxn(p500),
            Op::OpenTxn((t.id, 1, 500)),
            Op::Append(Append::new(t.id, 0, 2, 1)),
            Op::SetFirst(p500, 0),
            Op::Refresh(t.id, 0),
            Op::Append(Append::new(t.id, 0, 3, 1)),
            Op::SetFirst(p600, 2),
            Op::Refresh(t.id, 0),
            Op::Current(t.id, 0),
        ],
    )
    .await
    .expect("data");
    assert_eq!(outs[0], Out::Open(Some(OpenTxn { first_offset: None, producer_epoch: 3 })));
    assert_eq!(outs[1], Out::Open(None), "500 did not register partition 1");
    assert_eq!(outs[4], Out::Unstable(Some(0)));
    assert_eq!(outs[7], Out::Unstable(Some(0)), "the oldest open transaction decides");
    let Out::Offsets(Some(now)) = outs[8] else { panic!("offsets: {:?}", outs[8]) };
    assert_eq!((now.next_offset, now.last_stable_offset), (5, 0));
    assert_eq!(by_partition(&advanced)[&0].last_stable_offset, 0, "the reported offsets carry the stable offset");
    assert_eq!(store.partition_offsets(t.id, 0).await.expect("offsets").last_stable_offset, 0);

    // 500 aborts (its marker at 5), 600 commits (marker at 6).
    let (outs, _) = run_script(
        store,
        "ranges/2",
        vec![
            Op::Append(Append::new(t.id, 0, 1, 1)),
            Op::Close(p500, Some((0, 5))),
            Op::Refresh(t.id, 0),
            Op::Append(Append::new(t.id, 0, 1, 1)),
            Op::Close(p600, None),
            Op::Refresh(t.id, 0),
            Op::OpenTxn(p600),
        ],
    )
    .await
    .expect("markers");
    assert_eq!(outs[2], Out::Unstable(Some(2)), "600 is still open from offset 2");
    assert_eq!(outs[5], Out::Unstable(None));
    assert_eq!(outs[6], Out::Open(None));
    let o = store.partition_offsets(t.id, 0).await.expect("offsets");
    assert_eq!((o.next_offset, o.last_stable_offset), (7, 7));
    assert_eq!(store.aborted_transactions(t.id, 0, 0, 100).await.expect("aborted"), [(500, 0)]);
    assert_eq!(store.aborted_transactions(t.id, 0, 5, 6).await.expect("at its marker"), [(500, 0)]);
    assert!(store.aborted_transactions(t.id, 0, 6, 100).await.expect("after").is_empty());
    assert!(store.aborted_transactions(t.id, 1, 0, 100).await.expect("p1").is_empty());
    // Retention drops aborted ranges only once they are wholly before the log.
    store.advance_log_start(1, t.id, 0, 5).await.expect("advance to the abort marker");
    assert_eq!(store.aborted_transactions(t.id, 0, 0, 100).await.expect("aborted"), [(500, 0)]);
    store.advance_log_start(1, t.id, 0, 6).await.expect("advance past it");
    assert!(store.aborted_transactions(t.id, 0, 0, 100).await.expect("trimmed").is_empty());
    // 600's registration on partition 1 is still open there.
    let (outs, _) = run_script(store, "ranges/3", vec![Op::OpenTxn((t.id, 1, 600))]).await.expect("p1");
    assert_eq!(outs, [Out::Open(Some(OpenTxn { first_offset: None, producer_epoch: 3 }))]);
}

/// A commit whose flow fails stores none of its statements and no object.
async fn failed_commits_leave_nothing(store: &dyn MetadataStore) {
    let t = topic("conf-rollback", 1);
    store.create_topic(&t).await.expect("create");
    let key = (t.id, 0, 77);
    let ops = vec![
        Op::Append(Append::new(t.id, 0, 4, 9)),
        Op::SaveProducer { key, epoch: 0, batches: "x", updated_ms: 1, last_timestamp: 1, coordinator_epoch: 1 },
        Op::Fail,
    ];
    match run_script(store, "rollback/1", ops).await {
        Err(MetaError::Corrupt { .. }) => {}
        other => panic!("the failing script's error, got {other:?}"),
    }
    let o = store.partition_offsets(t.id, 0).await.expect("offsets");
    assert_eq!((o.next_offset, o.max_timestamp), (0, -1));
    assert!(store.index_rows(t.id, 0, 0, 10).await.expect("rows").is_empty());
    assert!(store.partition_producers(t.id, 0).await.expect("producers").is_empty());
    assert!(store.known_objects(&["rollback/1".to_string()]).await.expect("known").is_empty());
    // The store is usable afterwards.
    assert_eq!(commit(store, 1, "rollback/2", &[Append::new(t.id, 0, 1, 1)]).await, [Some(0)]);
}
