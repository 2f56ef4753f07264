//! One behaviour suite for every [`ObjectStore`] backend. Backends call
//! [`run`] from their own tests with a fresh, empty store.

use bytes::Bytes;

use super::{ObjectStore, StoreError};

/// Exercises create-only puts, ranged reads, listing and deletes.
/// Panics with a description of the first behaviour that differs.
pub async fn run(store: &dyn ObjectStore) {
    let key = "ab12/conformance-1.obj";
    let body = Bytes::from((0..=255u8).cycle().take(10_000).collect::<Vec<u8>>());

    store.put_new(key, body.clone()).await.expect("first put succeeds");
    match store.put_new(key, Bytes::from_static(b"other")).await {
        Err(StoreError::AlreadyExists { .. }) => {}
        other => panic!("second put of the same key must be AlreadyExists, got {other:?}"),
    }
    let whole = store.get_range(key, 0..body.len() as u64).await.expect("whole read");
    assert_eq!(whole, body, "create-only put must keep the first content");

    let part = store.get_range(key, 1000..1010).await.expect("ranged read");
    assert_eq!(&part[..], &body[1000..1010]);
    let empty = store.get_range(key, 5..5).await.expect("empty range");
    assert!(empty.is_empty());
    match store.get_range(key, 9_990..10_001).await {
        Err(StoreError::BadRange { size_bytes: 10_000, .. }) => {}
        other => panic!("a range past the end must be BadRange, got {other:?}"),
    }
    match store.get_range("ab12/missing.obj", 0..1).await {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("a missing object must be NotFound, got {other:?}"),
    }

    store.put_new("cd34/conformance-2.obj", Bytes::from_static(b"two")).await.expect("put 2");
    store.put_new("ab12/conformance-3.obj", Bytes::new()).await.expect("empty object");
    let all = store.list("").await.expect("list all");
    let keys: Vec<&str> = all.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, vec!["ab12/conformance-1.obj", "ab12/conformance-3.obj", "cd34/conformance-2.obj"]);
    assert_eq!(all[0].size_bytes, 10_000);
    assert_eq!(all[1].size_bytes, 0);
    assert!(all[0].last_modified_ms > 0);
    let some = store.list("ab12/").await.expect("list prefix");
    assert_eq!(some.len(), 2);
    assert!(store.list("zz").await.expect("list none").is_empty());

    store.delete(key).await.expect("delete");
    store.delete(key).await.expect("deleting a missing object succeeds");
    assert!(matches!(store.get_range(key, 0..1).await, Err(StoreError::NotFound { .. })));
    assert_eq!(store.list("").await.expect("list after delete").len(), 2);
    // A deleted key can be written again (GC then a retried upload).
    store.put_new(key, Bytes::from_static(b"again")).await.expect("put after delete");
    store.delete(key).await.expect("cleanup");
    store.delete("ab12/conformance-3.obj").await.expect("cleanup");
    store.delete("cd34/conformance-2.obj").await.expect("cleanup");
}
