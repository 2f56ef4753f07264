//! DescribeProducers (key 61, KIP-664): the idempotent and transactional
//! producers known on partitions — epoch, last sequence, when last seen and
//! where an open transaction began. Any broker answers for any partition.

use kafka_protocol::messages::describe_producers_response::{PartitionResponse, ProducerState, TopicResponse};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use super::Context;
use crate::config::limits::DESCRIBE_PRODUCERS_PARTITIONS_MAX;
use crate::protocol::ErrorCode;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 0;

pub async fn handle(ctx: &Context, _version: i16, req: DescribeProducersRequest) -> DescribeProducersResponse {
    let mut budget = DESCRIBE_PRODUCERS_PARTITIONS_MAX;
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let topic = ctx.topics.get(t.name.as_str());
        let mut partitions = Vec::with_capacity(t.partition_indexes.len());
        for p in t.partition_indexes {
            let answer = PartitionResponse::default().with_partition_index(p);
            let result = match &topic {
                _ if budget == 0 => Err(ErrorCode::InvalidRequest),
                Some(topic) if (0..topic.partitions).contains(&p) => {
                    budget -= 1;
                    ctx.log.producers(topic.id, p).await.map_err(|e| ErrorCode::from(&e))
                }
                _ => Err(ErrorCode::UnknownTopicOrPartition),
            };
            partitions.push(match result {
                Err(code) => answer.with_error_code(code.code()),
                Ok(producers) => answer.with_active_producers(
                    producers
                        .into_iter()
                        .map(|r| {
                            let last_sequence = crate::producer::ProducerState::decode(r.producer_epoch, &r.batches)
                                .and_then(|s| s.batches.back().map(|b| b.last_sequence))
                                .unwrap_or(-1);
                            ProducerState::default()
                                .with_producer_id(ProducerId(r.producer_id))
                                .with_producer_epoch(i32::from(r.producer_epoch))
                                .with_last_sequence(last_sequence)
                                .with_last_timestamp(r.last_timestamp)
                                .with_coordinator_epoch(r.coordinator_epoch)
                                .with_current_txn_start_offset(r.txn_first_offset.unwrap_or(-1))
                        })
                        .collect(),
                ),
            });
        }
        topics.push(TopicResponse::default().with_name(t.name).with_partitions(partitions));
    }
    DescribeProducersResponse::default().with_topics(topics)
}
