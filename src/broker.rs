//! Assembly: the only place where concrete stores, the clock and the
//! configuration meet. `main` builds a [`Broker`] and runs it; tests do the
//! same with their own config. Every component gets the parts it uses and
//! starts its own background work from here; none of that work lives here.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpListener;
use tracing::info;

use crate::clock::{Clock, SystemClock};
use crate::cluster::{Membership, MembershipConfig};
use crate::config::{Config, MetadataUrl, ObjectStoreUrl};
use crate::group::{EndOffsets, GroupCoordinator, GroupTicks};
use crate::handlers::Context;
use crate::log::background::BackgroundSettings;
use crate::log::{Log, LogError, LogLimits, LogStores};
use crate::metadata::bounded::Bounded;
use crate::metadata::postgres::PostgresStore;
use crate::metadata::sqlite::SqliteStore;
use crate::metadata::{MetaError, MetadataStore};
use crate::object_store::budget::{Budgeted, PutBudget};
use crate::object_store::hedge::Hedged;
use crate::object_store::latency::Delayed;
use crate::object_store::local::LocalStore;
use crate::object_store::s3::{S3Settings, S3Store};
use crate::object_store::ObjectStore;
use crate::topics::{TopicError, Topics};
use crate::txn::{TxnCoordinator, TxnParts, TxnSettings};

