//! Settings > Credentials: the list, and the dialogs to create, edit, rotate,
//! make primary and delete a credential, with the one-time secret reveal.
//!
//! Every dialog URL serves two ways: to htmx as a `<dialog>` fragment (the
//! page's `dialog` block), and without JavaScript as a full page with the
//! same markup, its forms posting and redirecting. The reveal is the one
//! exception to post-redirect-get: the POST renders it, because the secret
//! must exist in exactly one response.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::config::Environment;
use crate::domain::credential::{
    self, CredentialName, Description, LIMIT_MESSAGE, MAX_CREDENTIALS, Secret,
};
use crate::domain::ip::IpAllowlist;
use crate::domain::permission::{
    self, MAX_PERMISSIONS, Part, Permission, Permissions, SET_TYPES, SetType,
};
use crate::domain::{FieldError, FieldErrors, Plan};
use crate::error::{AppError, AppResult};
use crate::http::audit::{self, EventExt};
use crate::http::form::Form;
use crate::http::htmx::{HxEvent, HxRequest, html, trigger};
use crate::http::meta::RequestMeta;
use crate::http::session::OrgContext;
use crate::http::views::{Layout, Nav, absolute_time, iso_time, relative_time};
use crate::random;
use crate::state::AppState;
use crate::storage::credentials::{
    self as repo, Changes, Created, Credential, NewCredential, Renamed,
};
use crate::storage::requests::{self, NewRequest, Request};
use crate::storage::{self};

pub fn router() -> Router<AppState> {
    let id = |suffix: &str| format!("/settings/credentials/{{client_id}}/{suffix}");
    let request = |suffix: &str| format!("/settings/credentials/requests/{{request_id}}/{suffix}");
    Router::new()
        .route(
            "/settings",
            get(|| async { Redirect::to("/settings/credentials") }),
        )
        .route("/settings/credentials", get(show).post(create))
        .route("/settings/credentials/new", get(new_form))
        .route(&id("edit"), get(edit_form).post(edit))
        .route(&id("rotate"), get(confirm_rotate).post(rotate))
        .route(&id("make-primary"), post(make_primary))
        .route(&id("delete"), get(confirm_delete).post(delete))
        .route(&id("disable"), get(confirm_disable).post(disable))
        .route(&id("enable"), post(enable))
        .route(&id("expire-previous"), post(expire_previous))
        .route(&request("approve"), post(approve))
        .route(&request("reject"), post(reject))
        .route(&request("generate"), post(generate))
}

const FLASH_KEY: &str = "credentials.flash";
const LIST: &str = "/settings/credentials";

const TRIAL_MESSAGE: &str =
    "Trial organizations cannot hold API credentials. Upgrade to the Standard plan to create them.";
const PRIMARY_MESSAGE: &str = "The primary credential cannot be deleted. Make another credential primary first, then delete this one.";

/// A point in time as the page shows it: relative, with the absolute time on hover.
pub struct When {
    pub relative: String,
    pub iso: String,
    pub absolute: String,
}

impl When {
    fn at(unix: i64, now: i64) -> When {
        When {
            relative: relative_time(unix, now),
            iso: iso_time(unix),
            absolute: absolute_time(unix),
        }
    }
}

pub struct CredentialView {
    pub client_id: String,
    pub name: String,
    pub description: String,
    pub is_primary: bool,
    pub enabled: bool,
    pub created: When,
    pub created_by: String,
    pub rotated: Option<When>,
    pub last_used: Option<When>,
    pub last_used_ip: String,
    /// "Monitoring: 4 read permissions, org scope".
    pub permissions: String,
    /// Every permission, for the hover title.
    pub scopes: String,
    pub ips: String,
    /// The previous secret during a rotation grace window.
    pub previous: Option<PreviousSecret>,
}

pub struct PreviousSecret {
    pub until: When,
    pub last_used: Option<When>,
    pub last_used_ip: String,
}

fn set_label(key: &str) -> &'static str {
    SetType::parse(key).map_or("Custom", SetType::label)
}

fn permissions_summary(set: &str, stored: &str) -> String {
    match Permissions::parse(stored) {
        Ok(p) => format!("{}: {}", set_label(set), p.summary()),
        Err(_) => "No valid permissions".to_owned(),
    }
}

