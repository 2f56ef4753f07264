//! AddPartitionsToTxn (key 24): partitions join a producer's transaction
//! before it writes to them. v0–v3 carry one transaction from a client;
//! v4 carries several, each possibly verify-only (KIP-890: "is this
//! partition already part of the transaction?").
//!
//! Per partition: UNKNOWN_TOPIC_OR_PARTITION for a partition that does not
//! exist, and then OPERATION_NOT_ATTEMPTED for the others of that request,
//! as Kafka answers; otherwise the coordinator's answer for all of them.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, TopicName};
use uuid::Uuid;

use super::Context;
use crate::config::limits::ADD_PARTITIONS_TO_TXN_PARTITIONS_MAX;
use crate::protocol::ErrorCode;
use crate::txn::TxnPartition;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 4;

/// PRODUCER_FENCED exists from v2 (KIP-588).
const FENCED_FROM: i16 = 2;

pub async fn handle(ctx: &Context, version: i16, req: AddPartitionsToTxnRequest) -> AddPartitionsToTxnResponse {
    if version <= 3 {
        let topics = one(
            ctx,
            version,
            req.v3_and_below_transactional_id.as_str(),
            req.v3_and_below_producer_id.0,
            req.v3_and_below_producer_epoch,
            false,
            &req.v3_and_below_topics,
        )
        .await;
        return AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topics);
    }
    let mut results = Vec::with_capacity(req.transactions.len());
    for t in &req.transactions {
        let topics =
            one(ctx, version, t.transactional_id.as_str(), t.producer_id.0, t.producer_epoch, t.verify_only, &t.topics)
                .await;
        results.push(
            AddPartitionsToTxnResult::default()
                .with_transactional_id(t.transactional_id.clone())
                .with_topic_results(topics),
        );
    }
    AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
}

async fn one(
    ctx: &Context,
    version: i16,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    verify_only: bool,
    topics: &[AddPartitionsToTxnTopic],
) -> Vec<AddPartitionsToTxnTopicResult> {
    // Resolve the partitions; any unknown one fails the whole request.
    let mut wanted: Vec<(TxnPartition, Uuid)> = Vec::new();
    let mut unknown: BTreeSet<(String, i32)> = BTreeSet::new();
    for t in topics {
        let topic = ctx.topics.get(t.name.as_str());
        for &p in &t.partitions {
            match &topic {
                Some(topic) if (0..topic.partitions).contains(&p) => {
                    wanted.push(((t.name.to_string(), p), topic.id))
                }
                _ => {
                    unknown.insert((t.name.to_string(), p));
                }
            }
        }
    }
    let count = wanted.len() + unknown.len();
    let outcome: BTreeMap<(String, i32), ErrorCode> = if count > ADD_PARTITIONS_TO_TXN_PARTITIONS_MAX {
        all_with(topics, ErrorCode::InvalidRequest)
    } else if !unknown.is_empty() {
        topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(move |p| (t.name.to_string(), *p)))
            .map(|k| {
                let code = if unknown.contains(&k) {
                    ErrorCode::UnknownTopicOrPartition
                } else {
                    ErrorCode::OperationNotAttempted
                };
                (k, code)
            })
            .collect()
    } else if verify_only {
        let names: Vec<TxnPartition> = wanted.iter().map(|(p, _)| p.clone()).collect();
        match ctx.txns.verify_partitions(transactional_id, producer_id, producer_epoch, &names).await {
            Ok(codes) => names.into_iter().zip(codes).collect(),
            Err(e) => all_with(topics, super::fenced_for(version, FENCED_FROM, ErrorCode::from(&e))),
        }
    } else {
        let code = match ctx.txns.add_partitions(transactional_id, producer_id, producer_epoch, &wanted).await {
            Ok(()) => ErrorCode::None,
            Err(e) => super::fenced_for(version, FENCED_FROM, ErrorCode::from(&e)),
        };
        all_with(topics, code)
    };
    // Answer in request order, one entry per topic.
    topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let code = outcome.get(&(t.name.to_string(), *p)).copied().unwrap_or(ErrorCode::None);
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(*p)
                        .with_partition_error_code(code.code())
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(TopicName(t.name.0.clone()))
                .with_results_by_partition(partitions)
        })
        .collect()
}

fn all_with(topics: &[AddPartitionsToTxnTopic], code: ErrorCode) -> BTreeMap<(String, i32), ErrorCode> {
    topics.iter().flat_map(|t| t.partitions.iter().map(move |p| ((t.name.to_string(), *p), code))).collect()
}
