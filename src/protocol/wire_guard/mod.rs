//! A structural walk over a request body before the codec decodes it.
//!
//! Why: the `kafka-protocol` crate allocates `Vec::with_capacity(n)` from an
//! array count read off the wire. A 30-byte frame claiming two billion
//! elements would make the broker ask for hundreds of gigabytes and abort.
//! This walk follows the message layout of each served API and version and
//! refuses a body in which any array announces more elements than there are
//! bytes left, or which ends before the layout does. Only then is the body
//! handed to the codec. Bytes after the end of the layout are tolerated, as
//! the Java broker tolerates them (librdkafka 2.16 sends Metadata v12 with
//! three extra bytes); the caller may log them.
//!
//! The layouts below restate the Kafka protocol's message schemas (field
//! order, the versions each field exists in, and from which version a
//! message uses the compact "flexible" encoding with tagged fields). They are
//! checked against the codec in the tests: every version of every served
//! request, encoded by the codec with populated fields, must walk to the
//! exact end.

use kafka_protocol::messages::ApiKey;
use thiserror::Error;

#[derive(Debug, Clone, Copy)]
enum Ty {
    I8,
    I16,
    I32,
    I64,
    Uuid,
    Bool,
    /// String, nullable or not (length -1 / compact 0 means null).
    Str,
    /// Bytes, nullable or not.
    Bytes,
    /// An array of structs.
    Array(&'static [Field]),
    /// An array of scalars or strings.
    ArrayOf(&'static Ty),
}

#[derive(Debug, Clone, Copy)]
struct Field {
    ty: Ty,
    min: i16,
    max: i16,
}

const fn all(ty: Ty) -> Field {
    Field { ty, min: 0, max: i16::MAX }
}
const fn from(min: i16, ty: Ty) -> Field {
    Field { ty, min, max: i16::MAX }
}
const fn until(max: i16, ty: Ty) -> Field {
    Field { ty, min: 0, max }
}
const fn between(min: i16, max: i16, ty: Ty) -> Field {
    Field { ty, min, max }
}

use Ty::*;

// Produce (flexible from v9).
const PRODUCE_PARTITION: &[Field] = &[all(I32), all(Bytes)];
const PRODUCE_TOPIC: &[Field] = &[until(12, Str), from(13, Uuid), all(Array(PRODUCE_PARTITION))];
const PRODUCE: &[Field] = &[all(Str), all(I16), all(I32), all(Array(PRODUCE_TOPIC))];

// Fetch (flexible from v12).
const FETCH_PARTITION: &[Field] = &[all(I32), from(9, I32), all(I64), from(12, I32), from(5, I64), all(I32)];
const FETCH_TOPIC: &[Field] = &[until(12, Str), from(13, Uuid), all(Array(FETCH_PARTITION))];
const FORGOTTEN_TOPIC: &[Field] = &[between(7, 12, Str), from(13, Uuid), from(7, ArrayOf(&I32))];
const FETCH: &[Field] = &[
    until(14, I32),
    all(I32),
    all(I32),
    from(3, I32),
    from(4, I8),
    from(7, I32),
    from(7, I32),
    all(Array(FETCH_TOPIC)),
    from(7, Array(FORGOTTEN_TOPIC)),
    from(11, Str),
];

// ListOffsets (flexible from v6).
const LIST_OFFSETS_PARTITION: &[Field] = &[all(I32), from(4, I32), all(I64)];
const LIST_OFFSETS_TOPIC: &[Field] = &[all(Str), all(Array(LIST_OFFSETS_PARTITION))];
const LIST_OFFSETS: &[Field] = &[all(I32), from(2, I8), all(Array(LIST_OFFSETS_TOPIC)), from(10, I32)];

// Metadata (flexible from v9).
const METADATA_TOPIC: &[Field] = &[from(10, Uuid), all(Str)];
const METADATA: &[Field] = &[all(Array(METADATA_TOPIC)), from(4, Bool), between(8, 10, Bool), from(8, Bool)];

// FindCoordinator (flexible from v3).
const FIND_COORDINATOR: &[Field] = &[until(3, Str), from(1, I8), from(4, ArrayOf(&Str))];

// ApiVersions (flexible from v3).
const API_VERSIONS: &[Field] = &[from(3, Str), from(3, Str)];

// CreateTopics (flexible from v5).
const CREATABLE_ASSIGNMENT: &[Field] = &[all(I32), all(ArrayOf(&I32))];
const CREATABLE_CONFIG: &[Field] = &[all(Str), all(Str)];
const CREATABLE_TOPIC: &[Field] =
    &[all(Str), all(I32), all(I16), all(Array(CREATABLE_ASSIGNMENT)), all(Array(CREATABLE_CONFIG))];
const CREATE_TOPICS: &[Field] = &[all(Array(CREATABLE_TOPIC)), all(I32), from(1, Bool)];

// DeleteTopics (flexible from v4).
const DELETE_TOPIC_STATE: &[Field] = &[all(Str), all(Uuid)];
const DELETE_TOPICS: &[Field] = &[from(6, Array(DELETE_TOPIC_STATE)), until(5, ArrayOf(&Str)), all(I32)];

// InitProducerId (flexible from v2).
const INIT_PRODUCER_ID: &[Field] = &[all(Str), all(I32), from(3, I64), from(3, I16)];

// DescribeCluster (flexible from v0).
const DESCRIBE_CLUSTER: &[Field] = &[all(Bool), from(1, I8), from(2, Bool)];

// JoinGroup (flexible from v6).
const JOIN_PROTOCOL: &[Field] = &[all(Str), all(Bytes)];
const JOIN_GROUP: &[Field] =
    &[all(Str), all(I32), from(1, I32), all(Str), from(5, Str), all(Str), all(Array(JOIN_PROTOCOL)), from(8, Str)];

// SyncGroup (flexible from v4).
const SYNC_ASSIGNMENT: &[Field] = &[all(Str), all(Bytes)];
const SYNC_GROUP: &[Field] =
    &[all(Str), all(I32), all(Str), from(3, Str), from(5, Str), from(5, Str), all(Array(SYNC_ASSIGNMENT))];

// Heartbeat (flexible from v4).
const HEARTBEAT: &[Field] = &[all(Str), all(I32), all(Str), from(3, Str)];

// LeaveGroup (flexible from v4).
const LEAVE_MEMBER: &[Field] = &[all(Str), all(Str), from(5, Str)];
const LEAVE_GROUP: &[Field] = &[all(Str), until(2, Str), from(3, Array(LEAVE_MEMBER))];

// OffsetCommit (flexible from v8).
const COMMIT_PARTITION: &[Field] = &[all(I32), all(I64), from(6, I32), all(Str)];
const COMMIT_TOPIC: &[Field] = &[all(Str), all(Array(COMMIT_PARTITION))];
const OFFSET_COMMIT: &[Field] =
    &[all(Str), from(1, I32), from(1, Str), from(7, Str), between(2, 4, I64), all(Array(COMMIT_TOPIC))];

// OffsetFetch (flexible from v6).
const FETCH_OFFSETS_TOPIC: &[Field] = &[all(Str), all(ArrayOf(&I32))];
const FETCH_OFFSETS_GROUP: &[Field] = &[all(Str), from(9, Str), from(9, I32), all(Array(FETCH_OFFSETS_TOPIC))];
const OFFSET_FETCH: &[Field] =
    &[until(7, Str), until(7, Array(FETCH_OFFSETS_TOPIC)), from(8, Array(FETCH_OFFSETS_GROUP)), from(7, Bool)];

// DescribeGroups (flexible from v5), ListGroups (v3), DeleteGroups (v2).
const DESCRIBE_GROUPS: &[Field] = &[all(ArrayOf(&Str)), from(3, Bool)];
const LIST_GROUPS: &[Field] = &[from(4, ArrayOf(&Str)), from(5, ArrayOf(&Str))];
const DELETE_GROUPS: &[Field] = &[all(ArrayOf(&Str))];

// OffsetDelete (never flexible).
const OFFSET_DELETE_PARTITION: &[Field] = &[all(I32)];
const OFFSET_DELETE_TOPIC: &[Field] = &[all(Str), all(Array(OFFSET_DELETE_PARTITION))];
const OFFSET_DELETE: &[Field] = &[all(Str), all(Array(OFFSET_DELETE_TOPIC))];

// ConsumerGroupHeartbeat and ConsumerGroupDescribe (KIP-848; flexible
// from v0).
const OWNED_PARTITIONS: &[Field] = &[all(Uuid), all(ArrayOf(&I32))];
const CONSUMER_GROUP_HEARTBEAT: &[Field] = &[
    all(Str),
    all(Str),
    all(I32),
    all(Str),
    all(Str),
    all(I32),
    all(ArrayOf(&Str)),
    from(1, Str),
    all(Str),
    all(Array(OWNED_PARTITIONS)),
];
const CONSUMER_GROUP_DESCRIBE: &[Field] = &[all(ArrayOf(&Str)), all(Bool)];

// AddPartitionsToTxn (flexible from v3). Up to v3 one transaction's topics
// follow its id; from v4 (KIP-890) the body is only an array of
// transactions, each with its own id, producer, verify_only flag and topics.
const ADD_PARTITIONS_TOPIC: &[Field] = &[all(Str), all(ArrayOf(&I32))];
const ADD_PARTITIONS_TRANSACTION: &[Field] =
    &[all(Str), all(I64), all(I16), all(Bool), all(Array(ADD_PARTITIONS_TOPIC))];
const ADD_PARTITIONS_TO_TXN: &[Field] = &[
    from(4, Array(ADD_PARTITIONS_TRANSACTION)),
    until(3, Str),
    until(3, I64),
    until(3, I16),
    until(3, Array(ADD_PARTITIONS_TOPIC)),
];

// AddOffsetsToTxn and EndTxn (both flexible from v3).
const ADD_OFFSETS_TO_TXN: &[Field] = &[all(Str), all(I64), all(I16), all(Str)];
const END_TXN: &[Field] = &[all(Str), all(I64), all(I16), all(Bool)];

// TxnOffsetCommit (flexible from v3; the group member fields came with v3).
const TXN_COMMIT_PARTITION: &[Field] = &[all(I32), all(I64), from(2, I32), all(Str)];
const TXN_COMMIT_TOPIC: &[Field] = &[all(Str), all(Array(TXN_COMMIT_PARTITION))];
const TXN_OFFSET_COMMIT: &[Field] =
    &[all(Str), all(Str), all(I64), all(I16), from(3, I32), from(3, Str), from(3, Str), all(Array(TXN_COMMIT_TOPIC))];

// DescribeProducers, DescribeTransactions and ListTransactions (admin APIs
// of KIP-664; flexible from v0).
const DESCRIBE_PRODUCERS_TOPIC: &[Field] = &[all(Str), all(ArrayOf(&I32))];
const DESCRIBE_PRODUCERS: &[Field] = &[all(Array(DESCRIBE_PRODUCERS_TOPIC))];
const DESCRIBE_TRANSACTIONS: &[Field] = &[all(ArrayOf(&Str))];
const LIST_TRANSACTIONS: &[Field] = &[all(ArrayOf(&Str)), all(ArrayOf(&I64)), from(1, I64), from(2, Str)];

/// The layout of a request body and the first flexible version.
fn layout(api: ApiKey) -> Option<(&'static [Field], i16)> {
    Some(match api {
        ApiKey::Produce => (PRODUCE, 9),
        ApiKey::Fetch => (FETCH, 12),
        ApiKey::ListOffsets => (LIST_OFFSETS, 6),
        ApiKey::Metadata => (METADATA, 9),
        ApiKey::FindCoordinator => (FIND_COORDINATOR, 3),
        ApiKey::ApiVersions => (API_VERSIONS, 3),
        ApiKey::CreateTopics => (CREATE_TOPICS, 5),
        ApiKey::DeleteTopics => (DELETE_TOPICS, 4),
        ApiKey::InitProducerId => (INIT_PRODUCER_ID, 2),
        ApiKey::DescribeCluster => (DESCRIBE_CLUSTER, 0),
        ApiKey::JoinGroup => (JOIN_GROUP, 6),
        ApiKey::SyncGroup => (SYNC_GROUP, 4),
        ApiKey::Heartbeat => (HEARTBEAT, 4),
        ApiKey::LeaveGroup => (LEAVE_GROUP, 4),
        ApiKey::OffsetCommit => (OFFSET_COMMIT, 8),
        ApiKey::OffsetFetch => (OFFSET_FETCH, 6),
        ApiKey::DescribeGroups => (DESCRIBE_GROUPS, 5),
        ApiKey::ListGroups => (LIST_GROUPS, 3),
        ApiKey::DeleteGroups => (DELETE_GROUPS, 2),
        ApiKey::OffsetDelete => (OFFSET_DELETE, i16::MAX),
        ApiKey::ConsumerGroupHeartbeat => (CONSUMER_GROUP_HEARTBEAT, 0),
        ApiKey::ConsumerGroupDescribe => (CONSUMER_GROUP_DESCRIBE, 0),
        ApiKey::AddPartitionsToTxn => (ADD_PARTITIONS_TO_TXN, 3),
        ApiKey::AddOffsetsToTxn => (ADD_OFFSETS_TO_TXN, 3),
        ApiKey::EndTxn => (END_TXN, 3),
        ApiKey::TxnOffsetCommit => (TXN_OFFSET_COMMIT, 3),
        ApiKey::DescribeProducers => (DESCRIBE_PRODUCERS, 0),
        ApiKey::DescribeTransactions => (DESCRIBE_TRANSACTIONS, 0),
        ApiKey::ListTransactions => (LIST_TRANSACTIONS, 0),
        _ => return None,
    })
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum GuardError {
    #[error("no wire layout is known for {api:?}")]
    UnknownLayout { api: ApiKey },
    #[error("body ends early at byte {at}")]
    Truncated { at: usize },
    #[error("array at byte {at} announces {count} elements with {remaining_bytes} bytes left")]
    CountTooLarge { at: usize, count: u64, remaining_bytes: usize },
    #[error("length at byte {at} is invalid")]
    BadLength { at: usize },
}

struct Walker<'a> {
    buf: &'a [u8],
    at: usize,
    version: i16,
    flexible: bool,
}

impl Walker<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], GuardError> {
        let end =
            self.at.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or(GuardError::Truncated { at: self.at })?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn uvarint(&mut self) -> Result<u64, GuardError> {
        let start = self.at;
        let mut value = 0u64;
        for i in 0..5 {
            let b = self.take(1)?[0];
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(GuardError::BadLength { at: start })
    }

    fn i16(&mut self) -> Result<i16, GuardError> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes")))
    }