impl CredentialView {
    fn new(c: Credential, now: i64) -> CredentialView {
        CredentialView {
            permissions: permissions_summary(&c.permission_set, &c.permissions),
            scopes: c.permissions.replace(' ', ", "),
            ips: IpAllowlist::from_stored(&c.ip_allowlist).summary(),
            previous: c.grace_until.map(|until| PreviousSecret {
                until: When::at(until, now),
                last_used: c.previous_last_used_at.map(|t| When::at(t, now)),
                last_used_ip: c.previous_last_used_ip.clone().unwrap_or_default(),
            }),
            enabled: c.is_enabled(),
            client_id: c.client_id,
            name: c.name,
            description: c.description.unwrap_or_default(),
            is_primary: c.is_primary,
            created: When::at(c.created_at, now),
            created_by: c.created_by,
            rotated: c.last_rotated_at.map(|t| When::at(t, now)),
            last_used: c.last_used_at.map(|t| When::at(t, now)),
            last_used_ip: c.last_used_ip.unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "settings/credentials/page.html", blocks = ["section"])]
struct CredentialsPage {
    layout: Layout,
    flash: String,
    credentials: Vec<CredentialView>,
    can_edit: bool,
    at_limit: bool,
    limit_message: &'static str,
    trial_message: &'static str,
    primary_message: &'static str,
    requests: Vec<RequestView>,
}

pub struct RequestView {
    pub request_id: String,
    pub name: String,
    pub description: String,
    pub requested_by: String,
    pub requested: When,
    pub justification: String,
    pub permissions: String,
    pub ips: String,
    pub status: String,
    pub decided_by: String,
    /// An owner other than the requester, while pending.
    pub can_decide: bool,
    /// The requester, once approved.
    pub can_generate: bool,
}

impl RequestView {
    fn new(r: Request, ctx: &OrgContext, now: i64) -> RequestView {
        let mine = r.requested_by == ctx.user.id;
        RequestView {
            can_decide: r.status == "pending" && ctx.access.is_owner() && !mine,
            can_generate: r.status == "approved" && mine && ctx.access.can_edit_credentials(),
            permissions: permissions_summary(&r.permission_set, &r.permissions),
            ips: IpAllowlist::from_stored(&r.ip_allowlist).summary(),
            request_id: r.request_id,
            name: r.name,
            description: r.description.unwrap_or_default(),
            requested_by: r.requested_by_email,
            requested: When::at(r.created_at, now),
            justification: r.justification,
            status: r.status,
            decided_by: r.decided_by.unwrap_or_default(),
        }
    }
}

/// The fields of the New Credential and Edit dialogs, as submitted. The four
/// `perm_*` lists are the columns of the permission rows; `op` is the
/// button that sent the form when it was not the main one.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CredentialForm {
    name: String,
    description: String,
    permission_set: String,
    perm_type: Vec<String>,
    perm_action: Vec<String>,
    perm_scope: Vec<String>,
    perm_resource: Vec<String>,
    ip_mode: String,
    ip_list: String,
    justification: String,
    op: String,
}

pub struct RowView {
    pub kind: String,
    pub action: String,
    pub scope: String,
    pub resource: String,
    /// Which input the message is about: "type", "action", "scope", "resource".
    pub error_part: &'static str,
    pub error: String,
}

/// Everything the shared form fields need.
struct Fields {
    form: CredentialForm,
    rows: Vec<RowView>,
    errors: FieldErrors,
    ip_errors: Vec<String>,
    needs_justification: bool,
    production: bool,
    /// What gets `autofocus` when the dialog is (re-)rendered.
    focus: &'static str,
    post_to: String,
    set_types: &'static [SetType],
    types: &'static [&'static str],
    actions: &'static [&'static str],
    scopes: &'static [&'static str],
}

impl Fields {
    fn new(
        form: CredentialForm,
        state: &AppState,
        post_to: String,
        needs_justification: bool,
    ) -> Fields {
        let rows = (0..form.perm_type.len().min(MAX_PERMISSIONS + 1))
            .map(|i| {
                let at = |list: &Vec<String>| list.get(i).cloned().unwrap_or_default();
                RowView {
                    kind: at(&form.perm_type),
                    action: at(&form.perm_action),
                    scope: at(&form.perm_scope),
                    resource: at(&form.perm_resource),
                    error_part: "",
                    error: String::new(),
                }
            })
            .collect();
        Fields {
            form,
            rows,
            errors: FieldErrors::default(),
            ip_errors: Vec::new(),
            needs_justification,
            production: state.config.environment == Environment::Production,
            focus: "name",
            post_to,
            set_types: SET_TYPES,
            types: permission::TYPES,
            actions: permission::ACTIONS,
            scopes: permission::SCOPES,
        }
    }

    /// Whether `value` is one of the choices of a row's select (else the
    /// submitted value is kept as an extra option, so the error shows it).
    fn is_choice(&self, list: &str, value: &str) -> bool {
        let choices = match list {
            "type" => self.types,
            "action" => self.actions,
            _ => self.scopes,
        };
        choices.contains(&value)
    }

    fn set_rows(&mut self, permissions: &[Permission]) {
        self.rows = permissions
            .iter()
            .map(|p| RowView {
                kind: p.kind.to_owned(),
                action: p.action.to_owned(),
                scope: p.scope.to_owned(),
                resource: p.resource.clone().unwrap_or_default(),
                error_part: "",
                error: String::new(),
            })
            .collect();
    }

    /// Applies an Add / Remove / preset button; `false` when `op` is none of them.
    fn apply_op(&mut self) -> bool {
        let op = self.form.op.clone();
        if op == "add" {
            if self.rows.len() < MAX_PERMISSIONS {
                self.rows.push(RowView {
                    kind: "balances".to_owned(),
                    action: "read".to_owned(),
                    scope: "org".to_owned(),
                    resource: String::new(),
                    error_part: "",
                    error: String::new(),
                });
                self.focus = "last-row";
            } else {
                self.errors.push(FieldError::new(
                    "permissions",
                    format!("A credential can hold at most {MAX_PERMISSIONS} permissions."),
                ));
                self.focus = "add";
            }
            true
        } else if let Some(index) = op.strip_prefix("remove-") {
            if let Ok(i) = index.parse::<usize>()
                && i < self.rows.len()
            {
                self.rows.remove(i);
            }
            self.focus = "add";
            true
        } else if op == "preset" {
            match SetType::parse(&self.form.permission_set) {
                Some(set) => self.set_rows(&set.defaults()),
                None => self.errors.push(FieldError::new(
                    "permission_set",
                    "Choose a permission set type.",
                )),
            }
            self.focus = "permission_set";
            true
        } else {
            false
        }
    }

