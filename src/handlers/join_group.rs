//! JoinGroup (key 11): join a group and wait for the rebalance to complete.
//! v4+ new members first receive MEMBER_ID_REQUIRED with their id (KIP-394);
//! static members (v5+, `group.instance.id`) skip that step (KIP-345).
//! The metadata of any protocol type passes through untouched.

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::Context;
use crate::group::machine::JoinRequest;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 9;

pub async fn handle(
    ctx: &Context,
    version: i16,
    client_id: &str,
    client_host: &str,
    req: JoinGroupRequest,
) -> JoinGroupResponse {
    let join = JoinRequest {
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.map(|s| s.to_string()),
        client_id: client_id.to_string(),
        client_host: client_host.to_string(),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout: the session timeout stands in.
        rebalance_timeout_ms: if version >= 1 { req.rebalance_timeout_ms } else { req.session_timeout_ms },
        protocol_type: req.protocol_type.to_string(),
        protocols: req.protocols.into_iter().map(|p| (p.name.to_string(), p.metadata)).collect(),
        require_known_member_id: version >= 4,
        supports_skip_assignment: version >= 9,
    };
    let r = ctx.groups.join(req.group_id.0.as_str(), join).await;
    let members = r
        .members
        .into_iter()
        .map(|m| {
            let mut out = JoinGroupResponseMember::default()
                .with_member_id(StrBytes::from_string(m.member_id))
                .with_metadata(m.metadata);
            if version >= 5 {
                out.group_instance_id = m.instance_id.map(StrBytes::from_string);
            }
            out
        })
        .collect();
    let mut resp = JoinGroupResponse::default()
        .with_error_code(r.error.code())
        .with_generation_id(r.generation_id)
        .with_leader(StrBytes::from_string(r.leader))
        .with_member_id(StrBytes::from_string(r.member_id))
        .with_members(members);
    if version >= 7 {
        resp.protocol_type = r.protocol_type.map(StrBytes::from_string);
        resp.protocol_name = r.protocol_name.map(StrBytes::from_string);
    } else {
        // Before v7 the protocol name is a non-null string.
        resp.protocol_name = Some(StrBytes::from_string(r.protocol_name.unwrap_or_default()));
    }
    if version >= 9 {
        resp.skip_assignment = r.skip_assignment;
    }
    resp
}
