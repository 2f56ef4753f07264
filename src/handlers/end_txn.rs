//! EndTxn (key 26): commit or abort the producer's open transaction. The
//! coordinator writes a commit or abort marker to every partition of the
//! transaction and settles the offsets sent with it before answering.

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse};

use super::Context;
use crate::protocol::ErrorCode;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 3;

/// PRODUCER_FENCED exists from v2 (KIP-588).
const FENCED_FROM: i16 = 2;

pub async fn handle(ctx: &Context, version: i16, req: EndTxnRequest) -> EndTxnResponse {
    let result = ctx.txns.end(req.transactional_id.as_str(), req.producer_id.0, req.producer_epoch, req.committed).await;
    let code = match result {
        Ok(()) => ErrorCode::None,
        Err(e) => super::fenced_for(version, FENCED_FROM, ErrorCode::from(&e)),
    };
    EndTxnResponse::default().with_error_code(code.code())
}
