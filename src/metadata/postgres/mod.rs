//! The metadata store on PostgreSQL: the production backend, shared by
//! every broker.
//!
//! A deadpool pool of tokio-postgres connections. Schema changes are the
//! numbered files of `migrations/postgres/`, applied at start-up inside a
//! transaction holding an advisory lock, so brokers starting at once apply
//! each migration exactly once. Offsets are assigned with
//! `UPDATE … RETURNING` inside the one transaction per object, which the
//! row locks of PostgreSQL serialise per partition across brokers.
//!
//! Every commit also sends a NOTIFY, inside its transaction (so it is
//! delivered exactly when the commit is visible), naming each partition it
//! advanced and its new offsets; topic creation and deletion send one too.
//! [`PostgresStore::change_feed`] keeps one dedicated connection LISTENing,
//! reconnects with backoff when it breaks, and reports [`Change::Resync`]
//! after every (re)connect so the broker reloads whatever it may have missed.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, Pool, Runtime};
use tokio::sync::mpsc;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;
use uuid::Uuid;

use crate::txn::{TxnMetadata, TxnState};

mod commit;
mod feed;
mod txn;

use super::commit_flow::{assign_offsets, Assigned};
use commit::PgCommit;

use feed::{partition_payloads, run_change_feed, CHANNEL};

use super::{
    BrokerRecord, Change, CommitOutcome, CommittedOffset, GroupRecord, IndexRow, MetaError, MetadataStore,
    ObjectCommit, PartitionOffsets, ProducerRecord, RowMove, SegmentRecord, TopicRecord, TxnOffsetsFor,
};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/postgres/0001_initial.sql")),
    (2, include_str!("../../../migrations/postgres/0002_brokers.sql")),
    (3, include_str!("../../../migrations/postgres/0003_producer_state.sql")),
    (4, include_str!("../../../migrations/postgres/0004_transactions.sql")),
    (5, include_str!("../../../migrations/postgres/0005_txn_offsets.sql")),
    (6, include_str!("../../../migrations/postgres/0006_producer_describe.sql")),
];
/// Arbitrary, fixed: the advisory lock taken while migrating.
const MIGRATION_LOCK_KEY: i64 = 0x5348_4d49_4752; // "SHMIGR"

/// Bounds on waiting for the server, so an unreachable database turns into
/// errors the broker can report instead of requests that hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const POOL_WAIT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PostgresStore {
    pool: Pool,
    config: tokio_postgres::Config,
    location: String,
}

/// Records a group, keeping a stored protocol type unless a new one is given.
async fn record_group(
    tx: &deadpool_postgres::Transaction<'_>,
    group: &GroupRecord,
    created_ms: i64,
) -> Result<u64, tokio_postgres::Error> {
    tx.execute(
        "INSERT INTO groups (group_id, protocol_type, created_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (group_id) DO UPDATE SET protocol_type = \
           CASE WHEN excluded.protocol_type = '' THEN groups.protocol_type ELSE excluded.protocol_type END",
        &[&group.group_id, &group.protocol_type, &created_ms],
    )
    .await
}

fn unavailable(operation: &'static str) -> impl Fn(tokio_postgres::Error) -> MetaError {
    move |e| MetaError::Unavailable { operation, detail: e.to_string() }
}

fn pool_unavailable(operation: &'static str) -> impl Fn(deadpool_postgres::PoolError) -> MetaError {
    move |e| MetaError::Unavailable { operation, detail: e.to_string() }
}

