//! Settings: raw command-line/environment values ([`Args`]) turned into a
//! validated, immutable [`Config`]. Every flag can also be set as
//! `STREAMHOUSE_<FLAG>` in the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use thiserror::Error;

pub mod limits;

/// A Kafka-protocol broker that stores record batches in an object store and
/// its offset index in a SQL database.
#[derive(Debug, Clone, Parser)]
#[command(name = "streamhouse", version, about, long_about = None)]
pub struct Args {
    /// Address to accept Kafka clients on.
    #[arg(long, env = "STREAMHOUSE_LISTEN", default_value = "127.0.0.1:9092")]
    pub listen: String,
    /// HOST:PORT given to clients in Metadata (default: the listen address).
    #[arg(long, env = "STREAMHOUSE_ADVERTISED_LISTENER")]
    pub advertised_listener: Option<String>,
    /// Directory for the embedded stores.
    #[arg(long, env = "STREAMHOUSE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Where record batches go: file://DIR (default file://<data-dir>/objects)
    /// or s3://BUCKET/PREFIX (endpoint, region and credentials from the
    /// standard AWS_* settings).
    #[arg(long, env = "STREAMHOUSE_OBJECT_STORE")]
    pub object_store: Option<String>,
    /// Where the offset index and metadata go: sqlite://FILE (default
    /// sqlite://<data-dir>/meta.sqlite) or postgres://USER@HOST:PORT/DB.
    #[arg(long, env = "STREAMHOUSE_METADATA")]
    pub metadata: Option<String>,
    /// This broker's node id.
    #[arg(long, env = "STREAMHOUSE_NODE_ID", default_value_t = 1)]
    pub node_id: i32,
    /// Address for the Prometheus /metrics endpoint (off when unset).
    #[arg(long, env = "STREAMHOUSE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Create unknown topics when a client asks for them in Metadata
    /// (Kafka's auto.create.topics.enable).
    #[arg(long, env = "STREAMHOUSE_AUTO_CREATE_TOPICS_ENABLE", default_value_t = true, action = clap::ArgAction::Set)]
    pub auto_create_topics_enable: bool,
    /// Partitions of auto-created topics, and of CreateTopics asking for -1
    /// (Kafka's num.partitions).
    #[arg(long, env = "STREAMHOUSE_NUM_PARTITIONS", default_value_t = 1)]
    pub num_partitions: i32,
    /// Largest record batch accepted, unless a topic's max.message.bytes
    /// says otherwise (Kafka's message.max.bytes).
    #[arg(long, env = "STREAMHOUSE_MESSAGE_MAX_BYTES", default_value_t = limits::MESSAGE_BYTES_MAX_DEFAULT)]
    pub message_max_bytes: usize,
    /// Largest request frame accepted (Kafka's socket.request.max.bytes).
    #[arg(long, env = "STREAMHOUSE_REQUEST_SIZE_BYTES_MAX", default_value_t = limits::REQUEST_SIZE_BYTES_MAX_DEFAULT)]
    pub request_size_bytes_max: usize,
    /// Concurrent client connections.
    #[arg(long, env = "STREAMHOUSE_CONNECTIONS_MAX", default_value_t = limits::CONNECTIONS_MAX_DEFAULT)]
    pub connections_max: usize,
    /// A flush (one object) stops gathering batches at this size.
    #[arg(long, env = "STREAMHOUSE_FLUSH_BYTES_MAX", default_value_t = limits::FLUSH_BYTES_MAX_DEFAULT)]
    pub flush_bytes_max: usize,
    /// Milliseconds an idle writer waits for more batches before flushing.
    #[arg(long, env = "STREAMHOUSE_FLUSH_LINGER_MS", default_value_t = 0)]
    pub flush_linger_ms: u64,
    /// Flushes in flight at once: object PUTs overlap, metadata commits stay
    /// one at a time and in order.
    #[arg(long, env = "STREAMHOUSE_FLUSHES_IN_FLIGHT_MAX", default_value_t = 2)]
    pub flushes_in_flight_max: usize,
    /// Bytes admitted but not yet committed before producers must wait.
    #[arg(long, env = "STREAMHOUSE_WRITER_BUFFERED_BYTES_MAX", default_value_t = limits::WRITER_BUFFERED_BYTES_MAX_DEFAULT)]
    pub writer_buffered_bytes_max: usize,
    /// Memory for recently written objects served to consumers.
    #[arg(long, env = "STREAMHOUSE_OBJECT_CACHE_BYTES_MAX", default_value_t = limits::OBJECT_CACHE_BYTES_MAX_DEFAULT)]
    pub object_cache_bytes_max: usize,
    /// A flush whose object is at most this big is committed inline, in the
    /// metadata store, in the transaction that assigns its offsets, instead
    /// of being PUT; spills move it into an object later. 0 turns inline
    /// flushes off.
    #[arg(long, env = "STREAMHOUSE_INLINE_BYTES_MAX", default_value_t = limits::INLINE_BYTES_MAX_DEFAULT)]
    pub inline_bytes_max: usize,
    /// Inline bytes a broker may hold before new flushes go to objects
    /// again; also the most one spill object gathers.
    #[arg(long, env = "STREAMHOUSE_SPILL_BYTES_MAX", default_value_t = limits::SPILL_BYTES_MAX_DEFAULT)]
    pub spill_bytes_max: usize,
    /// How often a broker spills its inline flushes into one object.
    #[arg(long, env = "STREAMHOUSE_SPILL_INTERVAL_MS", default_value_t = limits::SPILL_INTERVAL_MS_DEFAULT)]
    pub spill_interval_ms: u64,
    /// Inline flushes older than this are spilled by any broker.
    #[arg(long, env = "STREAMHOUSE_SPILL_TAKEOVER_MS", default_value_t = limits::SPILL_TAKEOVER_MS_DEFAULT)]
    pub spill_takeover_ms: i64,
    /// Objects written but never committed are deleted after this age.
    #[arg(long, env = "STREAMHOUSE_ORPHAN_GRACE_MS", default_value_t = limits::ORPHAN_GRACE_MS_DEFAULT)]
    pub orphan_grace_ms: i64,
    /// Milliseconds between garbage-collection passes.
    #[arg(long, env = "STREAMHOUSE_GC_INTERVAL_MS", default_value_t = limits::GC_INTERVAL_MS_DEFAULT)]
    pub gc_interval_ms: u64,
    /// Path-style S3 addressing (http://endpoint/bucket/key), as MinIO-like
    /// servers need.
    #[arg(long, env = "STREAMHOUSE_S3_PATH_STYLE", default_value_t = false, action = clap::ArgAction::Set)]
    pub s3_path_style: bool,
    /// Concurrent requests to the object store.
    #[arg(long, env = "STREAMHOUSE_S3_REQUESTS_MAX", default_value_t = limits::S3_REQUESTS_MAX_DEFAULT)]
    pub s3_requests_max: usize,
    /// For benchmarks: delay every object-store request as a cloud store
    /// would (s3-standard or s3-express; see object_store/latency.rs).
    #[arg(long, env = "STREAMHOUSE_OBJECT_STORE_LATENCY_MODEL")]
    pub object_store_latency_model: Option<String>,
    /// Seed of the latency model's draws (the same seed, the same delays).
    #[arg(long, env = "STREAMHOUSE_OBJECT_STORE_LATENCY_SEED", default_value_t = 1)]
    pub object_store_latency_seed: u64,
    /// Object-store PUTs per second this broker may send (writer flushes,
    /// spills, merges and hedges); a PUT beyond it waits. 0: no bound.
    #[arg(long, env = "STREAMHOUSE_PUT_BUDGET_PER_SECOND", default_value_t = 0.0)]
    pub put_budget_per_second: f64,
    /// Fewer requests for more latency: spill inline flushes every 10 s (up
    /// to 32 MiB at once), gather batches for 10 ms before a flush (fewer
    /// metadata commits) and, unless --put-budget-per-second says
    /// otherwise, send at most 2 PUTs a second.
    #[arg(long, env = "STREAMHOUSE_ECONOMY", default_value_t = false, action = clap::ArgAction::Set)]
    pub economy: bool,
    /// A PUT or ranged GET slower than this percentile of recent ones is
    /// sent a second time and the first answer is used; 0 turns hedging off.
    #[arg(long, env = "STREAMHOUSE_HEDGE_PERCENTILE", default_value_t = 95.0)]
    pub hedge_percentile: f64,
    /// Hedges allowed per 100 object-store requests, over time.
    #[arg(long, env = "STREAMHOUSE_HEDGE_BUDGET_PERCENT", default_value_t = 5.0)]
    pub hedge_budget_percent: f64,
    /// Attempts per object-store request, with backoff and jitter between.
    #[arg(long, env = "STREAMHOUSE_S3_ATTEMPTS_MAX", default_value_t = limits::S3_ATTEMPTS_MAX_DEFAULT)]
    pub s3_attempts_max: u32,
    /// A metadata-store operation taking longer fails as timed out (the
    /// client retries; the operation may or may not have taken effect).
    #[arg(long, env = "STREAMHOUSE_METADATA_OPERATION_TIMEOUT_MS", default_value_t = limits::METADATA_OPERATION_TIMEOUT_MS_DEFAULT)]
    pub metadata_operation_timeout_ms: u64,
    /// Connections each broker keeps to PostgreSQL.
    #[arg(long, env = "STREAMHOUSE_POSTGRES_CONNECTIONS_MAX", default_value_t = limits::POSTGRES_CONNECTIONS_MAX_DEFAULT)]
    pub postgres_connections_max: usize,
    /// Index rows per partition kept in memory near the tail, so fetches
    /// of recent data need no index lookup.
    #[arg(long, env = "STREAMHOUSE_INDEX_TAIL_ROWS_MAX", default_value_t = limits::INDEX_TAIL_ROWS_MAX_DEFAULT)]
    pub index_tail_rows_max: usize,
    /// Largest size one compressed batch may inflate to when its records
    /// are checked; a larger one is refused as corrupt.
    #[arg(long, env = "STREAMHOUSE_DECOMPRESSED_BYTES_MAX", default_value_t = limits::DECOMPRESSED_BYTES_MAX_DEFAULT)]
    pub decompressed_bytes_max: usize,
    /// Compressed produced batches inflated at once (each within
    /// --decompressed-bytes-max); more wait.
    #[arg(long, env = "STREAMHOUSE_PRODUCE_DECOMPRESSIONS_MAX", default_value_t = limits::PRODUCE_DECOMPRESSIONS_MAX_DEFAULT)]
    pub produce_decompressions_max: usize,
    /// Longest a Fetch waits for data, whatever max_wait_ms it asks for.
    #[arg(long, env = "STREAMHOUSE_FETCH_WAIT_MS_MAX", default_value_t = limits::FETCH_WAIT_MS_MAX_DEFAULT)]
    pub fetch_wait_ms_max: u64,
    /// Longest metadata string of a committed offset (Kafka's
    /// offset.metadata.max.bytes).
    #[arg(long, env = "STREAMHOUSE_OFFSET_METADATA_MAX_BYTES", default_value_t = limits::OFFSET_METADATA_BYTES_MAX_DEFAULT)]
    pub offset_metadata_max_bytes: usize,
    /// A new group waits this long for more members before its first
    /// rebalance completes (Kafka's group.initial.rebalance.delay.ms).
    #[arg(long, env = "STREAMHOUSE_GROUP_INITIAL_REBALANCE_DELAY_MS", default_value_t = 3000)]
    pub group_initial_rebalance_delay_ms: i64,
    /// Smallest session timeout a group member may ask for
    /// (Kafka's group.min.session.timeout.ms).
    #[arg(long, env = "STREAMHOUSE_GROUP_MIN_SESSION_TIMEOUT_MS", default_value_t = 6000)]
    pub group_min_session_timeout_ms: i32,
    /// Largest session timeout (Kafka's group.max.session.timeout.ms).
    #[arg(long, env = "STREAMHOUSE_GROUP_MAX_SESSION_TIMEOUT_MS", default_value_t = 1_800_000)]
    pub group_max_session_timeout_ms: i32,
    /// How often group sessions and rebalance timeouts are checked.
    #[arg(long, env = "STREAMHOUSE_GROUP_TICK_MS", default_value_t = limits::GROUP_TICK_MS_DEFAULT)]
    pub group_tick_ms: u64,
    /// How often the consumer-lag gauges are refreshed.
    #[arg(long, env = "STREAMHOUSE_GROUP_LAG_METRICS_INTERVAL_MS", default_value_t = limits::GROUP_LAG_METRICS_INTERVAL_MS_DEFAULT)]
    pub group_lag_metrics_interval_ms: u64,
    /// Milliseconds between renewals of this broker's registration
    /// (Kafka's broker.heartbeat.interval.ms).
    #[arg(long, env = "STREAMHOUSE_BROKER_HEARTBEAT_INTERVAL_MS", default_value_t = 2000)]
    pub broker_heartbeat_interval_ms: u64,
    /// A broker not renewed for this long is dead: its partitions get new
    /// leaders and its groups new coordinators (Kafka's
    /// broker.session.timeout.ms).
    #[arg(long, env = "STREAMHOUSE_BROKER_SESSION_TIMEOUT_MS", default_value_t = 9000)]
    pub broker_session_timeout_ms: u64,
    /// Retention of topics that set no retention.ms (Kafka's
    /// log.retention.ms; -1 keeps records forever).
    #[arg(long, env = "STREAMHOUSE_LOG_RETENTION_MS", default_value_t = 604_800_000, allow_negative_numbers = true)]
    pub log_retention_ms: i64,
    /// Size limit per partition of topics that set no retention.bytes
    /// (Kafka's log.retention.bytes; -1 for none).
    #[arg(long, env = "STREAMHOUSE_LOG_RETENTION_BYTES", default_value_t = -1, allow_negative_numbers = true)]
    pub log_retention_bytes: i64,
    /// Milliseconds between retention passes (Kafka's
    /// log.retention.check.interval.ms).
    #[arg(long, env = "STREAMHOUSE_LOG_RETENTION_CHECK_INTERVAL_MS", default_value_t = 300_000)]
    pub log_retention_check_interval_ms: u64,
    /// Milliseconds between merge passes, which copy a partition's batches
    /// from small flush objects into per-partition segments.
    #[arg(long, env = "STREAMHOUSE_MERGE_INTERVAL_MS", default_value_t = 60_000)]
    pub merge_interval_ms: u64,
    /// A merged segment stops growing at this size.
    #[arg(long, env = "STREAMHOUSE_MERGE_SEGMENT_BYTES_MAX", default_value_t = 64 << 20)]
    pub merge_segment_bytes_max: usize,
    /// Fewer consecutive flush batches than this are not merged (unless
    /// they fill half a segment).
    #[arg(long, env = "STREAMHOUSE_MERGE_BATCHES_MIN", default_value_t = 64)]
    pub merge_batches_min: usize,
    /// An idempotent producer's state on a partition is forgotten after this
    /// long without a write (Kafka's producer.id.expiration.ms).
    #[arg(long, env = "STREAMHOUSE_PRODUCER_ID_EXPIRATION_MS", default_value_t = 86_400_000)]
    pub producer_id_expiration_ms: i64,

