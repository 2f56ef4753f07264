//! TxnOffsetCommit (key 28): a transactional producer sends a group's
//! consumed positions to the group's coordinator as part of its
//! transaction (consume-transform-produce). They are staged, not
//! committed: the transaction's commit applies them, an abort drops them
//! (see [`crate::txn::coordinator`]). Validation is OffsetCommit's.

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::offset_commit::{check_offsets, partition_code, OffsetIn};
use super::Context;
use crate::group::machine::Identity;
use crate::metadata::TxnOffsetsFor;
use crate::protocol::ErrorCode;
use crate::txn::TxnState;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 3;

/// PRODUCER_FENCED exists from v3 (KIP-588).
const FENCED_FROM: i16 = 3;

pub async fn handle(ctx: &Context, version: i16, req: TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
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
                    leader_epoch: if version >= 2 { p.committed_leader_epoch } else { -1 },
                    metadata: p.committed_metadata.as_deref(),
                })
                .collect();
            (t.name.0.as_str(), partitions)
        })
        .collect();
    let (verdicts, offsets) = check_offsets(ctx, asked);
    let who = Identity { member_id: req.member_id.as_str(), instance_id: req.group_instance_id.as_deref() };
    let generation_id = if version >= 3 { req.generation_id } else { -1 };
    let txn = TxnOffsetsFor {
        transactional_id: req.transactional_id.to_string(),
        producer_id: req.producer_id.0,
        producer_epoch: req.producer_epoch,
        open_state: TxnState::Ongoing.name(),
    };
    // The producer must hold the id's current epoch and have added the group
    // to its open transaction (AddOffsetsToTxn); the store checks that in
    // the transaction that stages the offsets. Kafka gets the same from the
    // producer-epoch check of its offsets log.
    let group_result = if offsets.is_empty() {
        Ok(())
    } else {
        ctx.groups
            .stage_txn_offsets(req.group_id.0.as_str(), &who, generation_id, &txn, offsets)
            .await
            .map_err(|e| super::fenced_for(version, FENCED_FROM, ErrorCode::from(&e)))
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
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(partition_code(code, &group_result).code())
                })
                .collect();
            TxnOffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}
