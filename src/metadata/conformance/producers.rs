//! [`ProducerStore`](crate::metadata::ProducerStore): unique producer ids,
//! transactional ids saved only over the state a decision was made from,
//! and producer state per partition described, counted and expired.

use super::{run_script, topic, Op};
use crate::metadata::{MetadataStore, TxnRecord};

pub async fn run(store: &dyn MetadataStore) {
    let first = store.allocate_producer_id().await.expect("producer id");
    let second = store.allocate_producer_id().await.expect("producer id");
    assert!(first >= 0 && second > first, "producer ids are unique and increasing: {first}, {second}");
    transactions(store).await;
    producer_states(store).await;
}

fn record(id: &str, producer_id: i64, state: &str) -> TxnRecord {
    TxnRecord {
        transactional_id: id.into(),
        producer_id,
        producer_epoch: 0,
        state: state.into(),
        timeout_ms: 60_000,
        partitions: vec![],
        groups: vec![],
        started_ms: -1,
        updated_ms: 1,
    }
}

/// Coordinator state saves only over the state it was decided from, so a
/// stale coordinator cannot overwrite a newer decision.
async fn transactions(store: &dyn MetadataStore) {
    let t = topic("txn-data", 2);
    store.create_topic(&t).await.expect("create");
    assert_eq!(store.load_transaction("app-1").await.expect("load"), None);
    let m = record("app-1", 500, "Empty");
    assert!(store.save_transaction(&m, None, &[]).await.expect("insert"));
    assert!(!store.save_transaction(&m, None, &[]).await.expect("second insert"), "insert-only when new");
    assert_eq!(store.load_transaction("app-1").await.expect("load").as_ref(), Some(&m));

    let ongoing = TxnRecord {
        state: "Ongoing".into(),
        partitions: vec![("txn-data".into(), 0), ("txn-data".into(), 1)],
        groups: vec!["grp:1".into()],
        started_ms: 2,
        updated_ms: 2,
        ..m.clone()
    };
    assert!(store.save_transaction(&ongoing, Some((500, 0, "Empty")), &[(t.id, 0), (t.id, 1)]).await.expect("save"));
    // A coordinator deciding from the old state loses, whichever part of it
    // moved on.
    let stale = TxnRecord { state: "CompleteAbort".into(), ..m.clone() };
    assert!(!store.save_transaction(&stale, Some((500, 0, "Empty")), &[]).await.expect("stale state"));
    assert!(!store.save_transaction(&stale, Some((500, 1, "Ongoing")), &[]).await.expect("stale epoch"));
    assert!(!store.save_transaction(&stale, Some((501, 0, "Ongoing")), &[]).await.expect("stale id"));
    assert_eq!(store.load_transaction("app-1").await.expect("load"), Some(ongoing.clone()));
    // The partitions were registered as open for the producer's commits.
    let (outs, _) = run_script(store, "txn-data/probe", vec![Op::OpenTxn((t.id, 1, 500))]).await.expect("probe");
    assert_eq!(outs, [super::Out::Open(Some(crate::metadata::OpenTxn { first_offset: None, producer_epoch: 0 }))]);

    let other = record("app-0", 501, "Empty");
    assert!(store.save_transaction(&other, None, &[]).await.expect("insert other"));
    assert_eq!(store.list_transactions().await.expect("list"), [other, ongoing]);
    // Expiring an id compares like saving does.
    let gone = record("app-gone", 502, "Empty");
    assert!(store.save_transaction(&gone, None, &[]).await.expect("insert gone"));
    assert!(!store.delete_transaction("app-gone", (502, 1, "Empty")).await.expect("stale delete"));
    assert!(!store.delete_transaction("app-gone", (502, 0, "Ongoing")).await.expect("stale delete"));
    assert!(store.delete_transaction("app-gone", (502, 0, "Empty")).await.expect("delete"));
    assert_eq!(store.load_transaction("app-gone").await.expect("load"), None);
}

/// Producer state written by commits is described per partition, counted
/// once per producer id, and expired by age.
async fn producer_states(store: &dyn MetadataStore) {
    let t = topic("conf-producer-states", 2);
    store.create_topic(&t).await.expect("create");
    let save = |partition, producer_id, updated_ms| Op::SaveProducer {
        key: (t.id, partition, producer_id),
        epoch: 2,
        batches: "",
        updated_ms,
        last_timestamp: 10,
        coordinator_epoch: -1,
    };
    let before = store.count_producers().await.expect("count");
    run_script(store, "states/1", vec![save(0, 7, 100), save(1, 7, 100), save(0, 8, 200)]).await.expect("save");
    assert_eq!(store.count_producers().await.expect("count"), before + 2, "7 counts once");
    let p0 = store.partition_producers(t.id, 0).await.expect("p0");
    let got: Vec<_> = p0
        .iter()
        .map(|p| (p.producer_id, p.producer_epoch, p.last_timestamp, p.coordinator_epoch, p.txn_first_offset))
        .collect();
    assert_eq!(got, [(7, 2, 10, -1, None), (8, 2, 10, -1, None)]);
    assert_eq!(store.expire_producers(100).await.expect("nothing older"), 0);
    assert_eq!(store.expire_producers(101).await.expect("expire"), 2);
    assert_eq!(
        store.partition_producers(t.id, 0).await.expect("p0").iter().map(|p| p.producer_id).collect::<Vec<_>>(),
        [8]
    );
    assert!(store.partition_producers(t.id, 1).await.expect("p1").is_empty());
}
