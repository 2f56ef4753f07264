//! Assembly: the only place where concrete stores, the clock and the
//! configuration meet. `main` builds a [`Broker`] and runs it; tests do the
//! same with their own config.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::clock::{Clock, SystemClock};
use crate::cluster::{Membership, MembershipConfig};
use crate::config::{Config, MetadataUrl, ObjectStoreUrl};
use crate::group::GroupCoordinator;
use crate::handlers::Context;
use crate::log::retention::RetentionPolicy;
use crate::log::{Log, LogError, LogLimits};
use crate::metadata::bounded::Bounded;
use crate::metadata::postgres::PostgresStore;
use crate::metadata::sqlite::SqliteStore;
use crate::metadata::{Change, MetaError, MetadataStore};
use crate::metrics as m;
use crate::object_store::local::LocalStore;
use crate::object_store::s3::{S3Settings, S3Store};
use crate::object_store::ObjectStore;
use crate::topics::TopicRegistry;

/// Attempts per S3 request, with the SDK's backoff and jitter in between.
const S3_ATTEMPTS_MAX: u32 = 3;

/// Longest a metadata operation may take before it fails as timed out.
const METADATA_OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

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
            MetadataUrl::Sqlite(path) => Arc::new(Bounded::new(SqliteStore::open(path)?, METADATA_OPERATION_TIMEOUT)),
            MetadataUrl::Postgres(url) => {
                let store = PostgresStore::connect(url, POSTGRES_CONNECTIONS_MAX).await?;
                info!(metadata = %store.describe(), "PostgreSQL reachable and migrated");
                Arc::new(Bounded::new(store, METADATA_OPERATION_TIMEOUT))
            }
        };
        let cluster_id = meta.cluster_id().await?;
        let topics = meta.list_topics().await?;
        let limits = LogLimits {
            node_id: config.node_id,
            flush_bytes_max: config.flush_bytes_max,
            flush_linger_ms: config.flush_linger_ms,
            flushes_in_flight_max: config.flushes_in_flight_max,
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
        let topics = TopicRegistry::new(topics, config.topic_defaults);
        let membership = MembershipConfig {
            node_id: config.node_id,
            host: config.advertised_host.clone(),
            port: config.advertised_port,
            heartbeat_interval_ms: config.broker_heartbeat_interval_ms,
            session_timeout_ms: config.broker_session_timeout_ms,
        };
        let membership = Arc::new(Membership::register(meta.as_ref(), clock.clone(), membership).await?);
        let groups =
            GroupCoordinator::load(meta.clone(), clock.clone(), config.group.clone(), membership.clone()).await?;
        let txns =
            crate::txn::TxnCoordinator::new(config.transaction_max_timeout_ms, config.transactional_id_expiration_ms);
        let ctx = Arc::new(Context { config, cluster_id, topics, log, groups, txns, membership, meta, clock });
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
        tokio::spawn(self.ctx.membership.clone().run(self.ctx.meta.clone()));
        if let Some(feed) = self.ctx.meta.change_feed() {
            tokio::spawn(follow_changes(self.ctx.clone(), feed));
        }
        tokio::spawn(collect_garbage(self.ctx.clone()));
        tokio::spawn(enforce_retention(self.ctx.clone()));
        tokio::spawn(merge_segments(self.ctx.clone()));
        tokio::spawn(drive_groups(self.ctx.clone()));
        tokio::spawn(drive_transactions(self.ctx.clone()));
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
    let mut membership = ctx.membership.subscribe();
    loop {
        tokio::time::sleep(GROUP_TICK).await;
        ctx.groups.tick();
        if membership.has_changed().unwrap_or(false) {
            membership.mark_unchanged();
            // Groups of a broker that left (or that moved here) are loaded
            // from the store; until then their members rejoin an empty group.
            match ctx.groups.adopt_owned_groups().await {
                Ok(0) => {}
                Ok(adopted) => info!(adopted, "took over groups from the store"),
                Err(e) => {
                    warn!(error = %e, "cannot load groups this broker now coordinates; retrying");
                    membership.mark_changed();
                }
            }
        }
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

const PRODUCERS_OWNER_KEY: &str = "__streamhouse_producers";

/// The transaction coordinator's periodic pass: abort transactions past
/// their timeout and finish decided ones, for the ids this broker
/// coordinates (which includes ids taken over from a broker that left).
async fn drive_transactions(ctx: Arc<Context>) {
    let every = Duration::from_millis(ctx.config.transaction_abort_check_interval_ms);
    loop {
        tokio::time::sleep(every).await;
        let done = ctx.txns.tick(&ctx).await;
        if done > 0 {
            info!(transactions = done, "aborted timed-out or finished decided transactions");
        }
        // The cluster-wide producer count, from one broker.
        if ctx.membership.owns(PRODUCERS_OWNER_KEY) {
            match ctx.meta.count_producers().await {
                Ok(n) => metrics::gauge!(m::PRODUCERS_ACTIVE).set(n as f64),
                Err(e) => warn!(error = %e, "cannot count producers"),
            }
        }
    }
}

/// The key placing background work on one live broker at a time.
const GC_OWNER_KEY: &str = "__streamhouse_gc";

async fn collect_garbage(ctx: Arc<Context>) {
    let every = Duration::from_millis(ctx.config.gc_interval_ms);
    loop {
        // One broker collects at a time. Collection is idempotent, so two
        // brokers briefly disagreeing about the owner is harmless.
        if ctx.membership.owns(GC_OWNER_KEY) {
            if let Err(e) = ctx.log.collect_garbage().await {
                warn!(error = %e, "garbage collection pass failed; retrying next interval");
            }
        }
        tokio::time::sleep(every).await;
    }
}

const RETENTION_OWNER_KEY: &str = "__streamhouse_retention";

/// Retention passes, on one live broker at a time (advancing the log start
/// is idempotent, so a brief overlap while brokers come and go is harmless);
/// each pass also forgets idle idempotent-producer state.
async fn enforce_retention(ctx: Arc<Context>) {
    let every = Duration::from_millis(ctx.config.log_retention_check_interval_ms);
    loop {
        tokio::time::sleep(every).await;
        if !ctx.membership.owns(RETENTION_OWNER_KEY) {
            continue;
        }
        let mut failed = 0usize;
        for topic in ctx.topics.all() {
            let c = &topic.config;
            if !c.delete_policy || (c.retention_ms.is_none() && c.retention_bytes.is_none()) {
                continue;
            }
            let policy = RetentionPolicy { retention_ms: c.retention_ms, retention_bytes: c.retention_bytes };
            for p in 0..topic.record.partitions {
                if let Err(e) = ctx.log.enforce_retention(topic.record.id, p, policy).await {
                    failed += 1;
                    if failed == 1 {
                        warn!(topic = %topic.record.name, partition = p, error = %e,
                            "retention pass failed for a partition; retrying next interval");
                    }
                }
            }
        }
        // Idempotent-producer state expires with the same pass.
        let before = ctx.clock.now_ms() - ctx.config.producer_id_expiration_ms;
        match ctx.meta.expire_producers(before).await {
            Ok(0) => {}
            Ok(n) => info!(expired = n, "forgot idle idempotent producers"),
            Err(e) => {
                failed += 1;
                warn!(error = %e, "cannot expire idle producer state; retrying next interval");
            }
        }
        let outcome = if failed == 0 { "ok" } else { "failed" };
        metrics::counter!(m::RETENTION_PASSES_TOTAL, "outcome" => outcome).increment(1);
    }
}

const MERGE_OWNER_KEY: &str = "__streamhouse_merge";

/// Merge passes, on one live broker at a time: per partition, at most one
/// run of flush batches per pass, so a pass stays short. Two brokers
/// merging the same rows at once is safe (the second swap finds the rows
/// moved and changes nothing), only wasteful.
async fn merge_segments(ctx: Arc<Context>) {
    let every = Duration::from_millis(ctx.config.merge_interval_ms);
    loop {
        tokio::time::sleep(every).await;
        if !ctx.membership.owns(MERGE_OWNER_KEY) {
            continue;
        }
        let mut failed = 0usize;
        for topic in ctx.topics.all() {
            for p in 0..topic.record.partitions {
                if let Err(e) = ctx.log.merge_partition(topic.record.id, p, ctx.config.merge).await {
                    failed += 1;
                    if failed == 1 {
                        warn!(topic = %topic.record.name, partition = p, error = %e,
                            "merge failed for a partition; retrying next interval");
                    }
                }
            }
        }
    }
}

/// Applies what other brokers commit, as the metadata store reports it:
/// new high watermarks (waking long polls) and topic changes. After the
/// feed (re)connects, everything is reloaded once.
async fn follow_changes(ctx: Arc<Context>, mut feed: tokio::sync::mpsc::Receiver<Change>) {
    let me = ctx.config.node_id;
    while let Some(change) = feed.recv().await {
        match change {
            Change::Partition { node_id, topic_id, partition, offsets } => {
                if node_id != me {
                    metrics::counter!(m::METADATA_REMOTE_CHANGES_TOTAL, "kind" => "partition").increment(1);
                    ctx.log.apply_remote(topic_id, partition, offsets);
                }
            }
            Change::Topics | Change::Resync => {
                metrics::counter!(m::METADATA_REMOTE_CHANGES_TOTAL, "kind" => "resync").increment(1);
                while let Err(e) = resync(&ctx).await {
                    warn!(error = %e, "cannot reload topics and offsets from the metadata store; retrying");
                    tokio::time::sleep(RESYNC_RETRY).await;
                }
            }
        }
    }
}

const RESYNC_RETRY: Duration = Duration::from_secs(1);

/// Reloads topics (adding and removing) and every partition's offsets.
async fn resync(ctx: &Context) -> Result<(), MetaError> {
    let stored = ctx.meta.list_topics().await?;
    let stored_ids: std::collections::HashSet<_> = stored.iter().map(|t| t.id).collect();
    for t in ctx.topics.all() {
        if stored_ids.contains(&t.record.id) {
            continue;
        }
        // The list may predate a topic this broker created meanwhile:
        // forget a topic only once the store confirms it is gone.
        match ctx.meta.partition_offsets(t.record.id, 0).await {
            Err(MetaError::PartitionNotFound { .. }) => {
                info!(topic = %t.record.name, "topic gone from the metadata store; forgotten");
                ctx.log.remove_topic(&t.record);
                ctx.topics.remove(&t.record.name);
            }
            Ok(_) => {}
            Err(e) => return Err(e),
        }
    }
    for t in stored {
        if ctx.topics.get_by_id(t.id).is_none() {
            info!(topic = %t.name, partitions = t.partitions, "topic loaded from the metadata store");
            ctx.log.add_topic(&t);
            ctx.topics.insert(t);
        }
    }
    for (topic_id, partition, offsets) in ctx.meta.all_partition_offsets().await? {
        ctx.log.apply_remote(topic_id, partition, offsets);
    }
    Ok(())
}
