//! FindCoordinator (key 10): where a group's (or transactional id's)
//! coordinator lives: the stable hash of [`crate::cluster::placement`] over
//! the live brokers, so every broker gives the same answer. v4+ asks for
//! several keys. A broker whose own registration lapsed answers
//! COORDINATOR_NOT_AVAILABLE for keys it would coordinate, so clients retry
//! until the cluster has settled.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::Context;
use crate::cluster::BrokerEndpoint;
use crate::protocol::ErrorCode;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 5;

/// Key types: 0 group, 1 transaction.
const KEY_TYPES_KNOWN: [i8; 2] = [0, 1];

/// The coordinator of `key`, or the error to answer instead.
fn locate(ctx: &Context, key_type: i8, key: &str) -> Result<BrokerEndpoint, ErrorCode> {
    if !KEY_TYPES_KNOWN.contains(&key_type) {
        return Err(ErrorCode::InvalidRequest);
    }
    let m = &ctx.membership;
    let node = m.coordinator(key).ok_or(ErrorCode::CoordinatorNotAvailable)?;
    if node == m.node_id() && !m.is_live() {
        return Err(ErrorCode::CoordinatorNotAvailable);
    }
    m.brokers().iter().find(|b| b.node_id == node).cloned().ok_or(ErrorCode::CoordinatorNotAvailable)
}

pub fn handle(ctx: &Context, version: i16, req: FindCoordinatorRequest) -> FindCoordinatorResponse {
    if version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let found = locate(ctx, req.key_type, key.as_str());
                let c = Coordinator::default().with_key(key);
                match found {
                    Ok(b) => c
                        .with_error_code(ErrorCode::None.code())
                        .with_node_id(BrokerId(b.node_id))
                        .with_host(StrBytes::from_string(b.host))
                        .with_port(b.port),
                    Err(code) => c.with_error_code(code.code()).with_node_id(BrokerId(-1)).with_port(-1),
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match locate(ctx, req.key_type, req.key.as_str()) {
        Ok(b) => FindCoordinatorResponse::default()
            .with_error_code(ErrorCode::None.code())
            .with_node_id(BrokerId(b.node_id))
            .with_host(StrBytes::from_string(b.host))
            .with_port(b.port),
        Err(code) => {
            FindCoordinatorResponse::default().with_error_code(code.code()).with_node_id(BrokerId(-1)).with_port(-1)
        }
    }
}
