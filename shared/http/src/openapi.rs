//! OpenAPI pieces shared by every function: the error envelope and v2 `meta` schemas,
//! the error responses routes share ([`SignedIn`], [`JsonBody`], …), and [`versioned`],
//! which mounts routes under `/api/v1` and `/api/v2` and documents both from one set of
//! annotated handlers. Operations under `/app` and `/admin` are documented as signed in
//! ([`SignedInSecurity`]) unless their handler says otherwise.

mod responses;

pub use responses::{AdminOnly, InvalidQuery, JsonBody, RateLimited, SignedIn};

use std::collections::BTreeMap;

use axum::Router;
use serde::Serialize;
use serde_json::Value;
use utoipa::{
    Modify, PartialSchema, ToSchema,
    openapi::{
        ContentBuilder, ObjectBuilder, OpenApi, PathItem, Ref, RefOr, Schema, link::Link,
        path::Operation, response::Response, security::SecurityRequirement,
    },
};

use crate::ApiVersion;
use aloft_core::ErrorCode;

/// The body of every error: `{"error": {"code", "message", "details"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    /// Extra facts: `field` for validation errors, `retry_after` for rate limits.
    #[schema(value_type = Object)]
    pub details: Value,
}

/// `meta` of every v2 response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResponseMeta {
    pub request_id: String,
    /// ISO 8601, UTC.
    pub timestamp: String,
    /// Always `v2`.
    pub version: String,
}

/// Mounts `routes` (paths relative to the version, e.g. `/public/health`) under every
/// API version.
pub fn versioned<S>(routes: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    ApiVersion::ALL.iter().fold(Router::new(), |app, version| {
        app.nest(&format!("/api/{}", version.as_str()), routes.clone())
    })
}

/// Turns a document of version-relative paths into one with every path under every
/// version, v2 success bodies wrapped in `data` + `meta` (and the links that read them
/// pointed at `data` and at the v2 operations), and the shared error schemas.
pub fn versioned_document(mut relative: OpenApi) -> OpenApi {
    SignedInSecurity.modify(&mut relative);
    let paths = std::mem::take(&mut relative.paths.paths);
    let mut versioned = BTreeMap::new();
    for (path, item) in paths {
        for version in ApiVersion::ALL {
            let mut item = item.clone();
            if version == ApiVersion::V2 {
                for_each_operation(&mut item, wrap_operation_for_v2);
            }
            for_each_operation(&mut item, name_link_fields_as_the_spec_does);
            versioned.insert(format!("/api/{}{path}", version.as_str()), item);
        }
    }
    relative.paths.paths = versioned.into_iter().collect();
    let components = relative.components.get_or_insert_with(Default::default);
    for (name, schema) in [
        ("ErrorBody", ErrorBody::schema()),
        ("ErrorDetail", ErrorDetail::schema()),
        ("ErrorCode", ErrorCode::schema()),
        ("ResponseMeta", ResponseMeta::schema()),
    ] {
        components.schemas.insert(name.to_owned(), schema);
    }
    relative
}

/// Every operation under `/app` and `/admin` takes a bearer token or an API key, so the
/// requirement is stated here once. A handler that accepts less (a person's token only,
/// `PersonUser`) states its own `security(..)`, which this leaves alone.
#[derive(Debug)]
pub struct SignedInSecurity;

impl Modify for SignedInSecurity {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            if path.starts_with("/app/") || path.starts_with("/admin/") {
                for_each_operation(item, |operation| {
                    operation.security.get_or_insert_with(|| {
                        ["BearerJWT", "ApiKey"]
                            .map(|scheme| SecurityRequirement::new(scheme, Vec::<String>::new()))
                            .into()
                    });
                });
            }
        }
    }
}

fn for_each_operation(item: &mut PathItem, f: fn(&mut Operation)) {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
    .for_each(f);
}

fn wrap_operation_for_v2(operation: &mut Operation) {
    if let Some(id) = &mut operation.operation_id {
        id.push_str(V2_SUFFIX);
    }
    for (status, response) in operation.responses.responses.iter_mut() {
        if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
            wrap_response_for_v2(response);
            response.links.values_mut().for_each(link_to_v2);
        }
    }
}

const V2_SUFFIX: &str = "_v2";

/// Only JSON bodies are wrapped: a stream (`text/event-stream`) is sent as produced.
fn wrap_response_for_v2(response: &mut Response) {
    for (media_type, content) in response.content.iter_mut() {
        if media_type != "application/json" {
            continue;
        }
        let Some(data) = content.schema.take() else {
            continue;
        };
        let wrapped: RefOr<Schema> = ObjectBuilder::new()
            .property("data", data)
            .required("data")
            .property("meta", Ref::from_schema_name("ResponseMeta"))
            .required("meta")
            .into();
        *content = ContentBuilder::new().schema(Some(wrapped)).build();
    }
}

