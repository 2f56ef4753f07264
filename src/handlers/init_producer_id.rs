//! InitProducerId (key 22): a producer id and epoch for idempotent
//! producers. Ids come from a durable counter in the metadata store, so they
//! are unique across restarts and brokers. A producer re-initialising with
//! its current id and epoch (KIP-360, v3+) gets the epoch bumped.
//!
//! Their batches are deduplicated by sequence number when committed (see
//! [`crate::producer`]). Transactional ids are refused until the
//! transaction coordinator exists.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::Context;
use crate::protocol::ErrorCode;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 4;

pub async fn handle(ctx: &Context, _version: i16, req: InitProducerIdRequest) -> InitProducerIdResponse {
    let refuse = |code: ErrorCode| {
        InitProducerIdResponse::default()
            .with_error_code(code.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if req.transactional_id.is_some() {
        return refuse(ErrorCode::TransactionalIdAuthorizationFailed);
    }
    let bump = req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1;
    if bump {
        return InitProducerIdResponse::default()
            .with_producer_id(req.producer_id)
            .with_producer_epoch(req.producer_epoch + 1);
    }
    match ctx.meta.allocate_producer_id().await {
        Ok(id) => InitProducerIdResponse::default().with_producer_id(ProducerId(id)).with_producer_epoch(0),
        Err(e) => refuse(ErrorCode::from(&e)),
    }
}
