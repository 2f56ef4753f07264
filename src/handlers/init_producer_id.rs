//! InitProducerId (key 22): a producer id and epoch.
//!
//! Idempotent producers (no transactional id) get a fresh id from a durable
//! counter in the metadata store, unique across restarts and brokers; one
//! re-initialising with its current id and epoch (KIP-360, v3+) gets the
//! epoch bumped. Their batches are deduplicated by sequence number when
//! committed (see [`crate::producer`]).
//!
//! A transactional id goes to its transaction coordinator
//! ([`crate::txn::TxnCoordinator::init_producer`]): the id's producer id
//! with the epoch bumped, an open transaction aborted first.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::Context;
use crate::protocol::ErrorCode;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 4;

/// PRODUCER_FENCED exists from v4 (KIP-588); older clients are told
/// INVALID_PRODUCER_EPOCH.
const FENCED_FROM: i16 = 4;

pub async fn handle(ctx: &Context, version: i16, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let answer = |result: Result<(i64, i16), ErrorCode>| match result {
        Ok((id, epoch)) => {
            InitProducerIdResponse::default().with_producer_id(ProducerId(id)).with_producer_epoch(epoch)
        }
        Err(code) => InitProducerIdResponse::default()
            .with_error_code(super::fenced_for(version, FENCED_FROM, code).code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    };
    let expected =
        (req.producer_id.0 >= 0 && req.producer_epoch >= 0).then_some((req.producer_id.0, req.producer_epoch));
    if let Some(transactional_id) = req.transactional_id.as_ref().filter(|t| !t.is_empty()) {
        let result = ctx.txns.init_producer(transactional_id.as_str(), req.transaction_timeout_ms, expected).await;
        return answer(result.map_err(|e| ErrorCode::from(&e)));
    }
    if let Some((id, epoch)) = expected {
        if epoch < i16::MAX - 1 {
            return answer(Ok((id, epoch + 1)));
        }
    }
    answer(ctx.txns.allocate_producer_id().await.map(|id| (id, 0)).map_err(|e| ErrorCode::from(&e)))
}