impl PostgresStore {
    /// Connects, checks the database answers, and migrates.
    pub async fn connect(url: &str, connections_max: usize) -> Result<Self, MetaError> {
        let config: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| {
            MetaError::Unavailable { operation: "connect", detail: e.to_string() }
        })?;
        Self::connect_with(config, connections_max).await
    }

    /// As [`Self::connect`], from a parsed configuration.
    pub async fn connect_with(mut config: tokio_postgres::Config, connections_max: usize) -> Result<Self, MetaError> {
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.keepalives_idle(Duration::from_secs(10));
        let err = |detail: String| MetaError::Unavailable { operation: "connect", detail };
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".to_string(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let location = format!(
            "postgres://{}@{host}:{port}/{}",
            config.get_user().unwrap_or("?"),
            config.get_dbname().unwrap_or("?")
        );
        let pool = Pool::builder(Manager::new(config.clone(), NoTls))
            .max_size(connections_max)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| err(e.to_string()))?;
        let store = Self { pool, config, location };
        store.migrate().await?;
        Ok(store)
    }

    pub fn describe(&self) -> &str {
        &self.location
    }

    async fn migrate(&self) -> Result<(), MetaError> {
        let e = unavailable("migrate");
        let mut client = self.pool.get().await.map_err(pool_unavailable("migrate"))?;
        let tx = client.transaction().await.map_err(&e)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY]).await.map_err(&e)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY)")
            .await
            .map_err(&e)?;
        for (version, sql) in MIGRATIONS {
            let applied = tx
                .query_opt("SELECT 1 FROM schema_migrations WHERE version = $1", &[version])
                .await
                .map_err(&e)?
                .is_some();
            if !applied {
                tx.batch_execute(sql).await.map_err(&e)?;
                tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[version]).await.map_err(&e)?;
            }
        }
        tx.commit().await.map_err(&e)
    }

    async fn client(&self, operation: &'static str) -> Result<deadpool_postgres::Object, MetaError> {
        self.pool.get().await.map_err(pool_unavailable(operation))
    }
}

/// Offsets from four columns from `at`: log start, next, max timestamp,
/// last stable.
fn offsets_from(r: &tokio_postgres::Row, at: usize) -> PartitionOffsets {
    PartitionOffsets {
        log_start_offset: r.get(at),
        next_offset: r.get(at + 1),
        max_timestamp: r.get(at + 2),
        last_stable_offset: r.get(at + 3),
    }
}

fn row_to_index(r: &tokio_postgres::Row) -> IndexRow {
    let key: String = r.get(2);
    IndexRow {
        base_offset: r.get(0),
        last_offset: r.get(1),
        object_key: Arc::from(key),
        position: r.get::<_, i64>(3) as u64,
        length: r.get::<_, i32>(4) as u32,
        max_timestamp: r.get(5),
    }
}

const INDEX_COLUMNS: &str = "base_offset, last_offset, object_key, position, length, max_timestamp";

async fn load_topics(c: &impl deadpool_postgres::GenericClient) -> Result<Vec<TopicRecord>, tokio_postgres::Error> {
    let mut configs: BTreeMap<Uuid, BTreeMap<String, String>> = BTreeMap::new();
    for r in c.query("SELECT topic_id, key, value FROM topic_configs", &[]).await? {
        configs.entry(r.get(0)).or_default().insert(r.get(1), r.get(2));
    }
    let rows = c.query("SELECT topic_id, name, partitions, created_ms FROM topics ORDER BY name", &[]).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let id: Uuid = r.get(0);
            TopicRecord {
                id,
                name: r.get(1),
                partitions: r.get(2),
                configs: configs.get(&id).cloned().unwrap_or_default(),
                created_ms: r.get(3),
            }
        })
        .collect())
}

#[async_trait]
impl MetadataStore for PostgresStore {
    async fn cluster_id(&self) -> Result<String, MetaError> {
        let e = unavailable("cluster_id");
        let c = self.client("cluster_id").await?;
        let candidate = super::sqlite::new_cluster_id();
        // Whoever inserts first wins; everyone reads the winner.
        c.execute("INSERT INTO cluster (singleton, cluster_id) VALUES (1, $1) ON CONFLICT DO NOTHING", &[&candidate])
            .await
            .map_err(&e)?;
        let row = c.query_one("SELECT cluster_id FROM cluster", &[]).await.map_err(&e)?;
        Ok(row.get(0))
    }

