//! ListTransactions (key 66, KIP-664): the transactional ids this broker
//! coordinates, filtered by state names, producer ids and (v1, KIP-994)
//! by having been running (open or being completed) longer than a duration. Unknown state names are
//! echoed back in `unknown_state_filters`.

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId};
use kafka_protocol::protocol::StrBytes;

use super::Context;
use crate::protocol::ErrorCode;
use crate::txn::{TxnMetadata, TxnState};

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 1;

pub async fn handle(ctx: &Context, version: i16, req: ListTransactionsRequest) -> ListTransactionsResponse {
    let mut states = Vec::new();
    let mut unknown = Vec::new();
    for name in &req.state_filters {
        match TxnState::from_name(name.as_str()) {
            Some(s) => states.push(s),
            None => unknown.push(name.clone()),
        }
    }
    let mine = match ctx.txns.list().await {
        Ok(mine) => mine,
        Err(e) => return ListTransactionsResponse::default().with_error_code(ErrorCode::from(&e).code()),
    };
    let now = ctx.clock.now_ms();
    let duration = if version >= 1 { req.duration_filter } else { -1 };
    let wanted = |t: &TxnMetadata| {
        (states.is_empty() || states.contains(&t.state))
            && (req.producer_id_filters.is_empty() || req.producer_id_filters.contains(&ProducerId(t.producer_id)))
            && (duration < 0 || (is_running(t.state) && now - t.started_ms > duration))
    };
    let listed = mine
        .into_iter()
        .filter(wanted)
        .map(|t| {
            TransactionState::default()
                .with_transaction_state(StrBytes::from_static_str(t.state.name()))
                .with_producer_id(ProducerId(t.producer_id))
                .with_transactional_id(TransactionalId(StrBytes::from_string(t.transactional_id)))
        })
        .collect();
    ListTransactionsResponse::default().with_unknown_state_filters(unknown).with_transaction_states(listed)
}

/// A transaction begun and not yet completed.
fn is_running(state: TxnState) -> bool {
    matches!(state, TxnState::Ongoing | TxnState::PrepareCommit | TxnState::PrepareAbort)
}
