//! Metadata (key 3): the live brokers, cluster id, controller, and topics
//! with their partitions. Every partition's leader is a stable hash over the
//! live brokers ([`crate::cluster::placement`]), so every broker answers
//! alike; any broker nevertheless serves any partition, and there is no
//! replication to describe. Unknown topics are created when the client
//! allows it and `auto.create.topics.enable` is on.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::Context;
use crate::protocol::ErrorCode;
use crate::topics::{Topic, TopicError};

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 12;

pub async fn handle(ctx: &Context, version: i16, req: MetadataRequest) -> MetadataResponse {
    let brokers = ctx
        .membership
        .brokers()
        .iter()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.node_id))
                .with_host(StrBytes::from_string(b.host.clone()))
                .with_port(b.port)
        })
        .collect();

    // v0: an empty list means every topic; v1+: null means every topic.
    let requested = match req.topics {
        None => None,
        Some(t) if t.is_empty() && version == 0 => None,
        Some(t) => Some(t),
    };
    let allow_auto_create = version < 4 || req.allow_auto_topic_creation;
    let topics = match requested {
        None => ctx.topics.all().iter().map(|t| describe(ctx, version, t)).collect(),
        Some(list) => {
            let mut out = Vec::with_capacity(list.len());
            for t in list {
                out.push(lookup(ctx, version, t, allow_auto_create).await);
            }
            out
        }
    };

    let mut resp = MetadataResponse::default().with_brokers(brokers).with_topics(topics);
    if version >= 1 {
        resp.controller_id = BrokerId(ctx.membership.controller());
    }
    if version >= 2 {
        resp.cluster_id = Some(StrBytes::from_string(ctx.cluster_id.clone()));
    }
    resp
}

async fn lookup(
    ctx: &Context,
    version: i16,
    t: MetadataRequestTopic,
    allow_auto_create: bool,
) -> MetadataResponseTopic {
    let name = match t.name {
        Some(name) => name.0.to_string(),
        None => {
            return match ctx.topics.get_by_id(t.topic_id) {
                Some(topic) => describe(ctx, version, &topic),
                None => error_topic(version, None, t.topic_id, ErrorCode::UnknownTopicId),
            }
        }
    };
    if let Some(topic) = ctx.topics.get(&name) {
        return describe(ctx, version, &topic);
    }
    if !(allow_auto_create && ctx.config.auto_create_topics_enable) {
        return error_topic(version, Some(name), Uuid::nil(), ErrorCode::UnknownTopicOrPartition);
    }
    match ctx.topics.create(&name, ctx.config.num_partitions, BTreeMap::new()).await {
        Ok(topic) => describe(ctx, version, &topic),
        Err(e) => match (&e, ctx.topics.get(&name)) {
            // Created meanwhile by another request or broker: describe it.
            (TopicError::Exists { .. }, Some(topic)) => describe(ctx, version, &topic),
            _ => error_topic(version, Some(name), Uuid::nil(), ErrorCode::from(&e)),
        },
    }
}

fn error_topic(version: i16, name: Option<String>, id: Uuid, code: ErrorCode) -> MetadataResponseTopic {
    let mut t = MetadataResponseTopic::default()
        .with_error_code(code.code())
        .with_name(name.map(|n| TopicName(StrBytes::from_string(n))));
    if version >= 10 {
        t.topic_id = id;
    }
    t
}

fn describe(ctx: &Context, version: i16, topic: &Arc<Topic>) -> MetadataResponseTopic {
    let partitions = (0..topic.partitions)
        .map(|p| {
            let node = BrokerId(ctx.membership.leader(&topic.name, p));
            let mut part = MetadataResponsePartition::default()
                .with_error_code(ErrorCode::None.code())
                .with_partition_index(p)
                .with_leader_id(node)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node]);
            if version >= 7 {
                part.leader_epoch = crate::log::reader::LEADER_EPOCH;
            }
            part
        })
        .collect();
    let mut t = MetadataResponseTopic::default()
        .with_error_code(ErrorCode::None.code())
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_partitions(partitions);
    if version >= 10 {
        t.topic_id = topic.id;
    }
    t
}
