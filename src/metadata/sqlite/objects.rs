//! [`ObjectCatalog`] on SQLite.

use std::collections::HashSet;

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension};

use super::{unavailable, SqliteStore};
use crate::metadata::{InlineObject, MetaError, ObjectCatalog};

/// Forgets an inline object, bytes and record; an object-store object's
/// record is left for garbage collection.
pub(super) fn forget_inline(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    if conn.execute("DELETE FROM inline_objects WHERE object_key = ?1", [key])? > 0 {
        conn.execute("DELETE FROM objects WHERE object_key = ?1", [key])?;
    }
    Ok(())
}

#[async_trait]
impl ObjectCatalog for SqliteStore {
    async fn unreferenced_objects(&self) -> Result<Vec<String>, MetaError> {
        self.read(|conn| {
            let err = unavailable("unreferenced_objects");
            let mut stmt = conn
                .prepare(
                    "SELECT o.object_key FROM objects o WHERE NOT EXISTS \
                     (SELECT 1 FROM batches b WHERE b.object_key = o.object_key) ORDER BY o.object_key",
                )
                .map_err(&err)?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(&err)?;
            rows.collect::<Result<_, _>>().map_err(&err)
        })
        .await
    }

    async fn known_objects(&self, keys: &[String]) -> Result<HashSet<String>, MetaError> {
        let keys = keys.to_vec();
        self.read(move |conn| {
            let err = unavailable("known_objects");
            let mut stmt = conn.prepare_cached("SELECT 1 FROM objects WHERE object_key = ?1").map_err(&err)?;
            let mut known = HashSet::new();
            for k in keys {
                if stmt.exists([&k]).map_err(&err)? {
                    known.insert(k);
                }
            }
            Ok(known)
        })
        .await
    }

    async fn forget_object(&self, key: &str) -> Result<(), MetaError> {
        let key = key.to_string();
        self.write(move |conn| {
            let err = unavailable("forget_object");
            conn.execute("DELETE FROM inline_objects WHERE object_key = ?1", [&key]).map_err(&err)?;
            conn.execute("DELETE FROM objects WHERE object_key = ?1", [&key]).map_err(&err)?;
            Ok(())
        })
        .await
    }

    async fn read_inline(&self, key: &str, start: u64, end: u64) -> Result<Option<Bytes>, MetaError> {
        let key = key.to_string();
        self.read(move |conn| {
            let length = end.saturating_sub(start) as i64;
            conn.prepare_cached("SELECT substr(data, ?2, ?3) FROM inline_objects WHERE object_key = ?1")
                .and_then(|mut s| {
                    s.query_row(params![key, start as i64 + 1, length], |r| r.get::<_, Vec<u8>>(0)).optional()
                })
                .map(|data| data.map(Bytes::from))
                .map_err(unavailable("read_inline"))
        })
        .await
    }

    async fn inline_objects(&self, limit: u32) -> Result<Vec<InlineObject>, MetaError> {
        self.read(move |conn| {
            let err = unavailable("inline_objects");
            let mut stmt = conn
                .prepare_cached(
                    "SELECT o.object_key, o.size_bytes, o.node_id, o.created_ms FROM objects o \
                     JOIN inline_objects i ON i.object_key = o.object_key ORDER BY o.created_ms, o.object_key LIMIT ?1",
                )
                .map_err(&err)?;
            let rows = stmt
                .query_map([limit], |r| {
                    Ok(InlineObject {
                        object_key: r.get(0)?,
                        size_bytes: r.get::<_, i64>(1)? as u64,
                        node_id: r.get(2)?,
                        created_ms: r.get(3)?,
                    })
                })
                .map_err(&err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
        })
        .await
    }
}
