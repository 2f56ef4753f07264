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

/// One partition of an offset commit as requested.
pub(super) struct OffsetIn<'a> {
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<&'a str>,
}

/// Checks each partition of a commit (the topic exists, the metadata fits);
/// returns the verdicts, by topic in request order, and the offsets to
/// store. Shared with TxnOffsetCommit.
pub(super) fn check_offsets(
    ctx: &Context,
    topics: Vec<(&str, Vec<OffsetIn<'_>>)>,
) -> (Vec<Vec<ErrorCode>>, Vec<CommittedOffset>) {
    let now = ctx.clock.now_ms();
    let metadata_bytes_max = ctx.config.offset_metadata_bytes_max;
    let mut offsets = Vec::new();
    let verdicts = topics
        .into_iter()
        .map(|(name, partitions)| {
            let topic = ctx.topics.get(name);
            partitions
                .into_iter()
                .map(|p| match &topic {
                    Some(topic) if (0..topic.partitions).contains(&p.partition) => {
                        if p.metadata.is_some_and(|m| m.len() > metadata_bytes_max) {
                            return ErrorCode::OffsetMetadataTooLarge;
                        }
                        offsets.push(CommittedOffset {
                            topic: name.to_string(),
                            partition: p.partition,
                            offset: p.offset,
                            leader_epoch: p.leader_epoch,
                            // Kafka stores a null metadata as "" (NoMetadata).
                            metadata: Some(p.metadata.unwrap_or_default().to_string()),
                            commit_ms: now,
                        });
                        ErrorCode::None
                    }
                    _ => ErrorCode::UnknownTopicOrPartition,
                })
                .collect()
        })
        .collect();
    (verdicts, offsets)
}

/// A partition's answer: its own verdict, or the group's error where the
/// partition itself was fine.
pub(super) fn partition_code(verdict: ErrorCode, group_result: &Result<(), ErrorCode>) -> ErrorCode {
    match (group_result, verdict) {
        (Err(group_code), ErrorCode::None) => *group_code,
        (_, v) => v,
    }
}

pub async fn handle(ctx: &Context, version: i16, req: OffsetCommitRequest) -> OffsetCommitResponse {
    let asked = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| OffsetIn {
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: if version >= 6 { p.committed_leader_epoch } else { -1 },
                    metadata: p.committed_metadata.as_deref(),
                })
                .collect();
            (t.name.0.as_str(), partitions)
        })
        .collect();
    let (verdicts, offsets) = check_offsets(ctx, asked);
    let who = Identity { member_id: req.member_id.as_str(), instance_id: req.group_instance_id.as_deref() };
    let group_result = ctx
        .groups
        .commit_offsets(req.group_id.0.as_str(), &who, req.generation_id_or_member_epoch, offsets)
        .await
        .map_err(|e| ErrorCode::from(&e));
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
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(partition_code(code, &group_result).code())
                })
                .collect();
            OffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
