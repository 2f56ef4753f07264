//! Every bound the broker enforces, in one place, with Kafka's defaults
//! where Kafka has one. Names end in their unit (`_ms`, `_bytes`) or in
//! `_max` / `_min` for counts.
//!
//! The `*_DEFAULT` values are the defaults of command-line flags (see
//! [`super::Args`], each also a `STREAMHOUSE_*` variable); the others are
//! fixed because changing them would not help anyone: they bound work per
//! step, not what a user can do.

// ---- Requests and connections (flags) ----

/// Kafka's `socket.request.max.bytes`.
pub const REQUEST_SIZE_BYTES_MAX_DEFAULT: usize = 104_857_600;
/// Kafka's `message.max.bytes` (a record batch, after compression).
pub const MESSAGE_BYTES_MAX_DEFAULT: usize = 1_048_588;
pub const CONNECTIONS_MAX_DEFAULT: usize = 10_000;
/// Inflating one compressed batch (to check its records) may not produce
/// more than this.
pub const DECOMPRESSED_BYTES_MAX_DEFAULT: usize = 64 * 1024 * 1024;
/// Compressed batches inflated at once while checking produce requests:
/// with the per-batch budget this bounds the memory the checks can take.
pub const PRODUCE_DECOMPRESSIONS_MAX_DEFAULT: usize = 4;
/// A Fetch never waits longer than this, whatever the client asks.
pub const FETCH_WAIT_MS_MAX_DEFAULT: u64 = 30_000;
/// Kafka's `offset.metadata.max.bytes`.
pub const OFFSET_METADATA_BYTES_MAX_DEFAULT: usize = 4096;

// ---- Requests and connections (fixed) ----

/// Requests read ahead of their responses on one connection.
pub const IN_FLIGHT_REQUESTS_PER_CONNECTION_MAX: usize = 32;
/// The buffer a frame is first read into; it grows as bytes arrive, so a
/// frame that announces a large size costs memory only as it arrives.
pub const FRAME_READ_CHUNK_BYTES: usize = 64 * 1024;
/// Partitions one CreateTopics may create per topic.
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;
/// Transactional ids one DescribeTransactions may name.
pub const DESCRIBE_TRANSACTIONS_IDS_MAX: usize = 1000;
/// Partitions one DescribeProducers may name.
pub const DESCRIBE_PRODUCERS_PARTITIONS_MAX: usize = 1000;
/// Partitions one transaction may add in one AddPartitionsToTxn.
pub const ADD_PARTITIONS_TO_TXN_PARTITIONS_MAX: usize = 10_000;
/// The wait of a Produce request whose timeout_ms is not positive.
pub const PRODUCE_TIMEOUT_MS_DEFAULT: u64 = 30_000;

// ---- The writer, the reader and the caches (flags) ----

pub const FLUSH_BYTES_MAX_DEFAULT: usize = 8 * 1024 * 1024;
pub const WRITER_BUFFERED_BYTES_MAX_DEFAULT: usize = 256 * 1024 * 1024;
pub const OBJECT_CACHE_BYTES_MAX_DEFAULT: usize = 256 * 1024 * 1024;
/// Index rows per partition kept in memory near the tail.
pub const INDEX_TAIL_ROWS_MAX_DEFAULT: usize = 512;

// ---- The writer, the reader and the background passes (fixed) ----

/// Index rows a fetch reads from the store per lookup.
pub const INDEX_LOOKUP_ROWS_MAX: u32 = 256;
/// After a commit whose outcome is unknown, the writer re-reads the
/// partitions' offsets this often, this many times at most.
pub const COMMIT_REFRESH_INTERVAL_MS: u64 = 1_000;
pub const COMMIT_REFRESH_ATTEMPTS_MAX: u32 = 60;
/// Index rows a merge pass reads per store query while looking for a run.
pub const MERGE_LOOKUP_ROWS_MAX: u32 = 1000;
/// Index rows a merge pass scans per partition, so one huge partition
/// cannot hold the pass up.
pub const MERGE_SCANNED_ROWS_MAX: usize = 20_000;
/// Objects one garbage-collection pass lists from the object store.
pub const GC_LISTED_OBJECTS_MAX: usize = 100_000;
/// Inline objects one spill pass looks at.
pub const SPILL_LISTED_OBJECTS_MAX: u32 = 10_000;

// ---- Inline flushes and spilling (flags; docs/design/0004) ----

