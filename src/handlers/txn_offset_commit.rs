//! TxnOffsetCommit (key 28): a transactional producer sends a group's
//! consumed positions to the group's coordinator as part of its
//! transaction (consume-transform-produce). They are staged, not
//! committed: the transaction's commit applies them, an abort drops them
//! (see [`crate::txn::coordinator`]). Validation is OffsetCommit's.

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::Context;
use crate::group::machine::Identity;
use crate::metadata::CommittedOffset;
use crate::protocol::ErrorCode;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 3;

/// PRODUCER_FENCED exists from v3 (KIP-588).
const FENCED_FROM: i16 = 3;

/// Kafka's `offset.metadata.max.bytes`.
const METADATA_BYTES_MAX: usize = 4096;

pub async fn handle(ctx: &Context, version: i16, req: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
    let now = ctx.clock.now_ms();
    let mut verdicts: Vec<Vec<ErrorCode>> = Vec::with_capacity(req.topics.len());
    let mut offsets = Vec::new();
    for t in &req.topics {
        let topic = ctx.topics.get(t.name.0.as_str());
        let codes = t
            .partitions
            .iter()
            .map(|p| match &topic {
                Some(topic) if (0..topic.record.partitions).contains(&p.partition_index) => {
                    if p.committed_metadata.as_ref().is_some_and(|m| m.len() > METADATA_BYTES_MAX) {
                        return ErrorCode::OffsetMetadataTooLarge;
                    }
                    offsets.push(CommittedOffset {
                        topic: t.name.0.to_string(),
                        partition: p.partition_index,
                        offset: p.committed_offset,
                        leader_epoch: if version >= 2 { p.committed_leader_epoch } else { -1 },
                        metadata: Some(p.committed_metadata.as_ref().map(|m| m.to_string()).unwrap_or_default()),
                        commit_ms: now,
                    });
                    ErrorCode::None
                }
                _ => ErrorCode::UnknownTopicOrPartition,
            })
            .collect();
        verdicts.push(codes);
    }
    let who = Identity { member_id: req.member_id.as_str(), instance_id: req.group_instance_id.as_deref() };
    let generation_id = if version >= 3 { req.generation_id } else { -1 };
    let group_result = match check_transaction(ctx, &req).await {
        Err(code) => Err(code),
        Ok(()) if offsets.is_empty() => Ok(()),
        Ok(()) => {
            ctx.groups.stage_txn_offsets(req.group_id.0.as_str(), &who, generation_id, req.producer_id.0, offsets).await
        }
    };
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
                        (Err(group_code), ErrorCode::None) => super::fenced_for(version, FENCED_FROM, *group_code),
                        (_, c) => c,
                    };
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code.code())
                })
                .collect();
            TxnOffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

/// The producer must hold the transactional id's current epoch and have
/// added the group to its open transaction (AddOffsetsToTxn): offsets of a
/// fenced producer, or that no transaction end would ever settle, are
/// refused. Kafka gets the same from the producer-epoch check of its
/// offsets log.
async fn check_transaction(ctx: &Context, req: &TxnOffsetCommitRequest) -> Result<(), ErrorCode> {
    let txn = ctx
        .meta
        .load_transaction(req.transactional_id.as_str())
        .await
        .map_err(|e| ErrorCode::from(&e))?
        .ok_or(ErrorCode::InvalidProducerIdMapping)?;
    if txn.producer_id != req.producer_id.0 {
        return Err(ErrorCode::InvalidProducerIdMapping);
    }
    if txn.producer_epoch != req.producer_epoch {
        return Err(ErrorCode::ProducerFenced);
    }
    if txn.state != crate::txn::TxnState::Ongoing || !txn.groups.contains(req.group_id.as_str()) {
        return Err(ErrorCode::InvalidTxnState);
    }
    Ok(())
}
