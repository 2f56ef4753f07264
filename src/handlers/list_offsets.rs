//! ListOffsets (key 2), v1+: the earliest, latest, max-timestamp or
//! by-timestamp offset of each partition.
//!
//! By timestamp the answer is exact: the first offset whose record
//! timestamp is at least the target (the index narrows it to one batch, then
//! that batch's records are read). -3 (KIP-734) is the offset of the record
//! with the largest timestamp.

use kafka_protocol::messages::list_offsets_response::{ListOffsetsPartitionResponse, ListOffsetsTopicResponse};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use uuid::Uuid;

use super::Context;
use crate::log::reader::LEADER_EPOCH;
use crate::log::LogError;
use crate::protocol::ErrorCode;

pub const VERSION_MIN: i16 = 1;
pub const VERSION_MAX: i16 = 8;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;

/// isolation_level 1 is READ_COMMITTED (v2+).
const READ_COMMITTED: i8 = 1;

pub async fn handle(ctx: &Context, version: i16, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let read_committed = version >= 2 && req.isolation_level == READ_COMMITTED;
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let topic = ctx.topics.get(t.name.0.as_str());
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let mut r = ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
            let found = match &topic {
                Some(topic) if p.partition_index >= 0 && p.partition_index < topic.partitions => {
                    let found = lookup(ctx, topic.id, p.partition_index, p.timestamp, read_committed).await;
                    found.map_err(|e| ErrorCode::from(&e))
                }
                _ => Err(ErrorCode::UnknownTopicOrPartition),
            };
            match found {
                Ok((offset, timestamp)) => {
                    r.offset = offset;
                    r.timestamp = timestamp;
                    if version >= 4 {
                        r.leader_epoch = if offset >= 0 { LEADER_EPOCH } else { -1 };
                    }
                }
                Err(code) => {
                    r.error_code = code.code();
                    r.offset = -1;
                    r.timestamp = -1;
                }
            }
            partitions.push(r);
        }
        topics.push(ListOffsetsTopicResponse::default().with_name(t.name).with_partitions(partitions));
    }
    ListOffsetsResponse::default().with_topics(topics)
}

/// (offset, timestamp) for one partition; (-1, -1) when there is none.
async fn lookup(
    ctx: &Context,
    topic_id: Uuid,
    partition: i32,
    timestamp: i64,
    read_committed: bool,
) -> Result<(i64, i64), LogError> {
    let offsets = ctx.log.offsets(topic_id, partition).ok_or(LogError::UnknownPartition { topic_id, partition })?;
    match timestamp {
        // read_committed consumers see the log up to the last stable offset.
        LATEST if read_committed => Ok((offsets.last_stable_offset, -1)),
        LATEST => Ok((offsets.next_offset, -1)),
        EARLIEST | EARLIEST_LOCAL => Ok((offsets.log_start_offset, -1)),
        MAX_TIMESTAMP => {
            if offsets.max_timestamp < 0 {
                return Ok((-1, -1));
            }
            let found = ctx.log.offset_for_timestamp(topic_id, partition, offsets.max_timestamp).await?;
            Ok(found.unwrap_or((-1, -1)))
        }
        ts if ts >= 0 => Ok(ctx.log.offset_for_timestamp(topic_id, partition, ts).await?.unwrap_or((-1, -1))),
        _ => Ok((-1, -1)),
    }
}