    async fn create_topic(&self, topic: &TopicRecord) -> Result<(), MetaError> {
        let e = unavailable("create_topic");
        let mut c = self.client("create_topic").await?;
        let tx = c.transaction().await.map_err(&e)?;
        let inserted = tx
            .execute(
                "INSERT INTO topics (topic_id, name, partitions, created_ms) VALUES ($1, $2, $3, $4)",
                &[&topic.id, &topic.name, &topic.partitions, &topic.created_ms],
            )
            .await;
        if let Err(err) = inserted {
            if err.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                return Err(MetaError::TopicExists { name: topic.name.clone() });
            }
            return Err(e(err));
        }
        for (k, v) in &topic.configs {
            tx.execute("INSERT INTO topic_configs (topic_id, key, value) VALUES ($1, $2, $3)", &[&topic.id, k, v])
                .await
                .map_err(&e)?;
        }
        tx.execute(
            "INSERT INTO partitions (topic_id, partition) SELECT $1, generate_series(0, $2 - 1)",
            &[&topic.id, &topic.partitions],
        )
        .await
        .map_err(&e)?;
        tx.execute("SELECT pg_notify($1, 'T')", &[&CHANNEL]).await.map_err(&e)?;
        tx.commit().await.map_err(&e)
    }

    async fn delete_topic(&self, name: &str) -> Result<TopicRecord, MetaError> {
        let e = unavailable("delete_topic");
        let mut c = self.client("delete_topic").await?;
        let tx = c.transaction().await.map_err(&e)?;
        let topic = load_topics(&tx).await.map_err(&e)?.into_iter().find(|t| t.name == name);
        let Some(topic) = topic else {
            return Err(MetaError::TopicNotFound { name: name.to_string() });
        };
        tx.execute("DELETE FROM batches WHERE topic_id = $1", &[&topic.id]).await.map_err(&e)?;
        tx.execute("DELETE FROM topics WHERE topic_id = $1", &[&topic.id]).await.map_err(&e)?;
        tx.execute("SELECT pg_notify($1, 'T')", &[&CHANNEL]).await.map_err(&e)?;
        tx.commit().await.map_err(&e)?;
        Ok(topic)
    }

    async fn list_topics(&self) -> Result<Vec<TopicRecord>, MetaError> {
        let c = self.client("list_topics").await?;
        load_topics(&c).await.map_err(unavailable("list_topics"))
    }

    async fn commit_object(&self, commit: &ObjectCommit) -> Result<CommitOutcome, MetaError> {
        let e = unavailable("commit_object");
        let mut c = self.client("commit_object").await?;
        let tx = c.transaction().await.map_err(&e)?;
        let Assigned { outcomes, advanced } = assign_offsets(&mut PgCommit { tx: &tx }, commit).await?;
        tx.execute(
            "INSERT INTO objects (object_key, size_bytes, node_id, created_ms) VALUES ($1, $2, $3, $4)",
            &[&commit.object_key, &(commit.size_bytes as i64), &commit.node_id, &commit.created_ms],
        )
        .await
        .map_err(&e)?;
        for payload in partition_payloads(commit.node_id, &advanced) {
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]).await.map_err(&e)?;
        }
        tx.commit().await.map_err(&e)?;
        let partitions = advanced.into_iter().map(|((t, p), o)| (t, p, o)).collect();
        Ok(CommitOutcome { batches: outcomes, partitions })
    }

    async fn partition_offsets(&self, topic_id: Uuid, partition: i32) -> Result<PartitionOffsets, MetaError> {
        let c = self.client("partition_offsets").await?;
        let row = c
            .query_opt(
                "SELECT log_start_offset, next_offset, max_timestamp, COALESCE(first_unstable_offset, next_offset) \
                 FROM partitions WHERE topic_id = $1 AND partition = $2",
                &[&topic_id, &partition],
            )
            .await
            .map_err(unavailable("partition_offsets"))?;
        let row = row.ok_or(MetaError::PartitionNotFound { topic_id, partition })?;
        Ok(offsets_from(&row, 0))
    }

    async fn index_rows(
        &self,
        topic_id: Uuid,
        partition: i32,
        from_offset: i64,
        rows_max: u32,
    ) -> Result<Vec<IndexRow>, MetaError> {
        let c = self.client("index_rows").await?;
        let sql = format!(
            "SELECT {INDEX_COLUMNS} FROM batches WHERE topic_id = $1 AND partition = $2 AND base_offset >= COALESCE( \
               (SELECT MAX(base_offset) FROM batches WHERE topic_id = $1 AND partition = $2 AND base_offset <= $3), $3) \
             ORDER BY base_offset LIMIT $4"
        );
        let rows = c
            .query(&sql, &[&topic_id, &partition, &from_offset, &i64::from(rows_max)])
            .await
            .map_err(unavailable("index_rows"))?;
        Ok(rows.iter().map(row_to_index).filter(|r| r.last_offset >= from_offset).collect())
    }

    async fn first_row_at_or_after_timestamp(
        &self,
        topic_id: Uuid,
        partition: i32,
        timestamp: i64,
    ) -> Result<Option<IndexRow>, MetaError> {
        let c = self.client("first_row_at_or_after_timestamp").await?;
        let sql = format!(
            "SELECT {INDEX_COLUMNS} FROM batches WHERE topic_id = $1 AND partition = $2 AND running_max_ts >= $3 \
             ORDER BY base_offset LIMIT 1"
        );
        let row = c
            .query_opt(&sql, &[&topic_id, &partition, &timestamp])
            .await
            .map_err(unavailable("first_row_at_or_after_timestamp"))?;
        Ok(row.as_ref().map(row_to_index))
    }

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

    async fn allocate_producer_id(&self) -> Result<i64, MetaError> {
        let c = self.client("allocate_producer_id").await?;
        let row =
            c.query_one("SELECT nextval('producer_ids')", &[]).await.map_err(unavailable("allocate_producer_id"))?;
        Ok(row.get(0))
    }

    async fn list_groups(&self) -> Result<Vec<GroupRecord>, MetaError> {
        let c = self.client("list_groups").await?;
        let rows = c
            .query("SELECT group_id, protocol_type FROM groups ORDER BY group_id", &[])
            .await
            .map_err(unavailable("list_groups"))?;
        Ok(rows.iter().map(|r| GroupRecord { group_id: r.get(0), protocol_type: r.get(1) }).collect())
    }

    async fn commit_offsets(&self, group: &GroupRecord, offsets: &[CommittedOffset]) -> Result<(), MetaError> {
        let e = unavailable("commit_offsets");
        let mut c = self.client("commit_offsets").await?;
        let tx = c.transaction().await.map_err(&e)?;
        record_group(&tx, group, offsets.first().map_or(0, |o| o.commit_ms)).await.map_err(&e)?;
        let upsert = tx
            .prepare_cached(
                "INSERT INTO group_offsets (group_id, topic, partition, committed_offset, leader_epoch, metadata, commit_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (group_id, topic, partition) DO UPDATE SET \
                 committed_offset = excluded.committed_offset, leader_epoch = excluded.leader_epoch, \
                 metadata = excluded.metadata, commit_ms = excluded.commit_ms",
            )
            .await
            .map_err(&e)?;
        for o in offsets {
            tx.execute(
                &upsert,
                &[&group.group_id, &o.topic, &o.partition, &o.offset, &o.leader_epoch, &o.metadata, &o.commit_ms],
            )
            .await
            .map_err(&e)?;
        }
        tx.commit().await.map_err(&e)
    }

    async fn fetch_offsets(&self, group_id: &str) -> Result<Vec<CommittedOffset>, MetaError> {
        let c = self.client("fetch_offsets").await?;
        let rows = c
            .query(
                "SELECT topic, partition, committed_offset, leader_epoch, metadata, commit_ms FROM group_offsets \
                 WHERE group_id = $1 ORDER BY topic, partition",
                &[&group_id],
            )
            .await
            .map_err(unavailable("fetch_offsets"))?;
        Ok(rows
            .iter()
            .map(|r| CommittedOffset {
                topic: r.get(0),
                partition: r.get(1),
                offset: r.get(2),
                leader_epoch: r.get(3),
                metadata: r.get(4),
                commit_ms: r.get(5),
            })
            .collect())
    }

    async fn delete_offsets(&self, group_id: &str, which: Option<&[(String, i32)]>) -> Result<(), MetaError> {
        let e = unavailable("delete_offsets");
        let mut c = self.client("delete_offsets").await?;
        let tx = c.transaction().await.map_err(&e)?;
        match which {
            None => {
                tx.execute("DELETE FROM group_offsets WHERE group_id = $1", &[&group_id]).await.map_err(&e)?;
                tx.execute("DELETE FROM groups WHERE group_id = $1", &[&group_id]).await.map_err(&e)?;
            }
            Some(list) => {
                for (topic, partition) in list {
                    tx.execute(
                        "DELETE FROM group_offsets WHERE group_id = $1 AND topic = $2 AND partition = $3",
                        &[&group_id, topic, partition],
                    )
                    .await
                    .map_err(&e)?;
                }
            }
        }
        tx.commit().await.map_err(&e)
    }

    async fn forget_object(&self, key: &str) -> Result<(), MetaError> {
        let c = self.client("forget_object").await?;
        c.execute("DELETE FROM objects WHERE object_key = $1", &[&key]).await.map_err(unavailable("forget_object"))?;
        Ok(())
    }

    async fn offset_keeping_bytes(
        &self,
        topic_id: Uuid,
        partition: i32,
        keep_bytes: i64,
    ) -> Result<Option<i64>, MetaError> {
        let c = self.client("offset_keeping_bytes").await?;
        let row = c
            .query_one(
                "WITH sized AS (SELECT last_offset, \
                   SUM(length) OVER (ORDER BY base_offset) AS through, SUM(length) OVER () AS total \
                   FROM batches WHERE topic_id = $1 AND partition = $2) \
                 SELECT MAX(last_offset) + 1 FROM sized WHERE total - through >= $3",
                &[&topic_id, &partition, &keep_bytes],
            )
            .await
            .map_err(unavailable("offset_keeping_bytes"))?;
        Ok(row.get(0))
    }

    async fn advance_log_start(
        &self,
        node_id: i32,
        topic_id: Uuid,
        partition: i32,
        offset: i64,
    ) -> Result<PartitionOffsets, MetaError> {
        let e = unavailable("advance_log_start");
        let mut c = self.client("advance_log_start").await?;
        let tx = c.transaction().await.map_err(&e)?;
        let row = tx
            .query_opt(
                "UPDATE partitions SET log_start_offset = GREATEST(log_start_offset, LEAST($3, next_offset)) \
                 WHERE topic_id = $1 AND partition = $2 RETURNING log_start_offset, next_offset, max_timestamp, \
                 COALESCE(first_unstable_offset, next_offset)",
                &[&topic_id, &partition, &offset],
            )
            .await
            .map_err(&e)?
            .ok_or(MetaError::PartitionNotFound { topic_id, partition })?;
        let offsets = offsets_from(&row, 0);
        tx.execute(
            "DELETE FROM batches WHERE topic_id = $1 AND partition = $2 AND last_offset < $3",
            &[&topic_id, &partition, &offsets.log_start_offset],
        )
        .await
        .map_err(&e)?;
        // Aborted ranges wholly before the log are of no use to readers.
        tx.execute(
            "DELETE FROM txn_aborted WHERE topic_id = $1 AND partition = $2 AND last_offset < $3",
            &[&topic_id, &partition, &offsets.log_start_offset],
        )
        .await
        .map_err(&e)?;
        let advanced = BTreeMap::from([((topic_id, partition), offsets)]);
        for payload in partition_payloads(node_id, &advanced) {
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]).await.map_err(&e)?;
        }
        tx.commit().await.map_err(&e)?;
        Ok(offsets)
    }

    async fn swap_index_rows(
        &self,
        topic_id: Uuid,
        partition: i32,
        moves: &[RowMove],
        segment: &SegmentRecord,
    ) -> Result<bool, MetaError> {
        let e = unavailable("swap_index_rows");
        let mut c = self.client("swap_index_rows").await?;
        let tx = c.transaction().await.map_err(&e)?;
        let swap = tx
            .prepare_cached(
                "UPDATE batches SET object_key = $5, position = $4 \
                 WHERE topic_id = $1 AND partition = $2 AND base_offset = $3 AND object_key = $6",
            )
            .await
            .map_err(&e)?;
        for m in moves {
            let position = m.position as i64;
            let n = tx
                .execute(&swap, &[&topic_id, &partition, &m.base_offset, &position, &segment.object_key, &m.from_key])
                .await
                .map_err(&e)?;
            if n != 1 {
                tx.rollback().await.map_err(&e)?;
                return Ok(false);
            }
        }
        tx.execute(
            "INSERT INTO objects (object_key, size_bytes, node_id, created_ms) VALUES ($1, $2, $3, $4)",
            &[&segment.object_key, &(segment.size_bytes as i64), &segment.node_id, &segment.created_ms],
        )
        .await
        .map_err(&e)?;
        tx.commit().await.map_err(&e)?;
        Ok(true)
    }

    async fn aborted_transactions(
        &self,
        topic_id: Uuid,
        partition: i32,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64)>, MetaError> {
        PostgresStore::aborted_transactions(self, topic_id, partition, from, to).await
    }

    async fn load_transaction(&self, transactional_id: &str) -> Result<Option<TxnMetadata>, MetaError> {
        PostgresStore::load_transaction(self, transactional_id).await
    }

    async fn list_transactions(&self) -> Result<Vec<TxnMetadata>, MetaError> {
        PostgresStore::list_transactions(self).await
    }

    async fn save_transaction(
        &self,
        txn: &TxnMetadata,
        expected: Option<(i64, i16, TxnState)>,
        open: &[(Uuid, i32)],
    ) -> Result<bool, MetaError> {
        PostgresStore::save_transaction(self, txn, expected, open).await
    }

    async fn delete_transaction(
        &self,
        transactional_id: &str,
        expected: (i64, i16, TxnState),
    ) -> Result<bool, MetaError> {
        PostgresStore::delete_transaction(self, transactional_id, expected).await
    }

    async fn expire_producers(&self, before_ms: i64) -> Result<u64, MetaError> {
        PostgresStore::expire_producers(self, before_ms).await
    }

    async fn stage_txn_offsets(
        &self,
        group: &GroupRecord,
        txn: &TxnOffsetsFor,
        offsets: &[CommittedOffset],
    ) -> Result<(), MetaError> {
        PostgresStore::stage_txn_offsets(self, group, txn, offsets).await
    }

    async fn settle_txn_offsets(&self, producer_id: i64, groups: &[String], commit: bool) -> Result<u64, MetaError> {
        PostgresStore::settle_txn_offsets(self, producer_id, groups, commit).await
    }

    async fn pending_txn_offsets(&self, group_id: &str) -> Result<Vec<(String, i32)>, MetaError> {
        PostgresStore::pending_txn_offsets(self, group_id).await
    }

    async fn count_producers(&self) -> Result<u64, MetaError> {
        PostgresStore::count_producers(self).await
    }

    async fn partition_producers(&self, topic_id: Uuid, partition: i32) -> Result<Vec<ProducerRecord>, MetaError> {
        PostgresStore::partition_producers(self, topic_id, partition).await
    }

    async fn all_partition_offsets(&self) -> Result<Vec<(Uuid, i32, PartitionOffsets)>, MetaError> {
        let c = self.client("all_partition_offsets").await?;
        let rows = c
            .query(
                "SELECT topic_id, partition, log_start_offset, next_offset, max_timestamp, \
                 COALESCE(first_unstable_offset, next_offset) FROM partitions",
                &[],
            )
            .await
            .map_err(unavailable("all_partition_offsets"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), offsets_from(r, 2))).collect())
    }

    async fn register_broker(&self, node_id: i32, host: &str, port: i32, now_ms: i64) -> Result<i64, MetaError> {
        let c = self.client("register_broker").await?;
        let row = c
            .query_one(
                "INSERT INTO brokers (node_id, host, port, epoch, heartbeat_ms) VALUES ($1, $2, $3, 1, $4) \
                 ON CONFLICT (node_id) DO UPDATE SET host = excluded.host, port = excluded.port, \
                 epoch = brokers.epoch + 1, heartbeat_ms = excluded.heartbeat_ms RETURNING epoch",
                &[&node_id, &host, &port, &now_ms],
            )
            .await
            .map_err(unavailable("register_broker"))?;
        Ok(row.get(0))
    }

    async fn heartbeat_broker(&self, node_id: i32, epoch: i64, now_ms: i64) -> Result<bool, MetaError> {
        let c = self.client("heartbeat_broker").await?;
        let n = c
            .execute(
                "UPDATE brokers SET heartbeat_ms = GREATEST(heartbeat_ms, $3) WHERE node_id = $1 AND epoch = $2",
                &[&node_id, &epoch, &now_ms],
            )
            .await
            .map_err(unavailable("heartbeat_broker"))?;
        Ok(n == 1)
    }

    async fn live_brokers(&self, since_ms: i64) -> Result<Vec<BrokerRecord>, MetaError> {
        let c = self.client("live_brokers").await?;
        let rows = c
            .query(
                "SELECT node_id, host, port, epoch, heartbeat_ms FROM brokers WHERE heartbeat_ms >= $1 ORDER BY node_id",
                &[&since_ms],
            )
            .await
            .map_err(unavailable("live_brokers"))?;
        Ok(rows
            .iter()
            .map(|r| BrokerRecord {
                node_id: r.get(0),
                host: r.get(1),
                port: r.get(2),
                epoch: r.get(3),
                heartbeat_ms: r.get(4),
            })
            .collect())
    }

    fn report_metrics(&self) {
        let status = self.pool.status();
        let idle = status.available;
        let in_use = status.size.saturating_sub(idle);
        let gauge = |state: &'static str, v: usize| {
            metrics::gauge!(crate::metrics::METADATA_POOL_CONNECTIONS, "state" => state).set(v as f64);
        };
        gauge("in_use", in_use);
        gauge("idle", idle);
        gauge("waiting", status.waiting);
    }

    fn change_feed(&self) -> Option<mpsc::Receiver<Change>> {
        let (tx, rx) = mpsc::channel(super::CHANGE_FEED_CAPACITY);
        tokio::spawn(run_change_feed(self.config.clone(), self.location.clone(), tx));
        Some(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn next(feed: &mut mpsc::Receiver<Change>) -> Change {
        let wait = tokio::time::timeout(Duration::from_secs(10), feed.recv());
        wait.await.expect("a change within 10 s").expect("feed open")
    }

    /// A second store on the same database (another broker) hears topic
    /// changes and commits through the feed, after a first Resync.
    async fn change_feed_reports_commits_of_another_store(writer: &PostgresStore) {
        let listener = PostgresStore::connect_with(writer.config.clone(), 2).await.expect("second store");
        let mut feed = listener.change_feed().expect("PostgreSQL has a feed");
        assert_eq!(next(&mut feed).await, Change::Resync);
        let topic = TopicRecord {
            id: Uuid::new_v4(),
            name: "feed".into(),
            partitions: 2,
            configs: BTreeMap::new(),
            created_ms: 1,
        };
        writer.create_topic(&topic).await.expect("create");
        assert_eq!(next(&mut feed).await, Change::Topics);
        let batch = |partition, offset_count, max_timestamp| crate::metadata::BatchAppend {
            topic_id: topic.id,
            partition,
            offset_count,
            position: 0,
            length: 10,
            max_timestamp,
            producer: crate::producer::ProducerBatch {
                producer_id: -1,
                producer_epoch: -1,
                base_sequence: -1,
                offset_count,
            },
            kind: crate::metadata::BatchKind::Plain,
        };
        let commit = ObjectCommit {
            object_key: "feed/1".into(),
            size_bytes: 30,
            node_id: 9,
            created_ms: 1,
            batches: vec![batch(1, 4, 50), batch(0, 2, 70), batch(1, 3, 40)],
        };
        writer.commit_object(&commit).await.expect("commit");
        let offsets = |next_offset, max_timestamp| PartitionOffsets {
            log_start_offset: 0,
            next_offset,
            max_timestamp,
            last_stable_offset: next_offset,
        };
        assert_eq!(
            next(&mut feed).await,
            Change::Partition { node_id: 9, topic_id: topic.id, partition: 0, offsets: offsets(2, 70) }
        );
        assert_eq!(
            next(&mut feed).await,
            Change::Partition { node_id: 9, topic_id: topic.id, partition: 1, offsets: offsets(7, 50) }
        );
    }

    /// The PostgreSQL conformance run. `scripts/test.sh` starts a throwaway
    /// PostgreSQL and sets STREAMHOUSE_TEST_POSTGRES_URL; without it this
    /// test fails rather than passing unchecked.
    #[tokio::test]
    async fn postgres_store_passes_the_conformance_suite() {
        let url = std::env::var("STREAMHOUSE_TEST_POSTGRES_URL").expect(
            "STREAMHOUSE_TEST_POSTGRES_URL is not set: run scripts/test.sh, which starts PostgreSQL on 127.0.0.1",
        );
        // A fresh database per run, so the suite starts from empty.
        let db = format!("sh_conformance_{}", Uuid::new_v4().simple());
        let (admin, conn) = tokio_postgres::connect(&url, NoTls).await.expect("connect to the test server");
        tokio::spawn(conn);
        admin.batch_execute(&format!("CREATE DATABASE {db}")).await.expect("create database");
        let mut cfg: tokio_postgres::Config = url.parse().expect("url");
        cfg.dbname(&db);
        let store = PostgresStore::connect_with(cfg, 4).await.expect("connect and migrate");
        crate::metadata::conformance::run(&store).await;
        // Migrating again (a second broker starting) is a no-op.
        store.migrate().await.expect("second migration run");
        change_feed_reports_commits_of_another_store(&store).await;
        drop(store);
        let _ = admin.batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)")).await;
    }
}
