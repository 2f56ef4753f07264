//! ListGroups (key 16): every group this broker coordinates, optionally
//! filtered by state (v4+) and type (v5+; all groups are "classic").

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::Context;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 5;

const GROUP_TYPE_CLASSIC: &str = "classic";

pub fn handle(ctx: &Context, version: i16, req: ListGroupsRequest) -> ListGroupsResponse {
    let states: Vec<String> = req.states_filter.iter().map(|s| s.to_ascii_lowercase()).collect();
    let types: Vec<String> = req.types_filter.iter().map(|s| s.to_ascii_lowercase()).collect();
    let groups = ctx
        .groups
        .list()
        .into_iter()
        .filter(|(_, _, state)| states.is_empty() || states.contains(&state.name().to_ascii_lowercase()))
        .filter(|_| types.is_empty() || types.iter().any(|t| t == GROUP_TYPE_CLASSIC))
        .map(|(id, protocol_type, state)| {
            let mut g = ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(id)))
                .with_protocol_type(StrBytes::from_string(protocol_type));
            if version >= 4 {
                g.group_state = StrBytes::from_static_str(state.name());
            }
            if version >= 5 {
                g.group_type = StrBytes::from_static_str("Classic");
            }
            g
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
