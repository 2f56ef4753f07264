//! [`TopicCatalog`](crate::metadata::TopicCatalog): topics read back as
//! created, names are unique, deletion takes the partitions and rows.

use super::{commit, seed_one_topic, topic, Append};
use crate::metadata::{MetaError, MetadataStore};

pub async fn run(store: &dyn MetadataStore) {
    let a = topic("conf-a", 3);
    store.create_topic(&a).await.expect("create a");
    match store.create_topic(&topic("conf-a", 1)).await {
        Err(MetaError::TopicExists { name }) => assert_eq!(name, "conf-a"),
        other => panic!("duplicate create must be TopicExists, got {other:?}"),
    }
    let b = topic("conf-b", 1);
    store.create_topic(&b).await.expect("create b");
    let listed = store.list_topics().await.expect("list");
    assert_eq!(listed, vec![a.clone(), b.clone()], "topics read back exactly as created, by name");
    for p in 0..3 {
        let o = store.partition_offsets(a.id, p).await.expect("offsets");
        assert_eq!((o.log_start_offset, o.next_offset, o.max_timestamp, o.last_stable_offset), (0, 0, -1, 0));
    }
    assert!(matches!(store.partition_offsets(a.id, 3).await, Err(MetaError::PartitionNotFound { partition: 3, .. })));
    assert!(matches!(store.delete_topic("conf-missing").await, Err(MetaError::TopicNotFound { .. })));

    let t = seed_one_topic(store, "conf-del").await;
    let deleted = store.delete_topic("conf-del").await.expect("delete");
    assert_eq!(deleted, t);
    assert!(!store.list_topics().await.expect("list").iter().any(|x| x.name == "conf-del"));
    assert!(matches!(store.partition_offsets(t.id, 0).await, Err(MetaError::PartitionNotFound { .. })));
    assert!(store.index_rows(t.id, 0, 0, 10).await.expect("rows").is_empty());
    // Commits to a deleted topic's partitions find no partition.
    assert_eq!(commit(store, 1, "conf-del/late", &[Append::new(t.id, 0, 1, 1)]).await, [None]);

    // Recreating a topic of the same name starts from offset 0.
    let again = topic("conf-del", 1);
    store.create_topic(&again).await.expect("recreate");
    assert_ne!(again.id, t.id);
    assert_eq!(store.partition_offsets(again.id, 0).await.expect("offsets").next_offset, 0);
    assert_eq!(commit(store, 1, "conf-del/again", &[Append::new(again.id, 0, 2, 1)]).await, [Some(0)]);
}
