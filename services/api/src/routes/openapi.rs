//! The OpenAPI 3.1 document of the API, generated from the code: each handler's `#[utoipa::path]`
//! (path, parameters, bodies, success answers) and the wire types' schemas, completed from the
//! route table (`OPERATIONS`): the bearer scheme with the roles each operation accepts (OpenAPI
//! 3.1 lets a non-OAuth requirement list role names), and the problem answers every operation may
//! give. Served at `GET /openapi.json`, committed as `docs/openapi.json` (a test fails when the two
//! differ), read by `/docs`.

use super::*;
use crate::operation::Operation;
use gpubill_domain::access::{Access, Role};
use gpubill_schema::api::Problem;
use utoipa::openapi::Required;
use utoipa::openapi::path::{
    HttpMethod, Operation as Op, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi, ToSchema};

/// The name of the security scheme: `Authorization: Bearer gpb_<role>_<64 hex digits>`.
pub const BEARER: &str = "api_key";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gpubill",
        description = "Usage metering, billing and quota for a GPU cloud. Every route but /healthz, /readyz, /openapi.json and /docs needs an API key (`Authorization: Bearer gpb_<role>_…`); each operation's security requirement lists the roles that may call it. Errors are RFC 9457 problems (`application/problem+json`) with a stable `code` (docs/errors.md). Lists come in pages: `{data, next_cursor}`.",
        license(name = "Apache-2.0")
    ),
    paths(
        healthz::healthz,
        readyz::readyz,
        usage::usage,
        overview::tenant_overview,
        portal_session_create::portal_session_create,
        missing_usage::missing_usage,
        invoice_list::invoice_list,
        invoice_draft::invoice_draft,
        invoice_finalize::invoice_finalize,
        invoice_get::invoice_get,
        invoice_void::invoice_void,
        credit_note_get::credit_note_get,
        document_file::invoice_e_invoice,
        document_file::invoice_pdf,
        document_file::credit_note_e_invoice,
        document_file::credit_note_pdf,
        export_fec::export_fec,
        export_fec::export_fec_description,
        export_journal::export_journal,
        export_focus::export_focus,
        export_focus::export_focus_tenant,
        export_trial_balance::export_trial_balance,
        credit_balance::credit,
        credit_grant::credit_grant,
        contract_get::contract_get,
        contract_put::contract_put,
        billing_profile::billing_profile_get,
        billing_profile::billing_profile_put,
        price_book::price_book,
        allocation_create::allocation_create,
        allocation_get::allocation_get,
        allocation_release::allocation_release,
        allocation_list::allocation_list,
        quota_check::quota_check,
        node_state::node_state,
        node_allocations::node_allocations,
        reconciliation::reconciliation,
        key_create::key_create,
        key_list::key_list,
        key_revoke::key_revoke,
        audit_list::audit_list,
        metrics_text::metrics,
        document,
        reference,
    ),
    components(schemas(Problem)),
    modifiers(&FromRouteTable)
)]
pub struct ApiDoc;

/// The document, as served and committed.
pub fn document_json() -> Result<String, serde_json::Error> {
    ApiDoc::openapi().to_pretty_json().map(|json| json + "\n")
}

/// Security and problem answers from the route table.
struct FromRouteTable;

impl Modify for FromRouteTable {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.bearer_format = Some("gpb_<role>_<64 hex digits>".into());
        bearer.description = Some(
            "An API key. Roles: admin, finance, tenant (one tenant), node (one node), portal (one tenant, read-only, short-lived).".into(),
        );
        components.add_security_scheme(BEARER, SecurityScheme::Http(bearer));
        let body_operations = [Method::POST, Method::PUT];
        for op in OPERATIONS.iter() {
            let Some(item) = doc.paths.paths.get_mut(op.path) else {
                continue;
            };
            let operation = match http_method(&op.method) {
                Some(HttpMethod::Get) => item.get.as_mut(),
                Some(HttpMethod::Post) => item.post.as_mut(),
                Some(HttpMethod::Put) => item.put.as_mut(),
                _ => None,
            };
            if let Some(operation) = operation {
                secure(operation, op);
                problems(operation, op, body_operations.contains(&op.method));
                if op.takes_idempotency_key() {
                    operation
                        .parameters
                        .get_or_insert_with(Vec::new)
                        .push(idempotency_key());
                }
            }
        }
    }
}

