//! One file per Kafka API, and the registry that ApiVersions is derived from.
//!
//! A handler reads like the Kafka protocol page: request in, response out,
//! that API's error codes. [`dispatch`] decodes, routes and encodes; it holds
//! no handler bodies.

use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::FutureExt;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable};
use thiserror::Error;

use crate::clock::Clock;
use crate::config::Config;
use crate::log::Log;
use crate::metadata::MetadataStore;
use crate::metrics as m;
use crate::topics::TopicRegistry;

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod api_versions;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_groups;
pub mod describe_producers;
pub mod describe_transactions;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod produce;
pub mod sync_group;
pub mod txn_offset_commit;

/// Everything a handler may use.
pub struct Context {
    pub config: Config,
    pub cluster_id: String,
    pub topics: TopicRegistry,
    pub log: Log,
    pub groups: crate::group::GroupCoordinator,
    pub txns: crate::txn::TxnCoordinator,
    pub membership: Arc<crate::cluster::Membership>,
    pub meta: Arc<dyn MetadataStore>,
    pub clock: Arc<dyn Clock>,
}

/// The APIs served and the versions of each: the single source of
/// ApiVersions. Each range is what the handler implements, not merely what
/// the codec can parse.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, produce::VERSION_MIN, produce::VERSION_MAX),
    (ApiKey::Fetch, fetch::VERSION_MIN, fetch::VERSION_MAX),
    (ApiKey::ListOffsets, list_offsets::VERSION_MIN, list_offsets::VERSION_MAX),
    (ApiKey::Metadata, metadata::VERSION_MIN, metadata::VERSION_MAX),
    (ApiKey::OffsetCommit, offset_commit::VERSION_MIN, offset_commit::VERSION_MAX),
    (ApiKey::OffsetFetch, offset_fetch::VERSION_MIN, offset_fetch::VERSION_MAX),
    (ApiKey::FindCoordinator, find_coordinator::VERSION_MIN, find_coordinator::VERSION_MAX),
    (ApiKey::JoinGroup, join_group::VERSION_MIN, join_group::VERSION_MAX),
    (ApiKey::Heartbeat, heartbeat::VERSION_MIN, heartbeat::VERSION_MAX),
    (ApiKey::LeaveGroup, leave_group::VERSION_MIN, leave_group::VERSION_MAX),
    (ApiKey::SyncGroup, sync_group::VERSION_MIN, sync_group::VERSION_MAX),
    (ApiKey::DescribeGroups, describe_groups::VERSION_MIN, describe_groups::VERSION_MAX),
    (ApiKey::ListGroups, list_groups::VERSION_MIN, list_groups::VERSION_MAX),
    (ApiKey::ApiVersions, api_versions::VERSION_MIN, api_versions::VERSION_MAX),
    (ApiKey::CreateTopics, create_topics::VERSION_MIN, create_topics::VERSION_MAX),
    (ApiKey::DeleteTopics, delete_topics::VERSION_MIN, delete_topics::VERSION_MAX),
    (ApiKey::DeleteGroups, delete_groups::VERSION_MIN, delete_groups::VERSION_MAX),
    (ApiKey::InitProducerId, init_producer_id::VERSION_MIN, init_producer_id::VERSION_MAX),
    (ApiKey::AddPartitionsToTxn, add_partitions_to_txn::VERSION_MIN, add_partitions_to_txn::VERSION_MAX),
    (ApiKey::AddOffsetsToTxn, add_offsets_to_txn::VERSION_MIN, add_offsets_to_txn::VERSION_MAX),
    (ApiKey::EndTxn, end_txn::VERSION_MIN, end_txn::VERSION_MAX),
    (ApiKey::TxnOffsetCommit, txn_offset_commit::VERSION_MIN, txn_offset_commit::VERSION_MAX),
    (ApiKey::OffsetDelete, offset_delete::VERSION_MIN, offset_delete::VERSION_MAX),
    (ApiKey::ConsumerGroupHeartbeat, consumer_group_heartbeat::VERSION_MIN, consumer_group_heartbeat::VERSION_MAX),
    (ApiKey::ConsumerGroupDescribe, consumer_group_describe::VERSION_MIN, consumer_group_describe::VERSION_MAX),
    (ApiKey::DescribeCluster, describe_cluster::VERSION_MIN, describe_cluster::VERSION_MAX),
    (ApiKey::DescribeProducers, describe_producers::VERSION_MIN, describe_producers::VERSION_MAX),
    (ApiKey::DescribeTransactions, describe_transactions::VERSION_MIN, describe_transactions::VERSION_MAX),
    (ApiKey::ListTransactions, list_transactions::VERSION_MIN, list_transactions::VERSION_MAX),
];

