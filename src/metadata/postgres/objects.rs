//! [`ObjectCatalog`] on PostgreSQL.

use std::collections::HashSet;

use async_trait::async_trait;
use bytes::Bytes;

use super::{unavailable, PostgresStore};
use crate::metadata::{InlineObject, MetaError, ObjectCatalog};

#[async_trait]
impl ObjectCatalog for PostgresStore {
    async fn unreferenced_objects(&self) -> Result<Vec<String>, MetaError> {
        let c = self.client("unreferenced_objects").await?;
        let rows = c
            .query(
                "SELECT o.object_key FROM objects o WHERE NOT EXISTS \
                 (SELECT 1 FROM batches b WHERE b.object_key = o.object_key) ORDER BY o.object_key",
                &[],
            )
            .await
            .map_err(unavailable("unreferenced_objects"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn known_objects(&self, keys: &[String]) -> Result<HashSet<String>, MetaError> {
        let c = self.client("known_objects").await?;
        let rows = c
            .query("SELECT object_key FROM objects WHERE object_key = ANY($1)", &[&keys])
            .await
            .map_err(unavailable("known_objects"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn forget_object(&self, key: &str) -> Result<(), MetaError> {
        let c = self.client("forget_object").await?;
        c.execute(
            "WITH inline AS (DELETE FROM inline_objects WHERE object_key = $1) DELETE FROM objects WHERE object_key = $1",
            &[&key],
        )
        .await
        .map_err(unavailable("forget_object"))?;
        Ok(())
    }

    async fn read_inline(&self, key: &str, start: u64, end: u64) -> Result<Option<Bytes>, MetaError> {
        let c = self.client("read_inline").await?;
        let (from, length) = (start as i32 + 1, end.saturating_sub(start) as i32);
        let row = c
            .query_opt(
                "SELECT substring(data FROM $2 FOR $3) FROM inline_objects WHERE object_key = $1",
                &[&key, &from, &length],
            )
            .await
            .map_err(unavailable("read_inline"))?;
        Ok(row.map(|r| Bytes::from(r.get::<_, Vec<u8>>(0))))
    }

    async fn inline_objects(&self, limit: u32) -> Result<Vec<InlineObject>, MetaError> {
        let c = self.client("inline_objects").await?;
        let rows = c
            .query(
                "SELECT o.object_key, o.size_bytes, o.node_id, o.created_ms FROM objects o \
                 JOIN inline_objects i ON i.object_key = o.object_key ORDER BY o.created_ms, o.object_key LIMIT $1",
                &[&i64::from(limit)],
            )
            .await
            .map_err(unavailable("inline_objects"))?;
        Ok(rows
            .iter()
            .map(|r| InlineObject {
                object_key: r.get(0),
                size_bytes: r.get::<_, i64>(1) as u64,
                node_id: r.get(2),
                created_ms: r.get(3),
            })
            .collect())
    }
}
