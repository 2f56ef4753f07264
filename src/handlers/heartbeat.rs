//! Heartbeat (key 12): keeps a member's session alive; answers
//! REBALANCE_IN_PROGRESS when the member must rejoin.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::Context;
use crate::group::machine::Identity;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 4;

pub fn handle(ctx: &Context, _version: i16, req: HeartbeatRequest) -> HeartbeatResponse {
    let who = Identity { member_id: req.member_id.as_str(), instance_id: req.group_instance_id.as_deref() };
    let code = ctx.groups.heartbeat(req.group_id.0.as_str(), &who, req.generation_id);
    HeartbeatResponse::default().with_error_code(code.code())
}
