//! OffsetDelete (key 47): deletes committed offsets of some partitions.
//! Refused with GROUP_SUBSCRIBED_TO_TOPIC for topics the group's live
//! members subscribe to.

use kafka_protocol::messages::offset_delete_response::{OffsetDeleteResponsePartition, OffsetDeleteResponseTopic};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::Context;
use crate::protocol::ErrorCode;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 0;

pub async fn handle(ctx: &Context, _version: i16, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let asked: Vec<(String, i32)> = req
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.name.0.to_string(), p.partition_index)))
        .collect();
    let codes = match ctx.groups.delete_offsets(req.group_id.0.as_str(), &asked).await {
        Ok(codes) => codes,
        Err(e) => return OffsetDeleteResponse::default().with_error_code(ErrorCode::from(&e).code()),
    };
    let mut codes = codes.into_iter();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let code = codes.next().unwrap_or(ErrorCode::None);
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code.code())
                })
                .collect();
            OffsetDeleteResponseTopic::default().with_name(t.name).with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