    fn i32(&mut self) -> Result<i32, GuardError> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    /// A length prefix: `None` for null.
    fn length(&mut self, wide: bool) -> Result<Option<usize>, GuardError> {
        let at = self.at;
        if self.flexible {
            let n = self.uvarint()?;
            return Ok(n.checked_sub(1).map(|n| n as usize));
        }
        let n = if wide { i64::from(self.i32()?) } else { i64::from(self.i16()?) };
        match n {
            -1 => Ok(None),
            n if n >= 0 => Ok(Some(n as usize)),
            _ => Err(GuardError::BadLength { at }),
        }
    }

    fn count(&mut self) -> Result<usize, GuardError> {
        let at = self.at;
        let Some(n) = self.length(true)? else {
            return Ok(0);
        };
        let remaining_bytes = self.buf.len() - self.at;
        if n > remaining_bytes {
            return Err(GuardError::CountTooLarge { at, count: n as u64, remaining_bytes });
        }
        Ok(n)
    }

    fn value(&mut self, ty: &Ty) -> Result<(), GuardError> {
        match ty {
            I8 | Bool => self.take(1).map(drop),
            I16 => self.take(2).map(drop),
            I32 => self.take(4).map(drop),
            I64 => self.take(8).map(drop),
            Uuid => self.take(16).map(drop),
            Str => {
                let n = self.length(false)?;
                self.take(n.unwrap_or(0)).map(drop)
            }
            Bytes => {
                let n = self.length(true)?;
                self.take(n.unwrap_or(0)).map(drop)
            }
            Array(fields) => {
                for _ in 0..self.count()? {
                    self.fields(fields)?;
                }
                Ok(())
            }
            ArrayOf(inner) => {
                for _ in 0..self.count()? {
                    self.value(inner)?;
                }
                Ok(())
            }
        }
    }

