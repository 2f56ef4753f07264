//! Requests of every served API with their nested arrays populated,
//! encoded by the codec: what the layouts are checked against (here, and
//! for every served version in `crate::handlers`' registry tests).

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
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
pub fn populated(api: ApiKey, version: i16) -> Bytes {
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
            let p = list_offsets_request::ListOffsetsPartition::default().with_partition_index(2).with_timestamp(-1);
            let t =
                list_offsets_request::ListOffsetsTopic::default().with_name(topic).with_partitions(vec![p.clone(), p]);
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
        ApiKey::DeleteGroups => {
            encode(&DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("a")), GroupId(s("b"))]), version)
        }
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
