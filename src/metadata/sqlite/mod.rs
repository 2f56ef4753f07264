//! The metadata store on an SQLite file: the embedded single-node default.
//!
//! rusqlite is synchronous, so every call runs on tokio's blocking pool. One
//! connection writes (SQLite allows one writer); a few more read, which WAL
//! mode lets proceed alongside the writer. `synchronous=FULL` makes every
//! commit durable before the produce it covers is acknowledged.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use uuid::Uuid;

use crate::txn::{TxnMetadata, TxnState};

use super::commit_flow::{assign_offsets, run_ready, Assigned};
use super::{
    BrokerRecord, CommitOutcome, CommittedOffset, GroupRecord, IndexRow, MetaError, MetadataStore, ObjectCommit,
    PartitionOffsets, ProducerRecord, RowMove, SegmentRecord, TopicRecord, TxnOffsetsFor,
};

mod commit;
mod txn;

use commit::SqliteCommit;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/sqlite/0001_initial.sql")),
    (2, include_str!("../../../migrations/sqlite/0002_producer_ids.sql")),
    (3, include_str!("../../../migrations/sqlite/0003_groups.sql")),
    (4, include_str!("../../../migrations/sqlite/0004_brokers.sql")),
    (5, include_str!("../../../migrations/sqlite/0005_producer_state.sql")),
    (6, include_str!("../../../migrations/sqlite/0006_transactions.sql")),
    (7, include_str!("../../../migrations/sqlite/0007_txn_offsets.sql")),
    (8, include_str!("../../../migrations/sqlite/0008_producer_describe.sql")),
];
const READERS: usize = 4;

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
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
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
        let readers = (0..READERS).map(|_| open_connection(path)).collect::<Result<Vec<_>, _>>().map_err(&open)?;
        Ok(Self {
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(readers)),
            path: path.to_path_buf(),
        })
    }

    pub fn describe(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

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
            if pool.len() < READERS {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| MetaError::Unavailable { operation: "read", detail: e.to_string() })?
    }
}

/// Offsets from (log start, next, max timestamp, last stable) columns.
fn row_to_offsets(r: &rusqlite::Row<'_>) -> rusqlite::Result<PartitionOffsets> {
    Ok(PartitionOffsets {
        log_start_offset: r.get(0)?,
        next_offset: r.get(1)?,
        max_timestamp: r.get(2)?,
        last_stable_offset: r.get(3)?,
    })
}

fn row_to_index(r: &rusqlite::Row<'_>) -> rusqlite::Result<IndexRow> {
    let key: String = r.get(2)?;
    Ok(IndexRow {
        base_offset: r.get(0)?,
        last_offset: r.get(1)?,
        object_key: Arc::from(key),
        position: r.get::<_, i64>(3)? as u64,
        length: r.get::<_, i64>(4)? as u32,
        max_timestamp: r.get(5)?,
    })
}

fn load_topics(conn: &Connection) -> rusqlite::Result<Vec<TopicRecord>> {
    let mut configs: BTreeMap<Vec<u8>, BTreeMap<String, String>> = BTreeMap::new();
    let mut stmt = conn.prepare("SELECT topic_id, key, value FROM topic_configs")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
    for row in rows {
        let (id, k, v) = row?;
        configs.entry(id).or_default().insert(k, v);
    }
    let mut stmt = conn.prepare("SELECT topic_id, name, partitions, created_ms FROM topics ORDER BY name")?;
    let rows = stmt.query_map([], |r| {
        let id: Vec<u8> = r.get(0)?;
        Ok(TopicRecord {
            id: Uuid::from_slice(&id).unwrap_or_default(),
            name: r.get(1)?,
            partitions: r.get(2)?,
            configs: configs.get(&id).cloned().unwrap_or_default(),
            created_ms: r.get(3)?,
        })
    })?;
    rows.collect()
}