    /// Checks everything; on failure the messages are recorded at their fields.
    fn validate(&mut self) -> Option<Parsed> {
        let name = self.errors.check(CredentialName::parse(&self.form.name));
        let description = self
            .errors
            .check(Description::parse(&self.form.description));
        let set = self.errors.check(
            SetType::parse(&self.form.permission_set)
                .ok_or_else(|| FieldError::new("permission_set", "Choose a permission set type.")),
        );
        let mut permissions = Vec::new();
        let mut rows_ok = true;
        for row in &mut self.rows {
            match Permission::from_parts(&row.kind, &row.action, &row.scope, &row.resource) {
                Ok(p) => permissions.push(p),
                Err((part, message)) => {
                    rows_ok = false;
                    row.error_part = match part {
                        Part::Type => "type",
                        Part::Action => "action",
                        Part::Scope => "scope",
                        Part::Resource => "resource",
                    };
                    row.error = message;
                }
            }
        }
        let permissions = if rows_ok {
            self.errors.check(Permissions::new(permissions))
        } else {
            None
        };
        let (ips, notes) = match self.form.ip_mode.as_str() {
            "all" => (Some(IpAllowlist::All), Vec::new()),
            "limited" => match IpAllowlist::parse_limited(&self.form.ip_list) {
                Ok((list, notes)) => (Some(list), notes),
                Err(errors) => {
                    self.ip_errors = errors
                        .into_iter()
                        .map(|e| match e.line {
                            Some(line) => format!("Line {line}: {}", e.message),
                            None => e.message,
                        })
                        .collect();
                    (None, Vec::new())
                }
            },
            _ => {
                self.errors.push(FieldError::new(
                    "ip_mode",
                    "Choose All IP addresses or Limited IP addresses.",
                ));
                (None, Vec::new())
            }
        };
        let justification = if self.needs_justification {
            let text = self.form.justification.trim();
            let len = text.chars().count();
            if !(10..=500).contains(&len) {
                self.errors.push(FieldError::new(
                    "justification",
                    "Explain in 10 to 500 characters why this credential is needed: the owners read it before approving.",
                ));
                None
            } else {
                Some(text.to_owned())
            }
        } else {
            None
        };
        if !self.errors.is_empty() || !self.ip_errors.is_empty() || !rows_ok {
            self.focus = "first-error";
            return None;
        }
        Some(Parsed {
            name: name?,
            description: description?,
            set: set?,
            permissions: permissions?,
            ips: ips?,
            notes,
            justification,
        })
    }
}

struct Parsed {
    name: CredentialName,
    description: Description,
    set: SetType,
    permissions: Permissions,
    ips: IpAllowlist,
    /// Notes about IP entries that were normalised.
    notes: Vec<String>,
    justification: Option<String>,
}

#[derive(Template)]
#[template(path = "settings/credentials/new.html", blocks = ["dialog"])]
struct NewCredentialPage {
    layout: Layout,
    in_dialog: bool,
    fields: Fields,
    /// The organization is at its limit: the form explains and cannot be sent.
    at_limit: bool,
    limit_message: &'static str,
}

#[derive(Template)]
#[template(path = "settings/credentials/edit.html", blocks = ["dialog"])]
struct EditPage {
    layout: Layout,
    in_dialog: bool,
    client_id: String,
    fields: Fields,
}

/// Confirmation of Rotate Credential, Delete or Disable.
#[derive(Template)]
#[template(path = "settings/credentials/confirm.html", blocks = ["dialog"])]
struct ConfirmPage {
    layout: Layout,
    in_dialog: bool,
    kind: &'static str,
    credential: CredentialView,
    grace_choices: &'static [(&'static str, &'static str)],
}

#[derive(Template)]
#[template(path = "settings/credentials/reveal.html", blocks = ["dialog"])]
struct RevealPage {
    layout: Layout,
    in_dialog: bool,
    rotated: bool,
    name: String,
    audience: String,
    client_id: String,
    secret: String,
    notes: Vec<String>,
    grace: Vec<String>,
}

/// The message after a change, swapped out of band into the page's `#flash`.
#[derive(Template)]
#[template(path = "settings/credentials/flash.html")]
struct FlashFragment {
    message: String,
}

/// Renders `$page` whole, or only its `dialog` block for htmx.
macro_rules! dialog_or_page {
    ($hx:expr, $status:expr, $page:expr) => {{
        let page = $page;
        if $hx {
            html($status, page.as_dialog().render())
        } else {
            html($status, page.render())
        }
    }};
}

