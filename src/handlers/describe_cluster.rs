//! DescribeCluster (key 60): the cluster id, the controller and the brokers.
//! StreamHouse has no separate controller; the live broker with the lowest
//! node id is named, the same answer from every broker.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::Context;
use crate::protocol::ErrorCode;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 1;

/// endpoint_type 1: brokers (KIP-919); 2 (controllers) is refused.
const ENDPOINT_TYPE_BROKERS: i8 = 1;

pub fn handle(ctx: &Context, version: i16, req: DescribeClusterRequest) -> DescribeClusterResponse {
    let mut resp = DescribeClusterResponse::default();
    if version >= 1 {
        resp.endpoint_type = ENDPOINT_TYPE_BROKERS;
        if req.endpoint_type != ENDPOINT_TYPE_BROKERS {
            return resp
                .with_error_code(ErrorCode::UnsupportedVersion.code())
                .with_error_message(Some(StrBytes::from_static_str("only broker endpoints are served")));
        }
    }
    let brokers = ctx
        .membership
        .brokers()
        .iter()
        .map(|b| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.node_id))
                .with_host(StrBytes::from_string(b.host.clone()))
                .with_port(b.port)
        })
        .collect();
    resp.with_error_code(ErrorCode::None.code())
        .with_cluster_id(StrBytes::from_string(ctx.cluster_id.clone()))
        .with_controller_id(BrokerId(ctx.membership.controller()))
        .with_brokers(brokers)
}
