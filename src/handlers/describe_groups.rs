//! DescribeGroups (key 15): state, protocol type and name, and members with
//! client id, host, metadata and assignment. An unknown group is described
//! as Dead with no members, as Kafka does before v6.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::Context;
use crate::group::state::GroupState;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 5;

pub fn handle(ctx: &Context, version: i16, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let groups = req
        .groups
        .into_iter()
        .map(|group_id| {
            let mut out = DescribedGroup::default().with_group_id(group_id.clone());
            match ctx.groups.describe(group_id.0.as_str()) {
                Err(code) => out.error_code = code.code(),
                Ok(None) => {
                    out.group_state = StrBytes::from_static_str(GroupState::Dead.name());
                }
                Ok(Some(d)) => {
                    out.group_state = StrBytes::from_static_str(d.state.name());
                    out.protocol_type = StrBytes::from_string(d.protocol_type);
                    out.protocol_data = StrBytes::from_string(d.protocol_name);
                    out.members = d
                        .members
                        .into_iter()
                        .map(|m| {
                            let mut member = DescribedGroupMember::default()
                                .with_member_id(StrBytes::from_string(m.member_id))
                                .with_client_id(StrBytes::from_string(m.client_id))
                                .with_client_host(StrBytes::from_string(m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment);
                            if version >= 4 {
                                member.group_instance_id = m.instance_id.map(StrBytes::from_string);
                            }
                            member
                        })
                        .collect();
                }
            }
            out
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
