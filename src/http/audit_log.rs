//! The Audit log page: the organization's events, newest first, filtered by
//! credential, actor, action and date range, with keyset pagination and a CSV
//! export of the filtered view. Every role that may see the organization may
//! read it; nobody can change it. Support visits are themselves recorded.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::stream;
use serde::Deserialize;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use crate::domain::{AuditAction, EventId, FieldError, FieldErrors};
use crate::http::audit_text::{self, Reading};
use crate::http::error::AppResult;
use crate::http::meta::RequestMeta;
use crate::http::session::OrgContext;
use crate::http::views::{Layout, Nav, When, iso_time};
use crate::service;
use crate::state::AppState;
use crate::storage::audit::{Event, Filter};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/audit-log", get(show))
        .route("/audit-log/export.csv", get(export))
}

const PAGE_SIZE: i64 = 50;
const EXPORT_CHUNK: i64 = 1000;

pub struct EventView {
    pub when: When,
    pub action: &'static str,
    pub reading: Reading,
    pub ip: String,
}

pub struct CredentialChoice {
    pub client_id: String,
    pub name: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit_log.html")]
struct AuditLogPage {
    layout: Layout,
    events: Vec<EventView>,
    params: Params,
    errors: FieldErrors,
    credentials: Vec<CredentialChoice>,
    /// The filter's choices: key and label.
    actions: Vec<(&'static str, &'static str)>,
    /// The query string of the current filters, for links.
    query: String,
    next_before: Option<EventId>,
}

#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub(crate) struct Params {
    pub credential: String,
    pub actor: String,
    pub action: String,
    pub from: String,
    pub to: String,
    #[serde(skip_serializing)]
    pub before: String,
}

/// A date typed as `YYYY-MM-DD` (spaces around it allowed).
fn day(raw: &str) -> Option<Date> {
    Date::parse(raw.trim(), &format_description!("[year]-[month]-[day]")).ok()
}

impl Params {
    /// What a date field shows: the date typed if it is one (`YYYY-MM-DD`),
    /// else nothing, since a date input holds only dates; the message at
    /// the field says what was wrong.
    pub fn date_value(raw: &str) -> &str {
        match day(raw) {
            Some(_) => raw.trim(),
            None => "",
        }
    }

    /// The filter, or the messages for the fields that could not be read.
    pub fn filter(&self) -> (Filter, FieldErrors) {
        let mut errors = FieldErrors::default();
        for (field, label, raw) in [
            ("credential", "credential", &self.credential),
            ("actor", "actor", &self.actor),
            ("action", "action", &self.action),
            ("from", "start date", &self.from),
            ("to", "end date", &self.to),
        ] {
            if let Err(error) = crate::domain::no_control(field, label, raw) {
                errors.push(error);
            }
        }
        if !errors.is_empty() {
            return (Filter::default(), errors);
        }
        let some = |v: &str| Some(v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
        let mut date = |field: &'static str, raw: &str| -> Option<Date> {
            if raw.trim().is_empty() {
                return None;
            }
            let date = day(raw);
            if date.is_none() {
                errors.push(FieldError::new(field, "Enter a date as YYYY-MM-DD."));
            }
            date
        };
        let from = date("from", &self.from);
        let to = date("to", &self.to);
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            errors.push(FieldError::new(
                "to",
                "The end date is before the start date.",
            ));
        }
        let action = some(&self.action).and_then(|a| {
            let known = AuditAction::parse(&a);
            if known.is_none() {
                errors.push(FieldError::new("action", "Choose an action from the list."));
            }
            known
        });
        let start_of = |d: Date| d.midnight().assume_utc().unix_timestamp();
        let filter = Filter {
            target: some(&self.credential),
            actor: some(&self.actor).map(|a| a.to_lowercase()),
            action,
            from: from.map(start_of),
            // Inclusive of the whole end day.
            until: to.and_then(|d| d.next_day()).map(start_of),
        };
        (filter, errors)
    }

    fn query_string(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }
}

