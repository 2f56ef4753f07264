//! Prometheus metrics: names in one place, the exporter, and descriptions.
//!
//! Names follow `streamhouse_<subsystem>_<what>_<unit>`. Components record
//! through the `metrics` facade; [`install`] serves them at `/metrics`.

use std::net::SocketAddr;

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder};

// Server.
pub const CONNECTIONS_OPEN: &str = "streamhouse_server_connections_open";
pub const CONNECTIONS_REJECTED_TOTAL: &str = "streamhouse_server_connections_rejected_total";
pub const FRAMES_REJECTED_TOTAL: &str = "streamhouse_server_frames_rejected_total";
pub const REQUESTS_TOTAL: &str = "streamhouse_server_requests_total";
pub const REQUEST_SECONDS: &str = "streamhouse_server_request_duration_seconds";
// Produce / fetch.
pub const BYTES_IN_TOTAL: &str = "streamhouse_produce_bytes_in_total";
pub const RECORDS_IN_TOTAL: &str = "streamhouse_produce_records_in_total";
pub const BATCHES_REJECTED_TOTAL: &str = "streamhouse_produce_batches_rejected_total";
pub const PRODUCER_DUPLICATES_TOTAL: &str = "streamhouse_producer_duplicate_batches_total";
// Transactions.
pub const TXN_COMPLETED_TOTAL: &str = "streamhouse_txn_completed_total";
pub const TXN_TIMED_OUT_TOTAL: &str = "streamhouse_txn_timed_out_total";
pub const TXN_PRODUCERS_FENCED_TOTAL: &str = "streamhouse_txn_producers_fenced_total";
pub const TXN_MARKERS_WRITTEN_TOTAL: &str = "streamhouse_txn_markers_written_total";
pub const TXN_MARKER_FAILURES_TOTAL: &str = "streamhouse_txn_marker_failures_total";
pub const TXN_TRANSACTIONS: &str = "streamhouse_txn_transactions";
pub const TXN_IDS_EXPIRED_TOTAL: &str = "streamhouse_txn_ids_expired_total";
pub const PRODUCERS_ACTIVE: &str = "streamhouse_producer_active_producers";
pub const PRODUCE_TIMEOUTS_TOTAL: &str = "streamhouse_produce_timeouts_total";
pub const BYTES_OUT_TOTAL: &str = "streamhouse_fetch_bytes_out_total";
// Writer.
pub const OBJECTS_WRITTEN_TOTAL: &str = "streamhouse_writer_objects_written_total";
pub const INLINE_FLUSHES_TOTAL: &str = "streamhouse_writer_inline_flushes_total";
pub const INLINE_BYTES_TOTAL: &str = "streamhouse_writer_inline_bytes_total";
pub const SPILL_OBJECTS_TOTAL: &str = "streamhouse_spill_objects_total";
pub const SPILL_BYTES_TOTAL: &str = "streamhouse_spill_bytes_total";
pub const SPILL_ROWS_MOVED_TOTAL: &str = "streamhouse_spill_rows_moved_total";
pub const SPILL_FAILURES_TOTAL: &str = "streamhouse_spill_failures_total";
pub const SPILL_PENDING_BYTES: &str = "streamhouse_spill_pending_bytes";
pub const OBJECT_BYTES_WRITTEN_TOTAL: &str = "streamhouse_writer_object_bytes_written_total";
pub const FLUSH_BYTES: &str = "streamhouse_writer_flush_size_bytes";
pub const FLUSH_BATCHES: &str = "streamhouse_writer_flush_batches";
pub const FLUSH_SECONDS: &str = "streamhouse_writer_flush_duration_seconds";
pub const FLUSH_FAILURES_TOTAL: &str = "streamhouse_writer_flush_failures_total";
pub const FLUSHES_COMMITTED_AHEAD_TOTAL: &str = "streamhouse_writer_flushes_committed_ahead_total";
pub const OBJECT_PUT_SECONDS: &str = "streamhouse_writer_object_put_duration_seconds";
// The PUT budget and hedged object-store requests.
pub const OBJECT_PUTS_TOTAL: &str = "streamhouse_object_puts_total";
pub const OBJECT_PUT_BUDGET_PER_SECOND: &str = "streamhouse_object_put_budget_per_second";
pub const OBJECT_PUT_BUDGET_WAITS_TOTAL: &str = "streamhouse_object_put_budget_waits_total";
pub const OBJECT_PUT_BUDGET_WAIT_SECONDS: &str = "streamhouse_object_put_budget_wait_seconds";
pub const OBJECT_HEDGES_SENT_TOTAL: &str = "streamhouse_object_hedges_sent_total";
pub const OBJECT_HEDGES_WON_TOTAL: &str = "streamhouse_object_hedges_won_total";
pub const OBJECT_HEDGES_SKIPPED_TOTAL: &str = "streamhouse_object_hedges_skipped_total";
pub const OBJECT_HEDGE_THRESHOLD_SECONDS: &str = "streamhouse_object_hedge_threshold_seconds";
pub const METADATA_COMMIT_SECONDS: &str = "streamhouse_metadata_commit_duration_seconds";
// Reader.
pub const INDEX_LOOKUPS_TOTAL: &str = "streamhouse_reader_index_lookups_total";
pub const CACHE_READS_TOTAL: &str = "streamhouse_reader_cache_reads_total";
pub const CACHE_BYTES: &str = "streamhouse_reader_cache_size_bytes";
// Object store (S3).
pub const S3_REQUESTS_TOTAL: &str = "streamhouse_s3_requests_total";
pub const S3_REQUEST_SECONDS: &str = "streamhouse_s3_request_duration_seconds";
pub const S3_ATTEMPTS_TOTAL: &str = "streamhouse_s3_attempts_total";
pub const METADATA_OPERATION_SECONDS: &str = "streamhouse_metadata_operation_duration_seconds";
pub const TOPIC_BYTES_IN_TOTAL: &str = "streamhouse_topic_bytes_in_total";
pub const TOPIC_BYTES_OUT_TOTAL: &str = "streamhouse_topic_bytes_out_total";
// Metadata store (PostgreSQL) and the cluster.
pub const METADATA_POOL_CONNECTIONS: &str = "streamhouse_metadata_pool_connections";
pub const METADATA_FEED_RECONNECTS_TOTAL: &str = "streamhouse_metadata_feed_reconnects_total";
pub const METADATA_REMOTE_CHANGES_TOTAL: &str = "streamhouse_metadata_remote_changes_total";
pub const CLUSTER_LIVE_BROKERS: &str = "streamhouse_cluster_live_brokers";
pub const CLUSTER_REGISTERED: &str = "streamhouse_cluster_registered";
pub const CLUSTER_HEARTBEAT_SECONDS: &str = "streamhouse_cluster_heartbeat_duration_seconds";
pub const CLUSTER_HEARTBEAT_FAILURES_TOTAL: &str = "streamhouse_cluster_heartbeat_failures_total";
// Group coordinator.
pub const GROUPS: &str = "streamhouse_group_groups";
pub const GROUP_MEMBERS: &str = "streamhouse_group_members";
pub const GROUP_REBALANCES_TOTAL: &str = "streamhouse_group_rebalances_total";
pub const GROUP_OFFSET_COMMITS_TOTAL: &str = "streamhouse_group_offset_commits_total";
pub const GROUP_CONSUMER_LAG: &str = "streamhouse_group_consumer_lag_records";
// Background work.
pub const GC_OBJECTS_DELETED_TOTAL: &str = "streamhouse_gc_objects_deleted_total";
pub const RETENTION_OFFSETS_DELETED_TOTAL: &str = "streamhouse_retention_offsets_deleted_total";
pub const RETENTION_PASSES_TOTAL: &str = "streamhouse_retention_passes_total";
pub const MERGE_SEGMENTS_TOTAL: &str = "streamhouse_merge_segments_total";
pub const MERGE_BATCHES_TOTAL: &str = "streamhouse_merge_batches_total";
pub const MERGE_BYTES_TOTAL: &str = "streamhouse_merge_bytes_total";

