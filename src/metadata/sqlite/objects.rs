//! [`ObjectCatalog`] on SQLite.

use std::collections::HashSet;

use async_trait::async_trait;

use super::{unavailable, SqliteStore};
use crate::metadata::{MetaError, ObjectCatalog};

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
            conn.execute("DELETE FROM objects WHERE object_key = ?1", [&key]).map_err(unavailable("forget_object"))?;
            Ok(())
        })
        .await
    }
}