/// Transactional APIs answer PRODUCER_FENCED (90, KIP-588) from the
/// version `fenced_from` on; older clients know it as INVALID_PRODUCER_EPOCH.
pub fn fenced_for(version: i16, fenced_from: i16, code: crate::protocol::ErrorCode) -> crate::protocol::ErrorCode {
    use crate::protocol::ErrorCode;
    if code == ErrorCode::ProducerFenced && version < fenced_from {
        ErrorCode::InvalidProducerEpoch
    } else {
        code
    }
}

pub fn supported_versions(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS.iter().find(|(k, _, _)| *k == key).map(|(_, lo, hi)| (*lo, *hi))
}

/// Why a request frame cannot be answered: the connection is closed, as the
/// Java broker does for undecodable or unsupported requests.
#[derive(Debug, Error)]
pub enum DispatchError {
    #[error("request header cannot be decoded: {detail}")]
    Header { detail: String },
    #[error("{api:?} v{version} is not supported (supported {min}..={max})")]
    UnsupportedVersion { api: ApiKey, version: i16, min: i16, max: i16 },
    #[error("API key {key} is not served")]
    UnsupportedApi { key: i16 },
    #[error("{api:?} v{version} body is malformed: {source}")]
    Malformed { api: ApiKey, version: i16, source: crate::protocol::wire_guard::GuardError },
    #[error("{api:?} v{version} body cannot be decoded: {detail}")]
    Body { api: ApiKey, version: i16, detail: String },
    #[error("{api:?} v{version} response cannot be encoded: {detail}")]
    Encode { api: ApiKey, version: i16, detail: String },
}

/// A response still being produced; `Ok(None)` means no response is sent
/// (Produce with acks=0).
pub type Pending = BoxFuture<'static, Result<Option<Bytes>, DispatchError>>;

/// The parsed request header.
pub struct Request {
    pub api: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    pub client_id: Option<String>,
    /// The peer as Kafka shows it in DescribeGroups ("/127.0.0.1").
    pub client_host: String,
}

/// Decodes the request header of a frame and returns it with the body.
pub fn parse_header(mut frame: Bytes) -> Result<(Request, Bytes), DispatchError> {
    if frame.len() < 8 {
        return Err(DispatchError::Header {
            detail: format!("frame of {} bytes is shorter than a header", frame.len()),
        });
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let api = ApiKey::try_from(key).map_err(|_| DispatchError::UnsupportedApi { key })?;
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let header_version = api.request_header_version(version);
    let header = RequestHeader::decode(&mut frame, header_version)
        .map_err(|e| DispatchError::Header { detail: e.to_string() })?;
    let request = Request {
        api,
        version,
        correlation_id: header.correlation_id,
        client_id: header.client_id.map(|s| s.to_string()),
        client_host: String::new(),
    };
    Ok((request, frame))
}

fn decode<T: Decodable>(api: ApiKey, version: i16, mut body: Bytes) -> Result<T, DispatchError> {
    T::decode(&mut body, version).map_err(|e| DispatchError::Body { api, version, detail: e.to_string() })
}

/// Encodes a size-prefixed response frame.
pub fn encode_response<T: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
) -> Result<Bytes, DispatchError> {
    fn err<E: std::fmt::Display>(api: ApiKey, version: i16) -> impl Fn(E) -> DispatchError {
        move |e| DispatchError::Encode { api, version, detail: e.to_string() }
    }
    // KIP-511: ApiVersions responses always use header v0 so that a client
    // can read them whatever version it asked for.
    let header_version = if api == ApiKey::ApiVersions { 0 } else { api.response_header_version(version) };
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let size = header.compute_size(header_version).map_err(err(api, version))?
        + body.compute_size(version).map_err(err(api, version))?;
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(size as i32);
    header.encode(&mut buf, header_version).map_err(err(api, version))?;
    body.encode(&mut buf, version).map_err(err(api, version))?;
    Ok(buf.freeze())
}

fn ready<T: Encodable + Send + 'static>(api: ApiKey, version: i16, correlation_id: i32, body: T) -> Pending {
    async move { encode_response(api, version, correlation_id, &body).map(Some) }.boxed()
}

fn later<T, F>(api: ApiKey, version: i16, correlation_id: i32, fut: F) -> Pending
where
    T: Encodable + Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    async move { encode_response(api, version, correlation_id, &fut.await).map(Some) }.boxed()
}

