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
//! [`PostgresStore::change_feed`] keeps one dedicated connection LISTENing
//! (`feed.rs`), reconnects with backoff when it breaks, and reports
//! [`Change::Resync`] after every (re)connect so the broker reloads whatever
//! it may have missed.
//!
//! One file per store trait: `brokers.rs`, `topics.rs`, `log_index.rs`
//! (with the commit's statements), `objects.rs`, `groups.rs`, `producers.rs`.

use std::time::Duration;

use deadpool_postgres::{Manager, Pool, Runtime};
use tokio::sync::mpsc;
use tokio_postgres::NoTls;

use super::{Change, MetaError, MetadataStore};
use crate::config::limits::{
    CHANGE_FEED_CHANGES_MAX, POSTGRES_CONNECT_TIMEOUT_MS, POSTGRES_KEEPALIVE_IDLE_MS, POSTGRES_POOL_WAIT_MS,
};

mod brokers;
mod feed;
mod groups;
mod log_index;
mod objects;
mod producers;
mod topics;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../../migrations/postgres/0001_initial.sql")),
    (2, include_str!("../../../migrations/postgres/0002_brokers.sql")),
    (3, include_str!("../../../migrations/postgres/0003_producer_state.sql")),
    (4, include_str!("../../../migrations/postgres/0004_transactions.sql")),
    (5, include_str!("../../../migrations/postgres/0005_txn_offsets.sql")),
    (6, include_str!("../../../migrations/postgres/0006_producer_describe.sql")),
    (7, include_str!("../../../migrations/postgres/0007_inline_objects.sql")),
    (8, include_str!("../../../migrations/postgres/0008_inline_objects_vacuum.sql")),
];
/// Arbitrary, fixed: the advisory lock taken while migrating.
const MIGRATION_LOCK_KEY: i64 = 0x5348_4d49_4752; // "SHMIGR"

/// Bounds on waiting for the server (see `config::limits`), so an
/// unreachable database turns into errors the broker can report instead of
/// requests that hang.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(POSTGRES_CONNECT_TIMEOUT_MS);
const POOL_WAIT_TIMEOUT: Duration = Duration::from_millis(POSTGRES_POOL_WAIT_MS);
const KEEPALIVE_IDLE: Duration = Duration::from_millis(POSTGRES_KEEPALIVE_IDLE_MS);

pub struct PostgresStore {
    pool: Pool,
    config: tokio_postgres::Config,
    location: String,
}

fn unavailable(operation: &'static str) -> impl Fn(tokio_postgres::Error) -> MetaError {
    move |e| MetaError::Unavailable { operation, detail: describe_error(&e) }
}

/// An error as an operator needs it: the server's SQLSTATE and message
/// rather than tokio-postgres's bare "db error".
fn describe_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
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
        config.keepalives_idle(KEEPALIVE_IDLE);
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
        let mut client = self.client("migrate").await?;
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
        self.pool.get().await.map_err(|e| MetaError::Unavailable { operation, detail: e.to_string() })
    }
}

impl MetadataStore for PostgresStore {
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
        let (tx, rx) = mpsc::channel(CHANGE_FEED_CHANGES_MAX);
        tokio::spawn(feed::run_change_feed(self.config.clone(), self.location.clone(), tx));
        Some(rx)
    }
}

/// Fresh stores on the test server, for the conformance suites here and
/// the tests of code above the stores.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Drops its test database when dropped.
    pub(crate) struct TestDatabase {
        url: String,
        name: String,
    }

    impl Drop for TestDatabase {
        fn drop(&mut self) {
            let (url, name) = (self.url.clone(), self.name.clone());
            // The test's runtime may be single-threaded or shutting down:
            // drop the database from a thread and runtime of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                rt.block_on(async {
                    let (admin, conn) = tokio_postgres::connect(&url, NoTls).await.ok()?;
                    tokio::spawn(conn);
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.ok()
                })
            })
            .join();
        }
    }

    /// A store on a new, empty database of the server that `scripts/test.sh`
    /// starts (STREAMHOUSE_TEST_POSTGRES_URL), and the guard that drops the
    /// database. Without that server the calling test fails rather than
    /// passing unchecked.
    pub(crate) async fn fresh_store() -> (PostgresStore, TestDatabase) {
        let url = std::env::var("STREAMHOUSE_TEST_POSTGRES_URL").expect(
            "STREAMHOUSE_TEST_POSTGRES_URL is not set: run scripts/test.sh, which starts PostgreSQL on 127.0.0.1",
        );
        let name = format!("sh_test_{}", uuid::Uuid::new_v4().simple());
        let (admin, conn) = tokio_postgres::connect(&url, NoTls).await.expect("connect to the test server");
        let driver = tokio::spawn(conn);
        admin.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create database");
        drop(admin);
        let _ = driver.await;
        let mut cfg: tokio_postgres::Config = url.parse().expect("url");
        cfg.dbname(&name);
        let store = PostgresStore::connect_with(cfg, 4).await.expect("connect and migrate");
        (store, TestDatabase { url, name })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use uuid::Uuid;

    use super::testing::fresh_store;
    use super::*;
    use crate::metadata::conformance;
    use crate::metadata::{BrokerRegistry, PartitionOffsets, TopicCatalog, TopicRecord};

    #[tokio::test]
    async fn broker_registry_conformance() {
        let (store, _db) = fresh_store().await;
        conformance::brokers::run(&store).await;
    }

    #[tokio::test]
    async fn topic_catalog_conformance() {
        let (store, _db) = fresh_store().await;
        conformance::topics::run(&store).await;
    }

    #[tokio::test]
    async fn log_index_conformance() {
        let (store, _db) = fresh_store().await;
        conformance::log_index::run(&store).await;
    }

    #[tokio::test]
    async fn object_catalog_conformance() {
        let (store, _db) = fresh_store().await;
        conformance::objects::run(&store).await;
    }

    #[tokio::test]
    async fn group_offsets_conformance() {
        let (store, _db) = fresh_store().await;
        conformance::groups::run(&store).await;
    }

    #[tokio::test]
    async fn producer_store_conformance() {
        let (store, _db) = fresh_store().await;
        conformance::producers::run(&store).await;
    }

    /// Migrating again (a second broker starting) is a no-op, and the
    /// cluster id is the first broker's.
    #[tokio::test]
    async fn a_second_broker_migrates_nothing_and_shares_the_cluster_id() {
        let (first, _db) = fresh_store().await;
        let id = first.cluster_id().await.unwrap();
        conformance::seed_one_topic(&first, "kept").await;
        let second = PostgresStore::connect_with(first.config.clone(), 2).await.expect("migrate again");
        assert_eq!(second.cluster_id().await.unwrap(), id);
        assert_eq!(second.list_topics().await.unwrap().len(), 1);
    }

    async fn next(feed: &mut mpsc::Receiver<Change>) -> Change {
        let wait = tokio::time::timeout(Duration::from_secs(10), feed.recv());
        wait.await.expect("a change within 10 s").expect("feed open")
    }

    /// A second store on the same database (another broker) hears topic
    /// changes and commits through the feed, after a first Resync.
    #[tokio::test]
    async fn the_change_feed_reports_commits_of_another_store() {
        let (writer, _db) = fresh_store().await;
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
        let appends =
            [(1, 4, 50), (0, 2, 70), (1, 3, 40)].map(|(p, count, ts)| conformance::Append::new(topic.id, p, count, ts));
        conformance::commit(&writer, 9, "feed/1", &appends).await;
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
}
