//! OffsetFetch (key 9): a group's committed offsets; v8+ asks for several
//! groups at once. A partition without a commit answers offset -1. With
//! require_stable (v7+, KIP-447), a partition whose offset some open
//! transaction will still change answers UNSTABLE_OFFSET_COMMIT, and the
//! client asks again.

use std::collections::{HashMap, HashSet};

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::Context;
use crate::metadata::CommittedOffset;
use crate::protocol::ErrorCode;

pub const VERSION_MIN: i16 = 1;
pub const VERSION_MAX: i16 = 9;

/// One partition's answer: (offset, leader epoch, metadata, error).
type Answer = (i64, i32, Option<String>, ErrorCode);

/// The offsets of `group` for the asked partitions (`None`: every
/// committed partition), grouped by topic in request order.
async fn lookup(
    ctx: &Context,
    group: &str,
    asked: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Result<Vec<(String, Vec<(i32, Answer)>)>, ErrorCode> {
    let committed = ctx.groups.fetch_offsets(group).await.map_err(|e| ErrorCode::from(&e))?;
    let unstable: HashSet<(String, i32)> = if require_stable {
        ctx.groups.pending_txn_offsets(group).await.map_err(|e| ErrorCode::from(&e))?.into_iter().collect()
    } else {
        HashSet::new()
    };
    let by_key: HashMap<(&str, i32), &CommittedOffset> =
        committed.iter().map(|o| ((o.topic.as_str(), o.partition), o)).collect();
    let answer = |t: &str, p: i32, o: Option<&&CommittedOffset>| -> Answer {
        if unstable.contains(&(t.to_string(), p)) {
            return (-1, -1, Some(String::new()), ErrorCode::UnstableOffsetCommit);
        }
        match o {
            Some(o) => (o.offset, o.leader_epoch, o.metadata.clone(), ErrorCode::None),
            None => (-1, -1, Some(String::new()), ErrorCode::None),
        }
    };
    Ok(match asked {
        Some(topics) => topics
            .into_iter()
            .map(|(t, parts)| {
                let answers = parts.iter().map(|p| (*p, answer(&t, *p, by_key.get(&(t.as_str(), *p))))).collect();
                (t, answers)
            })
            .collect(),
        None => {
            let mut out: Vec<(String, Vec<(i32, Answer)>)> = Vec::new();
            for o in &committed {
                if out.last().is_none_or(|(t, _)| *t != o.topic) {
                    out.push((o.topic.clone(), Vec::new()));
                }
                out.last_mut().expect("pushed").1.push((o.partition, answer(&o.topic, o.partition, Some(&o))));
            }
            out
        }
    })
}

fn name(s: String) -> TopicName {
    TopicName(StrBytes::from_string(s))
}

pub async fn handle(ctx: &Context, version: i16, req: OffsetFetchRequest) -> OffsetFetchResponse {
    if version >= 8 {
        let mut groups = Vec::with_capacity(req.groups.len());
        for g in req.groups {
            let asked =
                g.topics.map(|ts| ts.into_iter().map(|t| (t.name.0.to_string(), t.partition_indexes)).collect());
            let mut out = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
            match lookup(ctx, g.group_id.0.as_str(), asked, req.require_stable).await {
                Ok(topics) => {
                    out.topics = topics
                        .into_iter()
                        .map(|(t, parts)| {
                            let partitions = parts
                                .into_iter()
                                .map(|(p, (offset, epoch, metadata, code))| {
                                    OffsetFetchResponsePartitions::default()
                                        .with_partition_index(p)
                                        .with_committed_offset(offset)
                                        .with_committed_leader_epoch(epoch)
                                        .with_metadata(metadata.map(StrBytes::from_string))
                                        .with_error_code(code.code())
                                })
                                .collect();
                            OffsetFetchResponseTopics::default().with_name(name(t)).with_partitions(partitions)
                        })
                        .collect();
                }
                Err(code) => out.error_code = code.code(),
            }
            groups.push(out);
        }
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let asked = req.topics.map(|ts| ts.into_iter().map(|t| (t.name.0.to_string(), t.partition_indexes)).collect());
    let group: GroupId = req.group_id;
    match lookup(ctx, group.0.as_str(), asked, version >= 7 && req.require_stable).await {
        Ok(topics) => {
            let topics = topics
                .into_iter()
                .map(|(t, parts)| {
                    let partitions = parts
                        .into_iter()
                        .map(|(p, (offset, epoch, metadata, code))| {
                            let mut r = OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(offset)
                                .with_metadata(metadata.map(StrBytes::from_string))
                                .with_error_code(code.code());
                            if version >= 5 {
                                r.committed_leader_epoch = epoch;
                            }
                            r
                        })
                        .collect();
                    OffsetFetchResponseTopic::default().with_name(name(t)).with_partitions(partitions)
                })
                .collect();
            OffsetFetchResponse::default().with_topics(topics)
        }
        Err(code) => {
            let mut r = OffsetFetchResponse::default();
            if version >= 2 {
                r.error_code = code.code();
            }
            r
        }
    }
}
