//! ConsumerGroupHeartbeat (key 68, KIP-848): join, stay in, and leave a
//! consumer-protocol group; the answer carries the member's epoch and, when
//! it changed, its assignment computed by the broker.

use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use kafka_protocol::protocol::StrBytes;

use super::Context;
use crate::group::consumer::{HeartbeatRequest, TopicInfo};

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 1;

pub fn handle(
    ctx: &Context,
    _version: i16,
    client_id: &str,
    client_host: &str,
    req: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    let owned = req
        .topic_partitions
        .map(|tps| tps.into_iter().map(|tp| (tp.topic_id, tp.partitions.into_iter().collect())).collect());
    let hb = HeartbeatRequest {
        member_id: req.member_id.to_string(),
        member_epoch: req.member_epoch,
        instance_id: req.instance_id.map(|s| s.to_string()),
        rack_id: req.rack_id.map(|s| s.to_string()),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed_topics: req.subscribed_topic_names.map(|ts| ts.into_iter().map(|t| t.0.to_string()).collect()),
        server_assignor: req.server_assignor.map(|s| s.to_string()),
        owned,
        client_id: client_id.to_string(),
        client_host: client_host.to_string(),
    };
    let topics =
        |name: &str| ctx.topics.get(name).map(|t| TopicInfo { id: t.id, partitions: t.partitions });
    let r = ctx.groups.consumer_heartbeat(req.group_id.0.as_str(), hb, &topics);
    let assignment = r.assignment.map(|a| {
        let topic_partitions = a
            .into_iter()
            .map(|(id, ps)| TopicPartitions::default().with_topic_id(id).with_partitions(ps.into_iter().collect()))
            .collect();
        Assignment::default().with_topic_partitions(topic_partitions)
    });
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(r.error.code())
        .with_error_message(r.error_message.map(StrBytes::from_string))
        .with_member_id(Some(StrBytes::from_string(r.member_id)))
        .with_member_epoch(r.member_epoch)
        .with_heartbeat_interval_ms(r.heartbeat_interval_ms)
        .with_assignment(assignment)
}
