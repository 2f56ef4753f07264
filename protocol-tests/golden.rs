//! Golden-bytes tests of the protocol layer (see protocol-tests/README.md).
//!
//! 1. Captured requests: every frame real clients sent through
//!    `capture_proxy.py` (golden/requests/<client>/<Api>-v<ver>-<n>.bin) is
//!    parsed with the broker's `parse_header`, passed through the broker's
//!    wire guard, decoded with kafka-protocol and re-encoded; the result must
//!    equal the captured bytes exactly.
//! 2. Every served API at every served version: a request and a response
//!    populated with non-default values in every field that version carries
//!    round-trip through the codec; the response is framed by the broker's
//!    `encode_response` and the frame is checked byte by byte (size prefix,
//!    correlation id, response header version, body).
//! 3. Those response frames are golden files (golden/responses/<Api>-v<ver>.bin),
//!    rewritten with `BLESS=1`, otherwise compared byte for byte.
//! 4. ApiVersions as the broker answers it (`api_versions::handle()` at
//!    v0..=3, `unsupported_version()` at v0) against golden files.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{Debug, Write as _};
use std::fs;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
use streamhouse::handlers::{self, api_versions, encode_response, parse_header, SUPPORTED_APIS};
use streamhouse::protocol::batch::validate_produced_batch;
use streamhouse::protocol::wire_guard;
use uuid::Uuid;

/// Correlation id of every synthetic response frame.
const CORRELATION_ID: i32 = 0x1234_5678;
/// Largest record batch accepted when validating captured Produce requests
/// (the broker's default message.max.bytes).
const MESSAGE_BYTES_MAX: usize = 1_048_588;
/// The clients capture.sh drives; each must have captured frames.
const CLIENTS: &[&str] = &["aiokafka", "confluent-kafka", "kafka-python", "kcat"];
/// Served APIs no driven client sends (each entry needs a reason).
const NOT_CAPTURED: &[ApiKey] = &[];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol-tests")
}

fn bless() -> bool {
    std::env::var("BLESS").map(|v| v == "1").unwrap_or(false)
}

/// First flexible (compact, tagged-field) version of each served API, as in
/// the Kafka message schemas ("flexibleVersions"). Stated here, not taken
/// from the codec, so that the codec's header versions are checked against it.
fn first_flexible(api: ApiKey) -> i16 {
    match api {
        ApiKey::Produce => 9,
        ApiKey::Fetch => 12,
        ApiKey::ListOffsets => 6,
        ApiKey::Metadata => 9,
        ApiKey::FindCoordinator => 3,
        ApiKey::ApiVersions => 3,
        ApiKey::CreateTopics => 5,
        ApiKey::DeleteTopics => 4,
        ApiKey::InitProducerId => 2,
        ApiKey::DescribeCluster => 0,
        ApiKey::OffsetCommit => 8,
        ApiKey::OffsetFetch => 6,
        ApiKey::JoinGroup => 6,
        ApiKey::Heartbeat => 4,
        ApiKey::LeaveGroup => 4,
        ApiKey::SyncGroup => 4,
        ApiKey::DescribeGroups => 5,
        ApiKey::ListGroups => 3,
        ApiKey::DeleteGroups => 2,
        // OffsetDelete has no flexible versions.
        ApiKey::OffsetDelete => i16::MAX,
        ApiKey::ConsumerGroupHeartbeat => 0,
        ApiKey::ConsumerGroupDescribe => 0,
        ApiKey::AddPartitionsToTxn => 3,
        ApiKey::AddOffsetsToTxn => 3,
        ApiKey::EndTxn => 3,
        ApiKey::TxnOffsetCommit => 3,
        ApiKey::DescribeProducers => 0,
        ApiKey::DescribeTransactions => 0,
        ApiKey::ListTransactions => 0,
        other => panic!("no flexible-version entry for {other:?}: add it with its schema's flexibleVersions"),
    }
}

fn supported(api: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS.iter().find(|(k, _, _)| *k == api).map(|(_, lo, hi)| (*lo, *hi))
}

// ---------------------------------------------------------------------------
// small helpers

fn s(x: &'static str) -> StrBytes {
    StrBytes::from_static_str(x)
}

fn topic(x: &'static str) -> TopicName {
    TopicName(s(x))
}

const TOPIC_ID: Uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
const OTHER_TOPIC_ID: Uuid = Uuid::from_u128(0xfedc_ba98_7654_3210_fedc_ba98_7654_3210);

fn encode<T: Encodable>(m: &T, version: i16) -> Result<Bytes, String> {
    let mut buf = BytesMut::new();
    m.encode(&mut buf, version).map_err(|e| format!("encode v{version}: {e}"))?;
    let size = m.compute_size(version).map_err(|e| format!("compute_size v{version}: {e}"))?;
    if size != buf.len() {
        return Err(format!("compute_size v{version} says {size} bytes, encode wrote {}", buf.len()));
    }
    Ok(buf.freeze())
}

/// Decodes a whole message: bytes left over are an error.
fn decode<T: Decodable>(bytes: &Bytes, version: i16) -> Result<T, String> {
    let mut b = bytes.clone();
    let m = T::decode(&mut b, version).map_err(|e| format!("decode v{version}: {e}"))?;
    if !b.is_empty() {
        return Err(format!("decode v{version} left {} of {} bytes unread", b.len(), bytes.len()));
    }
    Ok(m)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
}

/// Where two byte strings first differ, with 16 bytes of context each side.
fn diff_hint(expected: &[u8], actual: &[u8]) -> String {
    let at = expected.iter().zip(actual).position(|(a, b)| a != b).unwrap_or(expected.len().min(actual.len()));
    let lo = at.saturating_sub(16);
    let window = |b: &[u8]| hex(&b[lo.min(b.len())..(at + 16).min(b.len())]);
    format!(
        "expected {} bytes, got {}; first difference at byte {at} (0x{at:x})\n  expected[{lo}..]: {}\n  actual  [{lo}..]: {}",
        expected.len(),
        actual.len(),
        window(expected),
        window(actual)
    )
}

/// One record batch (magic 2, uncompressed, CRC-32C) with two records.
fn record_batch() -> Bytes {
    let record = |offset: i64, key: &'static [u8], value: &'static [u8]| Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: 4_000,
        producer_epoch: 1,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: offset as i32,
        timestamp: 1_700_000_000_000 + offset,
        key: Some(Bytes::from_static(key)),
        value: Some(Bytes::from_static(value)),
        headers: IndexMap::from([(s("h"), Some(Bytes::from_static(b"x")))]),
    };
    let records = [record(0, b"k0", b"v0"), record(1, b"k1", b"v1")];
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(&mut buf, &records, &RecordEncodeOptions { version: 2, compression: Compression::None })
        .expect("record batch encodes");
    buf.freeze()
}

/// An unknown tagged field that flexible versions must carry through.
fn tagged<T>(v: i16, api: ApiKey, m: T, add: impl FnOnce(T, i32, Bytes) -> T) -> T {
    if v >= first_flexible(api) {
        add(m, 99, Bytes::from_static(b"\x01\x02"))
    } else {
        m
    }
}

// ---------------------------------------------------------------------------
// populated requests and responses, one pair per API; each field is set
// (to a non-default value) only in the versions that carry it

