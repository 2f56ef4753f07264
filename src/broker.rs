//! Assembly: the only place where concrete stores, the clock and the
//! configuration meet. `main` builds a [`Broker`] and runs it; tests do the
//! same with their own config.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, MetadataUrl, ObjectStoreUrl};
use crate::group::GroupCoordinator;
use crate::handlers::Context;
use crate::log::{Log, LogError, LogLimits};
use crate::metadata::postgres::PostgresStore;
use crate::metadata::sqlite::SqliteStore;
use crate::metadata::{MetaError, MetadataStore};
use crate::object_store::local::LocalStore;
use crate::object_store::s3::{S3Settings, S3Store};
use crate::object_store::ObjectStore;
use crate::topics::TopicRegistry;

/// Attempts per S3 request, with the SDK's backoff and jitter in between.
const S3_ATTEMPTS_MAX: u32 = 3;

/// Connections each broker keeps to PostgreSQL.
const POSTGRES_CONNECTIONS_MAX: usize = 16;

#[derive(Debug, Error)]
pub enum BrokerError {
    #[error("cannot open the object store at {location}: {source}")]
    ObjectStore { location: String, source: std::io::Error },
    #[error("cannot open the metadata store: {0}")]
    Metadata(#[from] MetaError),
    #[error("cannot load the log: {0}")]
    Log(#[from] LogError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("cannot start the metrics endpoint on {addr}: {detail}")]
    Metrics { addr: String, detail: String },
}

pub struct Broker {
    ctx: Arc<Context>,
    listener: TcpListener,
}

impl Broker {
    /// Opens the stores, loads topics and partition state, and binds the
    /// listener (so a caller knows the port is taken once this returns).
    pub async fn build(config: Config) -> Result<Self, BrokerError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store: Arc<dyn ObjectStore> = match &config.object_store {
            ObjectStoreUrl::Local(dir) => Arc::new(
                LocalStore::open(dir)
                    .map_err(|source| BrokerError::ObjectStore { location: dir.display().to_string(), source })?,
            ),
            ObjectStoreUrl::S3 { bucket, prefix } => {
                let settings = S3Settings {
                    bucket: bucket.clone(),
                    prefix: prefix.clone(),
                    force_path_style: config.s3_path_style,
                    requests_max: config.s3_requests_max,
                    attempts_max: S3_ATTEMPTS_MAX,
                };
                let store = S3Store::connect(settings).await.map_err(|e| BrokerError::ObjectStore {
                    location: format!("s3://{bucket}/{prefix}"),
                    source: std::io::Error::other(e.to_string()),
                })?;
                Arc::new(store)
            }
        };
        let meta: Arc<dyn MetadataStore> = match &config.metadata {
            MetadataUrl::Sqlite(path) => Arc::new(SqliteStore::open(path)?),
            MetadataUrl::Postgres(url) => {
                let store = PostgresStore::connect(url, POSTGRES_CONNECTIONS_MAX).await?;
                info!(metadata = %store.describe(), "PostgreSQL reachable and migrated");
                Arc::new(store)
            }
        };
        let cluster_id = meta.cluster_id().await?;
        let topics = meta.list_topics().await?;
        let limits = LogLimits {
            node_id: config.node_id,
            flush_bytes_max: config.flush_bytes_max,
            flush_linger_ms: config.flush_linger_ms,
            writer_buffered_bytes_max: config.writer_buffered_bytes_max,
            object_cache_bytes_max: config.object_cache_bytes_max,
            index_tail_rows_max: crate::config::limits::INDEX_TAIL_ROWS_MAX_DEFAULT,
            decompressed_bytes_max: crate::config::limits::DECOMPRESSED_BYTES_MAX,
            orphan_grace_ms: config.orphan_grace_ms,
        };
        let log = Log::open(meta.clone(), store.clone(), clock.clone(), limits, &topics).await?;
        info!(
            object_store = %store.describe(),
            cluster_id = %cluster_id,
            topics = topics.len(),
            "stores opened"
        );
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| BrokerError::Listen { addr: config.listen.to_string(), source })?;
        let topics = TopicRegistry::new(topics, config.message_bytes_max);
        let groups = GroupCoordinator::load(meta.clone(), clock.clone(), config.group.clone(), config.node_id).await?;
        let ctx = Arc::new(Context { config, cluster_id, topics, log, groups, meta, clock });
        Ok(Self { ctx, listener })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the process ends. Starts the metrics endpoint (if
    /// configured) and the garbage collector.
    pub async fn run(self) -> Result<(), BrokerError> {
        if let Some(addr) = self.ctx.config.metrics_listen {
            crate::metrics::install(addr)
                .map_err(|e| BrokerError::Metrics { addr: addr.to_string(), detail: e.to_string() })?;
            info!(%addr, "metrics at /metrics");
        }
        tokio::spawn(collect_garbage(self.ctx.clone()));
        tokio::spawn(drive_groups(self.ctx.clone()));
        crate::server::listener::run(self.ctx, self.listener)
            .await
            .map_err(|source| BrokerError::Listen { addr: "listener".into(), source })
    }
}

/// Group timeouts are checked every `GROUP_TICK`; consumer lag gauges are
/// refreshed every `LAG_EVERY` ticks.
const GROUP_TICK: Duration = Duration::from_millis(100);
const LAG_EVERY: u32 = 50;

async fn drive_groups(ctx: Arc<Context>) {
    let mut n = 0u32;
    loop {
        tokio::time::sleep(GROUP_TICK).await;
        ctx.groups.tick();
        n += 1;
        if n.is_multiple_of(LAG_EVERY) {
            for (group, topic, partition, committed) in ctx.groups.committed_offsets() {
                let Some(t) = ctx.topics.get(&topic) else { continue };
                let Some(o) = ctx.log.offsets(t.record.id, partition) else { continue };
                let lag = (o.next_offset - committed).max(0);
                metrics::gauge!(crate::metrics::GROUP_CONSUMER_LAG, "group" => group, "topic" => topic, "partition" => partition.to_string())
                    .set(lag as f64);
            }
        }
    }
}

async fn collect_garbage(ctx: Arc<Context>) {
    let every = Duration::from_millis(ctx.config.gc_interval_ms);
    loop {
        if let Err(e) = ctx.log.collect_garbage().await {
            warn!(error = %e, "garbage collection pass failed; retrying next interval");
        }
        tokio::time::sleep(every).await;
    }
}
