//! `/api/v1/credentials` and `/api/v1/organization`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::problem::FieldProblem;
use super::schema;
use super::{ApiActor, Json, Problem, idempotency};
use crate::domain::{ClientId, CredentialStatus, Grace};
use crate::http::views::iso_time;
use crate::keys::to_hex;
use crate::service::credentials::{self as use_case, CreateOutcome};
use crate::service::organization;
use crate::state::AppState;
use crate::storage::credentials::Credential;

mod body;
pub(in crate::http::api) use body::problem_fields;
pub use body::{CredentialChanges, NewCredential};

type ApiResult = Result<Response, Problem>;

/// A credential as the API shows it. Never its secret.
#[derive(Serialize, ToSchema)]
#[schema(as = Credential)]
pub struct CredentialJson {
    #[schema(example = "kwid_4Zr8Qx0aVb1Lm2Nc3Pd5Re")]
    client_id: String,
    #[schema(example = "Fraud scoring")]
    name: String,
    description: Option<String>,
    /// The organization's main credential; it cannot be deleted.
    primary: bool,
    /// `enabled` or `disabled`.
    #[schema(value_type = String, example = "enabled")]
    status: &'static str,
    /// `wallets`, `transactions`, `controls` or `monitoring`.
    #[schema(value_type = String, example = "transactions")]
    permission_set: &'static str,
    /// OAuth scopes, `type:action:scope[:resource]`.
    #[schema(example = json!(["balances:read:org", "transactions:read:org"]))]
    permissions: Vec<String>,
    /// `["0.0.0.0/0"]` for all addresses.
    #[schema(example = json!(["203.0.113.0/24"]))]
    ip_allowlist: Vec<String>,
    /// The last four characters of the current secret.
    secret_hint: Option<String>,
    /// RFC 3339.
    created_at: String,
    created_by: String,
    last_rotated_at: Option<String>,
    last_used_at: Option<String>,
    /// Where GitHub secret scanning reported its secret leaked (the
    /// credential was disabled then), and when.
    leak_url: Option<String>,
    leaked_at: Option<String>,
    /// When it stops getting tokens (RFC 3339, the end of its expiry date,
    /// UTC); `null` if it never expires.
    expires_at: Option<String>,
}

impl From<Credential> for CredentialJson {
    fn from(c: Credential) -> CredentialJson {
        CredentialJson {
            client_id: c.client_id.to_string(),
            status: match c.status {
                CredentialStatus::Enabled => "enabled",
                CredentialStatus::Disabled => "disabled",
            },
            permission_set: c.permission_set.key(),
            permissions: c.permissions.scopes(),
            ip_allowlist: c.ip_allowlist.entries(),
            secret_hint: c.secret_hint,
            created_at: iso_time(c.created_at),
            created_by: c.created_by,
            last_rotated_at: c.last_rotated_at.map(iso_time),
            last_used_at: c.last_used_at.map(iso_time),
            leak_url: c.leak_url,
            leaked_at: c.leaked_at.map(iso_time),
            expires_at: c.expires_at.map(iso_time),
            name: c.name,
            description: c.description,
            primary: c.is_primary,
        }
    }
}

