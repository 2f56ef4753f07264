//! Produce (key 0), v3+ (RecordBatch v2 only, as Kafka 4 requires).
//!
//! Two phases. [`admit`] runs in request arrival order: it validates each
//! partition's batch (exactly one batch, magic 2, CRC-32C, record count,
//! max.message.bytes, record framing; a compressed batch is inflated and its
//! records checked) and queues it in the writer.
//! [`Admitted::complete`] then waits for the flush that commits the batches
//! and builds the response with their base offsets. `acks=0` gets no
//! response; `acks=1` and `acks=all` both mean "in the object store and
//! indexed".
//!
//! The request's `timeout_ms` bounds both phases, as it bounds Kafka's wait
//! for replicas: a batch that could not even be queued in time (the writer
//! is full) or whose flush has not committed in time is answered
//! REQUEST_TIMED_OUT, which clients retry. A flush that is slow because a
//! store stalls therefore never holds a producer past its own timeout.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;
use tracing::warn;

use super::Context;
use crate::config::limits::PRODUCE_TIMEOUT_MS_DEFAULT;
use crate::log::writer::AppendReceipt;
use crate::metrics as m;
use crate::protocol::batch::{stamp_log_append_time, validate_produced_batch, Compression};
use crate::protocol::records::check_compressed_records;
use crate::protocol::ErrorCode;
use crate::topics::TimestampType;

pub const VERSION_MIN: i16 = 3;
pub const VERSION_MAX: i16 = 11;

/// zstd batches need Produce v7+ (KIP-110).
const ZSTD_VERSION_MIN: i16 = 7;

enum Slot {
    Done(i32, ErrorCode, Option<String>),
    Waiting { index: i32, receipt: AppendReceipt, log_append_time_ms: i64 },
}

pub struct Admitted {
    version: i16,
    acks: i16,
    deadline: Instant,
    topics: Vec<(TopicName, Vec<Slot>)>,
    ctx: Arc<Context>,
}

pub async fn admit(ctx: &Arc<Context>, version: i16, req: ProduceRequest) -> Admitted {
    let acks_valid = matches!(req.acks, -1..=1);
    let timeout_ms = u64::try_from(req.timeout_ms).ok().filter(|t| *t > 0).unwrap_or(PRODUCE_TIMEOUT_MS_DEFAULT);
    let timeout = Duration::from_millis(timeout_ms);
    let deadline = Instant::now() + timeout;
    let mut topics = Vec::with_capacity(req.topic_data.len());
    for t in req.topic_data {
        let topic = ctx.topics.get(t.name.0.as_str());
        let mut slots = Vec::with_capacity(t.partition_data.len());
        for p in t.partition_data {
            let slot = if !acks_valid {
                Slot::Done(p.index, ErrorCode::InvalidRequiredAcks, None)
            } else {
                match &topic {
                    None => Slot::Done(p.index, ErrorCode::UnknownTopicOrPartition, None),
                    Some(topic) if p.index < 0 || p.index >= topic.partitions => {
                        Slot::Done(p.index, ErrorCode::UnknownTopicOrPartition, None)
                    }
                    Some(topic) => {
                        admit_partition(ctx, version, topic, p.index, p.records.unwrap_or_default(), deadline).await
                    }
                }
            };
            slots.push(slot);
        }
        topics.push((t.name, slots));
    }
    Admitted { version, acks: req.acks, deadline, topics, ctx: ctx.clone() }
}