fn http_method(method: &Method) -> Option<HttpMethod> {
    match *method {
        Method::GET => Some(HttpMethod::Get),
        Method::POST => Some(HttpMethod::Post),
        Method::PUT => Some(HttpMethod::Put),
        _ => None,
    }
}

/// The roles `op` accepts, as its security requirement; none for a public operation.
fn secure(operation: &mut Op, op: &Operation) {
    operation.security = Some(if op.access == Access::Public {
        vec![SecurityRequirement::default()]
    } else {
        let roles = Role::ALL
            .into_iter()
            .filter(|role| op.access.allows(*role))
            .map(Role::code);
        vec![SecurityRequirement::new(BEARER, roles)]
    });
}

/// The problem answers `op` may give besides its own.
fn problems(operation: &mut Op, op: &Operation, has_body: bool) {
    let public = op.access == Access::Public;
    let mut statuses: Vec<(&str, &str)> = vec![
        ("400", "Bad request: a parameter, the body or the URL"),
        ("404", "Not found (or not visible to this key)"),
        ("405", "Method not allowed on this path"),
        ("414", "Path or query string too long"),
        (
            "503",
            "The ledger, the keys or the scheduler is unavailable",
        ),
    ];
    if !public {
        statuses.push(("401", "No usable API key"));
        statuses.push(("403", "This key's role may not call this operation"));
        statuses.push(("409", "Refused by the state of the ledger or the scheduler"));
        statuses.push(("422", "Well-formed but refused"));
    }
    if has_body {
        statuses.push(("413", "Body too large"));
        statuses.push(("415", "Body not JSON"));
    }
    for (status, description) in statuses {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(problem_response(description)));
    }
}

/// The `Idempotency-Key` header of the POSTs that change state.
fn idempotency_key() -> Parameter {
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Retry safely: the first answer under this key (per API key, for 24 hours) is given again for the same request, with `Idempotent-Replayed: true`; another request under it is 409.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(200)),
        ))
        .build()
}

fn problem_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            gpubill_schema::api::PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(Ref::from_schema_name(Problem::name()))))
                .build(),
        )
        .build()
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "reference",
    summary = "This document",
    operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn document() -> Result<actix_web::HttpResponse, ApiError> {
    let json = document_json().map_err(|error| ApiError::Internal(error.to_string()))?;
    Ok(actix_web::HttpResponse::Ok()
        .content_type("application/json")
        .body(json))
}

/// A page that reads the document and shows it, from assets in the binary (no network).
#[utoipa::path(
    get,
    path = "/docs",
    tag = "reference",
    summary = "The API's reference, for people",
    operation_id = "docs",
    responses((status = 200, description = "An HTML page", content_type = "text/html"))
)]
pub async fn reference() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
        ))
        .body(include_str!("reference.html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_the_route_table_is_in_the_document_with_its_roles() {
        let doc = ApiDoc::openapi();
        for op in OPERATIONS.iter() {
            let item = doc
                .paths
                .paths
                .get(op.path)
                .unwrap_or_else(|| panic!("{} {} is not in the document", op.method, op.path));
            let operation = match op.method.as_str() {
                "GET" => item.get.as_ref(),
                "POST" => item.post.as_ref(),
                "PUT" => item.put.as_ref(),
                _ => None,
            }
            .unwrap_or_else(|| panic!("{} {} is not in the document", op.method, op.path));
            let security = serde_json::to_value(&operation.security).unwrap_or_default();
            let roles: Vec<&str> = Role::ALL
                .into_iter()
                .filter(|role| op.access.allows(*role))
                .map(Role::code)
                .collect();
            if op.access == Access::Public {
                assert_eq!(security, serde_json::json!([{}]), "{}", op.path);
            } else {
                assert_eq!(
                    security,
                    serde_json::json!([{ BEARER: roles }]),
                    "{}",
                    op.path
                );
            }
        }
        let documented: usize = doc
            .paths
            .paths
            .values()
            .map(|item| {
                [&item.get, &item.post, &item.put]
                    .iter()
                    .filter(|o| o.is_some())
                    .count()
            })
            .sum();
        assert_eq!(documented, OPERATIONS.len(), "no operation without a route");
    }

    #[test]
    fn the_committed_document_is_the_generated_one() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == document_json().unwrap(),
            "docs/openapi.json differs from the code's document: run `cargo run --bin gpubill -- openapi > docs/openapi.json` and commit it"
        );
    }
}