/// Admits one request. Work that must happen in arrival order (queueing
/// produced batches) happens before this returns; the rest happens when the
/// returned future is polled, in order, by the connection's writer.
pub async fn dispatch(ctx: &Arc<Context>, request: Request, body: Bytes) -> Result<Pending, DispatchError> {
    let Request { api, version, correlation_id, client_id, client_host } = request;
    let Some((min, max)) = supported_versions(api) else {
        return Err(DispatchError::UnsupportedApi { key: api as i16 });
    };
    if api == ApiKey::ApiVersions && !(min..=max).contains(&version) {
        let response = api_versions::unsupported_version();
        return Ok(instrument(api, ready(api, 0, correlation_id, response)));
    }
    if !(min..=max).contains(&version) {
        return Err(DispatchError::UnsupportedVersion { api, version, min, max });
    }
    // The codec allocates from array counts on the wire: walk the body
    // first so that no count larger than the bytes present reaches it.
    let trailing = crate::protocol::wire_guard::check_request(api, version, &body)
        .map_err(|source| DispatchError::Malformed { api, version, source })?;
    if trailing > 0 {
        tracing::debug!(api = ?api, version, trailing, "request body has bytes after its last field; ignored");
    }
    let ctx = ctx.clone();
    // `now`: the handler is synchronous; `later`: it is polled, in order,
    // by the connection's writer.
    macro_rules! serve {
        (now $module:ident) => {{
            let req = decode(api, version, body)?;
            ready(api, version, correlation_id, $module::handle(&ctx, version, req))
        }};
        (later $module:ident) => {{
            let req = decode(api, version, body)?;
            later(api, version, correlation_id, async move { $module::handle(&ctx, version, req).await })
        }};
    }
    let pending: Pending = match api {
        ApiKey::ApiVersions => {
            let _req: ApiVersionsRequest = decode(api, version, body)?;
            ready(api, version, correlation_id, api_versions::handle())
        }
        ApiKey::Produce => {
            let req = decode(api, version, body)?;
            let admitted = produce::admit(&ctx, version, req).await;
            async move {
                match admitted.complete().await {
                    Some(resp) => encode_response(api, version, correlation_id, &resp).map(Some),
                    None => Ok(None),
                }
            }
            .boxed()
        }
        ApiKey::JoinGroup => {
            let req = decode(api, version, body)?;
            let client_id = client_id.unwrap_or_default();
            later(api, version, correlation_id, async move {
                join_group::handle(&ctx, version, &client_id, &client_host, req).await
            })
        }
        ApiKey::ConsumerGroupHeartbeat => {
            let req = decode(api, version, body)?;
            let client_id = client_id.unwrap_or_default();
            ready(
                api,
                version,
                correlation_id,
                consumer_group_heartbeat::handle(&ctx, version, &client_id, &client_host, req),
            )
        }
        ApiKey::ConsumerGroupDescribe => serve!(now consumer_group_describe),
        ApiKey::Metadata => serve!(later metadata),
        ApiKey::Fetch => serve!(later fetch),
        ApiKey::ListOffsets => serve!(later list_offsets),
        ApiKey::CreateTopics => serve!(later create_topics),
        ApiKey::DeleteTopics => serve!(later delete_topics),
        ApiKey::InitProducerId => serve!(later init_producer_id),
        ApiKey::DescribeCluster => serve!(now describe_cluster),
        ApiKey::FindCoordinator => serve!(now find_coordinator),
        ApiKey::SyncGroup => serve!(later sync_group),
        ApiKey::Heartbeat => serve!(now heartbeat),
        ApiKey::LeaveGroup => serve!(now leave_group),
        ApiKey::OffsetCommit => serve!(later offset_commit),
        ApiKey::OffsetFetch => serve!(later offset_fetch),
        ApiKey::DescribeGroups => serve!(now describe_groups),
        ApiKey::ListGroups => serve!(now list_groups),
        ApiKey::DeleteGroups => serve!(later delete_groups),
        ApiKey::OffsetDelete => serve!(later offset_delete),
        ApiKey::AddPartitionsToTxn => serve!(later add_partitions_to_txn),
        ApiKey::AddOffsetsToTxn => serve!(later add_offsets_to_txn),
        ApiKey::EndTxn => serve!(later end_txn),
        ApiKey::TxnOffsetCommit => serve!(later txn_offset_commit),
        ApiKey::DescribeProducers => serve!(later describe_producers),
        ApiKey::DescribeTransactions => serve!(later describe_transactions),
        ApiKey::ListTransactions => serve!(later list_transactions),
        other => return Err(DispatchError::UnsupportedApi { key: other as i16 }),
    };
    Ok(instrument(api, pending))
}

fn instrument(api: ApiKey, pending: Pending) -> Pending {
    let started = Instant::now();
    async move {
        let out = pending.await;
        let label = format!("{api:?}");
        metrics::counter!(m::REQUESTS_TOTAL, "api" => label.clone()).increment(1);
        metrics::histogram!(m::REQUEST_SECONDS, "api" => label).record(started.elapsed().as_secs_f64());
        out
    }
    .boxed()
}
