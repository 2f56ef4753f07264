//! CreateTopics (key 19): validate each topic like the Java broker
//! (name, partitions, replication factor, assignments, configs), then create
//! it in the metadata store unless `validate_only`.
//!
//! Replication factor: durability comes from the object store, not from
//! replicas, so any factor of 1 or more (or -1 for the default) is accepted
//! and reported back as asked; it changes nothing.

use std::collections::{BTreeMap, HashSet};

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::Context;
use crate::config::limits::PARTITIONS_PER_TOPIC_MAX;
use crate::protocol::names::topic_name_problem;
use crate::protocol::ErrorCode;
use crate::topics::validate_configs;

pub const VERSION_MIN: i16 = 2;
pub const VERSION_MAX: i16 = 7;

/// Kafka's config source for a topic's own setting (DYNAMIC_TOPIC_CONFIG).
const CONFIG_SOURCE_TOPIC: i8 = 1;

type Refusal = (ErrorCode, String);

/// The partition count, or why the request is refused.
fn partition_count(ctx: &Context, t: &CreatableTopic) -> Result<i32, Refusal> {
    if !t.assignments.is_empty() {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            let msg = "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.";
            return Err((ErrorCode::InvalidRequest, msg.into()));
        }
        let mut seen = HashSet::new();
        for (i, a) in t.assignments.iter().enumerate() {
            let valid_index = a.partition_index == i as i32 && seen.insert(a.partition_index);
            let live = ctx.membership.brokers();
            let valid_brokers =
                !a.broker_ids.is_empty() && a.broker_ids.iter().all(|b| live.iter().any(|l| l.node_id == b.0));
            if !valid_index || !valid_brokers {
                return Err((
                    ErrorCode::InvalidReplicaAssignment,
                    format!("Invalid replica assignment for partition {}", a.partition_index),
                ));
            }
        }
        return Ok(t.assignments.len() as i32);
    }
    let partitions = if t.num_partitions == -1 { ctx.config.num_partitions } else { t.num_partitions };
    if partitions < 1 {
        return Err((ErrorCode::InvalidPartitions, "Number of partitions must be larger than 0.".into()));
    }
    if partitions > PARTITIONS_PER_TOPIC_MAX {
        return Err((
            ErrorCode::InvalidPartitions,
            format!("Number of partitions must be at most {PARTITIONS_PER_TOPIC_MAX}."),
        ));
    }
    if t.replication_factor == 0 || t.replication_factor < -1 {
        return Err((ErrorCode::InvalidReplicationFactor, "Replication factor must be larger than 0.".into()));
    }
    Ok(partitions)
}

fn config_map(t: &CreatableTopic) -> Result<BTreeMap<String, String>, Refusal> {
    let mut map = BTreeMap::new();
    for c in &t.configs {
        let Some(value) = &c.value else {
            return Err((
                ErrorCode::InvalidConfig,
                format!("Null value not supported for topic configs: {}", &*c.name),
            ));
        };
        map.insert(c.name.to_string(), value.to_string());
    }
    validate_configs(&map).map_err(|m| (ErrorCode::InvalidConfig, m))?;
    Ok(map)
}

async fn create_one(
    ctx: &Context,
    t: &CreatableTopic,
    validate_only: bool,
) -> Result<(Uuid, i32, BTreeMap<String, String>), Refusal> {
    let name = t.name.0.as_str();
    if let Some(problem) = topic_name_problem(name) {
        return Err((ErrorCode::InvalidTopicException, problem.to_string()));
    }
    let partitions = partition_count(ctx, t)?;
    let configs = config_map(t)?;
    if validate_only {
        if ctx.topics.get(name).is_some() {
            return Err((ErrorCode::TopicAlreadyExists, format!("Topic '{name}' already exists.")));
        }
        return Ok((Uuid::nil(), partitions, configs));
    }
    let topic =
        ctx.topics.create(name, partitions, configs.clone()).await.map_err(|e| (ErrorCode::from(&e), e.to_string()))?;
    Ok((topic.id, partitions, configs))
}

pub async fn handle(ctx: &Context, version: i16, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let mut names = HashSet::new();
    let duplicated: HashSet<String> =
        req.topics.iter().filter(|t| !names.insert(t.name.0.to_string())).map(|t| t.name.0.to_string()).collect();
    let mut results = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let name = t.name.0.to_string();
        let outcome = if duplicated.contains(&name) {
            Err((ErrorCode::InvalidRequest, "Create topics request from client contains a duplicate topic".to_string()))
        } else {
            create_one(ctx, t, req.validate_only).await
        };
        let mut r = CreatableTopicResult::default().with_name(t.name.clone());
        match outcome {
            Ok((id, partitions, configs)) => {
                if version >= 5 {
                    r.num_partitions = partitions;
                    r.replication_factor = if t.replication_factor == -1 { 1 } else { t.replication_factor };
                    r.configs = Some(
                        configs
                            .into_iter()
                            .map(|(k, v)| {
                                CreatableTopicConfigs::default()
                                    .with_name(StrBytes::from_string(k))
                                    .with_value(Some(StrBytes::from_string(v)))
                                    .with_config_source(CONFIG_SOURCE_TOPIC)
                            })
                            .collect(),
                    );
                }
                if version >= 7 {
                    r.topic_id = id;
                }
            }
            Err((code, message)) => {
                r.error_code = code.code();
                r.error_message = Some(StrBytes::from_string(message));
                if version >= 5 {
                    r.num_partitions = -1;
                    r.replication_factor = -1;
                }
            }
        }
        results.push(r);
    }
    CreateTopicsResponse::default().with_topics(results)
}