/// The checks every change goes through, in this order: may this person
/// change credentials at all, may this organization hold any.
fn require_edit(ctx: &OrgContext) -> AppResult<()> {
    if !ctx.access.can_edit_credentials() {
        return Err(AppError::Forbidden(
            "You need the API Credentials: Can Edit permission to change credentials.".to_owned(),
        ));
    }
    if ctx.org.plan() == Plan::Trial {
        return Err(AppError::Forbidden(TRIAL_MESSAGE.to_owned()));
    }
    Ok(())
}

async fn load(state: &AppState, ctx: &OrgContext, client_id: &str) -> AppResult<Credential> {
    state
        .db
        .credential(ctx.org.id, client_id)
        .await?
        .ok_or(AppError::NotFound)
}

/// After a change: htmx closes the dialog (an empty `#dialog-root`), shows
/// the message and reloads the list; without JavaScript, redirect to it.
async fn done(ctx: &OrgContext, hx: bool, message: String) -> AppResult<Response> {
    if hx {
        let response = html(StatusCode::OK, FlashFragment { message }.render());
        return Ok(trigger(response, HxEvent::CredentialsChanged));
    }
    ctx.session.insert(FLASH_KEY, message).await?;
    Ok(Redirect::to(LIST).into_response())
}

async fn show(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    HxRequest(hx): HxRequest,
) -> AppResult<Response> {
    let now = state.now();
    if ctx.access.is_support() && !hx {
        state
            .db
            .record(
                &audit::by(&ctx, &meta, "support.viewed").target("Credentials"),
                now,
            )
            .await?;
    }
    let shown_since = now - requests::SHOWN_FOR_SECS;
    let rows = state
        .db
        .credentials_of(ctx.org.id, shown_since, now)
        .await?;
    // Each credential row counts the requests; without any, skip that query.
    let has_requests = rows.first().is_none_or(|c| c.shown_requests > 0);
    let credentials: Vec<_> = rows
        .into_iter()
        .map(|c| CredentialView::new(c, now))
        .collect();
    let requests: Vec<_> = if has_requests {
        state
            .db
            .requests_of(ctx.org.id, now)
            .await?
            .into_iter()
            .map(|r| RequestView::new(r, &ctx, now))
            .collect()
    } else {
        Vec::new()
    };
    let active = requests
        .iter()
        .filter(|r| r.status == "pending" || r.status == "approved")
        .count();
    let flash = if hx {
        String::new()
    } else {
        crate::http::session::take_flash(&ctx.session, FLASH_KEY).await?
    };
    let page = CredentialsPage {
        layout: ctx.layout("Credentials", Nav::Credentials),
        flash,
        at_limit: (credentials.len() + active) as i64 >= MAX_CREDENTIALS,
        credentials,
        can_edit: ctx.access.can_edit_credentials(),
        limit_message: LIMIT_MESSAGE,
        trial_message: TRIAL_MESSAGE,
        primary_message: PRIMARY_MESSAGE,
        requests,
    };
    if hx {
        return Ok(html(StatusCode::OK, page.as_section().render()));
    }
    Ok(html(StatusCode::OK, page.render()))
}

/// Whether this person's New Credential becomes a request for approval.
fn needs_approval(ctx: &OrgContext) -> bool {
    ctx.org.require_approval && !ctx.access.is_owner()
}

async fn new_form(
    State(state): State<AppState>,
    ctx: OrgContext,
    HxRequest(hx): HxRequest,
) -> AppResult<Response> {
    require_edit(&ctx)?;
    let mut conn = state.db.acquire().await?;
    let count = repo::count(&mut conn, ctx.org.id).await?;
    drop(conn);
    let set = SetType::Monitoring;
    let form = CredentialForm {
        permission_set: set.key().to_owned(),
        ip_mode: "all".to_owned(),
        ..Default::default()
    };
    let mut fields = Fields::new(form, &state, LIST.to_owned(), needs_approval(&ctx));
    fields.set_rows(&set.defaults());
    let page = NewCredentialPage {
        layout: ctx.layout("New Credential", Nav::Credentials),
        in_dialog: hx,
        fields,
        at_limit: count >= MAX_CREDENTIALS,
        limit_message: LIMIT_MESSAGE,
    };
    Ok(dialog_or_page!(hx, StatusCode::OK, page))
}

fn name_taken() -> FieldError {
    FieldError::new(
        "name",
        "A credential with this name already exists in your organization. Choose another name.",
    )
}

/// " Note: …" for normalised IP entries, appended to a confirmation.
fn notes_text(notes: &[String]) -> String {
    if notes.is_empty() {
        String::new()
    } else {
        format!(" Note: {}", notes.join(" "))
    }
}

