//! ConsumerGroupDescribe (key 69, KIP-848): epochs, assignor, and each
//! member's subscription, current and target assignment.

use kafka_protocol::messages::consumer_group_describe_response::{Assignment, DescribedGroup, Member, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::Context;
use crate::group::consumer;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 0;

fn assignment(ctx: &Context, a: &consumer::Assignment) -> Assignment {
    let topic_partitions = a
        .iter()
        .map(|(id, ps)| {
            let name = ctx.topics.get_by_id(*id).map(|t| t.name.clone()).unwrap_or_default();
            TopicPartitions::default()
                .with_topic_id(*id)
                .with_topic_name(TopicName(StrBytes::from_string(name)))
                .with_partitions(ps.iter().copied().collect())
        })
        .collect();
    Assignment::default().with_topic_partitions(topic_partitions)
}

pub fn handle(ctx: &Context, _version: i16, req: ConsumerGroupDescribeRequest) -> ConsumerGroupDescribeResponse {
    let groups = req
        .group_ids
        .into_iter()
        .map(|id| {
            let out = DescribedGroup::default().with_group_id(id.clone());
            match ctx.groups.describe_consumer_group(id.0.as_str()) {
                Err(code) => out.with_error_code(code.code()),
                Ok(d) => {
                    let members = d
                        .members
                        .iter()
                        .map(|(m, target)| {
                            Member::default()
                                .with_member_id(StrBytes::from_string(m.member_id.clone()))
                                .with_instance_id(m.instance_id.clone().map(StrBytes::from_string))
                                .with_rack_id(m.rack_id.clone().map(StrBytes::from_string))
                                .with_member_epoch(m.member_epoch)
                                .with_client_id(StrBytes::from_string(m.client_id.clone()))
                                .with_client_host(StrBytes::from_string(m.client_host.clone()))
                                .with_subscribed_topic_names(
                                    m.subscribed_topics
                                        .iter()
                                        .map(|t| TopicName(StrBytes::from_string(t.clone())))
                                        .collect(),
                                )
                                .with_assignment(assignment(ctx, &m.assigned))
                                .with_target_assignment(assignment(ctx, target))
                        })
                        .collect();
                    out.with_group_state(StrBytes::from_static_str(d.state))
                        .with_group_epoch(d.group_epoch)
                        .with_assignment_epoch(d.assignment_epoch)
                        .with_assignor_name(StrBytes::from_string(d.assignor))
                        .with_members(members)
                }
            }
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}