#[derive(Debug, Error)]
pub enum BrokerError {
    #[error("cannot open the object store at {location}: {source}")]
    ObjectStore { location: String, source: std::io::Error },
    #[error("cannot open the metadata store: {0}")]
    Metadata(#[from] MetaError),
    #[error("cannot load the log: {0}")]
    Log(#[from] LogError),
    #[error("cannot load topics: {0}")]
    Topics(#[from] TopicError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("cannot start the metrics endpoint on {addr}: {detail}")]
    Metrics { addr: String, detail: String },
}

pub struct Broker {
    ctx: Arc<Context>,
    meta: Arc<dyn MetadataStore>,
    listener: TcpListener,
}

/// The object store as the log sees it: the store itself, behind the
/// benchmark latency model if one is asked for, with slow requests hedged
/// (on S3, or when a latency model stands in for a cloud store; not on a
/// plain local directory, whose tail is the disk's and which a second write
/// does not escape), and every PUT counted against the PUT budget.
async fn open_object_store(config: &Config) -> Result<Arc<dyn ObjectStore>, BrokerError> {
    let mut store = open_object_store_itself(config).await?;
    if let Some((model, seed)) = config.object_store_latency {
        info!(model = model.name, seed, "object-store requests are delayed by a latency model (benchmarks)");
        store = Arc::new(Delayed::new(store, model, seed));
    }
    let budget = PutBudget::new(config.put_budget_per_second);
    let remote = matches!(config.object_store, ObjectStoreUrl::S3 { .. }) || config.object_store_latency.is_some();
    if remote && config.hedge.percentile > 0.0 {
        store = Arc::new(Hedged::new(store, config.hedge, Some(budget.clone())));
    }
    Ok(Arc::new(Budgeted::new(store, budget)))
}

async fn open_object_store_itself(config: &Config) -> Result<Arc<dyn ObjectStore>, BrokerError> {
    Ok(match &config.object_store {
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
                attempts_max: config.s3_attempts_max,
            };
            let store = S3Store::connect(settings).await.map_err(|e| BrokerError::ObjectStore {
                location: format!("s3://{bucket}/{prefix}"),
                source: std::io::Error::other(e.to_string()),
            })?;
            Arc::new(store)
        }
    })
}

async fn open_metadata_store(config: &Config) -> Result<Arc<dyn MetadataStore>, BrokerError> {
    let limit = Duration::from_millis(config.metadata_operation_timeout_ms);
    Ok(match &config.metadata {
        MetadataUrl::Sqlite(path) => Arc::new(Bounded::new(SqliteStore::open(path)?, limit)),
        MetadataUrl::Postgres(url) => {
            let store = PostgresStore::connect(url, config.postgres_connections_max).await?;
            info!(metadata = %store.describe(), "PostgreSQL reachable and migrated");
            Arc::new(Bounded::new(store, limit))
        }
    })
}

impl Broker {
    /// Opens the stores, loads topics and partition state, and binds the
    /// listener (so a caller knows the port is taken once this returns).
    pub async fn build(config: Config) -> Result<Self, BrokerError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = open_object_store(&config).await?;
        let meta = open_metadata_store(&config).await?;
        let cluster_id = meta.cluster_id().await?;
        let limits = LogLimits {
            node_id: config.node_id,
            flush_bytes_max: config.flush_bytes_max,
            flush_linger_ms: config.flush_linger_ms,
            flushes_in_flight_max: config.flushes_in_flight_max,
            writer_buffered_bytes_max: config.writer_buffered_bytes_max,
            object_cache_bytes_max: config.object_cache_bytes_max,
            index_tail_rows_max: config.index_tail_rows_max,
            decompressed_bytes_max: config.decompressed_bytes_max,
            orphan_grace_ms: config.orphan_grace_ms,
            inline_bytes_max: config.inline_bytes_max,
            spill_bytes_max: config.spill_bytes_max,
        };
        let stores = LogStores { index: meta.clone(), objects: meta.clone(), producers: meta.clone() };
        let log = Log::open(stores, store.clone(), clock.clone(), limits);
        let topics = Arc::new(Topics::load(meta.clone(), log.clone(), clock.clone(), config.topic_defaults).await?);
        info!(
            object_store = %store.describe(),
            cluster_id = %cluster_id,
            topics = topics.all().len(),
            "stores opened"
        );
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| BrokerError::Listen { addr: config.listen.to_string(), source })?;
        let membership = MembershipConfig {
            node_id: config.node_id,
            host: config.advertised_host.clone(),
            port: config.advertised_port,
            heartbeat_interval_ms: config.broker_heartbeat_interval_ms,
            session_timeout_ms: config.broker_session_timeout_ms,
        };
        let membership = Arc::new(Membership::register(meta.as_ref(), clock.clone(), membership).await?);
        let groups = Arc::new(
            GroupCoordinator::load(meta.clone(), clock.clone(), config.group.clone(), membership.clone()).await?,
        );
        let txn_parts = TxnParts {
            producers: meta.clone(),
            groups: meta.clone(),
            log: log.clone(),
            topics: topics.clone(),
            membership: membership.clone(),
            clock: clock.clone(),
        };
        let txn_settings = TxnSettings {
            timeout_max_ms: config.transaction_max_timeout_ms,
            id_expiration_ms: config.transactional_id_expiration_ms,
            abort_check_interval_ms: config.transaction_abort_check_interval_ms,
            marker_write_timeout_ms: config.transaction_marker_write_timeout_ms,
        };
        let txns = Arc::new(TxnCoordinator::new(txn_parts, txn_settings));
        let inflating = tokio::sync::Semaphore::new(config.produce_decompressions_max);
        let ctx = Arc::new(Context { config, cluster_id, topics, log, groups, txns, membership, clock, inflating });
        Ok(Self { ctx, meta, listener })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the process ends: starts the metrics endpoint (if
    /// configured) and every component's background work, then accepts
    /// clients.
    pub async fn run(self) -> Result<(), BrokerError> {
        let Self { ctx, meta, listener } = self;
        let config = &ctx.config;
        if let Some(addr) = config.metrics_listen {
            crate::metrics::install(addr)
                .map_err(|e| BrokerError::Metrics { addr: addr.to_string(), detail: e.to_string() })?;
            info!(%addr, "metrics at /metrics");
        }
        tokio::spawn(ctx.membership.clone().run(meta.clone()));
        tokio::spawn(crate::metadata::report_metrics(
            meta.clone(),
            Duration::from_millis(config.broker_heartbeat_interval_ms),
        ));
        if let Some(feed) = meta.change_feed() {
            tokio::spawn(ctx.topics.clone().follow_changes(config.node_id, feed));
        }
        let background = BackgroundSettings {
            gc_interval_ms: config.gc_interval_ms,
            retention_check_interval_ms: config.log_retention_check_interval_ms,
            merge_interval_ms: config.merge_interval_ms,
            merge: config.merge,
            producer_id_expiration_ms: config.producer_id_expiration_ms,
            spill_interval_ms: config.spill_interval_ms,
            spill_takeover_ms: config.spill_takeover_ms,
        };
        crate::log::background::spawn(&ctx.log, &ctx.membership, background);
        let ticks =
            GroupTicks { tick_ms: config.group_tick_ms, lag_metrics_interval_ms: config.group_lag_metrics_interval_ms };
        tokio::spawn(ctx.groups.clone().run(ticks, end_offsets(&ctx)));
        tokio::spawn(ctx.txns.clone().run());
        crate::server::listener::run(ctx, listener)
            .await
            .map_err(|source| BrokerError::Listen { addr: "listener".into(), source })
    }
}

/// Log end offsets by topic name, for the group coordinator's lag gauges.
fn end_offsets(ctx: &Context) -> EndOffsets {
    let (topics, log) = (ctx.topics.clone(), ctx.log.clone());
    Box::new(move |topic, partition| {
        let t = topics.get(topic)?;
        log.offsets(t.id, partition).map(|o| o.next_offset)
    })
}