async fn create(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    HxRequest(hx): HxRequest,
    Form(form): Form<CredentialForm>,
) -> AppResult<Response> {
    require_edit(&ctx)?;
    let mut fields = Fields::new(form, &state, LIST.to_owned(), needs_approval(&ctx));
    let again = |fields: Fields, at_limit: bool, status| {
        let page = NewCredentialPage {
            layout: ctx.layout("New Credential", Nav::Credentials),
            in_dialog: hx,
            fields,
            at_limit,
            limit_message: LIMIT_MESSAGE,
        };
        dialog_or_page!(hx, status, page)
    };
    if fields.apply_op() {
        return Ok(again(fields, false, StatusCode::OK));
    }
    let Some(parsed) = fields.validate() else {
        return Ok(again(fields, false, StatusCode::UNPROCESSABLE_ENTITY));
    };
    let now = state.now();
    let scopes = parsed.permissions.to_scope_string();
    let ips = parsed.ips.to_stored();
    let detail = json!({
        "name": parsed.name.as_str(),
        "description": parsed.description.as_deref(),
        "permission_set": parsed.set.key(),
        "permissions": scopes,
        "ip_allowlist": ips,
    });

    if let Some(justification) = &parsed.justification {
        // Approval required: a request, not a credential.
        let request_id = format!("kwreq_{}", random::token(16));
        let mut tx = state.db.begin_org(ctx.org.id).await?;
        let outcome = if repo::count(&mut tx, ctx.org.id).await? >= MAX_CREDENTIALS {
            Created::LimitReached
        } else if repo::name_exists(&mut tx, ctx.org.id, parsed.name.as_str()).await? {
            Created::NameTaken
        } else {
            let new = NewRequest {
                org_id: ctx.org.id,
                request_id: &request_id,
                name: parsed.name.as_str(),
                description: parsed.description.as_deref(),
                permission_set: parsed.set.key(),
                permissions: &scopes,
                ip_allowlist: &ips,
                justification,
                requested_by: ctx.user.id,
                requested_by_email: &ctx.user.email,
            };
            if requests::insert(&mut tx, &new, now).await? {
                Created::Created { is_primary: false }
            } else {
                Created::NameTaken
            }
        };
        match outcome {
            Created::Created { .. } => {
                let event = audit::by(&ctx, &meta, "credential.requested")
                    .target(request_id)
                    .detail(detail)
                    .detail(json!({ "justification": justification }));
                storage::audit::insert(&mut tx, &event, now).await?;
                tx.commit().await?;
                let message = format!(
                    "Your request for “{}” was sent to the organization's owners for approval. Once approved, generate its key from this page.{}",
                    parsed.name.as_str(),
                    notes_text(&parsed.notes)
                );
                return done(&ctx, hx, message).await;
            }
            Created::LimitReached => return Ok(again(fields, true, StatusCode::CONFLICT)),
            Created::NameTaken => {
                fields.errors.push(name_taken());
                return Ok(again(fields, false, StatusCode::UNPROCESSABLE_ENTITY));
            }
        }
    }

    let client_id = credential::new_client_id();
    let secret = Secret::generate(state.config.environment);
    let digest = state.keys.secret_digest(secret.expose());
    let mut tx = state.db.begin_org(ctx.org.id).await?;
    let new = NewCredential {
        org_id: ctx.org.id,
        client_id: &client_id,
        name: parsed.name.as_str(),
        description: parsed.description.as_deref(),
        digest: &digest,
        created_by: &ctx.user.email,
        permission_set: parsed.set.key(),
        permissions: &scopes,
        ip_allowlist: &ips,
    };
    match repo::create(&mut tx, &new, None, now).await? {
        Created::Created { is_primary } => {
            let event = audit::by(&ctx, &meta, "credential.created")
                .target(client_id.clone())
                .detail(detail)
                .detail(json!({ "primary": is_primary }));
            storage::audit::insert(&mut tx, &event, now).await?;
            tx.commit().await?;
        }
        Created::LimitReached => return Ok(again(fields, true, StatusCode::CONFLICT)),
        Created::NameTaken => {
            fields.errors.push(name_taken());
            return Ok(again(fields, false, StatusCode::UNPROCESSABLE_ENTITY));
        }
    }
    let reveal = Reveal {
        rotated: false,
        name: parsed.name.as_str().to_owned(),
        client_id,
        secret,
        notes: parsed.notes,
        grace: Vec::new(),
    };
    Ok(reveal.respond(&state, &ctx, hx))
}

/// The one response that ever carries the secret.
struct Reveal {
    rotated: bool,
    name: String,
    client_id: String,
    secret: Secret,
    notes: Vec<String>,
    /// After a rotation with a grace window: until when the previous secret works.
    grace: Vec<String>,
}

impl Reveal {
    fn respond(self, state: &AppState, ctx: &OrgContext, hx: bool) -> Response {
        let page = RevealPage {
            layout: ctx.layout("Save your secret now", Nav::Credentials),
            in_dialog: hx,
            rotated: self.rotated,
            name: self.name,
            audience: state.config.audience.clone(),
            client_id: self.client_id,
            secret: self.secret.expose().to_owned(),
            notes: self.notes,
            grace: self.grace,
        };
        let response = dialog_or_page!(hx, StatusCode::OK, page);
        if hx {
            trigger(response, HxEvent::CredentialsChanged)
        } else {
            response
        }
    }
}

fn edit_path(client_id: &str) -> String {
    format!("/settings/credentials/{client_id}/edit")
}

