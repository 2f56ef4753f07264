//! ListGroups (key 16): every group this broker coordinates, optionally
//! filtered by state (v4+) and type (v5+: "classic" or "consumer").

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::Context;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 5;

pub fn handle(ctx: &Context, version: i16, req: ListGroupsRequest) -> ListGroupsResponse {
    let states: Vec<String> = req.states_filter.iter().map(|s| s.to_ascii_lowercase()).collect();
    let types: Vec<String> = req.types_filter.iter().map(|s| s.to_ascii_lowercase()).collect();
    let groups = ctx
        .groups
        .list()
        .into_iter()
        .filter(|g| states.is_empty() || states.contains(&g.state.to_ascii_lowercase()))
        .filter(|g| types.is_empty() || types.iter().any(|t| t == g.group_type))
        .map(|g| {
            let mut out = ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(g.group_id)))
                .with_protocol_type(StrBytes::from_string(g.protocol_type));
            if version >= 4 {
                out.group_state = StrBytes::from_static_str(g.state);
            }
            if version >= 5 {
                out.group_type =
                    StrBytes::from_static_str(if g.group_type == "consumer" { "Consumer" } else { "Classic" });
            }
            out
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
