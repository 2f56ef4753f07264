//! [`ObjectCatalog`](crate::metadata::ObjectCatalog): committed objects are
//! known; once no row references them they are garbage until forgotten.
//! Inline objects keep their bytes in the store, are read by range, listed
//! oldest first, and go when their rows have moved.

use bytes::Bytes;

use super::{run_script, seed_one_topic};
use super::{topic, Append, Op, Script};
use crate::metadata::{InlineObject, MetadataStore, ObjectRecord, RowMove};

pub async fn run(store: &dyn MetadataStore) {
    garbage(store).await;
    inline_objects(store).await;
}

async fn garbage(store: &dyn MetadataStore) {
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

/// An inline object of `data` committed with one batch row per `(partition,
/// count, position, length)`.
async fn commit_inline(store: &dyn MetadataStore, key: &str, created_ms: i64, data: &Bytes, rows: Vec<Append>) {
    let object = ObjectRecord {
        object_key: key.into(),
        size_bytes: data.len() as u64,
        node_id: (created_ms % 2) as i32 + 1,
        created_ms,
        data: Some(data.clone()),
    };
    let mut script = Script::new(rows.into_iter().map(Op::Append).collect());
    store.commit_object(&object, &mut script).await.expect("inline commit");
}

async fn inline_objects(store: &dyn MetadataStore) {
    let t = topic("conf-inline", 2);
    store.create_topic(&t).await.expect("create");
    let first = Bytes::from((0u8..=255).cycle().take(1000).collect::<Vec<u8>>());
    let second = Bytes::from(vec![7u8; 300]);
    let a = |p, count, position, length| Append { length, ..Append::new(t.id, p, count, 1).at(position) };
    commit_inline(store, "inline/b", 20, &first, vec![a(0, 2, 0, 400), a(1, 3, 400, 600)]).await;
    commit_inline(store, "inline/a", 10, &second, vec![a(0, 1, 0, 300)]).await;

    // Read back by range, exactly; a missing object is None.
    assert_eq!(store.read_inline("inline/b", 0, 1000).await.expect("all"), Some(first.clone()));
    assert_eq!(store.read_inline("inline/b", 400, 410).await.expect("range"), Some(first.slice(400..410)));
    assert_eq!(store.read_inline("inline/nope", 0, 10).await.expect("missing"), None);
    // Listed oldest first, with their sizes and writers.
    let listed = store.inline_objects(10).await.expect("list");
    let want = [
        InlineObject { object_key: "inline/a".into(), size_bytes: 300, node_id: 1, created_ms: 10 },
        InlineObject { object_key: "inline/b".into(), size_bytes: 1000, node_id: 1, created_ms: 20 },
    ];
    assert_eq!(listed, want);
    assert_eq!(store.inline_objects(1).await.expect("limited").len(), 1);
    // Rows by object, by position.
    let rows = store.rows_in_objects(&["inline/b".into()]).await.expect("rows");
    let got: Vec<(i32, i64, u64, u32)> =
        rows.iter().map(|r| (r.partition, r.row.base_offset, r.row.position, r.row.length)).collect();
    assert_eq!(got, [(0, 0, 0, 400), (1, 0, 400, 600)]);
    assert!(rows.iter().all(|r| &*r.row.object_key == "inline/b" && r.topic_id == t.id));

    // A spill moves the rows of both objects; one row (partition 1's)
    // moved elsewhere meanwhile and stays where it is.
    let elsewhere =
        ObjectRecord { object_key: "xx/other".into(), size_bytes: 600, node_id: 1, created_ms: 30, data: None };
    let away = [(t.id, 1, RowMove { base_offset: 0, from_key: "inline/b".into(), position: 0 })];
    assert_eq!(store.move_rows(&away, &elsewhere).await.expect("move away"), 1);
    let spill =
        ObjectRecord { object_key: "xx/spill".into(), size_bytes: 1300, node_id: 1, created_ms: 40, data: None };
    let moves = [
        (t.id, 0, RowMove { base_offset: 0, from_key: "inline/b".into(), position: 0 }),
        (t.id, 1, RowMove { base_offset: 0, from_key: "inline/b".into(), position: 400 }),
        (t.id, 0, RowMove { base_offset: 2, from_key: "inline/a".into(), position: 1000 }),
    ];
    assert_eq!(store.move_rows(&moves, &spill).await.expect("spill"), 2, "the row already moved stays");
    let rows = store.index_rows(t.id, 0, 0, 10).await.expect("rows p0");
    let placed: Vec<(i64, &str, u64)> = rows.iter().map(|r| (r.base_offset, &*r.object_key, r.position)).collect();
    assert_eq!(placed, [(0, "xx/spill", 0), (2, "xx/spill", 1000)]);
    let rows = store.index_rows(t.id, 1, 0, 10).await.expect("rows p1");
    assert_eq!(rows.iter().map(|r| (&*r.object_key, r.position)).collect::<Vec<_>>(), [("xx/other", 0)]);
    // Both inline objects lost their last row in a move: gone, bytes and
    // record; the new objects are known.
    assert!(store.inline_objects(10).await.expect("list").is_empty());
    assert_eq!(store.read_inline("inline/a", 0, 1).await.expect("gone"), None);
    assert_eq!(store.read_inline("inline/b", 0, 1).await.expect("gone"), None);
    let known = store.known_objects(&["inline/a".into(), "inline/b".into(), "xx/spill".into()]).await.expect("known");
    assert_eq!(known.into_iter().collect::<Vec<_>>(), ["xx/spill"]);

    // An inline object whose rows retention dropped is garbage, and
    // forgetting it takes its bytes too.
    commit_inline(store, "inline/c", 50, &second, vec![a(0, 1, 0, 300)]).await;
    store.advance_log_start(1, t.id, 0, 4).await.expect("drop");
    assert!(store.unreferenced_objects().await.expect("unreferenced").contains(&"inline/c".to_string()));
    store.forget_object("inline/c").await.expect("forget");
    assert_eq!(store.read_inline("inline/c", 0, 1).await.expect("forgotten"), None);
    assert!(store.inline_objects(10).await.expect("list").is_empty());
}
