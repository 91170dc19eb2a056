//! The error statuses every operation can answer, added to the OpenAPI document in one place
//! from what each operation has (a credential, path or query parameters, a body), so the
//! document declares every status the extractors can answer without each route listing them.
//! Route-specific refusals (402, 409, 429, …) stay on the route with their own description;
//! a status a route already declares is left as it is.
use utoipa::openapi::{
    ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder,
    path::{Operation, ParameterIn},
    security::SecurityRequirement,
};

/// Adds the common error responses to every operation of `doc`.
pub struct ErrorResponses;

impl utoipa::Modify for ErrorResponses {
    fn modify(&self, doc: &mut OpenApi) {
        for item in doc.paths.paths.values_mut() {
            let path_level: Vec<ParameterIn> = item
                .parameters
                .iter()
                .flatten()
                .filter_map(location)
                .collect();
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                add_common(op, &path_level);
            }
        }
    }
}

fn location(p: &RefOr<utoipa::openapi::path::Parameter>) -> Option<ParameterIn> {
    match p {
        RefOr::T(p) => Some(p.parameter_in.clone()),
        RefOr::Ref(_) => None,
    }
}

/// Whether the operation needs a credential: it inherits the document's bearer requirement
/// (no `security` of its own) or names one; `security()` (none, or an empty requirement)
/// marks the public ones.
pub fn is_authenticated(op: &Operation) -> bool {
    match &op.security {
        None => true,
        Some(reqs) => !reqs.is_empty() && !reqs.contains(&SecurityRequirement::default()),
    }
}

fn add_common(op: &mut Operation, path_level: &[ParameterIn]) {
    let params: Vec<ParameterIn> = op
        .parameters
        .iter()
        .flatten()
        .filter_map(location)
        .chain(path_level.iter().cloned())
        .collect();
    let has_path = params.iter().any(|p| matches!(p, ParameterIn::Path));
    let has_query = params.iter().any(|p| matches!(p, ParameterIn::Query));
    let has_body = op.request_body.is_some();

    if is_authenticated(op) {
        add(
            op,
            "401",
            "`unauthenticated`: no credential, or a bad, expired or revoked one",
        );
        add(
            op,
            "403",
            "`creator_only` / `staff_only` (the other kind of account), `tenant_suspended` \
             (writes of a suspended workspace), `forbidden_role` (the role is below what the \
             action needs; `details.required_role`) or `staff_readonly`",
        );
    }
    if has_path {
        add(
            op,
            "404",
            "`not_found`: no such object in this workspace (another tenant's is the same)",
        );
    }
    if has_body {
        add(op, "413", "`body_too_large`: the body is over 1 MiB");
    }
    if has_path || has_query || has_body {
        add(
            op,
            "422",
            "`invalid_path` / `invalid_query` (the parameter in `fields`), `invalid_json`, \
             `unsupported_media_type` or `validation_failed` (each field at fault in `fields`)",
        );
    }
}

fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| RefOr::T(error_response(description)));
}

/// A response with the error envelope.
pub fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}