fn produce_request(v: i16) -> ProduceRequest {
    use produce_request::*;
    let part = PartitionProduceData::default().with_index(2).with_records(Some(record_batch()));
    let t = TopicProduceData::default().with_partition_data(vec![part]);
    let t = if v <= 12 { t.with_name(topic("golden")) } else { t.with_topic_id(TOPIC_ID) };
    let r = ProduceRequest::default()
        .with_transactional_id(Some(TransactionalId(s("golden-txn"))))
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![t]);
    tagged(v, ApiKey::Produce, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn produce_response(v: i16) -> ProduceResponse {
    use produce_response::*;
    let mut p = PartitionProduceResponse::default()
        .with_index(2)
        .with_error_code(87)
        .with_base_offset(1_234)
        .with_log_append_time_ms(1_700_000_000_500);
    if v >= 5 {
        p = p.with_log_start_offset(100);
    }
    if v >= 8 {
        p = p
            .with_record_errors(vec![BatchIndexAndErrorMessage::default()
                .with_batch_index(1)
                .with_batch_index_error_message(Some(s("record 1 is bad")))])
            .with_error_message(Some(s("invalid record")));
    }
    if v >= 10 {
        p = p.with_current_leader(LeaderIdAndEpoch::default().with_leader_id(BrokerId(1)).with_leader_epoch(5));
    }
    let t = TopicProduceResponse::default().with_partition_responses(vec![p]);
    let t = if v <= 12 { t.with_name(topic("golden")) } else { t.with_topic_id(TOPIC_ID) };
    let mut r = ProduceResponse::default().with_responses(vec![t]).with_throttle_time_ms(10);
    if v >= 10 {
        r = r.with_node_endpoints(vec![NodeEndpoint::default()
            .with_node_id(BrokerId(1))
            .with_host(s("broker1.example"))
            .with_port(9092)
            .with_rack(Some(s("rack-a")))]);
    }
    tagged(v, ApiKey::Produce, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn fetch_request(v: i16) -> FetchRequest {
    use fetch_request::*;
    let mut p = FetchPartition::default().with_partition(3).with_fetch_offset(42).with_partition_max_bytes(1_048_576);
    if v >= 5 {
        p = p.with_log_start_offset(7);
    }
    if v >= 9 {
        p = p.with_current_leader_epoch(4);
    }
    if v >= 12 {
        p = p.with_last_fetched_epoch(2);
    }
    if v >= 17 {
        p = p.with_replica_directory_id(OTHER_TOPIC_ID);
    }
    if v >= 18 {
        p = p.with_high_watermark(99);
    }
    let t = FetchTopic::default().with_partitions(vec![p]);
    let t = if v <= 12 { t.with_topic(topic("golden")) } else { t.with_topic_id(TOPIC_ID) };
    let mut r = FetchRequest::default()
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(52_428_800)
        .with_isolation_level(1)
        .with_topics(vec![t]);
    if v <= 14 {
        r = r.with_replica_id(BrokerId(5));
    } else {
        r = r.with_replica_state(ReplicaState::default().with_replica_id(BrokerId(5)).with_replica_epoch(8));
    }
    if v >= 7 {
        let f = ForgottenTopic::default().with_partitions(vec![1, 2]);
        let f = if v <= 12 { f.with_topic(topic("forgotten")) } else { f.with_topic_id(OTHER_TOPIC_ID) };
        r = r.with_session_id(11).with_session_epoch(3).with_forgotten_topics_data(vec![f]);
    }
    if v >= 11 {
        r = r.with_rack_id(s("rack-a"));
    }
    if v >= 12 {
        r = r.with_cluster_id(Some(s("golden-cluster")));
    }
    tagged(v, ApiKey::Fetch, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn fetch_response(v: i16) -> FetchResponse {
    use fetch_response::*;
    let mut p = PartitionData::default()
        .with_partition_index(3)
        .with_error_code(1)
        .with_high_watermark(100)
        .with_last_stable_offset(99)
        .with_aborted_transactions(Some(vec![AbortedTransaction::default()
            .with_producer_id(ProducerId(77))
            .with_first_offset(10)]))
        .with_records(Some(record_batch()));
    if v >= 5 {
        p = p.with_log_start_offset(1);
    }
    if v >= 11 {
        p = p.with_preferred_read_replica(BrokerId(2));
    }
    if v >= 12 {
        p = p
            .with_diverging_epoch(EpochEndOffset::default().with_epoch(2).with_end_offset(50))
            .with_current_leader(LeaderIdAndEpoch::default().with_leader_id(BrokerId(1)).with_leader_epoch(5))
            .with_snapshot_id(SnapshotId::default().with_end_offset(40).with_epoch(1));
    }
    let t = FetchableTopicResponse::default().with_partitions(vec![p]);
    let t = if v <= 12 { t.with_topic(topic("golden")) } else { t.with_topic_id(TOPIC_ID) };
    let mut r = FetchResponse::default().with_throttle_time_ms(10).with_responses(vec![t]);
    if v >= 7 {
        r = r.with_error_code(0).with_session_id(11);
    }
    if v >= 16 {
        r = r.with_node_endpoints(vec![NodeEndpoint::default()
            .with_node_id(BrokerId(1))
            .with_host(s("broker1.example"))
            .with_port(9092)
            .with_rack(Some(s("rack-a")))]);
    }
    tagged(v, ApiKey::Fetch, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn list_offsets_request(v: i16) -> ListOffsetsRequest {
    use list_offsets_request::*;
    let mut p = ListOffsetsPartition::default().with_partition_index(3).with_timestamp(-3);
    if v >= 4 {
        p = p.with_current_leader_epoch(5);
    }
    let t = ListOffsetsTopic::default().with_name(topic("golden")).with_partitions(vec![p]);
    let mut r = ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![t]);
    if v >= 2 {
        r = r.with_isolation_level(1);
    }
    if v >= 10 {
        r = r.with_timeout_ms(1_500);
    }
    tagged(v, ApiKey::ListOffsets, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn list_offsets_response(v: i16) -> ListOffsetsResponse {
    use list_offsets_response::*;
    let mut p = ListOffsetsPartitionResponse::default()
        .with_partition_index(3)
        .with_error_code(0)
        .with_timestamp(1_700_000_000_002)
        .with_offset(2);
    if v >= 4 {
        p = p.with_leader_epoch(5);
    }
    let t = ListOffsetsTopicResponse::default().with_name(topic("golden")).with_partitions(vec![p]);
    let mut r = ListOffsetsResponse::default().with_topics(vec![t]);
    if v >= 2 {
        r = r.with_throttle_time_ms(10);
    }
    tagged(v, ApiKey::ListOffsets, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn metadata_request(v: i16) -> MetadataRequest {
    use metadata_request::*;
    let mut t = MetadataRequestTopic::default().with_name(Some(topic("golden")));
    if v >= 10 {
        t = t.with_topic_id(TOPIC_ID);
    }
    let mut r = MetadataRequest::default().with_topics(Some(vec![t]));
    if v >= 4 {
        r = r.with_allow_auto_topic_creation(false);
    }
    if (8..=10).contains(&v) {
        r = r.with_include_cluster_authorized_operations(true);
    }
    if v >= 8 {
        r = r.with_include_topic_authorized_operations(true);
    }
    tagged(v, ApiKey::Metadata, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn metadata_response(v: i16) -> MetadataResponse {
    use metadata_response::*;
    let mut b = MetadataResponseBroker::default().with_node_id(BrokerId(1)).with_host(s("127.0.0.1")).with_port(9092);
    if v >= 1 {
        b = b.with_rack(Some(s("rack-a")));
    }
    let mut p = MetadataResponsePartition::default()
        .with_error_code(0)
        .with_partition_index(3)
        .with_leader_id(BrokerId(1))
        .with_replica_nodes(vec![BrokerId(1), BrokerId(2)])
        .with_isr_nodes(vec![BrokerId(1)]);
    if v >= 5 {
        p = p.with_offline_replicas(vec![BrokerId(2)]);
    }
    if v >= 7 {
        p = p.with_leader_epoch(5);
    }
    let mut t =
        MetadataResponseTopic::default().with_error_code(0).with_name(Some(topic("golden"))).with_partitions(vec![p]);
    if v >= 1 {
        t = t.with_is_internal(true);
    }
    if v >= 8 {
        t = t.with_topic_authorized_operations(0x0f8);
    }
    if v >= 10 {
        t = t.with_topic_id(TOPIC_ID);
    }
    let mut r = MetadataResponse::default().with_brokers(vec![b]).with_topics(vec![t]);
    if v >= 1 {
        r = r.with_controller_id(BrokerId(1));
    }
    if v >= 2 {
        r = r.with_cluster_id(Some(s("golden-cluster")));
    }
    if v >= 3 {
        r = r.with_throttle_time_ms(10);
    }
    if (8..=10).contains(&v) {
        r = r.with_cluster_authorized_operations(0x123);
    }
    if v >= 13 {
        r = r.with_error_code(0);
    }
    tagged(v, ApiKey::Metadata, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn find_coordinator_request(v: i16) -> FindCoordinatorRequest {
    let mut r = FindCoordinatorRequest::default();
    if v <= 3 {
        r = r.with_key(s("golden-group"));
    }
    if v >= 1 {
        r = r.with_key_type(1);
    }
    if v >= 4 {
        r = r.with_coordinator_keys(vec![s("golden-group"), s("other-group")]);
    }
    tagged(v, ApiKey::FindCoordinator, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn find_coordinator_response(v: i16) -> FindCoordinatorResponse {
    use find_coordinator_response::*;
    let mut r = FindCoordinatorResponse::default();
    if v >= 1 {
        r = r.with_throttle_time_ms(10);
    }
    if v <= 3 {
        r = r.with_error_code(15).with_node_id(BrokerId(1)).with_host(s("127.0.0.1")).with_port(9092);
        if v >= 1 {
            r = r.with_error_message(Some(s("coordinator not available")));
        }
    } else {
        r = r.with_coordinators(vec![Coordinator::default()
            .with_key(s("golden-group"))
            .with_node_id(BrokerId(1))
            .with_host(s("127.0.0.1"))
            .with_port(9092)
            .with_error_code(15)
            .with_error_message(Some(s("coordinator not available")))]);
    }
    tagged(v, ApiKey::FindCoordinator, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn api_versions_request(v: i16) -> ApiVersionsRequest {
    let mut r = ApiVersionsRequest::default();
    // v0-2 have no fields: nothing to populate.
    if v >= 3 {
        r = r.with_client_software_name(s("golden-client")).with_client_software_version(s("1.2.3"));
    }
    tagged(v, ApiKey::ApiVersions, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn api_versions_response(v: i16) -> ApiVersionsResponse {
    use api_versions_response::*;
    let mut r = ApiVersionsResponse::default().with_error_code(0).with_api_keys(vec![
        ApiVersion::default().with_api_key(0).with_min_version(3).with_max_version(11),
        ApiVersion::default().with_api_key(18).with_min_version(0).with_max_version(3),
    ]);
    if v >= 1 {
        r = r.with_throttle_time_ms(10);
    }
    if v >= 3 {
        r = r
            .with_supported_features(vec![SupportedFeatureKey::default()
                .with_name(s("metadata.version"))
                .with_min_version(1)
                .with_max_version(20)])
            .with_finalized_features_epoch(7)
            .with_finalized_features(vec![FinalizedFeatureKey::default()
                .with_name(s("metadata.version"))
                .with_min_version_level(1)
                .with_max_version_level(20)])
            .with_zk_migration_ready(true);
    }
    tagged(v, ApiKey::ApiVersions, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn create_topics_request(v: i16) -> CreateTopicsRequest {
    use create_topics_request::*;
    let t = CreatableTopic::default()
        .with_name(topic("golden"))
        .with_num_partitions(3)
        .with_replication_factor(2)
        .with_assignments(vec![CreatableReplicaAssignment::default()
            .with_partition_index(0)
            .with_broker_ids(vec![BrokerId(1), BrokerId(2)])])
        .with_configs(vec![
            CreatableTopicConfig::default().with_name(s("retention.ms")).with_value(Some(s("3600000"))),
            CreatableTopicConfig::default().with_name(s("cleanup.policy")).with_value(None),
        ]);
    let r = CreateTopicsRequest::default().with_topics(vec![t]).with_timeout_ms(30_000).with_validate_only(true);
    tagged(v, ApiKey::CreateTopics, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn create_topics_response(v: i16) -> CreateTopicsResponse {
    use create_topics_response::*;
    let mut t = CreatableTopicResult::default()
        .with_name(topic("golden"))
        .with_error_code(36)
        .with_error_message(Some(s("topic already exists")));
    if v >= 5 {
        t = t.with_topic_config_error_code(40).with_num_partitions(3).with_replication_factor(2).with_configs(Some(
            vec![CreatableTopicConfigs::default()
                .with_name(s("retention.ms"))
                .with_value(Some(s("3600000")))
                .with_read_only(true)
                .with_config_source(5)
                .with_is_sensitive(true)],
        ));
    }
    if v >= 7 {
        t = t.with_topic_id(TOPIC_ID);
    }
    let r = CreateTopicsResponse::default().with_throttle_time_ms(10).with_topics(vec![t]);
    tagged(v, ApiKey::CreateTopics, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn delete_topics_request(v: i16) -> DeleteTopicsRequest {
    use delete_topics_request::*;
    let mut r = DeleteTopicsRequest::default().with_timeout_ms(30_000);
    if v <= 5 {
        r = r.with_topic_names(vec![topic("golden"), topic("other")]);
    } else {
        r = r.with_topics(vec![
            DeleteTopicState::default().with_name(Some(topic("golden"))),
            DeleteTopicState::default().with_name(None).with_topic_id(TOPIC_ID),
        ]);
    }
    tagged(v, ApiKey::DeleteTopics, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn delete_topics_response(v: i16) -> DeleteTopicsResponse {
    use delete_topics_response::*;
    let mut t = DeletableTopicResult::default().with_name(Some(topic("golden"))).with_error_code(3);
    if v >= 5 {
        t = t.with_error_message(Some(s("unknown topic")));
    }
    if v >= 6 {
        t = t.with_topic_id(TOPIC_ID);
    }
    let r = DeleteTopicsResponse::default().with_throttle_time_ms(10).with_responses(vec![t]);
    tagged(v, ApiKey::DeleteTopics, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn init_producer_id_request(v: i16) -> InitProducerIdRequest {
    let mut r = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s("golden-txn"))))
        .with_transaction_timeout_ms(60_000);
    if v >= 3 {
        r = r.with_producer_id(ProducerId(4_000)).with_producer_epoch(2);
    }
    tagged(v, ApiKey::InitProducerId, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn init_producer_id_response(v: i16) -> InitProducerIdResponse {
    let mut r = InitProducerIdResponse::default()
        .with_throttle_time_ms(10)
        .with_error_code(0)
        .with_producer_id(ProducerId(4_000))
        .with_producer_epoch(2);
    if v >= 6 {
        r = r.with_ongoing_txn_producer_id(ProducerId(3_999)).with_ongoing_txn_producer_epoch(1);
    }
    tagged(v, ApiKey::InitProducerId, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn describe_cluster_request(v: i16) -> DescribeClusterRequest {
    let mut r = DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
    if v >= 1 {
        r = r.with_endpoint_type(2);
    }
    if v >= 2 {
        r = r.with_include_fenced_brokers(true);
    }
    tagged(v, ApiKey::DescribeCluster, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn describe_cluster_response(v: i16) -> DescribeClusterResponse {
    use describe_cluster_response::*;
    let mut b = DescribeClusterBroker::default()
        .with_broker_id(BrokerId(1))
        .with_host(s("127.0.0.1"))
        .with_port(9092)
        .with_rack(Some(s("rack-a")));
    if v >= 2 {
        b = b.with_is_fenced(true);
    }
    let mut r = DescribeClusterResponse::default()
        .with_throttle_time_ms(10)
        .with_error_code(0)
        .with_error_message(Some(s("no error")))
        .with_cluster_id(s("golden-cluster"))
        .with_controller_id(BrokerId(1))
        .with_brokers(vec![b])
        .with_cluster_authorized_operations(0x123);
    if v >= 1 {
        r = r.with_endpoint_type(2);
    }
    tagged(v, ApiKey::DescribeCluster, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn group(x: &'static str) -> GroupId {
    GroupId(s(x))
}

fn offset_commit_request(v: i16) -> OffsetCommitRequest {
    use offset_commit_request::*;
    let mut p = OffsetCommitRequestPartition::default()
        .with_partition_index(3)
        .with_committed_offset(42)
        .with_committed_metadata(Some(s("meta")));
    if v >= 6 {
        p = p.with_committed_leader_epoch(5);
    }
    let t = OffsetCommitRequestTopic::default().with_name(topic("golden")).with_partitions(vec![p]);
    let mut r = OffsetCommitRequest::default()
        .with_group_id(group("golden-group"))
        .with_generation_id_or_member_epoch(4)
        .with_member_id(s("member-1"))
        .with_topics(vec![t]);
    if v <= 4 {
        r = r.with_retention_time_ms(86_400_000);
    }
    if v >= 7 {
        r = r.with_group_instance_id(Some(s("instance-1")));
    }
    tagged(v, ApiKey::OffsetCommit, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn offset_commit_response(v: i16) -> OffsetCommitResponse {
    use offset_commit_response::*;
    let p = OffsetCommitResponsePartition::default().with_partition_index(3).with_error_code(22);
    let t = OffsetCommitResponseTopic::default().with_partitions(vec![p]);
    let t = if v <= 9 { t.with_name(topic("golden")) } else { t.with_topic_id(TOPIC_ID) };
    let mut r = OffsetCommitResponse::default().with_topics(vec![t]);
    if v >= 3 {
        r = r.with_throttle_time_ms(10);
    }
    tagged(v, ApiKey::OffsetCommit, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn offset_fetch_request(v: i16) -> OffsetFetchRequest {
    use offset_fetch_request::*;
    let mut r = OffsetFetchRequest::default();
    if v <= 7 {
        r = r.with_group_id(group("golden-group")).with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(topic("golden"))
            .with_partition_indexes(vec![0, 3])]));
    } else {
        let mut g = OffsetFetchRequestGroup::default().with_group_id(group("golden-group")).with_topics(Some(vec![
            OffsetFetchRequestTopics::default().with_name(topic("golden")).with_partition_indexes(vec![0, 3]),
        ]));
        if v >= 9 {
            g = g.with_member_id(Some(s("member-1"))).with_member_epoch(4);
        }
        let all = OffsetFetchRequestGroup::default().with_group_id(group("other-group")).with_topics(None);
        r = r.with_groups(vec![g, all]);
    }
    if v >= 7 {
        r = r.with_require_stable(true);
    }
    tagged(v, ApiKey::OffsetFetch, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn offset_fetch_response(v: i16) -> OffsetFetchResponse {
    use offset_fetch_response::*;
    let mut r = OffsetFetchResponse::default();
    if v >= 3 {
        r = r.with_throttle_time_ms(10);
    }
    if v <= 7 {
        let mut p = OffsetFetchResponsePartition::default()
            .with_partition_index(3)
            .with_committed_offset(42)
            .with_metadata(Some(s("meta")))
            .with_error_code(0);
        if v >= 5 {
            p = p.with_committed_leader_epoch(5);
        }
        r = r
            .with_topics(vec![OffsetFetchResponseTopic::default().with_name(topic("golden")).with_partitions(vec![p])]);
        if v >= 2 {
            r = r.with_error_code(16);
        }
    } else {
        let p = OffsetFetchResponsePartitions::default()
            .with_partition_index(3)
            .with_committed_offset(42)
            .with_committed_leader_epoch(5)
            .with_metadata(Some(s("meta")))
            .with_error_code(0);
        let t = OffsetFetchResponseTopics::default().with_partitions(vec![p]);
        let t = if v <= 9 { t.with_name(topic("golden")) } else { t.with_topic_id(TOPIC_ID) };
        r = r.with_groups(vec![OffsetFetchResponseGroup::default()
            .with_group_id(group("golden-group"))
            .with_topics(vec![t])
            .with_error_code(16)]);
    }
    tagged(v, ApiKey::OffsetFetch, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn join_group_request(v: i16) -> JoinGroupRequest {
    use join_group_request::*;
    let mut r = JoinGroupRequest::default()
        .with_group_id(group("golden-group"))
        .with_session_timeout_ms(45_000)
        .with_member_id(s("member-1"))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"\x00\x01meta")),
            JoinGroupRequestProtocol::default()
                .with_name(s("roundrobin"))
                .with_metadata(Bytes::from_static(b"\x00\x01")),
        ]);
    if v >= 1 {
        r = r.with_rebalance_timeout_ms(300_000);
    }
    if v >= 5 {
        r = r.with_group_instance_id(Some(s("instance-1")));
    }
    if v >= 8 {
        r = r.with_reason(Some(s("rebalance for a test")));
    }
    tagged(v, ApiKey::JoinGroup, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn join_group_response(v: i16) -> JoinGroupResponse {
    use join_group_response::*;
    let mut member = JoinGroupResponseMember::default()
        .with_member_id(s("member-1"))
        .with_metadata(Bytes::from_static(b"\x00\x01meta"));
    if v >= 5 {
        member = member.with_group_instance_id(Some(s("instance-1")));
    }
    let mut r = JoinGroupResponse::default()
        .with_error_code(0)
        .with_generation_id(4)
        .with_protocol_name(Some(s("range")))
        .with_leader(s("member-1"))
        .with_member_id(s("member-1"))
        .with_members(vec![member]);
    if v >= 2 {
        r = r.with_throttle_time_ms(10);
    }
    if v >= 7 {
        r = r.with_protocol_type(Some(s("consumer")));
    }
    if v >= 9 {
        r = r.with_skip_assignment(true);
    }
    tagged(v, ApiKey::JoinGroup, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn heartbeat_request(v: i16) -> HeartbeatRequest {
    let mut r = HeartbeatRequest::default()
        .with_group_id(group("golden-group"))
        .with_generation_id(4)
        .with_member_id(s("member-1"));
    if v >= 3 {
        r = r.with_group_instance_id(Some(s("instance-1")));
    }
    tagged(v, ApiKey::Heartbeat, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn heartbeat_response(v: i16) -> HeartbeatResponse {
    let mut r = HeartbeatResponse::default().with_error_code(27);
    if v >= 1 {
        r = r.with_throttle_time_ms(10);
    }
    tagged(v, ApiKey::Heartbeat, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn leave_group_request(v: i16) -> LeaveGroupRequest {
    use leave_group_request::*;
    let mut r = LeaveGroupRequest::default().with_group_id(group("golden-group"));
    if v <= 2 {
        r = r.with_member_id(s("member-1"));
    } else {
        let mut m =
            MemberIdentity::default().with_member_id(s("member-1")).with_group_instance_id(Some(s("instance-1")));
        if v >= 5 {
            m = m.with_reason(Some(s("shutting down")));
        }
        r = r.with_members(vec![m, MemberIdentity::default().with_member_id(s("member-2"))]);
    }
    tagged(v, ApiKey::LeaveGroup, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn leave_group_response(v: i16) -> LeaveGroupResponse {
    use leave_group_response::*;
    let mut r = LeaveGroupResponse::default().with_error_code(25);
    if v >= 1 {
        r = r.with_throttle_time_ms(10);
    }
    if v >= 3 {
        r = r.with_members(vec![MemberResponse::default()
            .with_member_id(s("member-1"))
            .with_group_instance_id(Some(s("instance-1")))
            .with_error_code(25)]);
    }
    tagged(v, ApiKey::LeaveGroup, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn sync_group_request(v: i16) -> SyncGroupRequest {
    use sync_group_request::*;
    let mut r = SyncGroupRequest::default()
        .with_group_id(group("golden-group"))
        .with_generation_id(4)
        .with_member_id(s("member-1"))
        .with_assignments(vec![SyncGroupRequestAssignment::default()
            .with_member_id(s("member-1"))
            .with_assignment(Bytes::from_static(b"\x00\x01assignment"))]);
    if v >= 3 {
        r = r.with_group_instance_id(Some(s("instance-1")));
    }
    if v >= 5 {
        r = r.with_protocol_type(Some(s("consumer"))).with_protocol_name(Some(s("range")));
    }
    tagged(v, ApiKey::SyncGroup, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn sync_group_response(v: i16) -> SyncGroupResponse {
    let mut r =
        SyncGroupResponse::default().with_error_code(0).with_assignment(Bytes::from_static(b"\x00\x01assignment"));
    if v >= 1 {
        r = r.with_throttle_time_ms(10);
    }
    if v >= 5 {
        r = r.with_protocol_type(Some(s("consumer"))).with_protocol_name(Some(s("range")));
    }
    tagged(v, ApiKey::SyncGroup, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn describe_groups_request(v: i16) -> DescribeGroupsRequest {
    let mut r = DescribeGroupsRequest::default().with_groups(vec![group("golden-group"), group("other-group")]);
    if v >= 3 {
        r = r.with_include_authorized_operations(true);
    }
    tagged(v, ApiKey::DescribeGroups, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn describe_groups_response(v: i16) -> DescribeGroupsResponse {
    use describe_groups_response::*;
    let mut m = DescribedGroupMember::default()
        .with_member_id(s("member-1"))
        .with_client_id(s("golden-client"))
        .with_client_host(s("/127.0.0.1"))
        .with_member_metadata(Bytes::from_static(b"\x00\x01meta"))
        .with_member_assignment(Bytes::from_static(b"\x00\x01assignment"));
    if v >= 4 {
        m = m.with_group_instance_id(Some(s("instance-1")));
    }
    let mut g = DescribedGroup::default()
        .with_error_code(0)
        .with_group_id(group("golden-group"))
        .with_group_state(s("Stable"))
        .with_protocol_type(s("consumer"))
        .with_protocol_data(s("range"))
        .with_members(vec![m]);
    if v >= 3 {
        g = g.with_authorized_operations(0x0f8);
    }
    if v >= 6 {
        g = g.with_error_message(Some(s("no error")));
    }
    let mut r = DescribeGroupsResponse::default().with_groups(vec![g]);
    if v >= 1 {
        r = r.with_throttle_time_ms(10);
    }
    tagged(v, ApiKey::DescribeGroups, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn list_groups_request(v: i16) -> ListGroupsRequest {
    // v0-2 have no fields: nothing to populate.
    let mut r = ListGroupsRequest::default();
    if v >= 4 {
        r = r.with_states_filter(vec![s("Stable"), s("Empty")]);
    }
    if v >= 5 {
        r = r.with_types_filter(vec![s("classic")]);
    }
    tagged(v, ApiKey::ListGroups, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn list_groups_response(v: i16) -> ListGroupsResponse {
    use list_groups_response::*;
    let mut g = ListedGroup::default().with_group_id(group("golden-group")).with_protocol_type(s("consumer"));
    if v >= 4 {
        g = g.with_group_state(s("Stable"));
    }
    if v >= 5 {
        g = g.with_group_type(s("classic"));
    }
    let mut r = ListGroupsResponse::default().with_error_code(0).with_groups(vec![g]);
    if v >= 1 {
        r = r.with_throttle_time_ms(10);
    }
    tagged(v, ApiKey::ListGroups, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn delete_groups_request(v: i16) -> DeleteGroupsRequest {
    let r = DeleteGroupsRequest::default().with_groups_names(vec![group("golden-group"), group("other-group")]);
    tagged(v, ApiKey::DeleteGroups, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn delete_groups_response(v: i16) -> DeleteGroupsResponse {
    use delete_groups_response::*;
    let r = DeleteGroupsResponse::default().with_throttle_time_ms(10).with_results(vec![
        DeletableGroupResult::default().with_group_id(group("golden-group")).with_error_code(0),
        DeletableGroupResult::default().with_group_id(group("other-group")).with_error_code(69),
    ]);
    tagged(v, ApiKey::DeleteGroups, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn offset_delete_request(v: i16) -> OffsetDeleteRequest {
    use offset_delete_request::*;
    let r = OffsetDeleteRequest::default().with_group_id(group("golden-group")).with_topics(vec![
        OffsetDeleteRequestTopic::default()
            .with_name(topic("golden"))
            .with_partitions(vec![OffsetDeleteRequestPartition::default().with_partition_index(3)]),
    ]);
    let _ = v; // one version, never flexible: no tagged fields
    r
}

fn offset_delete_response(v: i16) -> OffsetDeleteResponse {
    use offset_delete_response::*;
    let r = OffsetDeleteResponse::default().with_error_code(0).with_throttle_time_ms(10).with_topics(vec![
        OffsetDeleteResponseTopic::default().with_name(topic("golden")).with_partitions(vec![
            OffsetDeleteResponsePartition::default().with_partition_index(3).with_error_code(86),
        ]),
    ]);
    let _ = v; // one version, never flexible: no tagged fields
    r
}

fn consumer_group_heartbeat_request(v: i16) -> ConsumerGroupHeartbeatRequest {
    use consumer_group_heartbeat_request::*;
    let mut r = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(group("golden-group"))
        .with_member_id(s("member-1"))
        .with_member_epoch(5)
        .with_instance_id(Some(s("instance-1")))
        .with_rack_id(Some(s("rack-1")))
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![topic("golden")]))
        .with_server_assignor(Some(s("uniform")))
        .with_topic_partitions(Some(vec![TopicPartitions::default()
            .with_topic_id(uuid::Uuid::from_u128(0x60_1de0))
            .with_partitions(vec![0, 2])]));
    if v >= 1 {
        r = r.with_subscribed_topic_regex(Some(s("golden.*")));
    }
    tagged(v, ApiKey::ConsumerGroupHeartbeat, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn consumer_group_heartbeat_response(v: i16) -> ConsumerGroupHeartbeatResponse {
    use consumer_group_heartbeat_response::*;
    let r = ConsumerGroupHeartbeatResponse::default()
        .with_throttle_time_ms(10)
        .with_error_code(0)
        .with_member_id(Some(s("member-1")))
        .with_member_epoch(6)
        .with_heartbeat_interval_ms(5000)
        .with_assignment(Some(Assignment::default().with_topic_partitions(vec![
            TopicPartitions::default().with_topic_id(uuid::Uuid::from_u128(0x60_1de0)).with_partitions(vec![1, 3]),
        ])));
    tagged(v, ApiKey::ConsumerGroupHeartbeat, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn consumer_group_describe_request(v: i16) -> ConsumerGroupDescribeRequest {
    let r = ConsumerGroupDescribeRequest::default()
        .with_group_ids(vec![group("golden-group")])
        .with_include_authorized_operations(true);
    tagged(v, ApiKey::ConsumerGroupDescribe, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn consumer_group_describe_response(v: i16) -> ConsumerGroupDescribeResponse {
    use consumer_group_describe_response::*;
    let tps = TopicPartitions::default()
        .with_topic_id(uuid::Uuid::from_u128(0x60_1de0))
        .with_topic_name(topic("golden"))
        .with_partitions(vec![0, 1]);
    let member = Member::default()
        .with_member_id(s("member-1"))
        .with_instance_id(Some(s("instance-1")))
        .with_member_epoch(6)
        .with_client_id(s("client-1"))
        .with_client_host(s("/127.0.0.1"))
        .with_subscribed_topic_names(vec![topic("golden")])
        .with_assignment(Assignment::default().with_topic_partitions(vec![tps.clone()]))
        .with_target_assignment(Assignment::default().with_topic_partitions(vec![tps]));
    let r =
        ConsumerGroupDescribeResponse::default().with_throttle_time_ms(10).with_groups(vec![DescribedGroup::default()
            .with_group_id(group("golden-group"))
            .with_group_state(s("Stable"))
            .with_group_epoch(6)
            .with_assignment_epoch(6)
            .with_assignor_name(s("uniform"))
            .with_members(vec![member])]);
    tagged(v, ApiKey::ConsumerGroupDescribe, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn txn_id(x: &'static str) -> TransactionalId {
    TransactionalId(s(x))
}

fn add_partitions_to_txn_request(v: i16) -> AddPartitionsToTxnRequest {
    use add_partitions_to_txn_request::*;
    let topics = vec![
        AddPartitionsToTxnTopic::default().with_name(topic("golden")).with_partitions(vec![0, 3]),
        AddPartitionsToTxnTopic::default().with_name(topic("other")).with_partitions(vec![1]),
    ];
    let r = if v <= 3 {
        AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(txn_id("golden-txn"))
            .with_v3_and_below_producer_id(ProducerId(4_000))
            .with_v3_and_below_producer_epoch(2)
            .with_v3_and_below_topics(topics)
    } else {
        // v4 is what brokers send each other to verify a transaction (KIP-890):
        // a batch of transactions, one of them verify-only.
        AddPartitionsToTxnRequest::default().with_transactions(vec![
            AddPartitionsToTxnTransaction::default()
                .with_transactional_id(txn_id("golden-txn"))
                .with_producer_id(ProducerId(4_000))
                .with_producer_epoch(2)
                .with_verify_only(true)
                .with_topics(topics),
            AddPartitionsToTxnTransaction::default()
                .with_transactional_id(txn_id("other-txn"))
                .with_producer_id(ProducerId(4_001))
                .with_producer_epoch(7)
                .with_verify_only(false)
                .with_topics(vec![AddPartitionsToTxnTopic::default()
                    .with_name(topic("golden"))
                    .with_partitions(vec![2])]),
        ])
    };
    tagged(v, ApiKey::AddPartitionsToTxn, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn add_partitions_to_txn_response(v: i16) -> AddPartitionsToTxnResponse {
    use add_partitions_to_txn_response::*;
    let topic_results =
        vec![AddPartitionsToTxnTopicResult::default().with_name(topic("golden")).with_results_by_partition(vec![
            AddPartitionsToTxnPartitionResult::default().with_partition_index(0).with_partition_error_code(0),
            AddPartitionsToTxnPartitionResult::default().with_partition_index(3).with_partition_error_code(48),
        ])];
    let r = AddPartitionsToTxnResponse::default().with_throttle_time_ms(10);
    let r = if v <= 3 {
        r.with_results_by_topic_v3_and_below(topic_results)
    } else {
        r.with_error_code(51).with_results_by_transaction(vec![AddPartitionsToTxnResult::default()
            .with_transactional_id(txn_id("golden-txn"))
            .with_topic_results(topic_results)])
    };
    tagged(v, ApiKey::AddPartitionsToTxn, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn add_offsets_to_txn_request(v: i16) -> AddOffsetsToTxnRequest {
    let r = AddOffsetsToTxnRequest::default()
        .with_transactional_id(txn_id("golden-txn"))
        .with_producer_id(ProducerId(4_000))
        .with_producer_epoch(2)
        .with_group_id(group("golden-group"));
    tagged(v, ApiKey::AddOffsetsToTxn, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn add_offsets_to_txn_response(v: i16) -> AddOffsetsToTxnResponse {
    let r = AddOffsetsToTxnResponse::default().with_throttle_time_ms(10).with_error_code(51);
    tagged(v, ApiKey::AddOffsetsToTxn, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn end_txn_request(v: i16) -> EndTxnRequest {
    let r = EndTxnRequest::default()
        .with_transactional_id(txn_id("golden-txn"))
        .with_producer_id(ProducerId(4_000))
        .with_producer_epoch(2)
        .with_committed(true);
    tagged(v, ApiKey::EndTxn, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn end_txn_response(v: i16) -> EndTxnResponse {
    // producer_id and producer_epoch come with v5, past the served range.
    let r = EndTxnResponse::default().with_throttle_time_ms(10).with_error_code(48);
    tagged(v, ApiKey::EndTxn, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn txn_offset_commit_request(v: i16) -> TxnOffsetCommitRequest {
    use txn_offset_commit_request::*;
    let mut p = TxnOffsetCommitRequestPartition::default()
        .with_partition_index(3)
        .with_committed_offset(42)
        .with_committed_metadata(Some(s("meta")));
    if v >= 2 {
        p = p.with_committed_leader_epoch(5);
    }
    let mut r = TxnOffsetCommitRequest::default()
        .with_transactional_id(txn_id("golden-txn"))
        .with_group_id(group("golden-group"))
        .with_producer_id(ProducerId(4_000))
        .with_producer_epoch(2)
        .with_topics(vec![TxnOffsetCommitRequestTopic::default().with_name(topic("golden")).with_partitions(vec![p])]);
    if v >= 3 {
        r = r.with_generation_id(4).with_member_id(s("member-1")).with_group_instance_id(Some(s("instance-1")));
    }
    tagged(v, ApiKey::TxnOffsetCommit, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn txn_offset_commit_response(v: i16) -> TxnOffsetCommitResponse {
    use txn_offset_commit_response::*;
    let r = TxnOffsetCommitResponse::default().with_throttle_time_ms(10).with_topics(vec![
        TxnOffsetCommitResponseTopic::default().with_name(topic("golden")).with_partitions(vec![
            TxnOffsetCommitResponsePartition::default().with_partition_index(3).with_error_code(22),
        ]),
    ]);
    tagged(v, ApiKey::TxnOffsetCommit, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn describe_producers_request(v: i16) -> DescribeProducersRequest {
    use describe_producers_request::*;
    let r = DescribeProducersRequest::default().with_topics(vec![
        TopicRequest::default().with_name(topic("golden")).with_partition_indexes(vec![0, 3]),
        TopicRequest::default().with_name(topic("other")).with_partition_indexes(vec![1]),
    ]);
    tagged(v, ApiKey::DescribeProducers, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn describe_producers_response(v: i16) -> DescribeProducersResponse {
    use describe_producers_response::*;
    let producer = ProducerState::default()
        .with_producer_id(ProducerId(4_000))
        .with_producer_epoch(2)
        .with_last_sequence(41)
        .with_last_timestamp(1_700_000_000_041)
        .with_coordinator_epoch(3)
        .with_current_txn_start_offset(30);
    let r = DescribeProducersResponse::default().with_throttle_time_ms(10).with_topics(vec![TopicResponse::default()
        .with_name(topic("golden"))
        .with_partitions(vec![
            PartitionResponse::default().with_partition_index(0).with_active_producers(vec![producer]),
            PartitionResponse::default()
                .with_partition_index(3)
                .with_error_code(6)
                .with_error_message(Some(s("not the leader"))),
        ])]);
    tagged(v, ApiKey::DescribeProducers, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn describe_transactions_request(v: i16) -> DescribeTransactionsRequest {
    let r =
        DescribeTransactionsRequest::default().with_transactional_ids(vec![txn_id("golden-txn"), txn_id("other-txn")]);
    tagged(v, ApiKey::DescribeTransactions, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn describe_transactions_response(v: i16) -> DescribeTransactionsResponse {
    use describe_transactions_response::*;
    let r = DescribeTransactionsResponse::default().with_throttle_time_ms(10).with_transaction_states(vec![
        TransactionState::default()
            .with_error_code(0)
            .with_transactional_id(txn_id("golden-txn"))
            .with_transaction_state(s("Ongoing"))
            .with_transaction_timeout_ms(60_000)
            .with_transaction_start_time_ms(1_700_000_000_000)
            .with_producer_id(ProducerId(4_000))
            .with_producer_epoch(2)
            .with_topics(vec![TopicData::default().with_topic(topic("golden")).with_partitions(vec![0, 3])]),
        TransactionState::default()
            .with_error_code(105)
            .with_transactional_id(txn_id("other-txn"))
            .with_transaction_state(s("Dead"))
            .with_transaction_timeout_ms(-1)
            .with_transaction_start_time_ms(-1)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    ]);
    tagged(v, ApiKey::DescribeTransactions, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn list_transactions_request(v: i16) -> ListTransactionsRequest {
    let mut r = ListTransactionsRequest::default()
        .with_state_filters(vec![s("Ongoing"), s("PrepareCommit")])
        .with_producer_id_filters(vec![ProducerId(4_000), ProducerId(4_001)]);
    if v >= 1 {
        r = r.with_duration_filter(60_000);
    }
    if v >= 2 {
        r = r.with_transactional_id_pattern(Some(s("golden-.*")));
    }
    tagged(v, ApiKey::ListTransactions, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

fn list_transactions_response(v: i16) -> ListTransactionsResponse {
    use list_transactions_response::*;
    let r = ListTransactionsResponse::default()
        .with_throttle_time_ms(10)
        .with_error_code(15)
        .with_unknown_state_filters(vec![s("Bogus")])
        .with_transaction_states(vec![TransactionState::default()
            .with_transactional_id(txn_id("golden-txn"))
            .with_producer_id(ProducerId(4_000))
            .with_transaction_state(s("Ongoing"))]);
    tagged(v, ApiKey::ListTransactions, r, |m, k, b| m.with_unknown_tagged_field(k, b))
}

// ---------------------------------------------------------------------------
// golden files

struct Golden {
    dir: PathBuf,
    bless: bool,
}

impl Golden {
    fn responses() -> Golden {
        let dir = root().join("golden").join("responses");
        let bless = bless();
        if bless {
            fs::create_dir_all(&dir).expect("create golden/responses");
        }
        Golden { dir, bless }
    }

    /// Writes `bytes` when blessing; otherwise they must equal the file.
    fn check(&self, name: &str, bytes: &[u8]) -> Result<(), String> {
        let path = self.dir.join(name);
        if self.bless {
            fs::write(&path, bytes).map_err(|e| format!("write {}: {e}", path.display()))?;
            return Ok(());
        }
        let old = fs::read(&path).map_err(|e| {
            format!(
                "golden file {} unreadable ({e}); create it with BLESS=1 cargo test --test protocol_golden",
                path.display()
            )
        })?;
        if old != bytes {
            return Err(format!(
                "{name} differs from the golden file: {}\n  (if the change is intended: BLESS=1 cargo test --test protocol_golden)",
                diff_hint(&old, bytes)
            ));
        }
        Ok(())
    }
}

/// Every golden response file name the tests produce.
fn golden_response_names() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (api, lo, hi) in SUPPORTED_APIS {
        for v in *lo..=*hi {
            names.insert(format!("{api:?}-v{v}.bin"));
        }
    }
    for v in api_versions::VERSION_MIN..=api_versions::VERSION_MAX {
        names.insert(format!("ApiVersions-handle-v{v}.bin"));
    }
    names.insert("ApiVersions-unsupported-v0.bin".to_string());
    names
}

// ---------------------------------------------------------------------------
// 2 + 3: every served API at every served version

/// Checks a size-prefixed response frame from `encode_response` against the
/// separately encoded body.
fn check_frame(api: ApiKey, v: i16, frame: &[u8], body: &[u8]) -> Result<(), String> {
    if frame.len() < 8 {
        return Err(format!("frame of {} bytes", frame.len()));
    }
    let size = i32::from_be_bytes(frame[0..4].try_into().unwrap());
    if size as usize != frame.len() - 4 {
        return Err(format!("size prefix {size}, but {} bytes follow it", frame.len() - 4));
    }
    let corr = i32::from_be_bytes(frame[4..8].try_into().unwrap());
    if corr != CORRELATION_ID {
        return Err(format!("correlation id {corr:#x}, expected {CORRELATION_ID:#x}"));
    }
    let flexible = v >= first_flexible(api);
    // KIP-511: ApiVersions responses always use header v0.
    let header_v1 = flexible && api != ApiKey::ApiVersions;
    let body_at = if header_v1 {
        if frame[8] != 0 {
            return Err(format!("header v1 tagged-field count is {:#x}, expected 0", frame[8]));
        }
        9
    } else {
        8
    };
    if &frame[body_at..] != body {
        return Err(format!(
            "frame body (after a header v{}) differs from the encoded response: {}",
            header_v1 as u8,
            diff_hint(body, &frame[body_at..])
        ));
    }
    // The codec's header versions agree with the schema table above.
    let want_resp_header = if header_v1 { 1 } else { 0 };
    if api.response_header_version(v) != want_resp_header {
        return Err(format!(
            "codec response header v{} , expected v{want_resp_header}",
            api.response_header_version(v)
        ));
    }
    let want_req_header = if flexible { 2 } else { 1 };
    if api.request_header_version(v) != want_req_header {
        return Err(format!("codec request header v{}, expected v{want_req_header}", api.request_header_version(v)));
    }
    Ok(())
}

fn check_version<Req, Resp>(api: ApiKey, v: i16, req: Req, resp: Resp, golden: &Golden) -> Result<(), String>
where
    Req: Encodable + Decodable + PartialEq + Debug + Default,
    Resp: Encodable + Decodable + PartialEq + Debug + Default,
{
    // request round trip (ApiVersions v0-2 and ListGroups v0-3 requests carry
    // no fields but tagged ones)
    let fieldless = (api == ApiKey::ApiVersions && v < 3) || (api == ApiKey::ListGroups && v < 4);
    if req == Req::default() && !fieldless {
        return Err("populated request equals the default".into());
    }
    let req_bytes = encode(&req, v)?;
    let back: Req = decode(&req_bytes, v)?;
    if back != req {
        return Err(format!("request round trip changed the message:\n  sent {req:?}\n  got  {back:?}"));
    }
    if encode(&back, v)? != req_bytes {
        return Err("request re-encode differs".into());
    }
    // The broker walks every request body before decoding it.
    let layout = handlers::request_layout(api).ok_or_else(|| format!("{api:?} has no layout"))?;
    wire_guard::check_request(api, v, layout, &req_bytes)
        .map_err(|e| format!("wire guard refused a valid request: {e}"))?;

    // response round trip
    if resp == Resp::default() {
        return Err("populated response equals the default".into());
    }
    let resp_bytes = encode(&resp, v)?;
    let back: Resp = decode(&resp_bytes, v)?;
    if back != resp {
        return Err(format!("response round trip changed the message:\n  sent {resp:?}\n  got  {back:?}"));
    }

    // broker framing
    let frame = encode_response(api, v, CORRELATION_ID, &resp).map_err(|e| format!("encode_response: {e}"))?;
    check_frame(api, v, &frame, &resp_bytes)?;
    golden.check(&format!("{api:?}-v{v}.bin"), &frame)
}

/// Runs `check` for every version of `api` in SUPPORTED_APIS.
fn every_version(api: ApiKey, check: fn(i16, &Golden) -> Result<(), String>) {
    let (lo, hi) = supported(api).unwrap_or_else(|| panic!("{api:?} is not in SUPPORTED_APIS"));
    let golden = Golden::responses();
    let failures: Vec<String> =
        (lo..=hi).filter_map(|v| check(v, &golden).err().map(|e| format!("{api:?} v{v}: {e}"))).collect();
    assert!(failures.is_empty(), "{} of {} versions failed:\n{}", failures.len(), hi - lo + 1, failures.join("\n"));
}

macro_rules! api_cases {
    ($($test:ident: $api:expr => $req:ident, $resp:ident;)*) => {
        $(
            #[test]
            fn $test() {
                every_version($api, |v, g| check_version($api, v, $req(v), $resp(v), g));
            }
        )*

        /// The APIs that have a case above.
        const CASES: &[ApiKey] = &[$($api),*];
    };
}

api_cases! {
    every_version_produce: ApiKey::Produce => produce_request, produce_response;
    every_version_fetch: ApiKey::Fetch => fetch_request, fetch_response;
    every_version_list_offsets: ApiKey::ListOffsets => list_offsets_request, list_offsets_response;
    every_version_metadata: ApiKey::Metadata => metadata_request, metadata_response;
    every_version_find_coordinator: ApiKey::FindCoordinator => find_coordinator_request, find_coordinator_response;
    every_version_api_versions: ApiKey::ApiVersions => api_versions_request, api_versions_response;
    every_version_create_topics: ApiKey::CreateTopics => create_topics_request, create_topics_response;
    every_version_delete_topics: ApiKey::DeleteTopics => delete_topics_request, delete_topics_response;
    every_version_init_producer_id: ApiKey::InitProducerId => init_producer_id_request, init_producer_id_response;
    every_version_describe_cluster: ApiKey::DescribeCluster => describe_cluster_request, describe_cluster_response;
    every_version_offset_commit: ApiKey::OffsetCommit => offset_commit_request, offset_commit_response;
    every_version_offset_fetch: ApiKey::OffsetFetch => offset_fetch_request, offset_fetch_response;
    every_version_join_group: ApiKey::JoinGroup => join_group_request, join_group_response;
    every_version_heartbeat: ApiKey::Heartbeat => heartbeat_request, heartbeat_response;
    every_version_leave_group: ApiKey::LeaveGroup => leave_group_request, leave_group_response;
    every_version_sync_group: ApiKey::SyncGroup => sync_group_request, sync_group_response;
    every_version_describe_groups: ApiKey::DescribeGroups => describe_groups_request, describe_groups_response;
    every_version_list_groups: ApiKey::ListGroups => list_groups_request, list_groups_response;
    every_version_delete_groups: ApiKey::DeleteGroups => delete_groups_request, delete_groups_response;
    every_version_offset_delete: ApiKey::OffsetDelete => offset_delete_request, offset_delete_response;
    every_version_consumer_group_heartbeat: ApiKey::ConsumerGroupHeartbeat => consumer_group_heartbeat_request, consumer_group_heartbeat_response;
    every_version_consumer_group_describe: ApiKey::ConsumerGroupDescribe => consumer_group_describe_request, consumer_group_describe_response;
    every_version_add_partitions_to_txn: ApiKey::AddPartitionsToTxn => add_partitions_to_txn_request, add_partitions_to_txn_response;
    every_version_add_offsets_to_txn: ApiKey::AddOffsetsToTxn => add_offsets_to_txn_request, add_offsets_to_txn_response;
    every_version_end_txn: ApiKey::EndTxn => end_txn_request, end_txn_response;
    every_version_txn_offset_commit: ApiKey::TxnOffsetCommit => txn_offset_commit_request, txn_offset_commit_response;
    every_version_describe_producers: ApiKey::DescribeProducers => describe_producers_request, describe_producers_response;
    every_version_describe_transactions: ApiKey::DescribeTransactions => describe_transactions_request, describe_transactions_response;
    every_version_list_transactions: ApiKey::ListTransactions => list_transactions_request, list_transactions_response;
}

#[test]
fn every_supported_api_has_a_case() {
    let served: BTreeSet<i16> = SUPPORTED_APIS.iter().map(|(k, _, _)| *k as i16).collect();
    let cased: BTreeSet<i16> = CASES.iter().map(|k| *k as i16).collect();
    assert_eq!(served, cased, "SUPPORTED_APIS and the api_cases! list differ: add a request/response builder");
    assert_eq!(CASES.len(), cased.len(), "an API is listed twice in api_cases!");
}

#[test]
fn fixture_record_batch_is_valid_for_the_broker() {
    let b = record_batch();
    let h = validate_produced_batch(&b, MESSAGE_BYTES_MAX).expect("fixture batch is valid");
    assert_eq!((h.records_count, h.last_offset_delta), (2, 1));
}

/// A field the chosen version cannot carry is an encode error, and
/// `encode_response` reports it rather than writing a truncated frame.
#[test]
fn encode_response_refuses_a_field_the_version_cannot_carry() {
    // session_id exists from Fetch v7 on.
    let r = fetch_response(7);
    let err = encode_response(ApiKey::Fetch, 6, CORRELATION_ID, &r).expect_err("v6 cannot carry session_id");
    assert!(matches!(err, handlers::DispatchError::Encode { api: ApiKey::Fetch, version: 6, .. }), "{err:?}");
}

#[test]
fn golden_responses_dir_has_exactly_the_expected_files() {
    let golden = Golden::responses();
    let expected = golden_response_names();
    let present: BTreeSet<String> = match fs::read_dir(&golden.dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(e) => panic!("{}: {e}; create it with BLESS=1 cargo test --test protocol_golden", golden.dir.display()),
    };
    let stale: Vec<&String> = present.difference(&expected).collect();
    if golden.bless {
        for name in stale {
            fs::remove_file(golden.dir.join(name)).expect("remove stale golden file");
        }
        return;
    }
    let missing: Vec<&String> = expected.difference(&present).collect();
    assert!(
        stale.is_empty() && missing.is_empty(),
        "golden/responses out of date (BLESS=1 cargo test --test protocol_golden):\n  stale: {stale:?}\n  missing: {missing:?}"
    );
}

// ---------------------------------------------------------------------------
// 4: ApiVersions as the broker answers it

fn decode_frame<T: Decodable>(frame: &Bytes, header_version: i16, v: i16) -> (i32, T) {
    let size = i32::from_be_bytes(frame[0..4].try_into().unwrap());
    assert_eq!(size as usize, frame.len() - 4, "size prefix");
    let mut b = frame.slice(4..);
    let header = ResponseHeader::decode(&mut b, header_version).expect("response header");
    (header.correlation_id, decode::<T>(&b, v).expect("response body"))
}

#[test]
fn api_versions_handle_matches_golden_files() {
    let golden = Golden::responses();
    let want: Vec<(i16, i16, i16)> = SUPPORTED_APIS.iter().map(|(k, lo, hi)| (*k as i16, *lo, *hi)).collect();
    let mut failures = Vec::new();
    for v in api_versions::VERSION_MIN..=api_versions::VERSION_MAX {
        let frame =
            encode_response(ApiKey::ApiVersions, v, CORRELATION_ID, &api_versions::response()).expect("encodes");
        // Header v0 whatever the version: the body starts right after the correlation id.
        let (corr, r): (i32, ApiVersionsResponse) = decode_frame(&frame, 0, v);
        assert_eq!(corr, CORRELATION_ID);
        assert_eq!(r.error_code, 0, "v{v}");
        let got: Vec<(i16, i16, i16)> = r.api_keys.iter().map(|a| (a.api_key, a.min_version, a.max_version)).collect();
        assert_eq!(got, want, "v{v}: advertised versions differ from SUPPORTED_APIS");
        assert_eq!(&frame[8..10], &[0, 0], "v{v}: error code right after the correlation id");
        if let Err(e) = golden.check(&format!("ApiVersions-handle-v{v}.bin"), &frame) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn api_versions_unsupported_version_is_v0_with_error_35() {
    let frame =
        encode_response(ApiKey::ApiVersions, 0, CORRELATION_ID, &api_versions::unsupported_version()).expect("encodes");
    // v0 body: error_code i16, then api_keys as a classic array of (i16, i16, i16).
    assert_eq!(&frame[4..8], &CORRELATION_ID.to_be_bytes());
    assert_eq!(&frame[8..10], &35i16.to_be_bytes(), "UNSUPPORTED_VERSION right after the correlation id");
    let n = i32::from_be_bytes(frame[10..14].try_into().unwrap()) as usize;
    assert_eq!(n, SUPPORTED_APIS.len());
    assert_eq!(frame.len(), 14 + 6 * n, "v0 body is error code + array of 6-byte entries, nothing else");
    let (corr, r): (i32, ApiVersionsResponse) = decode_frame(&frame, 0, 0);
    assert_eq!(corr, CORRELATION_ID);
    assert_eq!(r.error_code, 35);
    let av = r.api_keys.iter().find(|a| a.api_key == 18).expect("lists ApiVersions (key 18)");
    assert_eq!((av.min_version, av.max_version), (api_versions::VERSION_MIN, api_versions::VERSION_MAX));
    Golden::responses().check("ApiVersions-unsupported-v0.bin", &frame).unwrap_or_else(|e| panic!("{e}"));
}

// ---------------------------------------------------------------------------
// 1: captured client requests

struct Captured {
    client: String,
    file: String,
    bytes: Bytes,
}

fn captured() -> Vec<Captured> {
    let dir = root().join("golden").join("requests");
    let mut out = Vec::new();
    let mut clients: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run bash protocol-tests/capture.sh)", dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .collect();
    clients.sort_by_key(|e| e.file_name());
    for c in clients {
        let mut files: Vec<_> = fs::read_dir(c.path()).unwrap().filter_map(|e| e.ok()).collect();
        files.sort_by_key(|e| e.file_name());
        for f in files {
            let file = f.file_name().to_string_lossy().into_owned();
            if !file.ends_with(".bin") {
                continue;
            }
            out.push(Captured {
                client: c.file_name().to_string_lossy().into_owned(),
                file,
                bytes: Bytes::from(fs::read(f.path()).unwrap()),
            });
        }
    }
    out
}

/// Decodes a request body of `api` at `version` and encodes it again.
fn reencode_request(api: ApiKey, version: i16, body: &Bytes) -> Result<Bytes, String> {
    fn rt<T: Decodable + Encodable>(body: &Bytes, v: i16) -> Result<Bytes, String> {
        encode(&decode::<T>(body, v)?, v)
    }
    match api {
        ApiKey::Produce => rt::<ProduceRequest>(body, version),
        ApiKey::Fetch => rt::<FetchRequest>(body, version),
        ApiKey::ListOffsets => rt::<ListOffsetsRequest>(body, version),
        ApiKey::Metadata => rt::<MetadataRequest>(body, version),
        ApiKey::FindCoordinator => rt::<FindCoordinatorRequest>(body, version),
        ApiKey::ApiVersions => rt::<ApiVersionsRequest>(body, version),
        ApiKey::CreateTopics => rt::<CreateTopicsRequest>(body, version),
        ApiKey::DeleteTopics => rt::<DeleteTopicsRequest>(body, version),
        ApiKey::InitProducerId => rt::<InitProducerIdRequest>(body, version),
        ApiKey::DescribeCluster => rt::<DescribeClusterRequest>(body, version),
        ApiKey::OffsetCommit => rt::<OffsetCommitRequest>(body, version),
        ApiKey::OffsetFetch => rt::<OffsetFetchRequest>(body, version),
        ApiKey::JoinGroup => rt::<JoinGroupRequest>(body, version),
        ApiKey::Heartbeat => rt::<HeartbeatRequest>(body, version),
        ApiKey::LeaveGroup => rt::<LeaveGroupRequest>(body, version),
        ApiKey::SyncGroup => rt::<SyncGroupRequest>(body, version),
        ApiKey::DescribeGroups => rt::<DescribeGroupsRequest>(body, version),
        ApiKey::ListGroups => rt::<ListGroupsRequest>(body, version),
        ApiKey::DeleteGroups => rt::<DeleteGroupsRequest>(body, version),
        ApiKey::OffsetDelete => rt::<OffsetDeleteRequest>(body, version),
        ApiKey::ConsumerGroupHeartbeat => rt::<ConsumerGroupHeartbeatRequest>(body, version),
        ApiKey::ConsumerGroupDescribe => rt::<ConsumerGroupDescribeRequest>(body, version),
        ApiKey::AddPartitionsToTxn => rt::<AddPartitionsToTxnRequest>(body, version),
        ApiKey::AddOffsetsToTxn => rt::<AddOffsetsToTxnRequest>(body, version),
        ApiKey::EndTxn => rt::<EndTxnRequest>(body, version),
        ApiKey::TxnOffsetCommit => rt::<TxnOffsetCommitRequest>(body, version),
        ApiKey::DescribeProducers => rt::<DescribeProducersRequest>(body, version),
        ApiKey::DescribeTransactions => rt::<DescribeTransactionsRequest>(body, version),
        ApiKey::ListTransactions => rt::<ListTransactionsRequest>(body, version),
        other => Err(format!("{other:?} is not a served API")),
    }
}

/// Checks one captured frame; returns its (api, version).
fn check_captured(c: &Captured) -> Result<(ApiKey, i16), String> {
    let (req, body) = parse_header(c.bytes.clone()).map_err(|e| format!("parse_header: {e}"))?;
    let (api, v) = (req.api, req.version);
    // The file name says what the proxy read; parse_header must agree.
    let prefix = format!("{api:?}-v{v}-");
    if !c.file.starts_with(&prefix) {
        return Err(format!("parse_header read {api:?} v{v}, the file name says otherwise"));
    }
    let (lo, hi) = supported(api).ok_or_else(|| format!("{api:?} is not in SUPPORTED_APIS"))?;
    // KIP-511: a client may open with an ApiVersions newer than served; the
    // broker answers it with unsupported_version() (tested below), so only
    // that API may be captured above its range.
    let in_range = (lo..=hi).contains(&v) || (api == ApiKey::ApiVersions && v > hi);
    if !in_range {
        return Err(format!("v{v} is outside the served range {lo}..={hi}"));
    }
    // header: rebuilt from what parse_header returned
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(v)
        .with_correlation_id(req.correlation_id)
        .with_client_id(req.client_id.clone().map(StrBytes::from_string));
    let header_bytes = encode(&header, api.request_header_version(v))?;
    if header_bytes.len() + body.len() != c.bytes.len() {
        return Err("header + body lengths do not add up to the frame".into());
    }
    // body: the broker's structural walk (for served versions), then the codec
    if v <= hi {
        let layout = handlers::request_layout(api).ok_or_else(|| format!("{api:?} has no layout"))?;
        wire_guard::check_request(api, v, layout, &body).map_err(|e| format!("wire guard: {e}"))?;
    }
    let body_bytes = reencode_request(api, v, &body)?;
    let mut again = BytesMut::from(&header_bytes[..]);
    again.extend_from_slice(&body_bytes);
    if again[..] != c.bytes[..] {
        return Err(format!("re-encoded frame differs: {}", diff_hint(&c.bytes, &again)));
    }
    // Produce: every partition's records are one batch the broker accepts.
    if api == ApiKey::Produce {
        let p: ProduceRequest = decode(&body, v)?;
        for t in &p.topic_data {
            for part in &t.partition_data {
                let records = part.records.as_ref().ok_or("Produce partition without records")?;
                validate_produced_batch(records, MESSAGE_BYTES_MAX)
                    .map_err(|e| format!("{:?}[{}]: batch refused: {e}", t.name.0.as_str(), part.index))?;
            }
        }
    }
    Ok((api, v))
}

#[test]
fn captured_requests_round_trip_byte_for_byte() {
    let frames = captured();
    assert!(!frames.is_empty(), "no captured frames under protocol-tests/golden/requests (run capture.sh)");
    let mut coverage: BTreeMap<(i16, i16), BTreeSet<String>> = BTreeMap::new();
    let mut failures = Vec::new();
    for c in &frames {
        match check_captured(c) {
            Ok((api, v)) => {
                coverage.entry((api as i16, v)).or_default().insert(c.client.clone());
            }
            Err(e) => failures.push(format!("{}/{}: {e}", c.client, c.file)),
        }
    }

    // coverage table: (api, version) x client
    let mut table = String::new();
    let _ = write!(table, "{:<16} {:>3}", "api", "ver");
    for client in CLIENTS {
        let _ = write!(table, " {client:>15}");
    }
    table.push('\n');
    for ((key, v), clients) in &coverage {
        let api = ApiKey::try_from(*key).unwrap();
        let _ = write!(table, "{:<16} {:>3}", format!("{api:?}"), v);
        for client in CLIENTS {
            let _ = write!(table, " {:>15}", if clients.contains(*client) { "x" } else { "." });
        }
        table.push('\n');
    }
    println!("captured request coverage ({} frames):\n{table}", frames.len());

    assert!(
        failures.is_empty(),
        "{} of {} captured frames failed:\n{}",
        failures.len(),
        frames.len(),
        failures.join("\n")
    );

    for client in CLIENTS {
        assert!(frames.iter().any(|c| c.client == *client), "no frames captured from {client}");
    }
    let captured_apis: BTreeSet<i16> = coverage.keys().map(|(k, _)| *k).collect();
    for (api, _, _) in SUPPORTED_APIS {
        assert!(
            captured_apis.contains(&(*api as i16)) || NOT_CAPTURED.contains(api),
            "no client request captured for served API {api:?}: extend capture.sh or list it in NOT_CAPTURED"
        );
    }
}
