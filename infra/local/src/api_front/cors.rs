//! The template's CORS configurations applied the way AWS applies them: API Gateway (the
//! HTTP API's `CorsConfiguration`) and Lambda (a function URL's `Cors`) answer preflight
//! requests themselves and add the allow/expose headers to other responses. Origins
//! written `!Ref CorsAllowOrigins` are the configured list (`CORS_ALLOW_ORIGINS`).

use std::collections::BTreeMap;

use aloft_provision::AllowedOrigins;
use http::{HeaderMap, HeaderValue, Method, header};
use serde_norway::Value;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cors {
    /// Whether the template configures CORS here at all.
    configured: bool,
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
    pub fn http_api(template: &Value, origins: &AllowedOrigins) -> Self {
        resources(template)
            .find(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::HttpApi"))
            .map(|(_, api)| Self::from_config(&api["Properties"]["CorsConfiguration"], origins))
            .unwrap_or_default()
    }

    /// Each function URL's `Cors`, by the function's binary (its name under watch, the
    /// `<function>` of `/lambda-url/<function>/…`).
    pub fn function_urls(template: &Value, origins: &AllowedOrigins) -> BTreeMap<String, Self> {
        resources(template)
            .filter_map(|(_, function)| {
                let binary = function["Metadata"]["BuildProperties"]["Binary"].as_str()?;
                let config = &function["Properties"]["FunctionUrlConfig"]["Cors"];
                config
                    .is_mapping()
                    .then(|| (binary.to_owned(), Self::from_config(config, origins)))
            })
            .collect()
    }

    /// Both configurations use the same keys.
    fn from_config(config: &Value, origins: &AllowedOrigins) -> Self {
        let list = |key: &str| -> Vec<String> {
            config[key]
                .as_sequence()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        Cors {
            configured: config.is_mapping(),
            allow_origins: origins.expand(&config["AllowOrigins"]),
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
        self.configured
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

    /// Adds the CORS headers of a response to a request from an allowed origin. Once CORS
    /// is configured, API Gateway and Lambda ignore the function's own CORS headers, and
    /// so does this.
    pub fn decorate(&self, request: &HeaderMap, response: &mut HeaderMap) {
        if !self.configured {
            return;
        }
        let own: Vec<_> = response
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in own {
            response.remove(name);
        }
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

fn resources(template: &Value) -> impl Iterator<Item = (&Value, &Value)> {
    template["Resources"].as_mapping().into_iter().flatten()
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
        let template: Value = serde_norway::from_str(&format!(
            "Resources:\n  Api:\n    Type: AWS::Serverless::HttpApi\n    Properties:\n      CorsConfiguration:\n        AllowOrigins: [{origins}]\n        AllowHeaders: [Authorization, Content-Type]\n        AllowMethods: [GET, POST]\n        ExposeHeaders: [X-Request-ID]\n        MaxAge: 600\n"
        ))
        .unwrap_or_default();
        Cors::http_api(&template, &AllowedOrigins::default())
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
    fn the_function_we_set_cannot_widen_the_policy() {
        let cors = cors("https://app.example");
        let mut response = HeaderMap::new();
        insert(
            &mut response,
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            "https://evil.example",
        );
        insert(
            &mut response,
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            "true",
        );
        cors.decorate(&from("https://evil.example"), &mut response);
        assert!(response.is_empty(), "{response:?}");
    }

    #[test]
    fn without_configuration_nothing_is_a_preflight() {
        assert!(!Cors::default().is_preflight(&Method::OPTIONS, &from("https://a.example")));
    }
}