    fn fields(&mut self, fields: &[Field]) -> Result<(), GuardError> {
        let version = self.version;
        for f in fields.iter().filter(|f| (f.min..=f.max).contains(&version)) {
            self.value(&f.ty)?;
        }
        if self.flexible {
            self.tagged_fields()?;
        }
        Ok(())
    }

    /// Tagged fields are skipped by their explicit sizes.
    fn tagged_fields(&mut self) -> Result<(), GuardError> {
        let at = self.at;
        let n = self.uvarint()? as usize;
        if n > self.buf.len() - self.at {
            return Err(GuardError::CountTooLarge { at, count: n as u64, remaining_bytes: self.buf.len() - self.at });
        }
        for _ in 0..n {
            self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.take(size)?;
        }
        Ok(())
    }
}

/// Checks that `body` (the request after its header) is a well-formed
/// `api` request of `version` whose every array count is backed by bytes.
/// Returns how many bytes follow the end of the layout.
pub fn check_request(api: ApiKey, version: i16, body: &[u8]) -> Result<usize, GuardError> {
    let (fields, flexible_from) = layout(api).ok_or(GuardError::UnknownLayout { api })?;
    let mut w = Walker { buf: body, at: 0, version, flexible: version >= flexible_from };
    w.fields(fields)?;
    Ok(body.len() - w.at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn s(x: &'static str) -> StrBytes {
        StrBytes::from_static_str(x)
    }

    fn encode<T: Encodable>(m: &T, version: i16) -> Bytes {
        let mut b = BytesMut::new();
        m.encode(&mut b, version).unwrap_or_else(|e| panic!("encode v{version}: {e}"));
        b.freeze()
    }

    /// A request of `api` at `version` with nested arrays populated.
    fn populated(api: ApiKey, version: i16) -> Bytes {
        let topic = TopicName(s("orders"));
        match api {
            ApiKey::Produce => {
                let p = produce_request::PartitionProduceData::default()
                    .with_index(3)
                    .with_records(Some(Bytes::from_static(b"abc")));
                let mut t = produce_request::TopicProduceData::default().with_partition_data(vec![p.clone(), p]);
                if version >= 13 {
                    t.topic_id = uuid::Uuid::from_u128(7)
                } else {
                    t.name = topic
                }
                encode(
                    &ProduceRequest::default().with_acks(-1).with_timeout_ms(5).with_topic_data(vec![t.clone(), t]),
                    version,
                )
            }
            ApiKey::Fetch => {
                let p = fetch_request::FetchPartition::default()
                    .with_partition(1)
                    .with_fetch_offset(9)
                    .with_partition_max_bytes(10);
                let mut t = fetch_request::FetchTopic::default().with_partitions(vec![p.clone(), p]);
                let mut f = fetch_request::ForgottenTopic::default();
                if version >= 13 {
                    t.topic_id = uuid::Uuid::from_u128(1);
                    f.topic_id = uuid::Uuid::from_u128(2)
                } else {
                    t.topic = topic.clone();
                    if version >= 7 {
                        f.topic = topic
                    }
                }
                let mut r = FetchRequest::default()
                    .with_max_wait_ms(5)
                    .with_min_bytes(1)
                    .with_max_bytes(100)
                    .with_topics(vec![t.clone(), t]);
                if version >= 7 {
                    f.partitions = vec![1, 2, 3];
                    r.forgotten_topics_data = vec![f];
                    r.session_epoch = 3;
                }
                if version >= 11 {
                    r.rack_id = s("rack-a");
                }
                encode(&r, version)
            }
            ApiKey::ListOffsets => {
                let p =
                    list_offsets_request::ListOffsetsPartition::default().with_partition_index(2).with_timestamp(-1);
                let t = list_offsets_request::ListOffsetsTopic::default()
                    .with_name(topic)
                    .with_partitions(vec![p.clone(), p]);
                encode(&ListOffsetsRequest::default().with_topics(vec![t.clone(), t]), version)
            }
            ApiKey::Metadata => {
                let mut t = metadata_request::MetadataRequestTopic::default().with_name(Some(topic));
                if version >= 10 {
                    t.topic_id = uuid::Uuid::from_u128(3)
                }
                let mut r = MetadataRequest::default().with_topics(Some(vec![t.clone(), t]));
                if version >= 4 {
                    r.allow_auto_topic_creation = true
                }
                if version >= 8 {
                    r.include_topic_authorized_operations = true
                }
                encode(&r, version)
            }
            ApiKey::FindCoordinator => {
                let mut r = FindCoordinatorRequest::default();
                if version >= 4 {
                    r.coordinator_keys = vec![s("g1"), s("g2")]
                } else {
                    r.key = s("g1")
                }
                if version >= 1 {
                    r.key_type = 1
                }
                encode(&r, version)
            }
            ApiKey::ApiVersions => {
                let mut r = ApiVersionsRequest::default();
                if version >= 3 {
                    r.client_software_name = s("kcat");
                    r.client_software_version = s("1.7")
                }
                encode(&r, version)
            }
            ApiKey::CreateTopics => {
                let a = create_topics_request::CreatableReplicaAssignment::default()
                    .with_partition_index(0)
                    .with_broker_ids(vec![BrokerId(1), BrokerId(2)]);
                let c = create_topics_request::CreatableTopicConfig::default()
                    .with_name(s("retention.ms"))
                    .with_value(Some(s("1")));
                let t = create_topics_request::CreatableTopic::default()
                    .with_name(topic)
                    .with_num_partitions(-1)
                    .with_replication_factor(-1)
                    .with_assignments(vec![a.clone(), a])
                    .with_configs(vec![c.clone(), c]);
                encode(
                    &CreateTopicsRequest::default()
                        .with_topics(vec![t.clone(), t])
                        .with_timeout_ms(9)
                        .with_validate_only(true),
                    version,
                )
            }
            ApiKey::DeleteTopics => {
                let mut r = DeleteTopicsRequest::default().with_timeout_ms(3);
                if version >= 6 {
                    let t = delete_topics_request::DeleteTopicState::default()
                        .with_name(Some(topic))
                        .with_topic_id(uuid::Uuid::from_u128(4));
                    r.topics = vec![t.clone(), t];
                } else {
                    r.topic_names = vec![topic.clone(), topic];
                }
                encode(&r, version)
            }
            ApiKey::InitProducerId => {
                let mut r = InitProducerIdRequest::default()
                    .with_transactional_id(Some(TransactionalId(s("tx"))))
                    .with_transaction_timeout_ms(5);
                if version >= 3 {
                    r.producer_id = ProducerId(8);
                    r.producer_epoch = 2
                }
                encode(&r, version)
            }
            ApiKey::DescribeCluster => {
                let mut r = DescribeClusterRequest::default().with_include_cluster_authorized_operations(true);
                if version >= 1 {
                    r.endpoint_type = 1
                }
                encode(&r, version)
            }
            ApiKey::JoinGroup => {
                let p = join_group_request::JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(Bytes::from_static(b"m"));
                let mut r = JoinGroupRequest::default()
                    .with_group_id(GroupId(s("g")))
                    .with_session_timeout_ms(10)
                    .with_member_id(s("m1"))
                    .with_protocol_type(s("consumer"))
                    .with_protocols(vec![p.clone(), p]);
                if version >= 1 {
                    r.rebalance_timeout_ms = 5
                }
                if version >= 5 {
                    r.group_instance_id = Some(s("i1"))
                }
                if version >= 8 {
                    r.reason = Some(s("why"))
                }
                encode(&r, version)
            }
            ApiKey::SyncGroup => {
                let a = sync_group_request::SyncGroupRequestAssignment::default()
                    .with_member_id(s("m1"))
                    .with_assignment(Bytes::from_static(b"a"));
                let mut r = SyncGroupRequest::default()
                    .with_group_id(GroupId(s("g")))
                    .with_generation_id(3)
                    .with_member_id(s("m1"))
                    .with_assignments(vec![a.clone(), a]);
                if version >= 3 {
                    r.group_instance_id = Some(s("i1"))
                }
                if version >= 5 {
                    r.protocol_type = Some(s("consumer"));
                    r.protocol_name = Some(s("range"))
                }
                encode(&r, version)
            }
            ApiKey::Heartbeat => {
                let mut r = HeartbeatRequest::default()
                    .with_group_id(GroupId(s("g")))
                    .with_generation_id(3)
                    .with_member_id(s("m1"));
                if version >= 3 {
                    r.group_instance_id = Some(s("i1"))
                }
                encode(&r, version)
            }
            ApiKey::LeaveGroup => {
                let mut r = LeaveGroupRequest::default().with_group_id(GroupId(s("g")));
                if version >= 3 {
                    let mut m = leave_group_request::MemberIdentity::default()
                        .with_member_id(s("m1"))
                        .with_group_instance_id(Some(s("i1")));
                    if version >= 5 {
                        m.reason = Some(s("bye"))
                    }
                    r.members = vec![m.clone(), m];
                } else {
                    r.member_id = s("m1");
                }
                encode(&r, version)
            }
            ApiKey::OffsetCommit => {
                let mut p = offset_commit_request::OffsetCommitRequestPartition::default()
                    .with_partition_index(1)
                    .with_committed_offset(5)
                    .with_committed_metadata(Some(s("md")));
                if version >= 6 {
                    p.committed_leader_epoch = 2
                }
                let t = offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(topic)
                    .with_partitions(vec![p.clone(), p]);
                let mut r = OffsetCommitRequest::default()
                    .with_group_id(GroupId(s("g")))
                    .with_generation_id_or_member_epoch(1)
                    .with_member_id(s("m1"))
                    .with_topics(vec![t.clone(), t]);
                if version >= 7 {
                    r.group_instance_id = Some(s("i1"))
                }
                if version <= 4 {
                    r.retention_time_ms = 1000
                }
                encode(&r, version)
            }
            ApiKey::OffsetFetch => {
                let mut r = OffsetFetchRequest::default();
                if version >= 8 {
                    let t = offset_fetch_request::OffsetFetchRequestTopics::default()
                        .with_name(topic)
                        .with_partition_indexes(vec![0, 1]);
                    let mut g = offset_fetch_request::OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(s("g")))
                        .with_topics(Some(vec![t.clone(), t]));
                    if version >= 9 {
                        g.member_id = Some(s("m1"));
                        g.member_epoch = 4
                    }
                    r.groups = vec![g.clone(), g];
                } else {
                    let t = offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(topic)
                        .with_partition_indexes(vec![0, 1]);
                    r.group_id = GroupId(s("g"));
                    r.topics = Some(vec![t.clone(), t]);
                }
                if version >= 7 {
                    r.require_stable = true
                }
                encode(&r, version)
            }
            ApiKey::DescribeGroups => {
                let mut r = DescribeGroupsRequest::default().with_groups(vec![GroupId(s("a")), GroupId(s("b"))]);
                if version >= 3 {
                    r.include_authorized_operations = true
                }
                encode(&r, version)
            }
            ApiKey::ListGroups => {
                let mut r = ListGroupsRequest::default();
                if version >= 4 {
                    r.states_filter = vec![s("Stable"), s("Empty")]
                }
                if version >= 5 {
                    r.types_filter = vec![s("classic")]
                }
                encode(&r, version)
            }
            ApiKey::DeleteGroups => encode(
                &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("a")), GroupId(s("b"))]),
                version,
            ),
            ApiKey::OffsetDelete => {
                let p = offset_delete_request::OffsetDeleteRequestPartition::default().with_partition_index(4);
                let t = offset_delete_request::OffsetDeleteRequestTopic::default()
                    .with_name(topic)
                    .with_partitions(vec![p.clone(), p]);
                encode(
                    &OffsetDeleteRequest::default().with_group_id(GroupId(s("g"))).with_topics(vec![t.clone(), t]),
                    version,
                )
            }
            ApiKey::ConsumerGroupHeartbeat => {
                let tp = consumer_group_heartbeat_request::TopicPartitions::default()
                    .with_topic_id(uuid::Uuid::from_u128(9))
                    .with_partitions(vec![0, 2]);
                let mut r = ConsumerGroupHeartbeatRequest::default()
                    .with_group_id(GroupId(s("g")))
                    .with_member_id(s("m1"))
                    .with_member_epoch(3)
                    .with_instance_id(Some(s("i1")))
                    .with_rack_id(Some(s("r1")))
                    .with_rebalance_timeout_ms(5)
                    .with_subscribed_topic_names(Some(vec![topic.clone(), topic]))
                    .with_server_assignor(Some(s("uniform")))
                    .with_topic_partitions(Some(vec![tp.clone(), tp]));
                if version >= 1 {
                    r.subscribed_topic_regex = Some(s("orders.*"))
                }
                encode(&r, version)
            }
            ApiKey::ConsumerGroupDescribe => encode(
                &ConsumerGroupDescribeRequest::default()
                    .with_group_ids(vec![GroupId(s("a")), GroupId(s("b"))])
                    .with_include_authorized_operations(true),
                version,
            ),
            ApiKey::AddPartitionsToTxn => {
                let t = add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(topic)
                    .with_partitions(vec![0, 4]);
                let mut r = AddPartitionsToTxnRequest::default();
                if version >= 4 {
                    let x = add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
                        .with_transactional_id(TransactionalId(s("tx")))
                        .with_producer_id(ProducerId(8))
                        .with_producer_epoch(2)
                        .with_verify_only(true)
                        .with_topics(vec![t.clone(), t]);
                    r.transactions = vec![x.clone(), x];
                } else {
                    r.v3_and_below_transactional_id = TransactionalId(s("tx"));
                    r.v3_and_below_producer_id = ProducerId(8);
                    r.v3_and_below_producer_epoch = 2;
                    r.v3_and_below_topics = vec![t.clone(), t];
                }
                encode(&r, version)
            }
            ApiKey::AddOffsetsToTxn => encode(
                &AddOffsetsToTxnRequest::default()
                    .with_transactional_id(TransactionalId(s("tx")))
                    .with_producer_id(ProducerId(8))
                    .with_producer_epoch(2)
                    .with_group_id(GroupId(s("g"))),
                version,
            ),
            ApiKey::EndTxn => encode(
                &EndTxnRequest::default()
                    .with_transactional_id(TransactionalId(s("tx")))
                    .with_producer_id(ProducerId(8))
                    .with_producer_epoch(2)
                    .with_committed(true),
                version,
            ),
            ApiKey::TxnOffsetCommit => {
                let mut p = txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(1)
                    .with_committed_offset(5)
                    .with_committed_metadata(Some(s("md")));
                if version >= 2 {
                    p.committed_leader_epoch = 3
                }
                let t = txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                    .with_name(topic)
                    .with_partitions(vec![p.clone(), p]);
                let mut r = TxnOffsetCommitRequest::default()
                    .with_transactional_id(TransactionalId(s("tx")))
                    .with_group_id(GroupId(s("g")))
                    .with_producer_id(ProducerId(8))
                    .with_producer_epoch(2)
                    .with_topics(vec![t.clone(), t]);
                if version >= 3 {
                    r.generation_id = 4;
                    r.member_id = s("m1");
                    r.group_instance_id = Some(s("i1"))
                }
                encode(&r, version)
            }
            ApiKey::DescribeProducers => {
                let t = describe_producers_request::TopicRequest::default()
                    .with_name(topic)
                    .with_partition_indexes(vec![0, 1, 2]);
                encode(&DescribeProducersRequest::default().with_topics(vec![t.clone(), t]), version)
            }
            ApiKey::DescribeTransactions => encode(
                &DescribeTransactionsRequest::default()
                    .with_transactional_ids(vec![TransactionalId(s("tx")), TransactionalId(s("ty"))]),
                version,
            ),
            ApiKey::ListTransactions => {
                let mut r = ListTransactionsRequest::default()
                    .with_state_filters(vec![s("Ongoing"), s("PrepareCommit")])
                    .with_producer_id_filters(vec![ProducerId(8), ProducerId(9)]);
                if version >= 1 {
                    r.duration_filter = 60_000
                }
                if version >= 2 {
                    r.transactional_id_pattern = Some(s("tx.*"))
                }
                encode(&r, version)
            }
            other => panic!("no sample for {other:?}"),
        }
    }

    #[test]
    fn every_served_version_walks_to_the_exact_end() {
        for (api, min, max) in crate::handlers::SUPPORTED_APIS {
            for version in *min..=*max {
                let body = populated(*api, version);
                assert_eq!(check_request(*api, version, &body), Ok(0), "{api:?} v{version}");
                // Any truncation is refused, never accepted.
                for cut in [1, 2, body.len() / 2] {
                    if cut <= body.len() && cut > 0 {
                        assert!(
                            check_request(*api, version, &body[..body.len() - cut]).is_err(),
                            "{api:?} v{version} cut {cut}"
                        );
                    }
                }
            }
        }
    }

    /// The transaction APIs at every version the codec carries, which
    /// includes every version the broker serves (AddPartitionsToTxn 0-4,
    /// AddOffsetsToTxn 0-3, EndTxn 0-3, TxnOffsetCommit 0-3, ListTransactions
    /// 0-1, DescribeProducers and DescribeTransactions 0). Listed here rather
    /// than taken from SUPPORTED_APIS so the layouts are pinned whatever the
    /// dispatcher advertises.
    const TRANSACTION_APIS: &[(ApiKey, i16, i16)] = &[
        (ApiKey::AddPartitionsToTxn, 0, 5),
        (ApiKey::AddOffsetsToTxn, 0, 4),
        (ApiKey::EndTxn, 0, 5),
        (ApiKey::TxnOffsetCommit, 0, 5),
        (ApiKey::DescribeProducers, 0, 0),
        (ApiKey::DescribeTransactions, 0, 0),
        (ApiKey::ListTransactions, 0, 2),
    ];

    #[test]
    fn transaction_apis_walk_to_the_exact_end() {
        for (api, min, max) in TRANSACTION_APIS {
            for version in *min..=*max {
                let body = populated(*api, version);
                assert_eq!(check_request(*api, version, &body), Ok(0), "{api:?} v{version}");
                for cut in 1..=body.len() {
                    assert!(check_request(*api, version, &body[..body.len() - cut]).is_err(), "{api:?} v{version}");
                }
            }
        }
    }

    #[test]
    fn a_huge_array_count_in_a_transaction_request_is_refused() {
        let huge = |r: Result<usize, GuardError>| matches!(r, Err(GuardError::CountTooLarge { .. }));
        // AddPartitionsToTxn v2: id "tx", producer id, epoch, then the topic count.
        let mut classic = vec![0, 2, b't', b'x'];
        classic.extend_from_slice(&[0u8; 10]);
        classic.extend_from_slice(&i32::MAX.to_be_bytes());
        classic.extend_from_slice(&[0u8; 16]);
        assert!(huge(check_request(ApiKey::AddPartitionsToTxn, 2, &classic)));
        // The same count one level down: one topic whose partition array claims i32::MAX.
        let mut nested = vec![0, 2, b't', b'x'];
        nested.extend_from_slice(&[0u8; 10]);
        nested.extend_from_slice(&1i32.to_be_bytes());
        nested.extend_from_slice(&[0, 1, b'o']);
        nested.extend_from_slice(&i32::MAX.to_be_bytes());
        nested.extend_from_slice(&[0u8; 16]);
        assert!(huge(check_request(ApiKey::AddPartitionsToTxn, 2, &nested)));
        // AddPartitionsToTxn v4: the transactions array is the first field (compact count).
        let varint_max = [0xff, 0xff, 0xff, 0xff, 0x0f];
        let mut batched = varint_max.to_vec();
        batched.extend_from_slice(&[0u8; 16]);
        assert!(huge(check_request(ApiKey::AddPartitionsToTxn, 4, &batched)));
        // TxnOffsetCommit v0: two strings, producer id, epoch, then the topic count.
        let mut commit = vec![0, 2, b't', b'x', 0, 1, b'g'];
        commit.extend_from_slice(&[0u8; 10]);
        commit.extend_from_slice(&(1i32 << 30).to_be_bytes());
        commit.extend_from_slice(&[0u8; 16]);
        assert!(huge(check_request(ApiKey::TxnOffsetCommit, 0, &commit)));
        // The flexible admin requests open with compact arrays.
        for api in [ApiKey::DescribeProducers, ApiKey::DescribeTransactions, ApiKey::ListTransactions] {
            let mut body = varint_max.to_vec();
            body.extend_from_slice(&[0u8; 16]);
            assert!(huge(check_request(api, 0, &body)), "{api:?}");
        }
        // ListTransactions: the producer id filter after an empty state filter.
        let mut filters = vec![1];
        filters.extend_from_slice(&varint_max);
        filters.extend_from_slice(&[0u8; 16]);
        assert!(huge(check_request(ApiKey::ListTransactions, 1, &filters)));
    }

    #[test]
    fn a_huge_array_count_is_refused_before_the_codec_sees_it() {
        // Produce v3: transactional_id null, acks, timeout, then topic count.
        let mut body = vec![0xff, 0xff, 0, 1, 0, 0, 0, 100];
        body.extend_from_slice(&i32::MAX.to_be_bytes());
        body.extend_from_slice(&[0u8; 20]);
        assert!(
            matches!(check_request(ApiKey::Produce, 3, &body), Err(GuardError::CountTooLarge { count, .. }) if count == i32::MAX as u64)
        );
        // Flexible (v9): compact count as an unsigned varint.
        let mut flex = vec![0, 0, 1, 0, 0, 0, 100];
        flex.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(check_request(ApiKey::Produce, 9, &flex), Err(GuardError::CountTooLarge { .. })));
        // Negative lengths other than null are malformed.
        let mut neg = vec![0xff, 0xfe];
        neg.extend_from_slice(&[0u8; 10]);
        assert!(matches!(check_request(ApiKey::Produce, 3, &neg), Err(GuardError::BadLength { at: 0 })));
    }

    /// Regression: librdkafka 2.16 (confluent-kafka 2.16.1) sends Metadata
    /// v12 with three bytes after the body; the Java broker ignores them.
    #[test]
    fn trailing_bytes_are_tolerated_like_the_java_broker() {
        let frame = hex("0003000c00000003000772646b61666b610000000000010000");
        let body = &frame[18..];
        assert_eq!(check_request(ApiKey::Metadata, 12, body), Ok(3));
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
}
