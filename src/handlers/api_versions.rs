//! ApiVersions (key 18): the APIs and versions this broker serves, derived
//! from the handler registry. A version newer than we serve is answered in
//! v0 with UNSUPPORTED_VERSION and the list, so the client can retry with a
//! version we know (KIP-511).

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::{Context, SUPPORTED_APIS};
use crate::protocol::ErrorCode;

pub const VERSION_MIN: i16 = 0;
pub const VERSION_MAX: i16 = 4;

fn api_list() -> Vec<ApiVersion> {
    SUPPORTED_APIS
        .iter()
        .map(|(key, min, max)| {
            ApiVersion::default().with_api_key(*key as i16).with_min_version(*min).with_max_version(*max)
        })
        .collect()
}

fn answer(code: ErrorCode) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_error_code(code.code()).with_api_keys(api_list())
}

/// The answer to every supported version: the same whoever asks.
pub fn response() -> ApiVersionsResponse {
    answer(ErrorCode::None)
}

pub fn handle(_ctx: &Context, _version: i16, _req: ApiVersionsRequest) -> ApiVersionsResponse {
    response()
}

pub fn unsupported_version() -> ApiVersionsResponse {
    answer(ErrorCode::UnsupportedVersion)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiKey;

    #[test]
    fn lists_every_registered_api_within_the_codec_range() {
        let r = response();
        assert_eq!(r.api_keys.len(), SUPPORTED_APIS.len());
        for v in &r.api_keys {
            let key = ApiKey::try_from(v.api_key).unwrap();
            let codec = key.valid_versions();
            assert!(v.min_version >= codec.min && v.max_version <= codec.max, "{key:?}");
            assert!(v.min_version <= v.max_version);
        }
        assert!(r.api_keys.iter().any(|v| v.api_key == 18));
    }
}
