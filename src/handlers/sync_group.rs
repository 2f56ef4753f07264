//! SyncGroup (key 14): the leader hands in the assignments; every member
//! receives its own once the leader's request arrives.

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::Context;
use crate::group::machine::SyncRequest;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 5;

pub async fn handle(ctx: &Context, version: i16, req: SyncGroupRequest) -> SyncGroupResponse {
    let sync = SyncRequest {
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.map(|s| s.to_string()),
        generation_id: req.generation_id,
        protocol_type: req.protocol_type.map(|s| s.to_string()),
        protocol_name: req.protocol_name.map(|s| s.to_string()),
        assignments: req.assignments.into_iter().map(|a| (a.member_id.to_string(), a.assignment)).collect(),
    };
    let r = ctx.groups.sync(req.group_id.0.as_str(), sync).await;
    let mut resp = SyncGroupResponse::default().with_error_code(r.error.code()).with_assignment(r.assignment);
    if version >= 5 {
        resp.protocol_type = r.protocol_type.map(StrBytes::from_string);
        resp.protocol_name = r.protocol_name.map(StrBytes::from_string);
    }
    resp
}
