//! DeleteTopics (key 20): drop topics by name (or by id, v6+). Their index
//! rows go in the same transaction; their objects become unreferenced and
//! are removed by garbage collection.

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::Context;
use crate::protocol::ErrorCode;

pub const VERSION_MIN: i16 = 1;
pub const VERSION_MAX: i16 = 6;

pub async fn handle(ctx: &Context, version: i16, req: DeleteTopicsRequest) -> DeleteTopicsResponse {
    // v0-5 name topics in topic_names; v6 in topics, by name or id.
    let wanted: Vec<(Option<String>, Uuid)> = if version >= 6 {
        req.topics.into_iter().map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id)).collect()
    } else {
        req.topic_names.into_iter().map(|n| (Some(n.0.to_string()), Uuid::nil())).collect()
    };
    let mut responses = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        let topic = match &name {
            Some(n) => ctx.topics.get(n),
            None => ctx.topics.get_by_id(id),
        };
        let mut r =
            DeletableTopicResult::default().with_name(name.clone().map(|n| TopicName(StrBytes::from_string(n))));
        if version >= 6 {
            r.topic_id = id;
        }
        let Some(topic) = topic else {
            let code = if name.is_some() { ErrorCode::UnknownTopicOrPartition } else { ErrorCode::UnknownTopicId };
            r.error_code = code.code();
            if version >= 5 {
                r.error_message = Some(StrBytes::from_static_str("This server does not host this topic."));
            }
            responses.push(r);
            continue;
        };
        if version >= 6 {
            r.name = Some(TopicName(StrBytes::from_string(topic.name.clone())));
            r.topic_id = topic.id;
        }
        match ctx.topics.delete(&topic).await {
            Ok(()) => {}
            Err(e) => {
                r.error_code = ErrorCode::from(&e).code();
                if version >= 5 {
                    r.error_message = Some(StrBytes::from_string(e.to_string()));
                }
            }
        }
        responses.push(r);
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
