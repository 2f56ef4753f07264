//! [`BrokerRegistry`](crate::metadata::BrokerRegistry): the cluster id and
//! broker registrations with epoch fencing.

use crate::metadata::MetadataStore;

pub async fn run(store: &dyn MetadataStore) {
    let cluster = store.cluster_id().await.expect("cluster id");
    assert_eq!(cluster.len(), 22, "a Kafka-style cluster id: {cluster}");
    assert_eq!(store.cluster_id().await.expect("cluster id again"), cluster, "cluster id is stable");

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
