//! The HTTP API's routes, read from `template.yaml` and matched the way API Gateway
//! matches them: the most specific path wins (a literal segment over a `{parameter}`,
//! both over a greedy `{proxy+}`), a route's own method over `ANY`, and what nothing
//! matches goes to the `$default` route.

use std::collections::BTreeMap;

use http::Method;
use serde_norway::Value;

use crate::wire::percent_decode;

/// Why `template.yaml` gave no route table.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template.yaml is not YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("template.yaml: {0}")]
    Shape(String),
    #[error(transparent)]
    Origins(#[from] aloft_provision::ProvisionError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Parameter(String),
    /// `{proxy+}`: the rest of the path, at least one segment.
    Greedy(String),
}

impl Segment {
    /// Lower is more specific.
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 0,
            Segment::Parameter(_) => 1,
            Segment::Greedy(_) => 2,
        }
    }
}

#[derive(Debug, Clone)]
struct Route {
    /// `None` for `ANY`.
    method: Option<Method>,
    segments: Vec<Segment>,
    key: String,
    function: String,
}

/// A request's route: what API Gateway puts in the event's `routeKey` and
/// `pathParameters`, and the function it invokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'a> {
    pub route_key: &'a str,
    pub function: &'a str,
    pub path_parameters: BTreeMap<String, String>,
}

/// Every `HttpApi` event of every function in the template.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    routes: Vec<Route>,
    /// The function of the `$default` route, if there is one.
    default: Option<String>,
}

impl Routes {
    pub fn from_template(template: &Value) -> Result<Self, TemplateError> {
        let resources = template["Resources"]
            .as_mapping()
            .ok_or_else(|| TemplateError::Shape("no Resources".into()))?;
        let mut table = Routes::default();
        for (name, resource) in resources {
            if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
                continue;
            }
            let Some(events) = resource["Properties"]["Events"].as_mapping() else {
                continue;
            };
            let binary = resource["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .ok_or_else(|| {
                    TemplateError::Shape(format!("{name:?} has no BuildProperties.Binary"))
                })?;
            for event in events.values() {
                if event["Type"].as_str() != Some("HttpApi") {
                    continue;
                }
                let path = event["Properties"]["Path"].as_str().unwrap_or("$default");
                let method = event["Properties"]["Method"].as_str().unwrap_or("ANY");
                table.add(method, path, binary)?;
            }
        }
        Ok(table)
    }

    fn add(&mut self, method: &str, path: &str, function: &str) -> Result<(), TemplateError> {
        if path == "$default" {
            self.default = Some(function.to_owned());
            return Ok(());
        }
        let method = match method.to_ascii_uppercase().as_str() {
            "ANY" => None,
            other => Some(
                Method::from_bytes(other.as_bytes())
                    .map_err(|_| TemplateError::Shape(format!("bad method {other}")))?,
            ),
        };
        let segments = path
            .trim_start_matches('/')
            .split('/')
            .map(
                |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => match name.strip_suffix('+') {
                        Some(name) => Segment::Greedy(name.to_owned()),
                        None => Segment::Parameter(name.to_owned()),
                    },
                    None => Segment::Literal(segment.to_owned()),
                },
            )
            .collect();
        let key = format!("{} {path}", method.as_ref().map_or("ANY", Method::as_str));
        self.routes.push(Route {
            method,
            segments,
            key,
            function: function.to_owned(),
        });
        Ok(())
    }

    /// The route `method` and `path` (as sent, percent-encoded) take; `None` when nothing
    /// matches and there is no `$default` route.
    pub fn find(&self, method: &Method, path: &str) -> Option<Matched<'_>> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.routes
            .iter()
            .filter(|route| route.method.as_ref().is_none_or(|m| m == method))
            .filter_map(|route| Some((route, parameters(&route.segments, &parts)?)))
            .min_by_key(|(route, _)| {
                let ranks: Vec<u8> = route.segments.iter().map(Segment::rank).collect();
                (ranks, route.method.is_none())
            })
            .map(|(route, path_parameters)| Matched {
                route_key: &route.key,
                function: &route.function,
                path_parameters,
            })
            .or_else(|| {
                self.default.as_deref().map(|function| Matched {
                    route_key: "$default",
                    function,
                    path_parameters: BTreeMap::new(),
                })
            })
    }
}

