//! [`GroupOffsets`](crate::metadata::GroupOffsets): committed offsets, and
//! offsets staged by transactions that wait until the transaction ends
//! (a commit applies them, an abort drops them, other producers' stay).

use super::{committed, open_txn};
use crate::metadata::{GroupRecord, MetaError, MetadataStore, TxnOffsetsFor, TxnOffsetsRefusal, TxnRecord};

pub async fn run(store: &dyn MetadataStore) {
    group_offsets(store).await;
    transactional_offsets(store).await;
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
    assert_eq!(store.list_groups().await.expect("list"), [g]);
    assert!(store.fetch_offsets("conf-none").await.expect("fetch none").is_empty());

    store.delete_offsets("conf-group", Some(&[("a".into(), 1)])).await.expect("delete some");
    let got = store.fetch_offsets("conf-group").await.expect("fetch");
    assert_eq!(got.iter().map(|o| (o.topic.as_str(), o.partition)).collect::<Vec<_>>(), vec![("a", 0), ("b", 0)]);
    store.delete_offsets("conf-group", None).await.expect("delete group");
    assert!(store.fetch_offsets("conf-group").await.expect("fetch").is_empty());
    assert!(store.list_groups().await.expect("list").is_empty());
}

fn assert_refused(got: Result<(), MetaError>, want: TxnOffsetsRefusal, what: &str) {
    match got {
        Err(MetaError::TxnOffsetsRefused { refusal, .. }) => assert_eq!(refusal, want, "{what}"),
        other => panic!("{what}: expected refusal {want:?}, got {other:?}"),
    }
}

fn staging_for(t: &TxnRecord) -> TxnOffsetsFor {
    TxnOffsetsFor {
        transactional_id: t.transactional_id.clone(),
        producer_id: t.producer_id,
        producer_epoch: t.producer_epoch,
        open_state: "Ongoing",
    }
}

async fn transactional_offsets(store: &dyn MetadataStore) {
    // Two producers with open transactions that hold the group.
    let (t900, t901) =
        (open_txn("offsets-900", 900, &["conf-txn-group"]), open_txn("offsets-901", 901, &["conf-txn-group"]));
    assert!(store.save_transaction(&t900, None, &[]).await.expect("save 900"));
    assert!(store.save_transaction(&t901, None, &[]).await.expect("save 901"));
    let g = GroupRecord { group_id: "conf-txn-group".into(), protocol_type: String::new() };
    store.commit_offsets(&g, &[committed("in", 0, 5, None)]).await.expect("plain commit");
    store.stage_txn_offsets(&g, &staging_for(&t900), &[committed("in", 0, 10, Some("m"))]).await.expect("stage");
    store
        .stage_txn_offsets(&g, &staging_for(&t900), &[committed("in", 0, 12, Some("m2")), committed("in", 1, 3, None)])
        .await
        .expect("restage");
    store.stage_txn_offsets(&g, &staging_for(&t901), &[committed("in", 2, 7, None)]).await.expect("other producer");
    // Refused without staging: a stale epoch, an unknown id, another
    // producer id, a group not added, a transaction in another state.
    let late = [committed("in", 5, 1, None)];
    let stale = TxnOffsetsFor { producer_epoch: 1, ..staging_for(&t900) };
    assert_refused(store.stage_txn_offsets(&g, &stale, &late).await, TxnOffsetsRefusal::Fenced, "stale");
    let unknown = TxnOffsetsFor { transactional_id: "offsets-none".into(), ..staging_for(&t900) };
    assert_refused(store.stage_txn_offsets(&g, &unknown, &late).await, TxnOffsetsRefusal::UnknownProducer, "unknown");
    let impostor = TxnOffsetsFor { producer_id: 999, ..staging_for(&t900) };
    assert_refused(store.stage_txn_offsets(&g, &impostor, &late).await, TxnOffsetsRefusal::UnknownProducer, "other id");
    let other = GroupRecord { group_id: "conf-txn-other".into(), protocol_type: String::new() };
    assert_refused(
        store.stage_txn_offsets(&other, &staging_for(&t900), &late).await,
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
    let ended = TxnRecord { state: "PrepareAbort".into(), ..t901.clone() };
    assert!(store.save_transaction(&ended, Some((901, 0, "Ongoing")), &[]).await.expect("prepare abort"));
    assert_refused(
        store.stage_txn_offsets(&g, &staging_for(&t901), &[committed("in", 2, 8, None)]).await,
        TxnOffsetsRefusal::NotInTransaction,
        "ended",
    );
    // Staging records the group, so it is listed.
    let lone_txn = open_txn("offsets-902", 902, &["conf-txn-lone"]);
    assert!(store.save_transaction(&lone_txn, None, &[]).await.expect("save 902"));
    let lone = GroupRecord { group_id: "conf-txn-lone".into(), protocol_type: String::new() };
    store.stage_txn_offsets(&lone, &staging_for(&lone_txn), &[committed("in", 0, 1, None)]).await.expect("lone");
    assert!(store.list_groups().await.expect("list").iter().any(|x| x.group_id == "conf-txn-lone"));
}