async fn show(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Query(params): Query<Params>,
) -> AppResult<Response> {
    let actor = ctx.actor(&meta);
    service::audit::support_visit(&state, &actor, "Audit log").await?;
    let (filter, errors) = params.filter();
    let now = state.now();
    let before = params.before.parse::<EventId>().ok();
    let rows = if errors.is_empty() {
        service::audit::page(&state, &actor, &filter, before, PAGE_SIZE + 1).await?
    } else {
        Vec::new()
    };
    let next_before = (rows.len() as i64 > PAGE_SIZE).then(|| rows[PAGE_SIZE as usize - 1].id);
    let events = rows
        .into_iter()
        .take(PAGE_SIZE as usize)
        .map(|e| EventView {
            when: When::at(e.created_at, now),
            action: e.action.label(),
            reading: audit_text::read(&e),
            ip: e.ip.unwrap_or_default(),
        })
        .collect();
    let credentials = service::credentials::overview(&state, &actor)
        .await?
        .credentials
        .into_iter()
        .map(|card| CredentialChoice {
            client_id: card.credential.client_id.to_string(),
            name: card.credential.name,
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = AuditLogPage {
        layout: ctx.layout("Audit log", Nav::AuditLog),
        events,
        query: params.query_string(),
        params,
        errors,
        credentials,
        actions: AuditAction::ALL
            .iter()
            .map(|a| (a.key(), a.label()))
            .collect(),
        next_before,
    };
    Ok((status, page).into_response())
}

/// A CSV cell that a spreadsheet will not run: a leading `=`, `+`, `-`, `@`,
/// tab or carriage return makes it a formula, so such cells get a `'` first.
fn cell(value: &str) -> String {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_owned(),
    }
}

fn csv_rows(events: &[Event], header: bool) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    if header {
        let _ = writer.write_record([
            "time",
            "actor",
            "action",
            "target",
            "ip",
            "user_agent",
            "detail",
        ]);
    }
    for e in events {
        let _ = writer.write_record([
            iso_time(e.created_at),
            cell(&e.actor),
            cell(e.action.key()),
            cell(e.target.as_deref().unwrap_or("")),
            cell(e.ip.as_deref().unwrap_or("")),
            cell(e.user_agent.as_deref().unwrap_or("")),
            cell(&e.detail),
        ]);
    }
    writer.into_inner().unwrap_or_default()
}

/// The filtered view as CSV, streamed a thousand events at a time.
async fn export(
    State(state): State<AppState>,
    ctx: OrgContext,
    meta: RequestMeta,
    Query(params): Query<Params>,
) -> AppResult<Response> {
    let (filter, errors) = params.filter();
    if !errors.is_empty() {
        return Err(crate::http::error::AppError::BadRequest(
            "The filters could not be read. Correct them on the Audit log page, then export again."
                .to_owned(),
        ));
    }
    let actor = ctx.actor(&meta);
    service::audit::support_visit(&state, &actor, "Audit log export").await?;
    let app = state.clone();
    // State: (the last id sent, whether the header is still to come, done).
    let chunks = stream::unfold(
        (None::<EventId>, true, false),
        move |(before, first, done)| {
            let (app, actor, filter) = (app.clone(), actor.clone(), filter.clone());
            async move {
                if done {
                    return None;
                }
                match service::audit::page(&app, &actor, &filter, before, EXPORT_CHUNK).await {
                    Ok(events) => {
                        let last = events.last().map(|e| e.id);
                        let finished = (events.len() as i64) < EXPORT_CHUNK;
                        let bytes = csv_rows(&events, first);
                        Some((
                            Ok::<_, std::io::Error>(bytes),
                            (last.or(before), false, finished),
                        ))
                    }
                    Err(error) => {
                        tracing::error!(error = format!("{error:#}"), "audit export failed");
                        Some((
                            Err(std::io::Error::other("audit export failed")),
                            (before, false, true),
                        ))
                    }
                }
            }
        },
    );
    let date = OffsetDateTime::from_unix_timestamp(state.now())
        .ok()
        .and_then(|t| {
            t.date()
                .format(&format_description!("[year]-[month]-[day]"))
                .ok()
        })
        .unwrap_or_default();
    let disposition = format!("attachment; filename=\"keyward-audit-log-{date}.csv\"");
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
