//! The metadata store on an SQLite file: the embedded single-node default.
//!
//! rusqlite is synchronous, so calls run on tokio's blocking pool. One
//! connection writes (SQLite allows one writer); a few more read, which WAL
//! mode lets proceed alongside the writer. `synchronous=FULL` makes every
//! commit durable before the produce it covers is acknowledged.
//!
//! One file per store trait: `brokers.rs`, `topics.rs`, `log_index.rs`
//! (with the commit's statements), `objects.rs`, `groups.rs`, `producers.rs`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, TransactionBehavior};

use super::{MetaError, MetadataStore};
use crate::config::limits::{SQLITE_BUSY_TIMEOUT_MS, SQLITE_READERS_MAX};

mod brokers;
mod groups;
mod log_index;
mod objects;
mod producers;
mod topics;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/sqlite/0001_initial.sql")),
    (2, include_str!("../../../migrations/sqlite/0002_producer_ids.sql")),
    (3, include_str!("../../../migrations/sqlite/0003_groups.sql")),
    (4, include_str!("../../../migrations/sqlite/0004_brokers.sql")),
    (5, include_str!("../../../migrations/sqlite/0005_producer_state.sql")),
    (6, include_str!("../../../migrations/sqlite/0006_transactions.sql")),
    (7, include_str!("../../../migrations/sqlite/0007_txn_offsets.sql")),
    (8, include_str!("../../../migrations/sqlite/0008_producer_describe.sql")),
    (9, include_str!("../../../migrations/sqlite/0009_inline_objects.sql")),
];

pub struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    path: std::path::PathBuf,
}

fn unavailable(operation: &'static str) -> impl Fn(rusqlite::Error) -> MetaError {
    move |e| MetaError::Unavailable { operation, detail: e.to_string() }
}

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)")?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for (version, sql) in MIGRATIONS {
        let applied: bool =
            tx.query_row("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)", [version], |r| {
                r.get(0)
            })?;
        if !applied {
            tx.execute_batch(sql)?;
            tx.execute("INSERT INTO schema_migrations (version) VALUES (?1)", [version])?;
        }
    }
    tx.commit()
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, MetaError> {
        let open = unavailable("open");
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| MetaError::Unavailable { operation: "open", detail: e.to_string() })?;
        }
        let mut writer = open_connection(path).map_err(&open)?;
        migrate(&mut writer).map_err(&open)?;
        let readers =
            (0..SQLITE_READERS_MAX).map(|_| open_connection(path)).collect::<Result<Vec<_>, _>>().map_err(&open)?;
        Ok(Self {
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(readers)),
            path: path.to_path_buf(),
        })
    }

    pub fn describe(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    /// Runs `f` on the writing connection, on the blocking pool.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, MetaError> + Send + 'static,
    ) -> Result<T, MetaError> {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = writer.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(|e| MetaError::Unavailable { operation: "write", detail: e.to_string() })?
    }

    /// Runs `f` on a reading connection, on the blocking pool.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, MetaError> + Send + 'static,
    ) -> Result<T, MetaError> {
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match pooled {
                Some(c) => c,
                // All pooled readers busy: open a short-lived extra one
                // rather than queue behind a slow scan.
                None => open_connection(&path).map_err(unavailable("read"))?,
            };
            let result = f(&conn);
            let mut pool = readers.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < SQLITE_READERS_MAX {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| MetaError::Unavailable { operation: "read", detail: e.to_string() })?
    }
}

impl MetadataStore for SqliteStore {}

/// A topic id as stored (16 bytes).
fn id_bytes(id: uuid::Uuid) -> Vec<u8> {
    id.as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::conformance;
    use crate::metadata::{BrokerRegistry, LogIndex, TopicCatalog};

    fn fresh() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("meta.sqlite")).unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn broker_registry_conformance() {
        conformance::brokers::run(&fresh().1).await;
    }

    #[tokio::test]
    async fn topic_catalog_conformance() {
        conformance::topics::run(&fresh().1).await;
    }

    #[tokio::test]
    async fn log_index_conformance() {
        conformance::log_index::run(&fresh().1).await;
    }

    #[tokio::test]
    async fn object_catalog_conformance() {
        conformance::objects::run(&fresh().1).await;
    }

    #[tokio::test]
    async fn group_offsets_conformance() {
        conformance::groups::run(&fresh().1).await;
    }

    #[tokio::test]
    async fn producer_store_conformance() {
        conformance::producers::run(&fresh().1).await;
    }

    #[tokio::test]
    async fn state_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.sqlite");
        let id = {
            let store = SqliteStore::open(&path).unwrap();
            conformance::seed_one_topic(&store, "kept").await;
            store.cluster_id().await.unwrap()
        };
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.cluster_id().await.unwrap(), id);
        assert_eq!(id.len(), 22);
        let topics = store.list_topics().await.unwrap();
        assert_eq!(topics.len(), 1);
        let offsets = store.partition_offsets(topics[0].id, 0).await.unwrap();
        assert_eq!(offsets.next_offset, 3);
    }
}
