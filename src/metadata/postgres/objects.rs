//! [`ObjectCatalog`] on PostgreSQL.

use std::collections::HashSet;

use async_trait::async_trait;

use super::{unavailable, PostgresStore};
use crate::metadata::{MetaError, ObjectCatalog};

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
        c.execute("DELETE FROM objects WHERE object_key = $1", &[&key]).await.map_err(unavailable("forget_object"))?;
        Ok(())
    }
}
