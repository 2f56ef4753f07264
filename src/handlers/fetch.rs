//! Fetch (key 1), v4+: record batches from a fetch offset, as long-polls.
//!
//! The answer comes as soon as `min_bytes` are available, an error is
//! found, or `max_wait_ms` passes; in between the handler sleeps on the
//! log's commit notifications, never on a timer alone. `max_bytes` and
//! `partition_max_bytes` are honoured with Kafka's rule that the first batch
//! of the response is returned whole even when larger, so consumers always
//! progress. read_committed fetches stop at the last stable offset and list
//! the aborted transactions overlapping what they return. Incremental
//! fetch sessions (KIP-227) are not offered: every response carries session
//! id 0, which clients treat as "full fetches".

use std::time::Duration;

use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId};

use super::Context;
use crate::log::Isolation;
use crate::protocol::ErrorCode;

pub const VERSION_MIN: i16 = 4;
pub const VERSION_MAX: i16 = 16;

/// isolation_level 1 is READ_COMMITTED.
const READ_COMMITTED: i8 = 1;

pub async fn handle(ctx: &Context, version: i16, req: FetchRequest) -> FetchResponse {
    if req.session_id != 0 || req.session_epoch > 0 {
        return FetchResponse::default().with_error_code(ErrorCode::FetchSessionIdNotFound.code());
    }
    let wait = Duration::from_millis((req.max_wait_ms.max(0) as u64).min(ctx.config.fetch_wait_ms_max));
    let deadline = tokio::time::Instant::now() + wait;
    let mut commits = ctx.log.commit_watch();
    loop {
        commits.borrow_and_update();
        let (responses, bytes, failed) = read_all(ctx, version, &req).await;
        let done = failed || bytes >= req.min_bytes.max(0) as usize || tokio::time::Instant::now() >= deadline;
        if done {
            return FetchResponse::default().with_responses(responses);
        }
        tokio::select! {
            changed = commits.changed() => {
                if changed.is_err() {
                    return FetchResponse::default().with_responses(responses);
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                let (responses, _, _) = read_all(ctx, version, &req).await;
                return FetchResponse::default().with_responses(responses);
            }
        }
    }
}

/// One pass over every requested partition. Returns the topics, the bytes
/// found and whether any partition failed.
async fn read_all(ctx: &Context, version: i16, req: &FetchRequest) -> (Vec<FetchableTopicResponse>, usize, bool) {
    let response_bytes_max = req.max_bytes.max(0) as usize;
    let mut total = 0usize;
    let mut failed = false;
    let isolation =
        if req.isolation_level == READ_COMMITTED { Isolation::ReadCommitted } else { Isolation::ReadUncommitted };
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let topic = if version >= 13 { ctx.topics.get_by_id(t.topic_id) } else { ctx.topics.get(t.topic.0.as_str()) };
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let mut data = PartitionData::default().with_partition_index(p.partition).with_high_watermark(-1);
            data.last_stable_offset = -1;
            if version >= 5 {
                data.log_start_offset = -1;
            }
            if req.isolation_level == READ_COMMITTED {
                data.aborted_transactions = Some(Vec::new());
            }
            let topic = match &topic {
                Some(topic) if p.partition >= 0 && p.partition < topic.partitions => topic,
                _ => {
                    let unknown_id = version >= 13 && topic.is_none();
                    let code = if unknown_id { ErrorCode::UnknownTopicId } else { ErrorCode::UnknownTopicOrPartition };
                    data.error_code = code.code();
                    failed = true;
                    partitions.push(data);
                    continue;
                }
            };
            let budget = (p.partition_max_bytes.max(0) as usize).min(response_bytes_max.saturating_sub(total));
            let min_one = total == 0;
            match ctx.log.read(topic.id, p.partition, p.fetch_offset, budget, min_one, isolation).await {
                Ok(read) => {
                    total += read.records.len();
                    if !read.records.is_empty() {
                        metrics::counter!(crate::metrics::TOPIC_BYTES_OUT_TOTAL, "topic" => topic.name.clone())
                            .increment(read.records.len() as u64);
                    }
                    data.high_watermark = read.high_watermark;
                    data.last_stable_offset = read.last_stable_offset;
                    if version >= 5 {
                        data.log_start_offset = read.log_start_offset;
                    }
                    if isolation == Isolation::ReadCommitted {
                        let aborted = read.aborted.iter().map(|(pid, first)| {
                            AbortedTransaction::default().with_producer_id(ProducerId(*pid)).with_first_offset(*first)
                        });
                        data.aborted_transactions = Some(aborted.collect());
                    }
                    data.records = Some(read.records);
                }
                Err(e) => {
                    if let Some(o) = ctx.log.offsets(topic.id, p.partition) {
                        data.high_watermark = o.next_offset;
                        data.last_stable_offset = o.last_stable_offset;
                        if version >= 5 {
                            data.log_start_offset = o.log_start_offset;
                        }
                    }
                    data.error_code = ErrorCode::from(&e).code();
                    failed = true;
                }
            }
            partitions.push(data);
        }
        let mut r = FetchableTopicResponse::default().with_partitions(partitions);
        if version >= 13 {
            r.topic_id = t.topic_id;
        } else {
            r.topic = t.topic.clone();
        }
        topics.push(r);
    }
    (topics, total, failed)
}
