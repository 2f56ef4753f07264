//! LeaveGroup (key 13): members leave; the rest rebalance. v3+ names
//! several members, by member id or by static instance id.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::Context;
use crate::group::machine::Identity;
use crate::protocol::ErrorCode;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 5;

pub fn handle(ctx: &Context, version: i16, req: LeaveGroupRequest) -> LeaveGroupResponse {
    let group_id = req.group_id.0.as_str();
    if version < 3 {
        let who = Identity { member_id: req.member_id.as_str(), instance_id: None };
        let (top, codes) = ctx.groups.leave(group_id, &[who]);
        let code = if top != ErrorCode::None { top } else { codes.first().copied().unwrap_or(ErrorCode::None) };
        return LeaveGroupResponse::default().with_error_code(code.code());
    }
    let identities: Vec<Identity<'_>> = req
        .members
        .iter()
        .map(|m| Identity { member_id: m.member_id.as_str(), instance_id: m.group_instance_id.as_deref() })
        .collect();
    let (top, codes) = ctx.groups.leave(group_id, &identities);
    let members = req
        .members
        .iter()
        .zip(codes.iter().copied().chain(std::iter::repeat(top)))
        .map(|(m, code)| {
            MemberResponse::default()
                .with_member_id(m.member_id.clone())
                .with_group_instance_id(m.group_instance_id.clone())
                .with_error_code(code.code())
        })
        .collect();
    LeaveGroupResponse::default().with_error_code(top.code()).with_members(if top == ErrorCode::None {
        members
    } else {
        Vec::new()
    })
}
