//! DeleteGroups (key 42): removes groups that have no members, with their
//! committed offsets. NON_EMPTY_GROUP for a group with members,
//! GROUP_ID_NOT_FOUND for an unknown one.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::Context;
use crate::protocol::ErrorCode;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 2;

pub async fn handle(ctx: &Context, _version: i16, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(req.groups_names.len());
    for g in req.groups_names {
        let code = match ctx.groups.delete_group(g.0.as_str()).await {
            Ok(()) => ErrorCode::None,
            Err(e) => ErrorCode::from(&e),
        };
        results.push(DeletableGroupResult::default().with_group_id(g).with_error_code(code.code()));
    }
    DeleteGroupsResponse::default().with_results(results)
}