const SECONDS_BUCKETS: &[f64] = &[0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0];
const BYTES_BUCKETS: &[f64] = &[1e3, 1e4, 1e5, 1e6, 4e6, 8e6, 16e6, 64e6];
const COUNT_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// Starts the `/metrics` HTTP endpoint on `addr` (must run inside tokio).
pub fn install(addr: SocketAddr) -> Result<(), BuildError> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)?
        .set_buckets_for_metric(Matcher::Suffix("_bytes".into()), BYTES_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(FLUSH_BATCHES.into()), COUNT_BUCKETS)?
        .install()?;
    describe();
    Ok(())
}

fn describe() {
    describe_gauge!(CONNECTIONS_OPEN, "Client connections currently open");
    describe_counter!(CONNECTIONS_REJECTED_TOTAL, "Connections refused because connections_max was reached");
    describe_counter!(
        FRAMES_REJECTED_TOTAL,
        "Request frames refused (oversized, undecodable); the connection was closed"
    );
    describe_counter!(REQUESTS_TOTAL, "Requests handled, by API");
    describe_histogram!(REQUEST_SECONDS, Unit::Seconds, "Request latency from decode to response, by API");
    describe_counter!(BYTES_IN_TOTAL, Unit::Bytes, "Record batch bytes accepted by Produce");
    describe_counter!(
        RECORDS_IN_TOTAL,
        "Produced records stored (counted at commit; refused batches and retried duplicates are not)"
    );
    describe_counter!(BATCHES_REJECTED_TOTAL, "Produced batches refused, by Kafka error name");
    describe_counter!(
        PRODUCER_DUPLICATES_TOTAL,
        "Retried batches of idempotent producers answered with their original offsets and not stored again"
    );
    describe_counter!(
        TXN_COMPLETED_TOTAL,
        "Transactions completed by this broker's coordinator, by result (commit, abort)"
    );
    describe_counter!(
        TXN_TIMED_OUT_TOTAL,
        "Transactions aborted by the coordinator because they outlived transaction.timeout.ms"
    );
    describe_counter!(
        TXN_PRODUCERS_FENCED_TOTAL,
        "Producer epochs fenced: a new InitProducerId for a transactional id with a transaction open, or a timeout"
    );
    describe_counter!(TXN_MARKERS_WRITTEN_TOTAL, "Commit and abort markers written to partitions, by result");
    describe_counter!(
        TXN_MARKER_FAILURES_TOTAL,
        "Attempts to write a transaction's markers that failed; the coordinator retries them"
    );
    describe_gauge!(
        PRODUCERS_ACTIVE,
        "Idempotent and transactional producer ids with state on some partition, cluster-wide (set by one broker)"
    );
    describe_counter!(
        TXN_IDS_EXPIRED_TOTAL,
        "Transactional ids forgotten after --transactional-id-expiration-ms without a transaction or a request"
    );
    describe_gauge!(
        TXN_TRANSACTIONS,
        "Transactional ids coordinated by this broker, by state (as of the last timeout check)"
    );
    describe_counter!(
        PRODUCE_TIMEOUTS_TOTAL,
        "Produced batches answered REQUEST_TIMED_OUT because their flush outlasted timeout_ms"
    );
    describe_counter!(BYTES_OUT_TOTAL, Unit::Bytes, "Record batch bytes served by Fetch");
    describe_counter!(OBJECTS_WRITTEN_TOTAL, "Objects written and committed by the writer");
    describe_counter!(OBJECT_BYTES_WRITTEN_TOTAL, Unit::Bytes, "Bytes of committed objects");
    describe_counter!(
        INLINE_FLUSHES_TOTAL,
        "Small flushes committed inline in the metadata store instead of as objects"
    );
    describe_counter!(INLINE_BYTES_TOTAL, Unit::Bytes, "Bytes of flushes committed inline in the metadata store");
    describe_counter!(SPILL_OBJECTS_TOTAL, "Objects written by spilling inline flushes out of the metadata store");
    describe_counter!(SPILL_BYTES_TOTAL, Unit::Bytes, "Bytes of spill objects written");
    describe_counter!(SPILL_ROWS_MOVED_TOTAL, "Index rows moved from inline flushes to spill objects");
    describe_counter!(SPILL_FAILURES_TOTAL, "Spill passes that failed, by stage");
    describe_gauge!(SPILL_PENDING_BYTES, Unit::Bytes, "Bytes this broker committed inline and has not spilled yet");
    describe_histogram!(FLUSH_BYTES, Unit::Bytes, "Object size per flush");
    describe_histogram!(FLUSH_BATCHES, "Record batches per flush");
    describe_histogram!(FLUSH_SECONDS, Unit::Seconds, "Flush latency: object build, PUT and metadata commit");
    describe_counter!(FLUSH_FAILURES_TOTAL, "Failed flushes, by stage (put, commit)");
    describe_histogram!(OBJECT_PUT_SECONDS, Unit::Seconds, "Object store PUT latency");
    describe_counter!(
        FLUSHES_COMMITTED_AHEAD_TOTAL,
        "Flushes committed before an earlier flush still uploading (no partition in common)"
    );
    describe_counter!(OBJECT_PUTS_TOTAL, "Object-store PUTs sent (flushes, spills, merges and hedges)");
    describe_gauge!(OBJECT_PUT_BUDGET_PER_SECOND, "PUTs per second this broker may send (0: no bound)");
    describe_counter!(OBJECT_PUT_BUDGET_WAITS_TOTAL, "PUTs that waited for the PUT budget");
    describe_histogram!(OBJECT_PUT_BUDGET_WAIT_SECONDS, Unit::Seconds, "Time a PUT waited for the PUT budget");
    describe_counter!(OBJECT_HEDGES_SENT_TOTAL, "Second copies of slow object-store requests sent, by op (put, get)");
    describe_counter!(OBJECT_HEDGES_WON_TOTAL, "Hedges that answered before the request they copied, by op");
    describe_counter!(
        OBJECT_HEDGES_SKIPPED_TOTAL,
        "Slow requests not hedged because the hedge budget was spent, by op"
    );
    describe_gauge!(
        OBJECT_HEDGE_THRESHOLD_SECONDS,
        Unit::Seconds,
        "Current hedge threshold (percentile of recent latencies), by op"
    );
    describe_histogram!(METADATA_COMMIT_SECONDS, Unit::Seconds, "Metadata transaction latency per flush");
    describe_counter!(INDEX_LOOKUPS_TOTAL, "Fetch index lookups, by source (memory, store)");
    describe_counter!(CACHE_READS_TOTAL, "Object cache reads, by result (hit, miss)");
    describe_gauge!(CACHE_BYTES, Unit::Bytes, "Bytes held by the object cache");
    describe_counter!(S3_REQUESTS_TOTAL, "S3 requests, by operation and outcome");
    describe_counter!(
        S3_ATTEMPTS_TOTAL,
        "S3 HTTP attempts including SDK retries, by outcome (ok, error, throttled, no_response)"
    );
    describe_histogram!(
        METADATA_OPERATION_SECONDS,
        Unit::Seconds,
        "Metadata store call latency, by operation (including time waiting for a pooled connection)"
    );
    describe_counter!(TOPIC_BYTES_IN_TOTAL, Unit::Bytes, "Record batch bytes accepted by Produce, by topic");
    describe_counter!(TOPIC_BYTES_OUT_TOTAL, Unit::Bytes, "Record batch bytes served by Fetch, by topic");
    describe_histogram!(S3_REQUEST_SECONDS, Unit::Seconds, "S3 request latency (after SDK retries), by operation");
    describe_gauge!(METADATA_POOL_CONNECTIONS, "PostgreSQL pool connections, by state (in_use, idle, waiting)");
    describe_counter!(METADATA_FEED_RECONNECTS_TOTAL, "Times the PostgreSQL change feed was lost and re-established");
    describe_counter!(METADATA_REMOTE_CHANGES_TOTAL, "Changes by other brokers applied from the feed, by kind");
    describe_gauge!(CLUSTER_LIVE_BROKERS, "Brokers with a live registration, as this broker last saw them");
    describe_gauge!(CLUSTER_REGISTERED, "1 while this broker's registration is live, 0 when lost or fenced");
    describe_histogram!(CLUSTER_HEARTBEAT_SECONDS, Unit::Seconds, "Registry heartbeat round trip");
    describe_counter!(CLUSTER_HEARTBEAT_FAILURES_TOTAL, "Registry heartbeats that failed, by reason");
    describe_gauge!(GROUPS, "Consumer groups, by state");
    describe_gauge!(GROUP_MEMBERS, "Members of all consumer groups");
    describe_counter!(GROUP_REBALANCES_TOTAL, "Rebalances started");
    describe_counter!(GROUP_OFFSET_COMMITS_TOTAL, "Partition offsets committed");
    describe_gauge!(GROUP_CONSUMER_LAG, "High watermark minus committed offset, by group, topic and partition");
    describe_counter!(GC_OBJECTS_DELETED_TOTAL, "Objects deleted by garbage collection, by kind");
    describe_counter!(RETENTION_OFFSETS_DELETED_TOTAL, "Offsets moved out of the log by retention");
    describe_counter!(RETENTION_PASSES_TOTAL, "Retention passes run by this broker, by outcome");
    describe_counter!(MERGE_SEGMENTS_TOTAL, "Segments written by merging, by outcome (written, superseded)");
    describe_counter!(MERGE_BATCHES_TOTAL, "Record batches moved into segments");
    describe_counter!(MERGE_BYTES_TOTAL, Unit::Bytes, "Bytes copied into segments");
}
