//! The metadata store on PostgreSQL: the production backend, shared by
//! every broker.
//!
//! A deadpool pool of tokio-postgres connections. Schema changes are the
//! numbered files of `migrations/postgres/`, applied at start-up inside a
//! transaction holding an advisory lock, so brokers starting at once apply
//! each migration exactly once. Offsets are assigned with
//! `UPDATE … RETURNING` inside the one transaction per object, which the
//! row locks of PostgreSQL serialise per partition across brokers.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::{Manager, Pool};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;
use uuid::Uuid;

use super::{
    CommittedOffset, GroupRecord, IndexRow, MetaError, MetadataStore, ObjectCommit, PartitionOffsets, TopicRecord,
};

const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../../migrations/postgres/0001_initial.sql"))];
/// Arbitrary, fixed: the advisory lock taken while migrating.
const MIGRATION_LOCK_KEY: i64 = 0x5348_4d49_4752; // "SHMIGR"

pub struct PostgresStore {
    pool: Pool,
    location: String,
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
    pub async fn connect_with(config: tokio_postgres::Config, connections_max: usize) -> Result<Self, MetaError> {
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
        let pool = Pool::builder(Manager::new(config, NoTls))
            .max_size(connections_max)
            .build()
            .map_err(|e| err(e.to_string()))?;
        let store = Self { pool, location };
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
        tx.commit().await.map_err(&e)?;
        Ok(topic)
    }

    async fn list_topics(&self) -> Result<Vec<TopicRecord>, MetaError> {
        let c = self.client("list_topics").await?;
        load_topics(&c).await.map_err(unavailable("list_topics"))
    }

    async fn commit_object(&self, commit: &ObjectCommit) -> Result<Vec<Result<i64, MetaError>>, MetaError> {
        let e = unavailable("commit_object");
        let mut c = self.client("commit_object").await?;
        let tx = c.transaction().await.map_err(&e)?;
        let advance = tx
            .prepare_cached(
                "UPDATE partitions SET next_offset = next_offset + $3, max_timestamp = GREATEST(max_timestamp, $4) \
                 WHERE topic_id = $1 AND partition = $2 RETURNING next_offset - $3, max_timestamp",
            )
            .await
            .map_err(&e)?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO batches (topic_id, partition, base_offset, last_offset, object_key, position, length, \
                 max_timestamp, running_max_ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .await
            .map_err(&e)?;
        let mut outcomes = Vec::with_capacity(commit.batches.len());
        for b in &commit.batches {
            let count = i64::from(b.offset_count);
            let row =
                tx.query_opt(&advance, &[&b.topic_id, &b.partition, &count, &b.max_timestamp]).await.map_err(&e)?;
            let Some(row) = row else {
                outcomes.push(Err(MetaError::PartitionNotFound { topic_id: b.topic_id, partition: b.partition }));
                continue;
            };
            let base_offset: i64 = row.get(0);
            let running_max_ts: i64 = row.get(1);
            let position = b.position as i64;
            let length = b.length as i32;
            tx.execute(
                &insert,
                &[
                    &b.topic_id,
                    &b.partition,
                    &base_offset,
                    &(base_offset + count - 1),
                    &commit.object_key,
                    &position,
                    &length,
                    &b.max_timestamp,
                    &running_max_ts,
                ],
            )
            .await
            .map_err(&e)?;
            outcomes.push(Ok(base_offset));
        }
        tx.execute(
            "INSERT INTO objects (object_key, size_bytes, node_id, created_ms) VALUES ($1, $2, $3, $4)",
            &[&commit.object_key, &(commit.size_bytes as i64), &commit.node_id, &commit.created_ms],
        )
        .await
        .map_err(&e)?;
        tx.commit().await.map_err(&e)?;
        Ok(outcomes)
    }

    async fn partition_offsets(&self, topic_id: Uuid, partition: i32) -> Result<PartitionOffsets, MetaError> {
        let c = self.client("partition_offsets").await?;
        let row = c
            .query_opt(
                "SELECT log_start_offset, next_offset, max_timestamp FROM partitions WHERE topic_id = $1 AND partition = $2",
                &[&topic_id, &partition],
            )
            .await
            .map_err(unavailable("partition_offsets"))?;
        let row = row.ok_or(MetaError::PartitionNotFound { topic_id, partition })?;
        Ok(PartitionOffsets { log_start_offset: row.get(0), next_offset: row.get(1), max_timestamp: row.get(2) })
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
        let created = offsets.first().map_or(0, |o| o.commit_ms);
        tx.execute(
            "INSERT INTO groups (group_id, protocol_type, created_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (group_id) DO UPDATE SET protocol_type = \
               CASE WHEN excluded.protocol_type = '' THEN groups.protocol_type ELSE excluded.protocol_type END",
            &[&group.group_id, &group.protocol_type, &created],
        )
        .await
        .map_err(&e)?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
        drop(store);
        let _ = admin.batch_execute(&format!("DROP DATABASE {db} WITH (FORCE)")).await;
    }
}