/// A flush object at most this big is committed inline, in the metadata
/// store, instead of PUT.
pub const INLINE_BYTES_MAX_DEFAULT: usize = 512 * 1024;
/// The inline backlog per broker, and the most a spill object gathers.
pub const SPILL_BYTES_MAX_DEFAULT: usize = 8 * 1024 * 1024;
/// How often a broker spills its inline flushes into an object.
pub const SPILL_INTERVAL_MS_DEFAULT: u64 = 1_000;
/// `--economy`: spill every 10 s, up to 32 MiB at once, linger 10 ms
/// before a flush, at most 2 PUTs a second unless a budget is given. At
/// 1 MB/s (bench/bench.py, PostgreSQL + S3) that is one spill object every
/// 10 s instead of every second and 62% fewer metadata commits (73 a
/// second instead of 191), for an ack p99 of 20 ms instead of 8.
pub const ECONOMY_SPILL_INTERVAL_MS: u64 = 10_000;
pub const ECONOMY_SPILL_BYTES_MAX: usize = 32 * 1024 * 1024;
pub const ECONOMY_PUT_BUDGET_PER_SECOND: f64 = 2.0;
pub const ECONOMY_FLUSH_LINGER_MS: u64 = 10;
/// Inline objects older than this are spilled by any broker (their own
/// broker may be gone).
pub const SPILL_TAKEOVER_MS_DEFAULT: i64 = 30_000;

// ---- Background passes (flags) ----

/// Unreferenced objects younger than this are never deleted.
pub const ORPHAN_GRACE_MS_DEFAULT: i64 = 10 * 60 * 1000;
pub const GC_INTERVAL_MS_DEFAULT: u64 = 60_000;

// ---- Stores (flags) ----

/// Longest a metadata operation may take before it fails as timed out.
pub const METADATA_OPERATION_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Connections each broker keeps to PostgreSQL.
pub const POSTGRES_CONNECTIONS_MAX_DEFAULT: usize = 16;
/// Attempts per S3 request, with the SDK's backoff and jitter in between.
pub const S3_ATTEMPTS_MAX_DEFAULT: u32 = 3;
/// Concurrent requests to the object store.
pub const S3_REQUESTS_MAX_DEFAULT: usize = 64;

// ---- Stores (fixed) ----

/// Time limits per S3 request: connecting, each attempt (sized for a
/// segment of tens of MB on a slow link), and all attempts together.
pub const S3_CONNECT_TIMEOUT_MS: u64 = 3_000;
pub const S3_ATTEMPT_TIMEOUT_MS: u64 = 10_000;
pub const S3_OPERATION_TIMEOUT_MS: u64 = 25_000;
/// Waiting for PostgreSQL: connecting, and for a pooled connection.
pub const POSTGRES_CONNECT_TIMEOUT_MS: u64 = 5_000;
pub const POSTGRES_POOL_WAIT_MS: u64 = 10_000;
/// TCP keepalive idle time on PostgreSQL connections, so a dead server is
/// noticed on idle connections.
pub const POSTGRES_KEEPALIVE_IDLE_MS: u64 = 10_000;
/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; stay well
/// below.
pub const POSTGRES_NOTIFY_PAYLOAD_BYTES_MAX: usize = 7000;
/// Longest pause between attempts to re-establish the change feed.
pub const CHANGE_FEED_BACKOFF_MS_MAX: u64 = 5_000;
/// Changes buffered between the store and the broker applying them; past
/// this the feed waits (and PostgreSQL queues notifications).
pub const CHANGE_FEED_CHANGES_MAX: usize = 4096;
/// Reading connections the SQLite store keeps open beside its writer.
pub const SQLITE_READERS_MAX: usize = 4;
/// How long an SQLite statement waits for a lock held by another connection.
pub const SQLITE_BUSY_TIMEOUT_MS: u64 = 10_000;

// ---- Coordinators (flags) ----

/// How often group timeouts (sessions, rebalances) are checked.
pub const GROUP_TICK_MS_DEFAULT: u64 = 100;
/// How often the consumer-lag gauges are refreshed.
pub const GROUP_LAG_METRICS_INTERVAL_MS_DEFAULT: u64 = 5_000;
/// Longest wait for a transaction's markers to be committed before the
/// attempt is given up (and retried by the coordinator's next pass).
pub const TRANSACTION_MARKER_WRITE_TIMEOUT_MS_DEFAULT: u64 = 30_000;

// ---- Coordinators and change feeds (fixed) ----

/// Requests for the same transactional id are serialised on one of this
/// many locks (by hash), which bounds memory whatever ids clients use.
pub const TXN_LOCK_STRIPES: usize = 64;
/// The pause before reloading topics and offsets again after a failed
/// reload (the change feed reconnected, or reported a topic change).
pub const RESYNC_RETRY_MS: u64 = 1_000;