    /// How often the transaction coordinator looks for transactions open
    /// longer than their timeout and aborts them (Kafka's
    /// transaction.abort.timed.out.transaction.cleanup.interval.ms).
    #[arg(long, env = "STREAMHOUSE_TRANSACTION_ABORT_CHECK_INTERVAL_MS", default_value_t = 10_000)]
    pub transaction_abort_check_interval_ms: u64,

    /// The longest transaction.timeout.ms a producer may ask for (Kafka's
    /// transaction.max.timeout.ms); more is refused with
    /// INVALID_TRANSACTION_TIMEOUT.
    #[arg(long, env = "STREAMHOUSE_TRANSACTION_MAX_TIMEOUT_MS", default_value_t = 900_000)]
    pub transaction_max_timeout_ms: i32,

    /// A transactional id with no transaction open and no request for this
    /// long is forgotten (Kafka's transactional.id.expiration.ms).
    #[arg(long, env = "STREAMHOUSE_TRANSACTIONAL_ID_EXPIRATION_MS", default_value_t = 604_800_000)]
    pub transactional_id_expiration_ms: i64,

    /// Longest wait for a transaction's commit or abort markers to be
    /// stored; past it the transaction is finished by a later pass.
    #[arg(long, env = "STREAMHOUSE_TRANSACTION_MARKER_WRITE_TIMEOUT_MS", default_value_t = limits::TRANSACTION_MARKER_WRITE_TIMEOUT_MS_DEFAULT)]
    pub transaction_marker_write_timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectStoreUrl {
    Local(PathBuf),
    /// s3://BUCKET/PREFIX; the prefix has no leading or trailing slash.
    S3 {
        bucket: String,
        prefix: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataUrl {
    Sqlite(PathBuf),
    /// A tokio-postgres connection URL.
    Postgres(String),
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub advertised_host: String,
    pub advertised_port: i32,
    pub data_dir: PathBuf,
    pub object_store: ObjectStoreUrl,
    /// A latency model in front of the object store (benchmarks only).
    pub object_store_latency: Option<(crate::object_store::latency::LatencyModel, u64)>,
    /// Object-store PUTs per second (0: no bound).
    pub put_budget_per_second: f64,
    pub hedge: crate::object_store::hedge::HedgeSettings,
    pub metadata: MetadataUrl,
    pub node_id: i32,
    pub metrics_listen: Option<SocketAddr>,
    pub auto_create_topics_enable: bool,
    pub num_partitions: i32,
    pub message_bytes_max: usize,
    pub request_size_bytes_max: usize,
    pub connections_max: usize,
    pub flush_bytes_max: usize,
    pub flush_linger_ms: u64,
    pub flushes_in_flight_max: usize,
    pub writer_buffered_bytes_max: usize,
    pub object_cache_bytes_max: usize,
    pub orphan_grace_ms: i64,
    pub inline_bytes_max: usize,
    pub spill_bytes_max: usize,
    pub spill_interval_ms: u64,
    pub spill_takeover_ms: i64,
    pub gc_interval_ms: u64,
    pub s3_path_style: bool,
    pub s3_requests_max: usize,
    pub s3_attempts_max: u32,
    pub metadata_operation_timeout_ms: u64,
    pub postgres_connections_max: usize,
    pub index_tail_rows_max: usize,
    pub decompressed_bytes_max: usize,
    pub produce_decompressions_max: usize,
    pub fetch_wait_ms_max: u64,
    pub offset_metadata_bytes_max: usize,
    pub group: crate::group::machine::GroupConfig,
    pub group_tick_ms: u64,
    pub group_lag_metrics_interval_ms: u64,
    pub broker_heartbeat_interval_ms: u64,
    pub broker_session_timeout_ms: u64,
    pub topic_defaults: crate::topics::TopicDefaults,
    pub log_retention_check_interval_ms: u64,
    pub merge_interval_ms: u64,
    pub merge: crate::log::merge::MergePolicy,
    pub producer_id_expiration_ms: i64,
    pub transaction_abort_check_interval_ms: u64,
    pub transaction_max_timeout_ms: i32,
    pub transactional_id_expiration_ms: i64,
    pub transaction_marker_write_timeout_ms: u64,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("--listen {value:?} is not an IP:PORT address")]
    Listen { value: String },
    #[error("--advertised-listener {value:?} is not HOST:PORT")]
    Advertised { value: String },
    #[error("{flag} {value:?}: {reason}")]
    Url { flag: &'static str, value: String, reason: &'static str },
    #[error("{flag} must be {rule}, got {value}")]
    Range { flag: &'static str, rule: &'static str, value: i64 },
}

fn split_host_port(s: &str) -> Option<(String, i32)> {
    let (host, port) = s.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| (host.to_string(), i32::from(port)))
}

fn parse_object_store(url: &str) -> Result<ObjectStoreUrl, ConfigError> {
    let err = |reason| ConfigError::Url { flag: "--object-store", value: url.to_string(), reason };
    if let Some(path) = url.strip_prefix("file://") {
        if path.is_empty() {
            return Err(err("file:// needs a directory"));
        }
        return Ok(ObjectStoreUrl::Local(PathBuf::from(path)));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(err("s3:// needs a bucket"));
        }
        return Ok(ObjectStoreUrl::S3 { bucket: bucket.to_string(), prefix: prefix.trim_matches('/').to_string() });
    }
    Err(err("expected file://DIR or s3://BUCKET/PREFIX"))
}