/// A v2 link follows to the v2 operation, and finds the v1 body's fields under `data`.
fn link_to_v2(link: &mut RefOr<Link>) {
    let RefOr::T(link) = link else { return };
    if !link.operation_id.is_empty() {
        link.operation_id.push_str(V2_SUFFIX);
    }
    link.parameters.values_mut().for_each(body_pointer_to_v2);
    if let Some(body) = &mut link.request_body {
        body_pointer_to_v2(body);
    }
}

/// utoipa 5.5 writes a link's `operationId` and `requestBody` as `operation_id` and
/// `request_body`, which no OpenAPI tool reads; written as extensions they get the
/// names the specification gives them. (Extensions are an unordered map: a link with both
/// would be exported in either order, so our links pass ids as parameters only.)
fn name_link_fields_as_the_spec_does(operation: &mut Operation) {
    let links = operation
        .responses
        .responses
        .values_mut()
        .filter_map(|response| match response {
            RefOr::T(response) => Some(response.links.values_mut()),
            RefOr::Ref(_) => None,
        })
        .flatten();
    for link in links {
        let RefOr::T(link) = link else { continue };
        let mut renamed = Vec::new();
        if !link.operation_id.is_empty() {
            renamed.push((
                "operationId",
                Value::from(std::mem::take(&mut link.operation_id)),
            ));
        }
        if let Some(body) = link.request_body.take() {
            renamed.push(("requestBody", body));
        }
        if !renamed.is_empty() {
            link.extensions
                .get_or_insert_with(Default::default)
                .extend(renamed.into_iter().map(|(k, v)| (k.to_owned(), v)));
        }
    }
}

fn body_pointer_to_v2(value: &mut Value) {
    const BODY: &str = "$response.body#/";
    match value {
        Value::String(expression) => {
            if let Some(pointer) = expression.strip_prefix(BODY) {
                *expression = format!("{BODY}data/{pointer}");
            }
        }
        Value::Array(items) => items.iter_mut().for_each(body_pointer_to_v2),
        Value::Object(fields) => fields.values_mut().for_each(body_pointer_to_v2),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::{
        PathsBuilder, ResponseBuilder,
        link::LinkBuilder,
        path::{HttpMethod, OperationBuilder},
    };

    fn relative_api() -> OpenApi {
        let link = LinkBuilder::new()
            .operation_id("get_health")
            .parameter("id", "$response.body#/id")
            .build();
        let operation = OperationBuilder::new()
            .operation_id(Some("check_health"))
            .response(
                "200",
                ResponseBuilder::new()
                    .description("ok")
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("Health")))
                            .build(),
                    )
                    .content(
                        "text/event-stream",
                        ContentBuilder::new().schema(Some(String::schema())).build(),
                    )
                    .link("GetHealth", link),
            )
            .build();
        let mut api = OpenApi::default();
        api.paths = PathsBuilder::new()
            .path("/public/health", PathItem::new(HttpMethod::Get, operation))
            .build();
        api
    }

    #[test]
    fn every_path_is_documented_under_both_versions() {
        let api = versioned_document(relative_api());
        let paths: Vec<_> = api.paths.paths.keys().cloned().collect();
        assert_eq!(paths, ["/api/v1/public/health", "/api/v2/public/health"]);
    }

    #[test]
    fn v2_success_bodies_are_wrapped_in_data_and_meta() {
        let api = serde_json::to_value(versioned_document(relative_api())).unwrap();
        let v1 = &api["paths"]["/api/v1/public/health"]["get"];
        let v2 = &api["paths"]["/api/v2/public/health"]["get"];
        let schema =
            |op: &Value| op["responses"]["200"]["content"]["application/json"]["schema"].clone();
        assert_eq!(schema(v1)["$ref"], "#/components/schemas/Health");
        assert_eq!(
            schema(v2)["properties"]["data"]["$ref"],
            "#/components/schemas/Health"
        );
        assert_eq!(
            schema(v2)["properties"]["meta"]["$ref"],
            "#/components/schemas/ResponseMeta"
        );
        assert_eq!(v2["operationId"], "check_health_v2");
    }

    #[test]
    fn v2_streams_are_documented_as_sent() {
        let api = serde_json::to_value(versioned_document(relative_api())).unwrap();
        let v2 = &api["paths"]["/api/v2/public/health"]["get"]["responses"]["200"];
        assert_eq!(
            v2["content"]["text/event-stream"]["schema"]["type"],
            "string"
        );
    }

    #[test]
    fn v2_links_follow_v2_operations_and_read_under_data() {
        let api = serde_json::to_value(versioned_document(relative_api())).unwrap();
        let link = |version: &str| {
            api["paths"][format!("/api/{version}/public/health")]["get"]["responses"]["200"]
                ["links"]["GetHealth"]
                .clone()
        };
        assert_eq!(link("v1")["operationId"], "get_health");
        assert_eq!(link("v1")["parameters"]["id"], "$response.body#/id");
        assert_eq!(link("v2")["operationId"], "get_health_v2");
        assert_eq!(link("v2")["parameters"]["id"], "$response.body#/data/id");
    }
}
