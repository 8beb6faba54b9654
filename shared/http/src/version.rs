//! API version of a request: the URL path wins, then `Accept-Version` / `X-API-Version`.

use http::{HeaderMap, HeaderValue};

/// The versions this API serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    V1,
    V2,
}

impl ApiVersion {
    pub const LATEST: ApiVersion = ApiVersion::V2;
    pub const ALL: [ApiVersion; 2] = [ApiVersion::V1, ApiVersion::V2];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1",
            ApiVersion::V2 => "v2",
        }
    }

    pub fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(self.as_str())
    }

    fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "v1" | "1" => Some(ApiVersion::V1),
            "v2" | "2" => Some(ApiVersion::V2),
            _ => None,
        }
    }

    /// `/api/v2/...` → v2; otherwise the version headers; otherwise the latest.
    pub fn detect(path: &str, headers: &HeaderMap) -> Self {
        let from_path = path
            .strip_prefix("/api/")
            .and_then(|rest| rest.split('/').next())
            .and_then(Self::parse);
        let from_header = || {
            ["accept-version", "x-api-version"]
                .iter()
                .filter_map(|name| headers.get(*name)?.to_str().ok())
                .find_map(Self::parse)
        };
        from_path.or_else(from_header).unwrap_or(Self::LATEST)
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ApiVersion {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        // The edge stored what it detected on the full path; nested routers see a
        // path with the version prefix stripped.
        Ok(parts
            .extensions
            .get::<ApiVersion>()
            .copied()
            .unwrap_or_else(|| ApiVersion::detect(parts.uri.path(), &parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_wins_over_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("accept-version", HeaderValue::from_static("v2"));
        assert_eq!(
            ApiVersion::detect("/api/v1/public/health", &headers),
            ApiVersion::V1
        );
    }

    #[test]
    fn header_selects_version_of_an_unversioned_path() {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-version", HeaderValue::from_static("v1"));
        assert_eq!(
            ApiVersion::detect("/openapi.json", &headers),
            ApiVersion::V1
        );
        assert_eq!(
            ApiVersion::detect("/openapi.json", &HeaderMap::new()),
            ApiVersion::LATEST
        );
    }
}