#[async_trait]
impl MetadataStore for SqliteStore {
    async fn cluster_id(&self) -> Result<String, MetaError> {
        self.write(|conn| {
            let err = unavailable("cluster_id");
            let existing: Option<String> =
                conn.query_row("SELECT cluster_id FROM cluster", [], |r| r.get(0)).optional().map_err(&err)?;
            if let Some(id) = existing {
                return Ok(id);
            }
            let id = new_cluster_id();
            conn.execute("INSERT INTO cluster (singleton, cluster_id) VALUES (1, ?1)", [&id]).map_err(&err)?;
            Ok(id)
        })
        .await
    }

    async fn create_topic(&self, topic: &TopicRecord) -> Result<(), MetaError> {
        let topic = topic.clone();
        self.write(move |conn| {
            let err = unavailable("create_topic");
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
            let exists: bool = tx
                .query_row("SELECT EXISTS (SELECT 1 FROM topics WHERE name = ?1)", [&topic.name], |r| r.get(0))
                .map_err(&err)?;
            if exists {
                return Err(MetaError::TopicExists { name: topic.name });
            }
            let id = topic.id.as_bytes().to_vec();
            tx.execute(
                "INSERT INTO topics (topic_id, name, partitions, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![id, topic.name, topic.partitions, topic.created_ms],
            )
            .map_err(&err)?;
            for (k, v) in &topic.configs {
                tx.execute("INSERT INTO topic_configs (topic_id, key, value) VALUES (?1, ?2, ?3)", params![id, k, v])
                    .map_err(&err)?;
            }
            for p in 0..topic.partitions {
                tx.execute("INSERT INTO partitions (topic_id, partition) VALUES (?1, ?2)", params![id, p])
                    .map_err(&err)?;
            }
            tx.commit().map_err(&err)
        })
        .await
    }

    async fn delete_topic(&self, name: &str) -> Result<TopicRecord, MetaError> {
        let name = name.to_string();
        self.write(move |conn| {
            let err = unavailable("delete_topic");
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
            let topic = load_topics(&tx).map_err(&err)?.into_iter().find(|t| t.name == name);
            let Some(topic) = topic else {
                return Err(MetaError::TopicNotFound { name });
            };
            let id = topic.id.as_bytes().to_vec();
            tx.execute("DELETE FROM batches WHERE topic_id = ?1", [&id]).map_err(&err)?;
            tx.execute("DELETE FROM topics WHERE topic_id = ?1", [&id]).map_err(&err)?;
            tx.commit().map_err(&err)?;
            Ok(topic)
        })
        .await
    }

    async fn list_topics(&self) -> Result<Vec<TopicRecord>, MetaError> {
        self.read(|conn| load_topics(conn).map_err(unavailable("list_topics"))).await
    }

    async fn commit_object(&self, commit: &ObjectCommit) -> Result<CommitOutcome, MetaError> {
        let commit = commit.clone();
        self.write(move |conn| {
            let err = unavailable("commit_object");
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
            let Assigned { outcomes, advanced } = run_ready(assign_offsets(&mut SqliteCommit { tx: &tx }, &commit))?;
            tx.execute(
                "INSERT INTO objects (object_key, size_bytes, node_id, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![commit.object_key, commit.size_bytes as i64, commit.node_id, commit.created_ms],
            )
            .map_err(&err)?;
            tx.commit().map_err(&err)?;
            let partitions = advanced.into_iter().map(|((t, p), o)| (t, p, o)).collect();
            Ok(CommitOutcome { batches: outcomes, partitions })
        })
        .await
    }

    async fn partition_offsets(&self, topic_id: Uuid, partition: i32) -> Result<PartitionOffsets, MetaError> {
        self.read(move |conn| {
            conn.query_row(
                "SELECT log_start_offset, next_offset, max_timestamp, COALESCE(first_unstable_offset, next_offset) \
                 FROM partitions WHERE topic_id = ?1 AND partition = ?2",
                params![topic_id.as_bytes().to_vec(), partition],
                row_to_offsets,
            )
            .optional()
            .map_err(unavailable("partition_offsets"))?
            .ok_or(MetaError::PartitionNotFound { topic_id, partition })
        })
        .await
    }

