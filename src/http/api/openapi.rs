//! The OpenAPI 3.1 document of `/api/v1`, generated from the handlers and
//! types themselves, served at `/api/v1/openapi.json`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{credentials, org, webhooks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keyward management API",
        version = "1",
        description = "Manage an organization's API credentials as code. Authenticate with a personal access token from the Account page: `Authorization: Bearer kwpat_…`. A token acts as its user in one organization, at most at its level (read, or write where its user may edit credentials). Errors are RFC 9457 problem details with a stable `type`."
    ),
    paths(
        credentials::list,
        credentials::create,
        credentials::get,
        credentials::update,
        credentials::delete,
        credentials::rotate,
        credentials::action,
        org::organization,
        org::list_requests,
        org::reject,
        org::request_action,
        org::events,
        org::members,
        org::invitations,
        webhooks::list,
        webhooks::create,
        webhooks::get,
        webhooks::update,
        webhooks::delete,
        webhooks::rotate_secret,
        webhooks::deliveries,
        webhooks::resend,
        webhooks::send_test,
    ),
    components(schemas(
        super::Problem,
        super::problem::FieldProblem,
        credentials::CredentialAction,
        org::RequestAction,
    )),
    modifiers(&BearerToken, &RateLimited),
    security(("personal_access_token" = [])),
    tags(
        (name = "Credentials", description = "OAuth 2.0 client credentials: at most 3 per organization, one primary."),
        (name = "Credential requests", description = "With approval required, administrators' new credentials and widening edits wait for an owner."),
        (name = "Audit log", description = "Every change, by whom, from where."),
        (name = "Organization", description = "The token's organization and its members."),
        (name = "Webhooks", description = "Owners only, with a read and write token. Events posted to your endpoints, signed as Standard Webhooks defines, retried for 3 days."),
    )
)]
pub struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "personal_access_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("kwpat_")
                    .description(Some("A personal access token from the Account page."))
                    .build(),
            ),
        );
    }
}

/// Every operation with a token can be rate limited: 429, and the
/// `RateLimit-Policy` and `RateLimit` fields on its answers.
struct RateLimited;

impl Modify for RateLimited {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let text = |description: &str| {
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::String))
                .description(Some(description))
                .build()
        };
        let refused = ResponseBuilder::new()
            .description("Too many requests with this token: wait for Retry-After (seconds)")
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .header("Retry-After", text("Seconds to wait"))
            .build();
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                operation
                    .responses
                    .responses
                    .entry("429".to_owned())
                    .or_insert_with(|| refused.clone().into());
                for response in operation.responses.responses.values_mut() {
                    if let utoipa::openapi::RefOr::T(response) = response {
                        response.headers.insert(
                            "RateLimit-Policy".to_owned(),
                            text("The token's quota: `\"per-token\";q=<requests>;w=60`"),
                        );
                        response.headers.insert(
                            "RateLimit".to_owned(),
                            text("What is left of it: `\"per-token\";r=<remaining>;t=<seconds>`"),
                        );
                    }
                }
            }
        }
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