async fn edit_form(
    State(state): State<AppState>,
    ctx: OrgContext,
    HxRequest(hx): HxRequest,
    Path(client_id): Path<String>,
) -> AppResult<Response> {
    require_edit(&ctx)?;
    let credential = load(&state, &ctx, &client_id).await?;
    let ips = IpAllowlist::from_stored(&credential.ip_allowlist);
    let form = CredentialForm {
        name: credential.name,
        description: credential.description.unwrap_or_default(),
        permission_set: credential.permission_set,
        ip_mode: if ips.is_all() { "all" } else { "limited" }.to_owned(),
        ip_list: ips.lines(),
        ..Default::default()
    };
    let mut fields = Fields::new(form, &state, edit_path(&client_id), false);
    let permissions: Vec<Permission> = Permissions::parse(&credential.permissions)
        .map(|p| p.iter().cloned().collect())
        .unwrap_or_default();
    fields.set_rows(&permissions);
    let page = EditPage {
        layout: ctx.layout("Edit credential", Nav::Credentials),
        in_dialog: hx,
        client_id,
        fields,
    };
    Ok(dialog_or_page!(hx, StatusCode::OK, page))
}

async fn edit(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    HxRequest(hx): HxRequest,
    Path(client_id): Path<String>,
    Form(form): Form<CredentialForm>,
) -> AppResult<Response> {
    require_edit(&ctx)?;
    // A 404 when the credential is gone, rather than a form for nothing.
    load(&state, &ctx, &client_id).await?;
    let mut fields = Fields::new(form, &state, edit_path(&client_id), false);
    let again = |fields: Fields, client_id: String, status| {
        let page = EditPage {
            layout: ctx.layout("Edit credential", Nav::Credentials),
            in_dialog: hx,
            client_id,
            fields,
        };
        dialog_or_page!(hx, status, page)
    };
    if fields.apply_op() {
        return Ok(again(fields, client_id, StatusCode::OK));
    }
    let Some(parsed) = fields.validate() else {
        return Ok(again(fields, client_id, StatusCode::UNPROCESSABLE_ENTITY));
    };
    let now = state.now();
    let scopes = parsed.permissions.to_scope_string();
    let ips = parsed.ips.to_stored();
    let mut tx = state.db.begin_org(ctx.org.id).await?;
    let before = repo::find(&mut tx, ctx.org.id, &client_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let changes = Changes {
        name: parsed.name.as_str(),
        description: parsed.description.as_deref(),
        permission_set: parsed.set.key(),
        permissions: &scopes,
        ip_allowlist: &ips,
    };
    if repo::update(&mut tx, ctx.org.id, before.id, &changes, now).await? == Renamed::NameTaken {
        drop(tx);
        fields.errors.push(name_taken());
        return Ok(again(fields, client_id, StatusCode::UNPROCESSABLE_ENTITY));
    }
    let event = audit::by(&ctx, &meta, "credential.updated").target(client_id.clone()).detail(json!({
        "before": {
            "name": before.name, "description": before.description, "permission_set": before.permission_set,
            "permissions": before.permissions, "ip_allowlist": before.ip_allowlist,
        },
        "after": {
            "name": parsed.name.as_str(), "description": parsed.description.as_deref(),
            "permission_set": parsed.set.key(), "permissions": scopes, "ip_allowlist": ips,
        },
    }));
    storage::audit::insert(&mut tx, &event, now).await?;
    tx.commit().await?;
    done(
        &ctx,
        hx,
        format!(
            "Saved “{}”.{}",
            parsed.name.as_str(),
            notes_text(&parsed.notes)
        ),
    )
    .await
}

async fn confirm(
    state: &AppState,
    ctx: &OrgContext,
    hx: bool,
    client_id: &str,
    kind: &'static str,
) -> AppResult<Response> {
    require_edit(ctx)?;
    let credential = load(state, ctx, client_id).await?;
    if kind == "delete" && credential.is_primary {
        return Err(AppError::Forbidden(PRIMARY_MESSAGE.to_owned()));
    }
    let title = match kind {
        "rotate" => "Rotate Credential",
        "delete" => "Delete credential",
        _ => "Disable credential",
    };
    let page = ConfirmPage {
        layout: ctx.layout(title, Nav::Credentials),
        in_dialog: hx,
        kind,
        credential: CredentialView::new(credential, state.now()),
        grace_choices: GRACE_CHOICES,
    };
    Ok(dialog_or_page!(hx, StatusCode::OK, page))
}

async fn confirm_rotate(
    State(state): State<AppState>,
    ctx: OrgContext,
    HxRequest(hx): HxRequest,
    Path(client_id): Path<String>,
) -> AppResult<Response> {
    confirm(&state, &ctx, hx, &client_id, "rotate").await
}

async fn confirm_delete(
    State(state): State<AppState>,
    ctx: OrgContext,
    HxRequest(hx): HxRequest,
    Path(client_id): Path<String>,
) -> AppResult<Response> {
    confirm(&state, &ctx, hx, &client_id, "delete").await
}

async fn confirm_disable(
    State(state): State<AppState>,
    ctx: OrgContext,
    HxRequest(hx): HxRequest,
    Path(client_id): Path<String>,
) -> AppResult<Response> {
    confirm(&state, &ctx, hx, &client_id, "disable").await
}

/// Disable or Enable. Disabling stops new tokens at once; tokens already
/// issued keep working until they expire, as the reference guide says.
async fn set_enabled(
    state: &AppState,
    ctx: &OrgContext,
    meta: &RequestMeta,
    hx: bool,
    client_id: &str,
    enabled: bool,
) -> AppResult<Response> {
    require_edit(ctx)?;
    let now = state.now();
    let mut tx = state.db.begin_org(ctx.org.id).await?;
    let credential = repo::find(&mut tx, ctx.org.id, client_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if credential.is_enabled() != enabled {
        repo::set_enabled(&mut tx, credential.id, enabled, now).await?;
        let action = if enabled {
            "credential.enabled"
        } else {
            "credential.disabled"
        };
        let event = audit::by(ctx, meta, action)
            .target(client_id.to_owned())
            .detail(json!({ "name": credential.name }));
        storage::audit::insert(&mut tx, &event, now).await?;
    }
    tx.commit().await?;
    let message = if enabled {
        format!(
            "Enabled “{}”: it can get new tokens again.",
            credential.name
        )
    } else {
        format!(
            "Disabled “{}”: it gets no new tokens. Tokens it already has keep working until they expire (up to 1 hour).",
            credential.name
        )
    };
    done(ctx, hx, message).await
}

async fn disable(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    HxRequest(hx): HxRequest,
    Path(client_id): Path<String>,
) -> AppResult<Response> {
    set_enabled(&state, &ctx, &meta, hx, &client_id, false).await
}

async fn enable(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    HxRequest(hx): HxRequest,
    Path(client_id): Path<String>,
) -> AppResult<Response> {
    set_enabled(&state, &ctx, &meta, hx, &client_id, true).await
}

/// Approve or reject: owners only, never their own request, pending ones only.
async fn decide(
    state: &AppState,
    ctx: &OrgContext,
    meta: &RequestMeta,
    hx: bool,
    request_id: &str,
    approve: bool,
) -> AppResult<Response> {
    if !ctx.access.is_owner() {
        return Err(AppError::Forbidden(
            "Only organization owners can approve or reject credential requests.".to_owned(),
        ));
    }
    let now = state.now();
    let mut tx = state.db.begin_org(ctx.org.id).await?;
    let request = requests::find(&mut tx, ctx.org.id, request_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if request.requested_by == ctx.user.id {
        return Err(AppError::Forbidden(
            "You cannot approve or reject your own request: another owner must decide.".to_owned(),
        ));
    }
    if request.status != "pending" {
        return Err(AppError::Forbidden(format!(
            "This request was {} already.",
            request.status
        )));
    }
    let (status, action) = if approve {
        ("approved", "credential.request_approved")
    } else {
        ("rejected", "credential.request_rejected")
    };
    requests::set_status(&mut tx, request.id, status, Some(&ctx.user.email), now).await?;
    let event = audit::by(ctx, meta, action)
        .target(request.request_id.clone())
        .detail(json!({
            "name": request.name, "requested_by": request.requested_by_email,
        }));
    storage::audit::insert(&mut tx, &event, now).await?;
    tx.commit().await?;
    let message = if approve {
        format!(
            "Approved “{}”. {} can now generate its key.",
            request.name, request.requested_by_email
        )
    } else {
        format!("Rejected the request for “{}”.", request.name)
    };
    done(ctx, hx, message).await
}

async fn approve(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    HxRequest(hx): HxRequest,
    Path(request_id): Path<String>,
) -> AppResult<Response> {
    decide(&state, &ctx, &meta, hx, &request_id, true).await
}

async fn reject(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    HxRequest(hx): HxRequest,
    Path(request_id): Path<String>,
) -> AppResult<Response> {
    decide(&state, &ctx, &meta, hx, &request_id, false).await
}

/// The requester turns their approved request into a credential and sees its secret once.
async fn generate(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    HxRequest(hx): HxRequest,
    Path(request_id): Path<String>,
) -> AppResult<Response> {
    require_edit(&ctx)?;
    let now = state.now();
    let mut tx = state.db.begin_org(ctx.org.id).await?;
    let request = requests::find(&mut tx, ctx.org.id, &request_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if request.requested_by != ctx.user.id {
        return Err(AppError::Forbidden(
            "Only the person who requested this credential can generate its key.".to_owned(),
        ));
    }
    if request.status != "approved" {
        return Err(AppError::Forbidden(format!(
            "This request is {}, not approved.",
            request.status
        )));
    }
    let client_id = credential::new_client_id();
    let secret = Secret::generate(state.config.environment);
    let digest = state.keys.secret_digest(secret.expose());
    let new = NewCredential {
        org_id: ctx.org.id,
        client_id: &client_id,
        name: &request.name,
        description: request.description.as_deref(),
        digest: &digest,
        created_by: &request.requested_by_email,
        permission_set: &request.permission_set,
        permissions: &request.permissions,
        ip_allowlist: &request.ip_allowlist,
    };
    match repo::create(&mut tx, &new, Some(request.id), now).await? {
        Created::Created { is_primary } => {
            requests::set_status(&mut tx, request.id, "completed", None, now).await?;
            let event = audit::by(&ctx, &meta, "credential.created").target(client_id.clone()).detail(json!({
                "name": request.name, "request": request.request_id, "approved_by": request.decided_by,
                "permission_set": request.permission_set, "permissions": request.permissions,
                "ip_allowlist": request.ip_allowlist, "primary": is_primary,
            }));
            storage::audit::insert(&mut tx, &event, now).await?;
            tx.commit().await?;
        }
        Created::LimitReached => return Err(AppError::Forbidden(LIMIT_MESSAGE.to_owned())),
        Created::NameTaken => {
            return Err(AppError::Forbidden(format!(
                "A credential named “{}” exists already. Ask for it to be renamed or deleted, then try again.",
                request.name
            )));
        }
    }
    let reveal = Reveal {
        rotated: false,
        name: request.name,
        client_id,
        secret,
        notes: Vec::new(),
        grace: Vec::new(),
    };
    Ok(reveal.respond(&state, &ctx, hx))
}

/// How long the previous secret keeps working after a rotation.
pub const GRACE_CHOICES: &[(&str, &str)] = &[
    ("0", "Immediately"),
    ("3600", "1 hour"),
    ("86400", "24 hours"),
    ("604800", "7 days"),
];

#[derive(Deserialize, Default)]
#[serde(default)]
struct RotateForm {
    grace: String,
}

async fn rotate(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    HxRequest(hx): HxRequest,
    Path(client_id): Path<String>,
    Form(form): Form<RotateForm>,
) -> AppResult<Response> {
    require_edit(&ctx)?;
    let grace = match form.grace.as_str() {
        "" | "0" => None,
        other if GRACE_CHOICES.iter().any(|(v, _)| *v == other) => other.parse::<i64>().ok(),
        _ => {
            return Err(AppError::BadRequest(
                "Choose when the previous secret stops working.".to_owned(),
            ));
        }
    };
    let secret = Secret::generate(state.config.environment);
    let digest = state.keys.secret_digest(secret.expose());
    let now = state.now();
    let mut tx = state.db.begin_org(ctx.org.id).await?;
    let credential = repo::find(&mut tx, ctx.org.id, &client_id)
        .await?
        .ok_or(AppError::NotFound)?;
    repo::rotate(&mut tx, credential.id, &digest, grace, now).await?;
    let event = audit::by(&ctx, &meta, "credential.rotated")
        .target(client_id.clone())
        .detail(json!({ "name": credential.name, "grace_seconds": grace.unwrap_or(0) }));
    storage::audit::insert(&mut tx, &event, now).await?;
    tx.commit().await?;
    let grace = match grace {
        Some(window) => vec![format!(
            "The previous secret keeps working until {} ({}). Expire it sooner from the credential's card.",
            absolute_time(now + window),
            relative_time(now + window, now)
        )],
        None => Vec::new(),
    };
    let reveal = Reveal {
        rotated: true,
        name: credential.name,
        client_id,
        secret,
        notes: Vec::new(),
        grace,
    };
    Ok(reveal.respond(&state, &ctx, hx))
}

/// Ends a rotation grace window now.
async fn expire_previous(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    HxRequest(hx): HxRequest,
    Path(client_id): Path<String>,
) -> AppResult<Response> {
    require_edit(&ctx)?;
    let now = state.now();
    let mut tx = state.db.begin_org(ctx.org.id).await?;
    let credential = repo::find(&mut tx, ctx.org.id, &client_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if repo::expire_previous(&mut tx, credential.id).await? {
        let event = audit::by(&ctx, &meta, "credential.previous_secret_expired")
            .target(client_id.clone())
            .detail(json!({ "name": credential.name }));
        storage::audit::insert(&mut tx, &event, now).await?;
    }
    tx.commit().await?;
    done(
        &ctx,
        hx,
        format!(
            "The previous secret of “{}” no longer works.",
            credential.name
        ),
    )
    .await
}

async fn make_primary(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    HxRequest(hx): HxRequest,
    Path(client_id): Path<String>,
) -> AppResult<Response> {
    require_edit(&ctx)?;
    let now = state.now();
    let mut tx = state.db.begin_org(ctx.org.id).await?;
    let credential = repo::find(&mut tx, ctx.org.id, &client_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if !credential.is_primary {
        repo::make_primary(&mut tx, ctx.org.id, credential.id, now).await?;
        let event = audit::by(&ctx, &meta, "credential.made_primary")
            .target(client_id.clone())
            .detail(json!({ "name": credential.name }));
        storage::audit::insert(&mut tx, &event, now).await?;
    }
    tx.commit().await?;
    done(
        &ctx,
        hx,
        format!("“{}” is now the primary credential.", credential.name),
    )
    .await
}

async fn delete(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    HxRequest(hx): HxRequest,
    Path(client_id): Path<String>,
) -> AppResult<Response> {
    require_edit(&ctx)?;
    let now = state.now();
    let mut tx = state.db.begin_org(ctx.org.id).await?;
    let credential = repo::find(&mut tx, ctx.org.id, &client_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if credential.is_primary {
        return Err(AppError::Forbidden(PRIMARY_MESSAGE.to_owned()));
    }
    repo::delete(&mut tx, credential.id).await?;
    let event = audit::by(&ctx, &meta, "credential.deleted")
        .target(client_id)
        .detail(json!({ "name": credential.name }));
    storage::audit::insert(&mut tx, &event, now).await?;
    tx.commit().await?;
    done(
        &ctx,
        hx,
        format!(
            "Deleted “{}”. Clients using it have lost access.",
            credential.name
        ),
    )
    .await
}
