//! One file per Kafka API, and the registry everything else about an API
//! is derived from.
//!
//! A handler reads like the Kafka protocol page: request in, response out,
//! that API's error codes. Each API is declared once, in `apis!` below:
//! its key, its module (which declares the versions it implements as
//! `VERSION_MIN` / `VERSION_MAX`), how it is served, and the wire layout the
//! guard walks before the codec allocates anything. ApiVersions
//! ([`SUPPORTED_APIS`]), dispatch and the guard's table all come from that
//! one list. [`dispatch`] decodes, routes and encodes; it holds no handler
//! bodies. [`errors`] is the one place internal errors become Kafka codes.

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
use crate::group::GroupCoordinator;
use crate::log::Log;
use crate::metrics as m;
use crate::protocol::wire_guard::{self, GuardError, Layout};
use crate::protocol::ErrorCode;
use crate::topics::Topics;
use crate::txn::TxnCoordinator;

pub mod errors;

/// Everything a handler may use: the components, never a store.
pub struct Context {
    pub config: Config,
    pub cluster_id: String,
    pub topics: Arc<Topics>,
    pub log: Log,
    pub groups: Arc<GroupCoordinator>,
    pub txns: Arc<TxnCoordinator>,
    pub membership: Arc<crate::cluster::Membership>,
    pub clock: Arc<dyn Clock>,
    /// Compressed produced batches being inflated at once (see
    /// `--produce-decompressions-max`).
    pub inflating: tokio::sync::Semaphore,
}

/// Declares the served APIs, one line each:
/// `Key => module, how, LAYOUT;` where `how` is
/// - `now`: `module::handle(&ctx, version, request)` answers at once;
/// - `later`: the same, async, polled in order by the connection's writer;
/// - `now_client` / `later_client`: as above, also given the client's id
///   and host (`handle(&ctx, version, client_id, client_host, request)`);
/// - `ordered`: `module::admit(&ctx, version, request)` runs in arrival
///   order before the next request is read (Produce queues its batches),
///   and what it returns completes later.
macro_rules! apis {
    ($($key:ident => $module:ident, $how:ident, $layout:ident;)*) => {
        $(pub mod $module;)*

        /// The APIs served and the versions of each: the single source of
        /// ApiVersions. Each range is what the handler implements, not merely
        /// what the codec can parse.
        pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] =
            &[$((ApiKey::$key, $module::VERSION_MIN, $module::VERSION_MAX),)*];

        /// The wire layout of a served request (see [`wire_guard`]).
        pub fn request_layout(api: ApiKey) -> Option<Layout> {
            match api {
                $(ApiKey::$key => Some(wire_guard::$layout),)*
                _ => None,
            }
        }

        /// Decodes the body of a served request and starts serving it.
        async fn route(ctx: &Arc<Context>, request: Request, body: Bytes) -> Result<Pending, DispatchError> {
            match request.api {
                $(ApiKey::$key => serve!($how, $module, ctx, request, body),)*
                other => Err(DispatchError::UnsupportedApi { key: other as i16 }),
            }
        }
    };
}

/// One arm of [`route`], by how the API is served (see [`apis!`]).
macro_rules! serve {
    (now, $module:ident, $ctx:ident, $request:ident, $body:ident) => {{
        let req = decode(&$request, $body)?;
        Ok(ready(&$request, $module::handle($ctx, $request.version, req)))
    }};
    (later, $module:ident, $ctx:ident, $request:ident, $body:ident) => {{
        let req = decode(&$request, $body)?;
        let (ctx, version) = ($ctx.clone(), $request.version);
        Ok(later(&$request, async move { $module::handle(&ctx, version, req).await }))
    }};
    (now_client, $module:ident, $ctx:ident, $request:ident, $body:ident) => {{
        let req = decode(&$request, $body)?;
        let client_id = $request.client_id.as_deref().unwrap_or_default();
        Ok(ready(&$request, $module::handle($ctx, $request.version, client_id, &$request.client_host, req)))
    }};
    (later_client, $module:ident, $ctx:ident, $request:ident, $body:ident) => {{
        let req = decode(&$request, $body)?;
        let (ctx, version) = ($ctx.clone(), $request.version);
        let (client_id, client_host) = ($request.client_id.clone().unwrap_or_default(), $request.client_host.clone());
        Ok(later(&$request, async move { $module::handle(&ctx, version, &client_id, &client_host, req).await }))
    }};
    (ordered, $module:ident, $ctx:ident, $request:ident, $body:ident) => {{
        let req = decode(&$request, $body)?;
        let admitted = $module::admit($ctx, $request.version, req).await;
        let (api, version, correlation_id) = ($request.api, $request.version, $request.correlation_id);
        Ok(async move {
            match admitted.complete().await {
                Some(resp) => encode_response(api, version, correlation_id, &resp).map(Some),
                None => Ok(None),
            }
        }
        .boxed())
    }};
}