async fn admit_partition(
    ctx: &Context,
    version: i16,
    topic: &crate::topics::Topic,
    index: i32,
    records: Bytes,
    deadline: Instant,
) -> Slot {
    let name = topic.name.as_str();
    let refuse = |code: ErrorCode, why: String| {
        warn!(topic = %name, partition = index, error = ?code, reason = %why, "produce refused");
        metrics::counter!(m::BATCHES_REJECTED_TOTAL, "error" => format!("{code:?}")).increment(1);
        Slot::Done(index, code, Some(why))
    };
    if records.is_empty() {
        return refuse(ErrorCode::InvalidRecord, "Produce v3+ must carry exactly one record batch".into());
    }
    let header = match validate_produced_batch(&records, topic.config.message_bytes_max) {
        Ok(h) => h,
        Err(e) => return refuse(ErrorCode::from(&e), e.to_string()),
    };
    if header.compression() == Compression::Zstd && version < ZSTD_VERSION_MIN {
        return refuse(ErrorCode::UnsupportedCompressionType, "zstd needs Produce v7 or later".into());
    }
    if header.compression() != Compression::None {
        // The header of a compressed batch cannot vouch for its contents:
        // inflate it (within the budget, off the async threads) and check
        // the records, as Kafka's log validator does.
        let Ok(_slot) = ctx.inflating.acquire().await else {
            return refuse(ErrorCode::CorruptMessage, "the record check stopped".into());
        };
        let (batch, budget) = (records.clone(), ctx.config.decompressed_bytes_max);
        let checked = tokio::task::spawn_blocking(move || check_compressed_records(&batch, budget)).await;
        match checked {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return refuse(ErrorCode::from(&e), e.to_string()),
            Err(_) => return refuse(ErrorCode::CorruptMessage, "the record check stopped".into()),
        }
    }
    let (bytes, header, log_append_time_ms) = if topic.config.timestamp_type == TimestampType::LogAppendTime {
        let now = ctx.clock.now_ms();
        let mut copy = BytesMut::from(&records[..]);
        stamp_log_append_time(&mut copy, now);
        let header = crate::protocol::batch::read_header(&copy).expect("validated above");
        (copy.freeze(), header, now)
    } else {
        (records, header, -1)
    };
    metrics::counter!(m::BYTES_IN_TOTAL).increment(bytes.len() as u64);
    metrics::counter!(m::TOPIC_BYTES_IN_TOTAL, "topic" => name.to_string()).increment(bytes.len() as u64);
    match tokio::time::timeout_at(deadline, ctx.log.writer().admit((topic.id, index), bytes, header)).await {
        Ok(Ok(receipt)) => Slot::Waiting { index, receipt, log_append_time_ms },
        Ok(Err(e)) => Slot::Done(index, ErrorCode::from(&e), Some(e.to_string())),
        Err(_) => {
            metrics::counter!(m::BATCHES_REJECTED_TOTAL, "error" => "RequestTimedOut").increment(1);
            let why = "the writer stayed full for the request's timeout_ms; nothing was written";
            warn!(topic = %name, partition = index, "produce timed out waiting for writer space");
            Slot::Done(index, ErrorCode::RequestTimedOut, Some(why.into()))
        }
    }
}

impl Admitted {
    /// Waits for every queued batch and builds the response; `None` for
    /// acks=0.
    pub async fn complete(self) -> Option<ProduceResponse> {
        let Admitted { version, acks, deadline, topics, ctx } = self;
        let mut responses = Vec::with_capacity(topics.len());
        for (name, slots) in topics {
            let mut partitions = Vec::with_capacity(slots.len());
            for slot in slots {
                let (index, result) = match slot {
                    Slot::Done(index, code, message) => (index, Err((code, message))),
                    Slot::Waiting { index, receipt, log_append_time_ms } if acks != 0 => {
                        let outcome = match tokio::time::timeout_at(deadline, receipt).await {
                            Ok(Ok(Ok(base))) => Ok((base, log_append_time_ms)),
                            Ok(Ok(Err(e))) => Err((ErrorCode::from(&e), Some(e.to_string()))),
                            Ok(Err(_)) => Err((ErrorCode::KafkaStorageError, Some("writer stopped".into()))),
                            Err(_) => {
                                metrics::counter!(m::PRODUCE_TIMEOUTS_TOTAL).increment(1);
                                let why = "not committed within the request's timeout_ms; it may still be written";
                                Err((ErrorCode::RequestTimedOut, Some(why.into())))
                            }
                        };
                        (index, outcome)
                    }
                    Slot::Waiting { index, .. } => (index, Ok((-1, -1))),
                };
                partitions.push(partition_response(&ctx, version, &name, index, result));
            }
            responses.push(TopicProduceResponse::default().with_name(name).with_partition_responses(partitions));
        }
        (acks != 0).then(|| ProduceResponse::default().with_responses(responses))
    }
}

type Outcome = Result<(i64, i64), (ErrorCode, Option<String>)>;

fn partition_response(
    ctx: &Context,
    version: i16,
    name: &TopicName,
    index: i32,
    outcome: Outcome,
) -> PartitionProduceResponse {
    let mut r = PartitionProduceResponse::default().with_index(index);
    match outcome {
        Ok((base_offset, log_append_time_ms)) => {
            r.base_offset = base_offset;
            r.log_append_time_ms = log_append_time_ms;
            if version >= 5 {
                r.log_start_offset = ctx
                    .topics
                    .get(name.0.as_str())
                    .and_then(|t| ctx.log.offsets(t.id, index))
                    .map_or(-1, |o| o.log_start_offset);
            }
        }
        Err((code, message)) => {
            r.error_code = code.code();
            r.base_offset = -1;
            r.log_append_time_ms = -1;
            if version >= 5 {
                r.log_start_offset = -1;
            }
            if version >= 8 {
                r.error_message = message.map(StrBytes::from_string);
            }
        }
    }
    r
}
