//! [`ObjectCatalog`](crate::metadata::ObjectCatalog): committed objects are
//! known; once no row references them they are garbage until forgotten.

use super::{run_script, seed_one_topic};
use crate::metadata::MetadataStore;

pub async fn run(store: &dyn MetadataStore) {
    seed_one_topic(store, "conf-objects").await;
    let key = "seed/conf-objects".to_string();
    let unknown = "zz/never-committed".to_string();
    let known = store.known_objects(&[key.clone(), unknown.clone()]).await.expect("known");
    assert_eq!(known.into_iter().collect::<Vec<_>>(), std::slice::from_ref(&key));
    assert!(store.unreferenced_objects().await.expect("unref").is_empty());

    // An object whose commit added no row (every batch refused) is garbage
    // at once.
    run_script(store, "zz/empty", vec![]).await.expect("empty commit");
    assert_eq!(store.unreferenced_objects().await.expect("unref"), ["zz/empty"]);

    store.delete_topic("conf-objects").await.expect("delete");
    assert_eq!(store.unreferenced_objects().await.expect("unref"), [key.clone(), "zz/empty".to_string()], "by key");
    store.forget_object(&key).await.expect("forget");
    assert_eq!(store.unreferenced_objects().await.expect("unref"), ["zz/empty"]);
    assert!(store.known_objects(&[key]).await.expect("known").is_empty());

    // Retention dropping every row of an object makes it garbage too.
    let kept = seed_one_topic(store, "conf-objects-2").await;
    store.advance_log_start(1, kept.id, 0, 3).await.expect("drop all");
    let unreferenced = store.unreferenced_objects().await.expect("unref");
    assert_eq!(unreferenced, ["seed/conf-objects-2", "zz/empty"]);
}