/// A JSON response that never lands in a cache.
pub(super) fn json(status: StatusCode, body: &impl Serialize) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = (status, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A digest of a body, as an `ETag` for reads with no version of their own.
pub(super) fn body_etag(body: &impl Serialize) -> String {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    to_hex(&Sha256::digest(&bytes)[..12])
}

/// A read with a strong `ETag`; `If-None-Match` with it answers 304.
pub(super) fn with_etag(request: &HeaderMap, tag: &str, body: &impl Serialize) -> Response {
    let etag = format!("\"{tag}\"");
    let matches = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        json(StatusCode::OK, body)
    };
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The version an `If-Match` header names; `None` without one (or `*`).
fn if_match(request: &HeaderMap) -> Option<String> {
    let value = request.get(header::IF_MATCH)?.to_str().ok()?.trim();
    if value == "*" {
        return None;
    }
    Some(value.trim_start_matches("W/").trim_matches('"').to_owned())
}

/// One credential with its version as the `ETag`.
async fn credential_response(
    state: &AppState,
    actor: &crate::service::Actor,
    client_id: &ClientId,
    request: &HeaderMap,
) -> ApiResult {
    let credential = use_case::get(state, actor, client_id).await?;
    let version = use_case::version(&credential);
    Ok(with_etag(
        request,
        &version,
        &CredentialJson::from(credential),
    ))
}

fn client_id(raw: &str) -> Result<ClientId, Problem> {
    ClientId::parse(raw).ok_or_else(Problem::not_found)
}

/// The organization's credentials, primary first.
#[derive(Serialize, ToSchema)]
pub struct CredentialList {
    data: Vec<CredentialJson>,
}

#[utoipa::path(get, path = "/api/v1/credentials", tag = "Credentials",
    summary = "List credentials",
    params(("If-None-Match" = Option<String>, Header, description = "An ETag of an earlier read: 304 while nothing changed")),
    responses(
        (status = 200, description = "The credentials", body = CredentialList, headers(("ETag" = String))),
        (status = 304, description = "Not modified since the ETag"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    headers: HeaderMap,
) -> ApiResult {
    let overview = use_case::overview(&state, &actor).await?;
    let data: Vec<CredentialJson> = overview
        .credentials
        .into_iter()
        .map(|card| card.credential.into())
        .collect();
    let list = CredentialList { data };
    Ok(with_etag(&headers, &body_etag(&list), &list))
}

#[utoipa::path(get, path = "/api/v1/credentials/{client_id}", tag = "Credentials",
    summary = "Get a credential",
    params(("client_id" = String, Path, description = "The credential's client ID"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag of an earlier read: 304 while nothing changed")),
    responses(
        (status = 200, description = "The credential; its ETag is its version, for If-Match", body = CredentialJson, headers(("ETag" = String))),
        (status = 304, description = "Not modified since the ETag"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such credential in the token's organization", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    credential_response(&state, &actor, &client_id(&raw)?, &headers).await
}

/// A new credential with its secret, which this response alone shows.
#[derive(Serialize, ToSchema)]
#[schema(as = CreatedCredential)]
pub struct Created {
    #[serde(flatten)]
    credential: CredentialJson,
    /// Shown in this response only: store it now.
    #[schema(example = "kws_live_…")]
    client_secret: String,
}

/// Approval is required: the create became a request an owner decides.
#[derive(Serialize, ToSchema)]
pub struct Requested {
    request_id: String,
    name: String,
    #[schema(value_type = String, example = "pending")]
    status: &'static str,
}

#[utoipa::path(post, path = "/api/v1/credentials", tag = "Credentials",
    summary = "Create a credential",
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Any unique value, such as a UUID: a retry with it within 24 hours makes no second credential (409 with the first one's client ID)")),
    request_body = NewCredential,
    responses(
        (status = 201, description = "Created; the secret is in this response only", body = Created, headers(("Location" = String))),
        (status = 202, description = "Approval is required: a request was made", body = Requested),
        (status = 400, description = "Not the JSON this operation takes, or a malformed Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token or its user may not create credentials, or a Trial organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The limit of 3 is reached, the name is taken, or this Idempotency-Key made a credential already (`replay.result` is its client ID)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body larger than 16 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid (`errors` names it), or the Idempotency-Key was used for another request", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    headers: HeaderMap,
    Json(body, digest): Json<NewCredential>,
) -> ApiResult {
    let once = idempotency(&headers, "create", &digest)?;
    let (draft, justification) = body.draft(state.now())?;
    match use_case::create_once(
        &state,
        &actor,
        &draft,
        justification.as_ref(),
        once.as_ref(),
    )
    .await?
    {
        CreateOutcome::Created(created) => created_response(*created),
        CreateOutcome::Requested { request_id, name } => Ok(json(
            StatusCode::ACCEPTED,
            &Requested {
                request_id: request_id.to_string(),
                name,
                status: "pending",
            },
        )),
    }
}

/// 201 with the credential and its secret, which this response alone shows.
pub(super) fn created_response(created: use_case::Created) -> ApiResult {
    let body = Created {
        client_secret: created.secret.expose().to_owned(),
        credential: created.credential.into(),
    };
    let mut response = json(StatusCode::CREATED, &body);
    if let Ok(location) =
        HeaderValue::from_str(&format!("/api/v1/credentials/{}", created.client_id))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotate {
    #[serde(default)]
    #[schema(schema_with = schema::grace_seconds)]
    grace_seconds: i64,
}

/// The new secret, shown in this response only.
#[derive(Serialize, ToSchema)]
#[schema(as = Rotated)]
pub struct RotatedJson {
    client_id: String,
    /// Shown in this response only.
    client_secret: String,
    previous_secret_valid_until: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/credentials/{client_id}/rotate", tag = "Credentials",
    summary = "Rotate a credential's secret",
    description = "A new secret, the same client ID. With a grace window the previous secret keeps working until it ends.",
    params(("client_id" = String, Path, description = "The credential's client ID"),
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Any unique value, such as a UUID: a retry with it within 24 hours makes no second rotation (409)")),
    request_body = Rotate,
    responses(
        (status = 200, description = "Rotated; the new secret is in this response only", body = RotatedJson),
        (status = 400, description = "Not the JSON this operation takes", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token or its user may not change credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such credential in the token's organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Rotated already with this Idempotency-Key (`replay` says when)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not one of the grace windows, or the Idempotency-Key was used for another request", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn rotate(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(raw): Path<String>,
    headers: HeaderMap,
    Json(body, digest): Json<Rotate>,
) -> ApiResult {
    let client_id = client_id(&raw)?;
    let once = idempotency(&headers, &format!("rotate {client_id}"), &digest)?;
    let grace = Grace::parse(&body.grace_seconds.to_string()).ok_or_else(|| {
        Problem::validation(vec![FieldProblem {
            field: "grace_seconds".to_owned(),
            message: "Choose 0, 3600 (1 hour), 86400 (24 hours) or 604800 (7 days).".to_owned(),
        }])
    })?;
    let rotated = use_case::rotate_once(&state, &actor, &client_id, grace, once.as_ref()).await?;
    Ok(json(
        StatusCode::OK,
        &RotatedJson {
            client_id: rotated.client_id.to_string(),
            client_secret: rotated.secret.expose().to_owned(),
            previous_secret_valid_until: rotated.previous_valid_until.map(iso_time),
        },
    ))
}

#[utoipa::path(delete, path = "/api/v1/credentials/{client_id}", tag = "Credentials",
    summary = "Delete a credential",
    params(("client_id" = String, Path, description = "The credential's client ID")),
    responses(
        (status = 204, description = "Deleted: it gets no tokens, and its tokens turn inactive"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token or its user may not change credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such credential in the token's organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The primary credential cannot be deleted", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(raw): Path<String>,
) -> ApiResult {
    use_case::delete(&state, &actor, &client_id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Approval is required for a widening change: a request was made.
#[derive(Serialize, ToSchema)]
pub struct ChangeRequested {
    request_id: String,
    #[schema(value_type = String, example = "pending")]
    status: &'static str,
}

/// Edits a credential. With `If-Match`, only if it is still the version read.
#[utoipa::path(patch, path = "/api/v1/credentials/{client_id}", tag = "Credentials",
    summary = "Edit a credential",
    description = "Name, description, permissions and IP addresses; fields left out stay. With If-Match, only if the credential is still the version read (its ETag). With approval required, a change that widens permissions or addresses becomes a request.",
    params(("client_id" = String, Path, description = "The credential's client ID"),
        ("If-Match" = Option<String>, Header, description = "The ETag read: 412 if it changed since")),
    request_body = CredentialChanges,
    responses(
        (status = 200, description = "Saved", body = CredentialJson, headers(("ETag" = String))),
        (status = 202, description = "Approval is required: a request was made", body = ChangeRequested),
        (status = 400, description = "Not the JSON this operation takes", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token or its user may not change credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such credential in the token's organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed since the version in If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(raw): Path<String>,
    headers: HeaderMap,
    Json(changes, _): Json<CredentialChanges>,
) -> ApiResult {
    let client_id = client_id(&raw)?;
    crate::service::may_edit_credentials(&actor, organization::get(&state, &actor).await?.plan)?;
    // Only the fields sent are parsed here; the use case puts them onto the
    // credential as it is under the organization's lock.
    let (patch, justification) = changes.patch(state.now())?;
    let expected = if_match(&headers);
    match use_case::update(
        &state,
        &actor,
        &client_id,
        &patch,
        justification.as_ref(),
        expected.as_deref(),
    )
    .await?
    {
        use_case::Updated::Saved => {
            credential_response(&state, &actor, &client_id, &HeaderMap::new()).await
        }
        use_case::Updated::Requested { request_id } => Ok(json(
            StatusCode::ACCEPTED,
            &ChangeRequested {
                request_id: request_id.to_string(),
                status: "pending",
            },
        )),
    }
}

/// The one-step changes of a credential.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialAction {
    /// No new tokens; tokens already issued work until they expire.
    Disable,
    Enable,
    /// The organization's main credential (the previous primary is no longer).
    MakePrimary,
    /// Ends a rotation's grace window now.
    ExpirePrevious,
}

/// `disable`, `enable`, `make-primary` and `expire-previous`: each answers
/// the credential as it is afterwards.
#[utoipa::path(post, path = "/api/v1/credentials/{client_id}/{action}", tag = "Credentials",
    summary = "Disable, enable, make primary, or expire the previous secret",
    params(("client_id" = String, Path, description = "The credential's client ID"),
        ("action" = CredentialAction, Path, description = "What to do")),
    responses(
        (status = 200, description = "Done; the credential as it is now", body = CredentialJson),
        (status = 401, description = "Missing or invalid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token or its user may not change credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such credential or action", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn action(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((raw, action)): Path<(String, String)>,
) -> ApiResult {
    let client_id = client_id(&raw)?;
    let action: CredentialAction = serde_json::from_value(serde_json::Value::String(action))
        .map_err(|_| Problem::not_found())?;
    match action {
        CredentialAction::Disable => {
            use_case::set_status(&state, &actor, &client_id, CredentialStatus::Disabled).await?;
        }
        CredentialAction::Enable => {
            use_case::set_status(&state, &actor, &client_id, CredentialStatus::Enabled).await?;
        }
        CredentialAction::MakePrimary => {
            use_case::make_primary(&state, &actor, &client_id).await?;
        }
        CredentialAction::ExpirePrevious => {
            use_case::expire_previous(&state, &actor, &client_id).await?;
        }
    }
    credential_response(&state, &actor, &client_id, &HeaderMap::new()).await
}