    async fn index_rows(
        &self,
        topic_id: Uuid,
        partition: i32,
        from_offset: i64,
        rows_max: u32,
    ) -> Result<Vec<IndexRow>, MetaError> {
        self.read(move |conn| {
            let err = unavailable("index_rows");
            let mut stmt = conn
                .prepare_cached(
                    "SELECT base_offset, last_offset, object_key, position, length, max_timestamp FROM batches \
                     WHERE topic_id = ?1 AND partition = ?2 AND base_offset >= COALESCE( \
                       (SELECT MAX(base_offset) FROM batches WHERE topic_id = ?1 AND partition = ?2 AND base_offset <= ?3), ?3) \
                     ORDER BY base_offset LIMIT ?4",
                )
                .map_err(&err)?;
            let rows = stmt
                .query_map(params![topic_id.as_bytes().to_vec(), partition, from_offset, rows_max], row_to_index)
                .map_err(&err)?;
            let rows: Vec<IndexRow> = rows.collect::<Result<_, _>>().map_err(&err)?;
            // The row found by base_offset <= from may end before `from`
            // (a gap can only follow truncation); drop it.
            Ok(rows.into_iter().filter(|r| r.last_offset >= from_offset).collect())
        })
        .await
    }

    async fn first_row_at_or_after_timestamp(
        &self,
        topic_id: Uuid,
        partition: i32,
        timestamp: i64,
    ) -> Result<Option<IndexRow>, MetaError> {
        self.read(move |conn| {
            conn.query_row(
                "SELECT base_offset, last_offset, object_key, position, length, max_timestamp FROM batches \
                 WHERE topic_id = ?1 AND partition = ?2 AND running_max_ts >= ?3 ORDER BY base_offset LIMIT 1",
                params![topic_id.as_bytes().to_vec(), partition, timestamp],
                row_to_index,
            )
            .optional()
            .map_err(unavailable("first_row_at_or_after_timestamp"))
        })
        .await
    }

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

    async fn allocate_producer_id(&self) -> Result<i64, MetaError> {
        self.write(|conn| {
            conn.query_row("UPDATE producer_id_counter SET next_id = next_id + 1 RETURNING next_id - 1", [], |r| {
                r.get(0)
            })
            .map_err(unavailable("allocate_producer_id"))
        })
        .await
    }

    async fn list_groups(&self) -> Result<Vec<GroupRecord>, MetaError> {
        self.read(|conn| {
            let err = unavailable("list_groups");
            let mut stmt =
                conn.prepare("SELECT group_id, protocol_type FROM groups ORDER BY group_id").map_err(&err)?;
            let rows = stmt
                .query_map([], |r| Ok(GroupRecord { group_id: r.get(0)?, protocol_type: r.get(1)? }))
                .map_err(&err)?;
            rows.collect::<Result<_, _>>().map_err(&err)
        })
        .await
    }

    async fn commit_offsets(&self, group: &GroupRecord, offsets: &[CommittedOffset]) -> Result<(), MetaError> {
        let group = group.clone();
        let offsets = offsets.to_vec();
        self.write(move |conn| {
            let err = unavailable("commit_offsets");
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
            record_group(&tx, &group, offsets.first().map_or(0, |o| o.commit_ms)).map_err(&err)?;
            {
                let mut upsert = tx
                    .prepare_cached(
                        "INSERT INTO group_offsets (group_id, topic, partition, committed_offset, leader_epoch, metadata, commit_ms) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (group_id, topic, partition) DO UPDATE SET \
                         committed_offset = excluded.committed_offset, leader_epoch = excluded.leader_epoch, \
                         metadata = excluded.metadata, commit_ms = excluded.commit_ms",
                    )
                    .map_err(&err)?;
                for o in &offsets {
                    upsert
                        .execute(params![group.group_id, o.topic, o.partition, o.offset, o.leader_epoch, o.metadata, o.commit_ms])
                        .map_err(&err)?;
                }
            }
            tx.commit().map_err(&err)
        })
        .await
    }

