//! AddOffsetsToTxn (key 25): the producer will send offsets of `group_id`
//! (TxnOffsetCommit, to the group's coordinator) as part of its open
//! transaction; they are applied with a commit and dropped with an abort.

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::Context;
use crate::protocol::ErrorCode;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 3;

/// PRODUCER_FENCED exists from v2 (KIP-588).
const FENCED_FROM: i16 = 2;

pub async fn handle(ctx: &Context, version: i16, req: AddOffsetsToTxnRequest) -> AddOffsetsToTxnResponse {
    let code = if req.group_id.is_empty() {
        ErrorCode::InvalidGroupId
    } else {
        let (id, group) = (req.transactional_id.as_str(), req.group_id.as_str());
        match ctx.txns.add_offsets(id, req.producer_id.0, req.producer_epoch, group).await {
            Ok(()) => ErrorCode::None,
            Err(e) => super::fenced_for(version, FENCED_FROM, ErrorCode::from(&e)),
        }
    };
    AddOffsetsToTxnResponse::default().with_error_code(code.code())
}
