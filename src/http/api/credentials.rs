//! `/api/v1/credentials` and `/api/v1/organization`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::problem::FieldProblem;
use super::{ApiActor, Json, Problem};
use crate::domain::credential::{CredentialName, Description};
use crate::domain::ip::IpAllowlist;
use crate::domain::permission::{Permission, Permissions, SetType};
use crate::domain::{ClientId, CredentialStatus, FieldError, Grace, Justification};
use crate::http::views::iso_time;
use crate::service::credentials::{self as use_case, CreateOutcome, Draft};
use crate::service::organization;
use crate::state::AppState;
use crate::storage::credentials::Credential;

type ApiResult = Result<Response, Problem>;

/// A credential as the API shows it. Never its secret.
#[derive(Serialize)]
pub struct CredentialJson {
    client_id: String,
    name: String,
    description: Option<String>,
    primary: bool,
    status: &'static str,
    permission_set: &'static str,
    permissions: Vec<String>,
    /// `["0.0.0.0/0"]` for all addresses.
    ip_allowlist: Vec<String>,
    /// The last four characters of the current secret.
    secret_hint: Option<String>,
    created_at: String,
    created_by: String,
    last_rotated_at: Option<String>,
    last_used_at: Option<String>,
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
            permissions: c.permissions.iter().map(ToString::to_string).collect(),
            ip_allowlist: c
                .ip_allowlist
                .to_stored()
                .split(' ')
                .map(str::to_owned)
                .collect(),
            secret_hint: c.secret_hint,
            created_at: iso_time(c.created_at),
            created_by: c.created_by,
            last_rotated_at: c.last_rotated_at.map(iso_time),
            last_used_at: c.last_used_at.map(iso_time),
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
fn body_etag(body: &impl Serialize) -> String {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    Sha256::digest(&bytes)
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A read with a strong `ETag`; `If-None-Match` with it answers 304.
fn with_etag(request: &HeaderMap, tag: &str, body: &impl Serialize) -> Response {
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

#[derive(Serialize)]
struct List<T> {
    data: Vec<T>,
}

pub async fn list(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    headers: HeaderMap,
) -> ApiResult {
    let overview = use_case::overview(&state, &actor).await?;
    let data: Vec<CredentialJson> = overview.credentials.into_iter().map(Into::into).collect();
    let list = List { data };
    Ok(with_etag(&headers, &body_etag(&list), &list))
}

pub async fn get(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(raw): Path<String>,
    headers: HeaderMap,
) -> ApiResult {
    credential_response(&state, &actor, &client_id(&raw)?, &headers).await
}

/// The body of a create: the New Credential dialog's fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    name: String,
    #[serde(default)]
    description: Option<String>,
    permission_set: String,
    /// OAuth scopes, `type:action:scope[:resource]`.
    permissions: Vec<String>,
    /// Addresses or CIDR ranges; `["0.0.0.0/0"]` for all.
    ip_allowlist: Vec<String>,
    /// Required when the organization requires approval and the caller is not an owner.
    #[serde(default)]
    justification: Option<String>,
}

fn field(errors: &mut Vec<FieldProblem>, error: FieldError) {
    errors.push(FieldProblem {
        field: error.field.to_owned(),
        message: error.message,
    });
}

/// Field errors of a form-shaped check, as problem fields.
pub(super) fn problem_fields(errors: Vec<FieldError>) -> Vec<FieldProblem> {
    let mut out = Vec::new();
    for error in errors {
        field(&mut out, error);
    }
    out
}

impl NewCredential {
    /// The draft, or every field's message.
    fn draft(&self) -> Result<(Draft, Option<Justification>), Problem> {
        let mut errors = Vec::new();
        let name = CredentialName::parse(&self.name)
            .map_err(|e| field(&mut errors, e))
            .ok();
        let description = Description::parse(self.description.as_deref().unwrap_or(""))
            .map_err(|e| field(&mut errors, e))
            .ok();
        let set = SetType::parse(&self.permission_set);
        if set.is_none() {
            errors.push(FieldProblem {
                field: "permission_set".to_owned(),
                message:
                    "Choose a permission set type: wallets, transactions, controls or monitoring."
                        .to_owned(),
            });
        }
        let permissions = self
            .permissions
            .iter()
            .map(|p| Permission::parse(p))
            .collect::<Result<Vec<_>, _>>()
            .and_then(Permissions::new)
            .map_err(|e| field(&mut errors, e))
            .ok();
        let ips = if self
            .ip_allowlist
            .iter()
            .map(String::as_str)
            .eq(["0.0.0.0/0"])
        {
            Some(IpAllowlist::All)
        } else {
            match IpAllowlist::parse_limited(&self.ip_allowlist.join("\n")) {
                Ok((list, _)) => Some(list),
                Err(list) => {
                    for e in list {
                        errors.push(FieldProblem {
                            field: match e.line {
                                Some(line) => format!("ip_allowlist[{}]", line - 1),
                                None => "ip_allowlist".to_owned(),
                            },
                            message: e.message,
                        });
                    }
                    None
                }
            }
        };
        let justification = match self.justification.as_deref() {
            Some(text) => Justification::parse(text)
                .map_err(|e| field(&mut errors, e))
                .ok(),
            None => None,
        };
        match (name, description, set, permissions, ips) {
            (Some(name), Some(description), Some(set), Some(permissions), Some(ips))
                if errors.is_empty() =>
            {
                Ok((
                    Draft {
                        name,
                        description,
                        set,
                        permissions,
                        ips,
                    },
                    justification,
                ))
            }
            _ => Err(Problem::validation(errors)),
        }
    }
}

#[derive(Serialize)]
struct Created {
    #[serde(flatten)]
    credential: CredentialJson,
    /// Shown in this response only.
    client_secret: String,
}

#[derive(Serialize)]
struct Requested {
    request_id: String,
    name: String,
    status: &'static str,
}

pub async fn create(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Json(body): Json<NewCredential>,
) -> ApiResult {
    let (draft, justification) = body.draft()?;
    match use_case::create(&state, &actor, &draft, justification.as_ref()).await? {
        CreateOutcome::Created(created) => created_response(&state, &actor, created).await,
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
pub(super) async fn created_response(
    state: &AppState,
    actor: &crate::service::Actor,
    created: use_case::Created,
) -> ApiResult {
    let credential = use_case::get(state, actor, &created.client_id).await?;
    let body = Created {
        credential: credential.into(),
        client_secret: created.secret.expose().to_owned(),
    };
    let mut response = json(StatusCode::CREATED, &body);
    if let Ok(location) =
        HeaderValue::from_str(&format!("/api/v1/credentials/{}", created.client_id))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Rotate {
    /// How long the previous secret keeps working: 0 (default), 3600, 86400 or 604800.
    #[serde(default)]
    grace_seconds: i64,
}

#[derive(Serialize)]
struct RotatedJson {
    client_id: String,
    /// Shown in this response only.
    client_secret: String,
    previous_secret_valid_until: Option<String>,
}

pub async fn rotate(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(raw): Path<String>,
    Json(body): Json<Rotate>,
) -> ApiResult {
    let client_id = client_id(&raw)?;
    let grace = Grace::parse(&body.grace_seconds.to_string()).ok_or_else(|| {
        Problem::validation(vec![FieldProblem {
            field: "grace_seconds".to_owned(),
            message: "Choose 0, 3600 (1 hour), 86400 (24 hours) or 604800 (7 days).".to_owned(),
        }])
    })?;
    let rotated = use_case::rotate(&state, &actor, &client_id, grace).await?;
    Ok(json(
        StatusCode::OK,
        &RotatedJson {
            client_id: rotated.client_id.to_string(),
            client_secret: rotated.secret.expose().to_owned(),
            previous_secret_valid_until: rotated.previous_valid_until.map(iso_time),
        },
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(raw): Path<String>,
) -> ApiResult {
    use_case::delete(&state, &actor, &client_id(&raw)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Serialize)]
struct OrganizationJson {
    name: String,
    plan: &'static str,
    require_approval: bool,
}

pub async fn organization(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    headers: HeaderMap,
) -> ApiResult {
    let org = organization::get(&state, &actor).await?;
    let body = OrganizationJson {
        name: org.name,
        plan: org.plan.as_str(),
        require_approval: org.require_approval,
    };
    Ok(with_etag(&headers, &body_etag(&body), &body))
}

/// The body of an update: any of the editable fields; the rest stay.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialChanges {
    name: Option<String>,
    /// `null` or `""` removes the description.
    #[serde(default, with = "double_option")]
    description: Option<Option<String>>,
    permission_set: Option<String>,
    permissions: Option<Vec<String>>,
    ip_allowlist: Option<Vec<String>>,
    justification: Option<String>,
}

/// Tells a missing field (`None`) from an explicit `null` (`Some(None)`).
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

#[derive(Serialize)]
struct ChangeRequested {
    request_id: String,
    status: &'static str,
}

/// Edits a credential. With `If-Match`, only if it is still the version read.
pub async fn update(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(raw): Path<String>,
    headers: HeaderMap,
    Json(changes): Json<CredentialChanges>,
) -> ApiResult {
    let client_id = client_id(&raw)?;
    crate::service::may_edit_credentials(&actor, organization::get(&state, &actor).await?.plan)?;
    let current = use_case::get(&state, &actor, &client_id).await?;
    let merged = NewCredential {
        name: changes.name.unwrap_or(current.name),
        description: match changes.description {
            Some(description) => description,
            None => current.description,
        },
        permission_set: changes
            .permission_set
            .unwrap_or_else(|| current.permission_set.key().to_owned()),
        permissions: changes.permissions.unwrap_or_else(|| {
            current
                .permissions
                .iter()
                .map(ToString::to_string)
                .collect()
        }),
        ip_allowlist: changes.ip_allowlist.unwrap_or_else(|| {
            current
                .ip_allowlist
                .to_stored()
                .split(' ')
                .map(str::to_owned)
                .collect()
        }),
        justification: changes.justification,
    };
    let (draft, justification) = merged.draft()?;
    let expected = if_match(&headers);
    match use_case::update(
        &state,
        &actor,
        &client_id,
        &draft,
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

/// `disable`, `enable`, `make-primary` and `expire-previous`: each answers
/// the credential as it is afterwards.
pub async fn action(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((raw, action)): Path<(String, String)>,
) -> ApiResult {
    let client_id = client_id(&raw)?;
    match action.as_str() {
        "disable" => {
            use_case::set_status(&state, &actor, &client_id, CredentialStatus::Disabled).await?;
        }
        "enable" => {
            use_case::set_status(&state, &actor, &client_id, CredentialStatus::Enabled).await?;
        }
        "make-primary" => {
            use_case::make_primary(&state, &actor, &client_id).await?;
        }
        "expire-previous" => {
            use_case::expire_previous(&state, &actor, &client_id).await?;
        }
        _ => return Err(Problem::not_found()),
    }
    credential_response(&state, &actor, &client_id, &HeaderMap::new()).await
}