fn parse_metadata(url: &str) -> Result<MetadataUrl, ConfigError> {
    let err = |reason| ConfigError::Url { flag: "--metadata", value: url.to_string(), reason };
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(err("sqlite:// needs a file path"));
        }
        return Ok(MetadataUrl::Sqlite(PathBuf::from(path)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        if url.parse::<tokio_postgres::Config>().is_err() {
            return Err(err("not a valid PostgreSQL connection URL"));
        }
        return Ok(MetadataUrl::Postgres(url.to_string()));
    }
    Err(err("expected sqlite://FILE or postgres://USER@HOST:PORT/DB"))
}

fn at_least(flag: &'static str, value: i64, min: i64, rule: &'static str) -> Result<(), ConfigError> {
    if value < min {
        return Err(ConfigError::Range { flag, rule, value });
    }
    Ok(())
}

impl Config {
    pub fn from_args(mut a: Args) -> Result<Self, ConfigError> {
        let listen: SocketAddr = a.listen.parse().map_err(|_| ConfigError::Listen { value: a.listen.clone() })?;
        let (advertised_host, advertised_port) = match &a.advertised_listener {
            Some(v) => split_host_port(v).ok_or(ConfigError::Advertised { value: v.clone() })?,
            None => (listen.ip().to_string(), i32::from(listen.port())),
        };
        let object_store = match &a.object_store {
            Some(url) => parse_object_store(url)?,
            None => ObjectStoreUrl::Local(a.data_dir.join("objects")),
        };
        let object_store_latency = match &a.object_store_latency_model {
            None => None,
            Some(name) => {
                let model = crate::object_store::latency::LatencyModel::named(name).ok_or(ConfigError::Url {
                    flag: "--object-store-latency-model",
                    value: name.clone(),
                    reason: "expected s3-standard or s3-express",
                })?;
                Some((model, a.object_store_latency_seed))
            }
        };
        let metadata = match &a.metadata {
            Some(url) => parse_metadata(url)?,
            None => MetadataUrl::Sqlite(a.data_dir.join("meta.sqlite")),
        };
        at_least("--node-id", a.node_id.into(), 0, "0 or more")?;
        at_least("--num-partitions", a.num_partitions.into(), 1, "1 or more")?;
        if a.num_partitions > limits::PARTITIONS_PER_TOPIC_MAX {
            return Err(ConfigError::Range {
                flag: "--num-partitions",
                rule: "at most 10000",
                value: a.num_partitions.into(),
            });
        }
        at_least("--message-max-bytes", a.message_max_bytes as i64, 61, "at least one batch header (61)")?;
        at_least("--request-size-bytes-max", a.request_size_bytes_max as i64, 1024, "at least 1024")?;
        at_least("--connections-max", a.connections_max as i64, 1, "1 or more")?;
        at_least("--flush-bytes-max", a.flush_bytes_max as i64, 1, "1 or more")?;
        at_least("--flushes-in-flight-max", a.flushes_in_flight_max as i64, 1, "1 or more")?;
        at_least(
            "--writer-buffered-bytes-max",
            a.writer_buffered_bytes_max as i64,
            a.message_max_bytes as i64,
            "at least --message-max-bytes",
        )?;
        at_least("--orphan-grace-ms", a.orphan_grace_ms, 0, "0 or more")?;
        at_least(
            "--spill-bytes-max",
            a.spill_bytes_max as i64,
            a.inline_bytes_max as i64,
            "at least --inline-bytes-max",
        )?;
        at_least("--spill-interval-ms", a.spill_interval_ms as i64, 10, "at least 10")?;
        let in_range = |flag: &'static str, v: f64, lo: f64, hi: f64, rule: &'static str| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(ConfigError::Range { flag, rule, value: v as i64 })
            }
        };
        in_range("--put-budget-per-second", a.put_budget_per_second, 0.0, 1e6, "0 (no bound) to 1000000")?;
        in_range("--hedge-percentile", a.hedge_percentile, 0.0, 99.9, "0 (off) to 99.9")?;
        in_range("--hedge-budget-percent", a.hedge_budget_percent, 0.0, 100.0, "0 to 100")?;
        let mut put_budget_per_second = a.put_budget_per_second;
        if a.economy {
            a.spill_interval_ms = a.spill_interval_ms.max(limits::ECONOMY_SPILL_INTERVAL_MS);
            a.spill_bytes_max = a.spill_bytes_max.max(limits::ECONOMY_SPILL_BYTES_MAX);
            a.flush_linger_ms = a.flush_linger_ms.max(limits::ECONOMY_FLUSH_LINGER_MS);
            if put_budget_per_second == 0.0 {
                put_budget_per_second = limits::ECONOMY_PUT_BUDGET_PER_SECOND;
            }
        }
        at_least("--spill-takeover-ms", a.spill_takeover_ms, 1_000, "at least 1000")?;
        at_least("--gc-interval-ms", a.gc_interval_ms as i64, 100, "at least 100")?;
        at_least("--group-initial-rebalance-delay-ms", a.group_initial_rebalance_delay_ms, 0, "0 or more")?;
        at_least("--group-min-session-timeout-ms", a.group_min_session_timeout_ms.into(), 1, "1 or more")?;
        at_least(
            "--group-max-session-timeout-ms",
            a.group_max_session_timeout_ms.into(),
            a.group_min_session_timeout_ms.into(),
            "at least --group-min-session-timeout-ms",
        )?;
        at_least("--broker-heartbeat-interval-ms", a.broker_heartbeat_interval_ms as i64, 10, "at least 10")?;
        at_least(
            "--broker-session-timeout-ms",
            a.broker_session_timeout_ms as i64,
            2 * a.broker_heartbeat_interval_ms as i64,
            "at least twice --broker-heartbeat-interval-ms",
        )?;
        at_least("--log-retention-ms", a.log_retention_ms, -1, "-1 or more")?;
        at_least("--log-retention-bytes", a.log_retention_bytes, -1, "-1 or more")?;
        at_least("--log-retention-check-interval-ms", a.log_retention_check_interval_ms as i64, 10, "at least 10")?;
        at_least("--producer-id-expiration-ms", a.producer_id_expiration_ms, 1, "1 or more")?;
        at_least(
            "--transaction-abort-check-interval-ms",
            a.transaction_abort_check_interval_ms as i64,
            10,
            "at least 10",
        )?;
        at_least("--transaction-max-timeout-ms", i64::from(a.transaction_max_timeout_ms), 1, "1 or more")?;
        at_least("--transactional-id-expiration-ms", a.transactional_id_expiration_ms, 1, "1 or more")?;
        at_least("--merge-interval-ms", a.merge_interval_ms as i64, 10, "at least 10")?;
        at_least("--merge-segment-bytes-max", a.merge_segment_bytes_max as i64, 1024, "at least 1024")?;
        at_least("--merge-batches-min", a.merge_batches_min as i64, 2, "at least 2")?;
        at_least("--s3-requests-max", a.s3_requests_max as i64, 1, "1 or more")?;
        at_least("--s3-attempts-max", i64::from(a.s3_attempts_max), 1, "1 or more")?;
        at_least("--metadata-operation-timeout-ms", a.metadata_operation_timeout_ms as i64, 100, "at least 100")?;
        at_least("--postgres-connections-max", a.postgres_connections_max as i64, 2, "at least 2")?;
        at_least("--index-tail-rows-max", a.index_tail_rows_max as i64, 1, "1 or more")?;
        at_least(
            "--decompressed-bytes-max",
            a.decompressed_bytes_max as i64,
            a.message_max_bytes as i64,
            "at least --message-max-bytes",
        )?;
        at_least("--produce-decompressions-max", a.produce_decompressions_max as i64, 1, "1 or more")?;
        at_least("--fetch-wait-ms-max", a.fetch_wait_ms_max as i64, 0, "0 or more")?;
        at_least("--offset-metadata-max-bytes", a.offset_metadata_max_bytes as i64, 0, "0 or more")?;
        at_least("--group-tick-ms", a.group_tick_ms as i64, 10, "at least 10")?;
        at_least(
            "--group-lag-metrics-interval-ms",
            a.group_lag_metrics_interval_ms as i64,
            a.group_tick_ms as i64,
            "at least --group-tick-ms",
        )?;
        at_least(
            "--transaction-marker-write-timeout-ms",
            a.transaction_marker_write_timeout_ms as i64,
            100,
            "at least 100",
        )?;
        let topic_defaults = crate::topics::TopicDefaults {
            message_bytes_max: a.message_max_bytes,
            retention_ms: a.log_retention_ms,
            retention_bytes: a.log_retention_bytes,
        };
        let group = crate::group::machine::GroupConfig {
            initial_rebalance_delay_ms: a.group_initial_rebalance_delay_ms,
            session_timeout_min_ms: a.group_min_session_timeout_ms,
            session_timeout_max_ms: a.group_max_session_timeout_ms,
            ..Default::default()
        };
        Ok(Config {
            listen,
            advertised_host,
            advertised_port,
            data_dir: a.data_dir,
            object_store,
            object_store_latency,
            put_budget_per_second,
            hedge: crate::object_store::hedge::HedgeSettings {
                percentile: a.hedge_percentile,
                budget_percent: a.hedge_budget_percent,
            },
            metadata,
            node_id: a.node_id,
            metrics_listen: a.metrics_listen,
            auto_create_topics_enable: a.auto_create_topics_enable,
            num_partitions: a.num_partitions,
            message_bytes_max: a.message_max_bytes,
            request_size_bytes_max: a.request_size_bytes_max,
            connections_max: a.connections_max,
            flush_bytes_max: a.flush_bytes_max,
            flush_linger_ms: a.flush_linger_ms,
            flushes_in_flight_max: a.flushes_in_flight_max,
            writer_buffered_bytes_max: a.writer_buffered_bytes_max,
            object_cache_bytes_max: a.object_cache_bytes_max,
            orphan_grace_ms: a.orphan_grace_ms,
            inline_bytes_max: a.inline_bytes_max,
            spill_bytes_max: a.spill_bytes_max,
            spill_interval_ms: a.spill_interval_ms,
            spill_takeover_ms: a.spill_takeover_ms,
            gc_interval_ms: a.gc_interval_ms,
            s3_path_style: a.s3_path_style,
            s3_requests_max: a.s3_requests_max,
            s3_attempts_max: a.s3_attempts_max,
            metadata_operation_timeout_ms: a.metadata_operation_timeout_ms,
            postgres_connections_max: a.postgres_connections_max,
            index_tail_rows_max: a.index_tail_rows_max,
            decompressed_bytes_max: a.decompressed_bytes_max,
            produce_decompressions_max: a.produce_decompressions_max,
            fetch_wait_ms_max: a.fetch_wait_ms_max,
            offset_metadata_bytes_max: a.offset_metadata_max_bytes,
            group,
            group_tick_ms: a.group_tick_ms,
            group_lag_metrics_interval_ms: a.group_lag_metrics_interval_ms,
            broker_heartbeat_interval_ms: a.broker_heartbeat_interval_ms,
            broker_session_timeout_ms: a.broker_session_timeout_ms,
            topic_defaults,
            log_retention_check_interval_ms: a.log_retention_check_interval_ms,
            merge_interval_ms: a.merge_interval_ms,
            merge: crate::log::merge::MergePolicy {
                segment_bytes_max: a.merge_segment_bytes_max,
                rows_min: a.merge_batches_min,
            },
            producer_id_expiration_ms: a.producer_id_expiration_ms,
            transaction_abort_check_interval_ms: a.transaction_abort_check_interval_ms,
            transaction_max_timeout_ms: a.transaction_max_timeout_ms,
            transactional_id_expiration_ms: a.transactional_id_expiration_ms,
            transaction_marker_write_timeout_ms: a.transaction_marker_write_timeout_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut v = vec!["streamhouse"];
        v.extend_from_slice(extra);
        Args::try_parse_from(v).unwrap()
    }

    #[test]
    fn defaults_are_the_embedded_single_node() {
        let c = Config::from_args(args(&["--data-dir", "/tmp/x"])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:9092");
        assert_eq!((c.advertised_host.as_str(), c.advertised_port), ("127.0.0.1", 9092));
        assert_eq!(c.object_store, ObjectStoreUrl::Local("/tmp/x/objects".into()));
        assert_eq!(c.metadata, MetadataUrl::Sqlite("/tmp/x/meta.sqlite".into()));
        assert!(c.auto_create_topics_enable);
        assert_eq!(c.message_bytes_max, 1_048_588);
    }

    #[test]
    fn explicit_values_and_errors() {
        let c = Config::from_args(args(&[
            "--advertised-listener",
            "broker.example:19092",
            "--auto-create-topics-enable",
            "false",
        ]))
        .unwrap();
        assert_eq!((c.advertised_host.as_str(), c.advertised_port), ("broker.example", 19092));
        assert!(!c.auto_create_topics_enable);
        assert_eq!(
            Config::from_args(args(&["--metadata", "postgres://u@h:5432/db"])).unwrap().metadata,
            MetadataUrl::Postgres("postgres://u@h:5432/db".into())
        );
        assert!(matches!(
            Config::from_args(args(&["--metadata", "mysql://u@h/db"])),
            Err(ConfigError::Url { flag: "--metadata", .. })
        ));
        assert_eq!(
            Config::from_args(args(&["--object-store", "s3://bucket/a/b/"])).unwrap().object_store,
            ObjectStoreUrl::S3 { bucket: "bucket".into(), prefix: "a/b".into() }
        );
        assert!(matches!(Config::from_args(args(&["--object-store", "s3:///x"])), Err(ConfigError::Url { .. })));
        assert!(matches!(Config::from_args(args(&["--listen", "nope"])), Err(ConfigError::Listen { .. })));
        assert!(matches!(Config::from_args(args(&["--num-partitions", "0"])), Err(ConfigError::Range { .. })));
    }

    #[test]
    fn tunable_bounds_default_to_their_limits_and_are_checked() {
        let c = Config::from_args(args(&[])).unwrap();
        assert_eq!(c.metadata_operation_timeout_ms, limits::METADATA_OPERATION_TIMEOUT_MS_DEFAULT);
        assert_eq!(c.postgres_connections_max, limits::POSTGRES_CONNECTIONS_MAX_DEFAULT);
        assert_eq!(c.s3_attempts_max, limits::S3_ATTEMPTS_MAX_DEFAULT);
        assert_eq!(c.index_tail_rows_max, limits::INDEX_TAIL_ROWS_MAX_DEFAULT);
        assert_eq!(c.decompressed_bytes_max, limits::DECOMPRESSED_BYTES_MAX_DEFAULT);
        assert_eq!(c.produce_decompressions_max, limits::PRODUCE_DECOMPRESSIONS_MAX_DEFAULT);
        assert_eq!(c.fetch_wait_ms_max, limits::FETCH_WAIT_MS_MAX_DEFAULT);
        assert_eq!(c.offset_metadata_bytes_max, limits::OFFSET_METADATA_BYTES_MAX_DEFAULT);
        assert_eq!((c.group_tick_ms, c.group_lag_metrics_interval_ms), (100, 5_000));
        assert_eq!(c.transaction_marker_write_timeout_ms, limits::TRANSACTION_MARKER_WRITE_TIMEOUT_MS_DEFAULT);
        let set = Config::from_args(args(&["--group-tick-ms", "250", "--offset-metadata-max-bytes", "10"])).unwrap();
        assert_eq!((set.group_tick_ms, set.offset_metadata_bytes_max), (250, 10));
        let refused = |flags: &[&str], flag: &str| match Config::from_args(args(flags)) {
            Err(ConfigError::Range { flag: f, .. }) => assert_eq!(f, flag),
            other => panic!("{flags:?}: expected {flag} to be refused, got {other:?}"),
        };
        refused(&["--postgres-connections-max", "1"], "--postgres-connections-max");
        refused(&["--s3-attempts-max", "0"], "--s3-attempts-max");
        refused(
            &["--group-tick-ms", "500", "--group-lag-metrics-interval-ms", "100"],
            "--group-lag-metrics-interval-ms",
        );
        refused(&["--decompressed-bytes-max", "1000"], "--decompressed-bytes-max");
        refused(&["--metadata-operation-timeout-ms", "5"], "--metadata-operation-timeout-ms");
        assert!(c.object_store_latency.is_none());
        let modelled = Config::from_args(args(&["--object-store-latency-model", "s3-express"])).unwrap();
        assert_eq!(modelled.object_store_latency.map(|(m, seed)| (m.name, seed)), Some(("s3-express", 1)));
        assert!(matches!(
            Config::from_args(args(&["--object-store-latency-model", "tape"])),
            Err(ConfigError::Url { flag: "--object-store-latency-model", .. })
        ));
        // PUT budget, economy and hedging.
        assert_eq!(c.put_budget_per_second, 0.0);
        assert_eq!(c.hedge, crate::object_store::hedge::HedgeSettings { percentile: 95.0, budget_percent: 5.0 });
        let economy = Config::from_args(args(&["--economy", "true"])).unwrap();
        assert_eq!(economy.put_budget_per_second, limits::ECONOMY_PUT_BUDGET_PER_SECOND);
        assert_eq!(economy.spill_interval_ms, limits::ECONOMY_SPILL_INTERVAL_MS);
        assert_eq!(economy.spill_bytes_max, limits::ECONOMY_SPILL_BYTES_MAX);
        assert_eq!(economy.flush_linger_ms, limits::ECONOMY_FLUSH_LINGER_MS);
        let budgeted = Config::from_args(args(&["--economy", "true", "--put-budget-per-second", "5"])).unwrap();
        assert_eq!(budgeted.put_budget_per_second, 5.0, "an explicit budget wins");
        refused(&["--hedge-percentile", "100"], "--hedge-percentile");
        refused(&["--hedge-budget-percent=-1"], "--hedge-budget-percent");
        refused(&["--put-budget-per-second=-2"], "--put-budget-per-second");
    }
}
