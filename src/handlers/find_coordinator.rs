//! FindCoordinator (key 10): where a group's (or transactional id's)
//! coordinator lives, by the stable hash of [`crate::group::placement`]
//! over the live brokers (today: this one). v4+ asks for several keys.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::Context;
use crate::group::placement::coordinator_node;
use crate::protocol::ErrorCode;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 5;

/// Key types: 0 group, 1 transaction.
const KEY_TYPES_KNOWN: [i8; 2] = [0, 1];

pub fn handle(ctx: &Context, version: i16, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    // Every key maps onto the live brokers; today that list is this broker.
    let live = [ctx.config.node_id];
    let node_for = |key: &str| BrokerId(coordinator_node(key, &live).unwrap_or(ctx.config.node_id));
    let host = StrBytes::from_string(ctx.config.advertised_host.clone());
    let port = ctx.config.advertised_port;
    let code = if KEY_TYPES_KNOWN.contains(&req.key_type) { ErrorCode::None } else { ErrorCode::InvalidRequest };
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let c = Coordinator::default().with_key(key).with_error_code(code.code());
                if code == ErrorCode::None {
                    let node = node_for(c.key.as_str());
                    c.with_node_id(node).with_host(host.clone()).with_port(port)
                } else {
                    c.with_node_id(BrokerId(-1)).with_port(-1)
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let resp = FindCoordinatorResponse::default().with_error_code(code.code());
    if code == ErrorCode::None {
        resp.with_node_id(node_for(req.key.as_str())).with_host(host).with_port(port)
    } else {
        resp.with_node_id(BrokerId(-1)).with_port(-1)
    }
}
