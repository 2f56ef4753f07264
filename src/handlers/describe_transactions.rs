//! DescribeTransactions (key 65, KIP-664): the coordinator's view of
//! transactional ids — state, producer, timeout, start time and partitions.
//! Sent to each id's coordinator; other ids get NOT_COORDINATOR, unknown
//! ones TRANSACTIONAL_ID_NOT_FOUND.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::Context;
use crate::protocol::ErrorCode;
use crate::config::limits::DESCRIBE_TRANSACTIONS_IDS_MAX;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 0;

pub async fn handle(ctx: &Context, _version: i16, req: DescribeTransactionsRequest) -> DescribeTransactionsResponse {
    let mut states = Vec::with_capacity(req.transactional_ids.len().min(DESCRIBE_TRANSACTIONS_IDS_MAX));
    for (i, id) in req.transactional_ids.into_iter().enumerate() {
        let state = TransactionState::default().with_transactional_id(id.clone()).with_producer_id(ProducerId(-1));
        let found = if i >= DESCRIBE_TRANSACTIONS_IDS_MAX {
            Err(ErrorCode::InvalidRequest)
        } else {
            match ctx.txns.describe(id.as_str()).await {
                Ok(Some(txn)) => Ok(txn),
                Ok(None) => Err(ErrorCode::TransactionalIdNotFound),
                Err(e) => Err(ErrorCode::from(&e)),
            }
        };
        states.push(match found {
            Err(code) => state.with_error_code(code.code()).with_transaction_state(StrBytes::from_static_str("")),
            Ok(txn) => {
                let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
                for (t, p) in &txn.partitions {
                    topics.entry(t.as_str()).or_default().push(*p);
                }
                let topics = topics
                    .into_iter()
                    .map(|(t, ps)| {
                        TopicData::default()
                            .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                            .with_partitions(ps)
                    })
                    .collect();
                state
                    .with_transaction_state(StrBytes::from_static_str(txn.state.name()))
                    .with_transaction_timeout_ms(txn.timeout_ms)
                    .with_transaction_start_time_ms(txn.started_ms)
                    .with_producer_id(ProducerId(txn.producer_id))
                    .with_producer_epoch(txn.producer_epoch)
                    .with_topics(topics)
            }
        });
    }
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