    async fn fetch_offsets(&self, group_id: &str) -> Result<Vec<CommittedOffset>, MetaError> {
        let group_id = group_id.to_string();
        self.read(move |conn| {
            let err = unavailable("fetch_offsets");
            let mut stmt = conn
                .prepare_cached(
                    "SELECT topic, partition, committed_offset, leader_epoch, metadata, commit_ms FROM group_offsets \
                     WHERE group_id = ?1 ORDER BY topic, partition",
                )
                .map_err(&err)?;
            let rows = stmt
                .query_map([&group_id], |r| {
                    Ok(CommittedOffset {
                        topic: r.get(0)?,
                        partition: r.get(1)?,
                        offset: r.get(2)?,
                        leader_epoch: r.get(3)?,
                        metadata: r.get(4)?,
                        commit_ms: r.get(5)?,
                    })
                })
                .map_err(&err)?;
            rows.collect::<Result<_, _>>().map_err(&err)
        })
        .await
    }

    async fn delete_offsets(&self, group_id: &str, which: Option<&[(String, i32)]>) -> Result<(), MetaError> {
        let group_id = group_id.to_string();
        let which = which.map(<[(String, i32)]>::to_vec);
        self.write(move |conn| {
            let err = unavailable("delete_offsets");
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
            match which {
                None => {
                    tx.execute("DELETE FROM group_offsets WHERE group_id = ?1", [&group_id]).map_err(&err)?;
                    tx.execute("DELETE FROM groups WHERE group_id = ?1", [&group_id]).map_err(&err)?;
                }
                Some(list) => {
                    let mut del = tx
                        .prepare_cached(
                            "DELETE FROM group_offsets WHERE group_id = ?1 AND topic = ?2 AND partition = ?3",
                        )
                        .map_err(&err)?;
                    for (topic, partition) in &list {
                        del.execute(params![group_id, topic, partition]).map_err(&err)?;
                    }
                }
            }
            tx.commit().map_err(&err)
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

    async fn offset_keeping_bytes(
        &self,
        topic_id: Uuid,
        partition: i32,
        keep_bytes: i64,
    ) -> Result<Option<i64>, MetaError> {
        self.read(move |conn| {
            conn.query_row(
                "WITH sized AS (SELECT last_offset, \
                   SUM(length) OVER (ORDER BY base_offset) AS through, SUM(length) OVER () AS total \
                   FROM batches WHERE topic_id = ?1 AND partition = ?2) \
                 SELECT MAX(last_offset) + 1 FROM sized WHERE total - through >= ?3",
                params![topic_id.as_bytes().to_vec(), partition, keep_bytes],
                |r| r.get(0),
            )
            .map_err(unavailable("offset_keeping_bytes"))
        })
        .await
    }

    async fn advance_log_start(
        &self,
        _node_id: i32,
        topic_id: Uuid,
        partition: i32,
        offset: i64,
    ) -> Result<PartitionOffsets, MetaError> {
        self.write(move |conn| {
            let err = unavailable("advance_log_start");
            let id = topic_id.as_bytes().to_vec();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
            let offsets = tx
                .query_row(
                    "UPDATE partitions SET log_start_offset = MAX(log_start_offset, MIN(?3, next_offset)) \
                     WHERE topic_id = ?1 AND partition = ?2 RETURNING log_start_offset, next_offset, max_timestamp, \
                     COALESCE(first_unstable_offset, next_offset)",
                    params![id, partition, offset],
                    row_to_offsets,
                )
                .optional()
                .map_err(&err)?
                .ok_or(MetaError::PartitionNotFound { topic_id, partition })?;
            tx.execute(
                "DELETE FROM batches WHERE topic_id = ?1 AND partition = ?2 AND last_offset < ?3",
                params![id, partition, offsets.log_start_offset],
            )
            .map_err(&err)?;
            // Aborted ranges wholly before the log are of no use to readers.
            tx.execute(
                "DELETE FROM txn_aborted WHERE topic_id = ?1 AND partition = ?2 AND last_offset < ?3",
                params![id, partition, offsets.log_start_offset],
            )
            .map_err(&err)?;
            tx.commit().map_err(&err)?;
            Ok(offsets)
        })
        .await
    }

    async fn swap_index_rows(
        &self,
        topic_id: Uuid,
        partition: i32,
        moves: &[RowMove],
        segment: &SegmentRecord,
    ) -> Result<bool, MetaError> {
        let moves = moves.to_vec();
        let segment = segment.clone();
        self.write(move |conn| {
            let err = unavailable("swap_index_rows");
            let id = topic_id.as_bytes().to_vec();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
            {
                let mut swap = tx
                    .prepare_cached(
                        "UPDATE batches SET object_key = ?5, position = ?4 \
                         WHERE topic_id = ?1 AND partition = ?2 AND base_offset = ?3 AND object_key = ?6",
                    )
                    .map_err(&err)?;
                for m in &moves {
                    let n = swap
                        .execute(params![
                            id,
                            partition,
                            m.base_offset,
                            m.position as i64,
                            segment.object_key,
                            m.from_key
                        ])
                        .map_err(&err)?;
                    if n != 1 {
                        return Ok(false); // dropping the transaction rolls it back
                    }
                }
            }
            tx.execute(
                "INSERT INTO objects (object_key, size_bytes, node_id, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![segment.object_key, segment.size_bytes as i64, segment.node_id, segment.created_ms],
            )
            .map_err(&err)?;
            tx.commit().map_err(&err)?;
            Ok(true)
        })
        .await
    }

    async fn aborted_transactions(
        &self,
        topic_id: Uuid,
        partition: i32,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64)>, MetaError> {
        SqliteStore::aborted_transactions(self, topic_id, partition, from, to).await
    }

    async fn load_transaction(&self, transactional_id: &str) -> Result<Option<TxnMetadata>, MetaError> {
        SqliteStore::load_transaction(self, transactional_id).await
    }

    async fn list_transactions(&self) -> Result<Vec<TxnMetadata>, MetaError> {
        SqliteStore::list_transactions(self).await
    }

    async fn save_transaction(
        &self,
        txn: &TxnMetadata,
        expected: Option<(i64, i16, TxnState)>,
        open: &[(Uuid, i32)],
    ) -> Result<bool, MetaError> {
        SqliteStore::save_transaction(self, txn, expected, open).await
    }

    async fn delete_transaction(
        &self,
        transactional_id: &str,
        expected: (i64, i16, TxnState),
    ) -> Result<bool, MetaError> {
        SqliteStore::delete_transaction(self, transactional_id, expected).await
    }

    async fn expire_producers(&self, before_ms: i64) -> Result<u64, MetaError> {
        SqliteStore::expire_producers(self, before_ms).await
    }

    async fn stage_txn_offsets(
        &self,
        group: &GroupRecord,
        txn: &TxnOffsetsFor,
        offsets: &[CommittedOffset],
    ) -> Result<(), MetaError> {
        SqliteStore::stage_txn_offsets(self, group, txn, offsets).await
    }

    async fn settle_txn_offsets(&self, producer_id: i64, groups: &[String], commit: bool) -> Result<u64, MetaError> {
        SqliteStore::settle_txn_offsets(self, producer_id, groups, commit).await
    }

    async fn pending_txn_offsets(&self, group_id: &str) -> Result<Vec<(String, i32)>, MetaError> {
        SqliteStore::pending_txn_offsets(self, group_id).await
    }

    async fn count_producers(&self) -> Result<u64, MetaError> {
        SqliteStore::count_producers(self).await
    }

    async fn partition_producers(&self, topic_id: Uuid, partition: i32) -> Result<Vec<ProducerRecord>, MetaError> {
        SqliteStore::partition_producers(self, topic_id, partition).await
    }

    async fn all_partition_offsets(&self) -> Result<Vec<(Uuid, i32, PartitionOffsets)>, MetaError> {
        self.read(|conn| {
            let err = unavailable("all_partition_offsets");
            let mut stmt = conn
                .prepare(
                    "SELECT topic_id, partition, log_start_offset, next_offset, max_timestamp, \
                     COALESCE(first_unstable_offset, next_offset) FROM partitions",
                )
                .map_err(&err)?;
            let rows = stmt
                .query_map([], |r| {
                    let id: Vec<u8> = r.get(0)?;
                    let offsets = PartitionOffsets {
                        log_start_offset: r.get(2)?,
                        next_offset: r.get(3)?,
                        max_timestamp: r.get(4)?,
                        last_stable_offset: r.get(5)?,
                    };
                    Ok((Uuid::from_slice(&id).unwrap_or_default(), r.get::<_, i32>(1)?, offsets))
                })
                .map_err(&err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
        })
        .await
    }

    async fn register_broker(&self, node_id: i32, host: &str, port: i32, now_ms: i64) -> Result<i64, MetaError> {
        let host = host.to_string();
        self.write(move |conn| {
            conn.query_row(
                "INSERT INTO brokers (node_id, host, port, epoch, heartbeat_ms) VALUES (?1, ?2, ?3, 1, ?4) \
                 ON CONFLICT (node_id) DO UPDATE SET host = excluded.host, port = excluded.port, \
                 epoch = brokers.epoch + 1, heartbeat_ms = excluded.heartbeat_ms RETURNING epoch",
                params![node_id, host, port, now_ms],
                |r| r.get(0),
            )
            .map_err(unavailable("register_broker"))
        })
        .await
    }

    async fn heartbeat_broker(&self, node_id: i32, epoch: i64, now_ms: i64) -> Result<bool, MetaError> {
        self.write(move |conn| {
            let n = conn
                .execute(
                    "UPDATE brokers SET heartbeat_ms = MAX(heartbeat_ms, ?3) WHERE node_id = ?1 AND epoch = ?2",
                    params![node_id, epoch, now_ms],
                )
                .map_err(unavailable("heartbeat_broker"))?;
            Ok(n == 1)
        })
        .await
    }

    async fn live_brokers(&self, since_ms: i64) -> Result<Vec<BrokerRecord>, MetaError> {
        self.read(move |conn| {
            let err = unavailable("live_brokers");
            let mut stmt = conn
                .prepare(
                    "SELECT node_id, host, port, epoch, heartbeat_ms FROM brokers WHERE heartbeat_ms >= ?1 \
                     ORDER BY node_id",
                )
                .map_err(&err)?;
            let rows = stmt
                .query_map([since_ms], |r| {
                    Ok(BrokerRecord {
                        node_id: r.get(0)?,
                        host: r.get(1)?,
                        port: r.get(2)?,
                        epoch: r.get(3)?,
                        heartbeat_ms: r.get(4)?,
                    })
                })
                .map_err(&err)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&err)
        })
        .await
    }
}

/// Kafka cluster ids are 22-character URL-safe base64 of a random UUID.
/// Records a group, keeping a stored protocol type unless a new one is given.
fn record_group(tx: &rusqlite::Transaction<'_>, group: &GroupRecord, created_ms: i64) -> rusqlite::Result<usize> {
    tx.execute(
        "INSERT INTO groups (group_id, protocol_type, created_ms) VALUES (?1, ?2, ?3) \
         ON CONFLICT (group_id) DO UPDATE SET protocol_type = \
           CASE WHEN excluded.protocol_type = '' THEN groups.protocol_type ELSE excluded.protocol_type END",
        params![group.group_id, group.protocol_type, created_ms],
    )
}

pub(crate) fn new_cluster_id() -> String {
    base64_url(Uuid::new_v4().as_bytes())
}

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_store_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("meta.sqlite")).unwrap();
        crate::metadata::conformance::run(&store).await;
    }

    #[tokio::test]
    async fn state_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.sqlite");
        let id = {
            let store = SqliteStore::open(&path).unwrap();
            crate::metadata::conformance::seed_one_topic(&store, "kept").await;
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