apis! {
    Produce                => produce,                 ordered,      PRODUCE;
    Fetch                  => fetch,                   later,        FETCH;
    ListOffsets            => list_offsets,            later,        LIST_OFFSETS;
    Metadata               => metadata,                later,        METADATA;
    OffsetCommit           => offset_commit,           later,        OFFSET_COMMIT;
    OffsetFetch            => offset_fetch,            later,        OFFSET_FETCH;
    FindCoordinator        => find_coordinator,        now,          FIND_COORDINATOR;
    JoinGroup              => join_group,              later_client, JOIN_GROUP;
    Heartbeat              => heartbeat,               now,          HEARTBEAT;
    LeaveGroup             => leave_group,             now,          LEAVE_GROUP;
    SyncGroup              => sync_group,              later,        SYNC_GROUP;
    DescribeGroups         => describe_groups,         now,          DESCRIBE_GROUPS;
    ListGroups             => list_groups,             now,          LIST_GROUPS;
    ApiVersions            => api_versions,            now,          API_VERSIONS;
    CreateTopics           => create_topics,           later,        CREATE_TOPICS;
    DeleteTopics           => delete_topics,           later,        DELETE_TOPICS;
    DeleteGroups           => delete_groups,           later,        DELETE_GROUPS;
    InitProducerId         => init_producer_id,        later,        INIT_PRODUCER_ID;
    AddPartitionsToTxn     => add_partitions_to_txn,   later,        ADD_PARTITIONS_TO_TXN;
    AddOffsetsToTxn        => add_offsets_to_txn,      later,        ADD_OFFSETS_TO_TXN;
    EndTxn                 => end_txn,                 later,        END_TXN;
    TxnOffsetCommit        => txn_offset_commit,       later,        TXN_OFFSET_COMMIT;
    OffsetDelete           => offset_delete,           later,        OFFSET_DELETE;
    ConsumerGroupHeartbeat => consumer_group_heartbeat, now_client,  CONSUMER_GROUP_HEARTBEAT;
    ConsumerGroupDescribe  => consumer_group_describe, now,          CONSUMER_GROUP_DESCRIBE;
    DescribeCluster        => describe_cluster,        now,          DESCRIBE_CLUSTER;
    DescribeProducers      => describe_producers,      later,        DESCRIBE_PRODUCERS;
    DescribeTransactions   => describe_transactions,   later,        DESCRIBE_TRANSACTIONS;
    ListTransactions       => list_transactions,       later,        LIST_TRANSACTIONS;
}

/// Transactional APIs answer PRODUCER_FENCED (90, KIP-588) from the
/// version `fenced_from` on; older clients know it as INVALID_PRODUCER_EPOCH.
pub fn fenced_for(version: i16, fenced_from: i16, code: ErrorCode) -> ErrorCode {
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
    Malformed { api: ApiKey, version: i16, source: GuardError },
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

fn decode<T: Decodable>(request: &Request, mut body: Bytes) -> Result<T, DispatchError> {
    let (api, version) = (request.api, request.version);
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

fn ready<T: Encodable + Send + 'static>(request: &Request, body: T) -> Pending {
    let (api, version, correlation_id) = (request.api, request.version, request.correlation_id);
    async move { encode_response(api, version, correlation_id, &body).map(Some) }.boxed()
}

fn later<T, F>(request: &Request, fut: F) -> Pending
where
    T: Encodable + Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let (api, version, correlation_id) = (request.api, request.version, request.correlation_id);
    async move { encode_response(api, version, correlation_id, &fut.await).map(Some) }.boxed()
}

/// Admits one request. Work that must happen in arrival order (queueing
/// produced batches) happens before this returns; the rest happens when the
/// returned future is polled, in order, by the connection's writer.
pub async fn dispatch(ctx: &Arc<Context>, request: Request, body: Bytes) -> Result<Pending, DispatchError> {
    let (api, version) = (request.api, request.version);
    let (Some((min, max)), Some(layout)) = (supported_versions(api), request_layout(api)) else {
        return Err(DispatchError::UnsupportedApi { key: api as i16 });
    };
    if !(min..=max).contains(&version) {
        if api == ApiKey::ApiVersions {
            // KIP-511: answer in v0 with the versions we serve.
            let response = api_versions::unsupported_version();
            let pending = async move { encode_response(api, 0, request.correlation_id, &response).map(Some) }.boxed();
            return Ok(instrument(api, pending));
        }
        return Err(DispatchError::UnsupportedVersion { api, version, min, max });
    }
    // The codec allocates from array counts on the wire: walk the body
    // first so that no count larger than the bytes present reaches it.
    let trailing = wire_guard::check_request(api, version, layout, &body)
        .map_err(|source| DispatchError::Malformed { api, version, source })?;
    if trailing > 0 {
        tracing::debug!(api = ?api, version, trailing, "request body has bytes after its last field; ignored");
    }
    let pending = route(ctx, request, body).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire_guard::samples::populated;

    /// Every served version of every API, encoded by the codec with its
    /// arrays populated, walks its declared layout to the exact end, and
    /// no truncation of it is accepted.
    #[test]
    fn every_served_version_walks_its_layout_to_the_exact_end() {
        for (api, min, max) in SUPPORTED_APIS {
            let layout = request_layout(*api).expect("every served API names a layout");
            for version in *min..=*max {
                let body = populated(*api, version);
                assert_eq!(wire_guard::check_request(*api, version, layout, &body), Ok(0), "{api:?} v{version}");
                for cut in [1, 2, body.len() / 2] {
                    if cut <= body.len() && cut > 0 {
                        let cut_body = &body[..body.len() - cut];
                        assert!(
                            wire_guard::check_request(*api, version, layout, cut_body).is_err(),
                            "{api:?} v{version} cut {cut}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_registry_is_consistent() {
        let mut keys: Vec<i16> = SUPPORTED_APIS.iter().map(|(k, _, _)| *k as i16).collect();
        let served = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), served, "an API is declared twice");
        assert!(request_layout(ApiKey::SaslHandshake).is_none(), "not served, no layout");
        assert_eq!(supported_versions(ApiKey::Produce), Some((produce::VERSION_MIN, produce::VERSION_MAX)));
    }
}