/// The path parameters if `parts` matches `segments`.
fn parameters(segments: &[Segment], parts: &[&str]) -> Option<BTreeMap<String, String>> {
    let mut found = BTreeMap::new();
    for (i, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Greedy(name) => {
                let rest = parts.get(i..).filter(|rest| !rest.is_empty())?;
                found.insert(name.clone(), percent_decode(&rest.join("/")));
                return Some(found);
            }
            Segment::Literal(literal) => {
                if parts.get(i) != Some(&literal.as_str()) {
                    return None;
                }
            }
            Segment::Parameter(name) => {
                let part = parts.get(i).filter(|part| !part.is_empty())?;
                found.insert(name.clone(), percent_decode(part));
            }
        }
    }
    (segments.len() == parts.len()).then_some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Routes {
        let mut routes = Routes::default();
        for (method, path, function) in [
            ("GET", "/api/{version}/app/projects", "projects"),
            ("POST", "/api/{version}/app/projects", "projects"),
            (
                "GET",
                "/api/{version}/app/projects/{project_id}",
                "projects",
            ),
            (
                "GET",
                "/api/{version}/app/files/upload-url",
                "files-literal",
            ),
            ("GET", "/api/{version}/app/files/{file_id}", "files"),
            ("ANY", "/api/{version}/app/files/{file_id}", "files-any"),
            ("GET", "/static/{proxy+}", "static"),
            ("ANY", "$default", "health"),
        ] {
            assert!(routes.add(method, path, function).is_ok());
        }
        routes
    }

    /// (route key, function, path parameters)
    type Found = (String, String, Vec<(String, String)>);

    fn find(method: Method, path: &str) -> Option<Found> {
        let routes = table();
        routes.find(&method, path).map(|m| {
            (
                m.route_key.to_owned(),
                m.function.to_owned(),
                m.path_parameters.into_iter().collect(),
            )
        })
    }

    #[test]
    fn parameters_are_decoded_and_the_route_key_is_the_templates() {
        assert_eq!(
            find(Method::GET, "/api/v2/app/projects/a%20b"),
            Some((
                "GET /api/{version}/app/projects/{project_id}".into(),
                "projects".into(),
                vec![
                    ("project_id".into(), "a b".into()),
                    ("version".into(), "v2".into())
                ]
            ))
        );
    }

    #[test]
    fn a_literal_beats_a_parameter_and_a_method_beats_any() {
        assert_eq!(
            find(Method::GET, "/api/v1/app/files/upload-url").map(|m| m.1),
            Some("files-literal".into())
        );
        assert_eq!(
            find(Method::GET, "/api/v1/app/files/f1").map(|m| m.1),
            Some("files".into())
        );
        assert_eq!(
            find(Method::DELETE, "/api/v1/app/files/f1").map(|m| m.1),
            Some("files-any".into())
        );
    }

    #[test]
    fn a_greedy_parameter_takes_the_rest_of_the_path() {
        assert_eq!(
            find(Method::GET, "/static/a/b/c.js").map(|m| m.2),
            Some(vec![("proxy".into(), "a/b/c.js".into())])
        );
        assert_eq!(
            find(Method::GET, "/static").map(|m| m.1),
            Some("health".into())
        );
    }

    #[test]
    fn another_method_an_empty_segment_or_extra_segments_go_to_default() {
        for (method, path) in [
            (Method::DELETE, "/api/v1/app/projects"),
            (Method::GET, "/api/v1/app/projects/"),
            (Method::GET, "/api/v1/app/projects/p/extra"),
            (Method::GET, "/"),
        ] {
            assert_eq!(
                find(method, path).map(|m| (m.0, m.1)),
                Some(("$default".into(), "health".into()))
            );
        }
    }
}
