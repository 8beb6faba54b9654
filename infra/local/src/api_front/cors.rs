//! The HTTP API's `CorsConfiguration`, applied the way API Gateway applies it: it answers
//! preflight requests itself and adds the allow/expose headers to other responses.

use http::{HeaderMap, HeaderValue, Method, header};
use serde_yaml::Value;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cors {
    allow_origins: Vec<String>,
    allow_headers: Vec<String>,
    allow_methods: Vec<String>,
    expose_headers: Vec<String>,
    max_age: Option<u64>,
    allow_credentials: bool,
}

impl Cors {
    /// The first `AWS::Serverless::HttpApi`'s configuration; none (no CORS headers at
    /// all) when the template has none.
    pub fn from_template(template: &Value) -> Self {
        let Some(config) = template["Resources"]
            .as_mapping()
            .into_iter()
            .flatten()
            .map(|(_, resource)| resource)
            .find(|r| r["Type"].as_str() == Some("AWS::Serverless::HttpApi"))
            .map(|api| &api["Properties"]["CorsConfiguration"])
        else {
            return Cors::default();
        };
        let list = |key: &str| -> Vec<String> {
            config[key]
                .as_sequence()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        Cors {
            allow_origins: list("AllowOrigins"),
            allow_headers: list("AllowHeaders"),
            allow_methods: list("AllowMethods"),
            expose_headers: list("ExposeHeaders"),
            max_age: config["MaxAge"].as_u64(),
            allow_credentials: config["AllowCredentials"].as_bool() == Some(true),
        }
    }

    /// Whether API Gateway answers this request itself: an `OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`, when CORS is configured.
    pub fn is_preflight(&self, method: &Method, headers: &HeaderMap) -> bool {
        !self.allow_origins.is_empty()
            && method == Method::OPTIONS
            && headers.contains_key(header::ORIGIN)
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The headers of the preflight answer (204); none for an origin not allowed.
    pub fn preflight(&self, request: &HeaderMap) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if self.allow_origin(request, &mut headers) {
            insert(
                &mut headers,
                header::ACCESS_CONTROL_ALLOW_METHODS,
                &self.allow_methods.join(","),
            );
            insert(
                &mut headers,
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                &self.allow_headers.join(","),
            );
            if let Some(max_age) = self.max_age {
                insert(
                    &mut headers,
                    header::ACCESS_CONTROL_MAX_AGE,
                    &max_age.to_string(),
                );
            }
        }
        headers
    }

    /// Adds the CORS headers of a response to a request from an allowed origin.
    pub fn decorate(&self, request: &HeaderMap, response: &mut HeaderMap) {
        if self.allow_origin(request, response) && !self.expose_headers.is_empty() {
            insert(
                response,
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                &self.expose_headers.join(","),
            );
        }
    }

    fn allow_origin(&self, request: &HeaderMap, response: &mut HeaderMap) -> bool {
        let Some(origin) = request.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
            return false;
        };
        let wildcard = self.allow_origins.iter().any(|o| o == "*");
        if !wildcard
            && !self
                .allow_origins
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin))
        {
            return false;
        }
        // A credentialed answer must name the origin; "*" is refused by browsers there.
        if wildcard && !self.allow_credentials {
            insert(response, header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
        } else {
            insert(response, header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            response.append(header::VARY, HeaderValue::from_static("origin"));
        }
        if self.allow_credentials {
            insert(response, header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
        }
        true
    }
}

fn insert(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &str) -> Cors {
        let template: Value = serde_yaml::from_str(&format!(
            "Resources:\n  Api:\n    Type: AWS::Serverless::HttpApi\n    Properties:\n      CorsConfiguration:\n        AllowOrigins: [{origins}]\n        AllowHeaders: [Authorization, Content-Type]\n        AllowMethods: [GET, POST]\n        ExposeHeaders: [X-Request-ID]\n        MaxAge: 600\n"
        ))
        .unwrap_or_default();
        Cors::from_template(&template)
    }

    fn from(origin: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ORIGIN, HeaderValue::from_static(origin));
        headers.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("POST"),
        );
        headers
    }

    #[test]
    fn a_preflight_from_any_origin_gets_the_configured_lists() {
        let cors = cors("\"*\"");
        assert!(cors.is_preflight(&Method::OPTIONS, &from("https://app.example")));
        let answer = cors.preflight(&from("https://app.example"));
        assert_eq!(answer[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(answer[header::ACCESS_CONTROL_ALLOW_METHODS], "GET,POST");
        assert_eq!(
            answer[header::ACCESS_CONTROL_ALLOW_HEADERS],
            "Authorization,Content-Type"
        );
        assert_eq!(answer[header::ACCESS_CONTROL_MAX_AGE], "600");
    }

    #[test]
    fn an_origin_not_listed_gets_no_cors_headers() {
        let cors = cors("https://app.example");
        assert!(cors.preflight(&from("https://evil.example")).is_empty());
        let mut response = HeaderMap::new();
        cors.decorate(&from("https://app.example"), &mut response);
        assert_eq!(
            response[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example"
        );
        assert_eq!(
            response[header::ACCESS_CONTROL_EXPOSE_HEADERS],
            "X-Request-ID"
        );
    }

    #[test]
    fn without_configuration_nothing_is_a_preflight() {
        assert!(!Cors::default().is_preflight(&Method::OPTIONS, &from("https://a.example")));
    }
}
