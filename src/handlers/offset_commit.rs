//! OffsetCommit (key 8): store a group's consumed positions durably before
//! answering. Partitions of unknown topics get UNKNOWN_TOPIC_OR_PARTITION;
//! group-level failures (generation, membership) apply to every partition.

use kafka_protocol::messages::offset_commit_response::{OffsetCommitResponsePartition, OffsetCommitResponseTopic};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::Context;
use crate::group::machine::Identity;
use crate::metadata::CommittedOffset;
use crate::protocol::ErrorCode;

pub const VERSION_MIN: i16 = 2;
pub const VERSION_MAX: i16 = 9;

/// Kafka's `offset.metadata.max.bytes`.
const METADATA_BYTES_MAX: usize = 4096;

pub async fn handle(ctx: &Context, version: i16, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let now = ctx.clock.now_ms();
    // Per-partition verdicts before the group check.
    let mut verdicts: Vec<Vec<ErrorCode>> = Vec::with_capacity(req.topics.len());
    let mut offsets = Vec::new();
    for t in &req.topics {
        let topic = ctx.topics.get(t.name.0.as_str());
        let mut codes = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let code = match &topic {
                Some(topic) if p.partition_index >= 0 && p.partition_index < topic.record.partitions => {
                    if p.committed_metadata.as_ref().is_some_and(|m| m.len() > METADATA_BYTES_MAX) {
                        ErrorCode::OffsetMetadataTooLarge
                    } else {
                        offsets.push(CommittedOffset {
                            topic: t.name.0.to_string(),
                            partition: p.partition_index,
                            offset: p.committed_offset,
                            leader_epoch: if version >= 6 { p.committed_leader_epoch } else { -1 },
                            // Kafka stores a null metadata as "" (NoMetadata).
                            metadata: Some(p.committed_metadata.as_ref().map(|m| m.to_string()).unwrap_or_default()),
                            commit_ms: now,
                        });
                        ErrorCode::None
                    }
                }
                _ => ErrorCode::UnknownTopicOrPartition,
            };
            codes.push(code);
        }
        verdicts.push(codes);
    }
    let who = Identity { member_id: req.member_id.as_str(), instance_id: req.group_instance_id.as_deref() };
    let group_result =
        ctx.groups.commit_offsets(req.group_id.0.as_str(), &who, req.generation_id_or_member_epoch, offsets).await;
    let topics = req
        .topics
        .iter()
        .zip(verdicts)
        .map(|(t, codes)| {
            let partitions = t
                .partitions
                .iter()
                .zip(codes)
                .map(|(p, code)| {
                    let code = match (&group_result, code) {
                        (Err(group_code), ErrorCode::None) => *group_code,
                        (_, c) => c,
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code.code())
                })
                .collect();
            OffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
