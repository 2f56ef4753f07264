//! Every bound the broker enforces, in one place, with Kafka's defaults
//! where Kafka has one. Units are the last word of each name.

/// Kafka's `socket.request.max.bytes`.
pub const REQUEST_SIZE_BYTES_MAX_DEFAULT: usize = 104_857_600;
/// Kafka's `message.max.bytes` (a record batch, after compression).
pub const MESSAGE_BYTES_MAX_DEFAULT: usize = 1_048_588;
pub const CONNECTIONS_MAX_DEFAULT: usize = 10_000;
/// Requests read ahead of their responses on one connection.
pub const IN_FLIGHT_REQUESTS_PER_CONNECTION_MAX: usize = 32;
pub const FLUSH_BYTES_MAX_DEFAULT: usize = 8 * 1024 * 1024;
pub const WRITER_BUFFERED_BYTES_MAX_DEFAULT: usize = 256 * 1024 * 1024;
pub const OBJECT_CACHE_BYTES_MAX_DEFAULT: usize = 256 * 1024 * 1024;
pub const INDEX_TAIL_ROWS_MAX_DEFAULT: usize = 512;
/// Inflating one batch for a timestamp lookup may not exceed this.
pub const DECOMPRESSED_BYTES_MAX: usize = 64 * 1024 * 1024;
/// A Fetch never waits longer than this, whatever the client asks.
pub const FETCH_WAIT_MS_MAX: u64 = 30_000;
/// Topics and partitions one CreateTopics may create.
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 10_000;
pub const ORPHAN_GRACE_MS_DEFAULT: i64 = 10 * 60 * 1000;
pub const GC_INTERVAL_MS_DEFAULT: u64 = 60_000;
