//! `TestApp`: a fresh database per test, and a browser-like client with a
//! cookie jar that carries the CSRF token of the last page it saw.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use keyward::clock::ManualClock;
use keyward::config::Config;
use keyward::keys::Keys;
use keyward::storage::{Db, Either};

use crate::support::testdb::TestDb;
use keyward::{AppState, demo};
use tower::ServiceExt;

pub const PASSWORD: &str = "demo-password-123";

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub clock: ManualClock,
    pub db: TestDb,
}

/// The demo personas.
#[derive(Clone, Copy, Debug)]
pub enum Persona {
    Owner,
    AdminEdit,
    AdminView,
    Support,
    OtherOwner,
}

impl Persona {
    pub fn email(self) -> &'static str {
        match self {
            Persona::Owner => "owner@acme.test",
            Persona::AdminEdit => "admin@acme.test",
            Persona::AdminView => "viewer@acme.test",
            Persona::Support => "support@keyward.test",
            Persona::OtherOwner => "owner@globex.test",
        }
    }
}

impl TestApp {
    /// An empty database: the first-run state.
    pub async fn empty() -> TestApp {
        TestApp::empty_with(|_| {}).await
    }

    /// An empty database, with the configuration changed by `configure`.
    pub async fn empty_with(configure: impl FnOnce(&mut Config)) -> TestApp {
        let test_db = TestDb::new().await;
        let url = test_db.url.clone();
        let db = Db::connect(&url).await.unwrap();
        let clock = ManualClock::starting_now();
        let mut config = Config::for_database(url);
        configure(&mut config);
        let state = AppState::with_clock(db, config, Keys::random(), Arc::new(clock.clone()));
        let router = keyward::build(state.clone()).await.unwrap();
        TestApp {
            router,
            state,
            clock,
            db: test_db,
        }
    }

    /// The demo organizations and users, all with [`PASSWORD`].
    pub async fn demo() -> TestApp {
        TestApp::demo_with(|_| {}).await
    }

    pub async fn demo_with(configure: impl FnOnce(&mut Config)) -> TestApp {
        let app = TestApp::empty_with(configure).await;
        demo::seed(&app.state, PASSWORD).await.unwrap();
        app
    }

    pub fn client(&self) -> Client<'_> {
        Client {
            app: self,
            cookie: None,
            csrf: None,
            ip: [192, 0, 2, 10],
        }
    }

    pub async fn signed_in(&self, persona: Persona) -> Client<'_> {
        let mut client = self.client();
        client
            .sign_in(persona.email(), PASSWORD)
            .await
            .assert_status(StatusCode::SEE_OTHER);
        client
    }

    pub async fn count(&self, sql: &str) -> i64 {
        keyward::on!(self.state.db, |e| sqlx::query_scalar(sql)
            .fetch_one(e)
            .await)
        .unwrap()
    }

    pub async fn user_id(&self, email: &str) -> i64 {
        self.state
            .db
            .user_by_email(email)
            .await
            .unwrap()
            .unwrap()
            .id
    }

    /// Every value of every column of every table (sessions included), as
    /// bytes, labelled `table.column`: for hunting secrets at rest.
    pub async fn every_stored_value(&self) -> Vec<(String, Vec<u8>)> {
        let mut found = Vec::new();
        match self.state.db.exec() {
            Either::Sqlite(pool) => {
                let tables: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                        .fetch_all(pool)
                        .await
                        .unwrap();
                assert!(tables.iter().any(|t| t == "sessions"));
                for table in tables {
                    let columns: Vec<String> = sqlx::query_scalar(&format!(
                        "SELECT name FROM pragma_table_info('{table}')"
                    ))
                    .fetch_all(pool)
                    .await
                    .unwrap();
                    for column in columns {
                        let values: Vec<Option<Vec<u8>>> = sqlx::query_scalar(&format!(
                            "SELECT CAST(\"{column}\" AS BLOB) FROM \"{table}\""
                        ))
                        .fetch_all(pool)
                        .await
                        .unwrap();
                        let label = format!("{table}.{column}");
                        found.extend(values.into_iter().flatten().map(|v| (label.clone(), v)));
                    }
                }
            }
            Either::Postgres(pool) => {
                let columns: Vec<(String, String, String, String)> = sqlx::query_as(
                    "SELECT table_schema::text, table_name::text, column_name::text, data_type::text
                     FROM information_schema.columns
                     WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
                )
                .fetch_all(pool)
                .await
                .unwrap();
                assert!(columns.iter().any(|c| c.1 == "sessions"));
                for (schema, table, column, data_type) in columns {
                    // bytea as its bytes (printable ones kept as they are), the rest as text.
                    let value = if data_type == "bytea" {
                        format!("encode(\"{column}\", 'escape')")
                    } else {
                        format!("\"{column}\"::text")
                    };
                    let values: Vec<Option<String>> = sqlx::query_scalar(&format!(
                        "SELECT {value} FROM \"{schema}\".\"{table}\""
                    ))
                    .fetch_all(pool)
                    .await
                    .unwrap();
                    let label = format!("{table}.{column}");
                    found.extend(
                        values
                            .into_iter()
                            .flatten()
                            .map(|v| (label.clone(), v.into_bytes())),
                    );
                }
            }
        }
        found
    }

    pub async fn audit_actions(&self) -> Vec<String> {
        keyward::on!(self.state.db, |e| sqlx::query_scalar(
            "SELECT action FROM audit_events ORDER BY id"
        )
        .fetch_all(e)
        .await)
        .unwrap()
    }
}

#[derive(Clone)]
pub struct Client<'a> {
    app: &'a TestApp,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub ip: [u8; 4],
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl TestResponse {
    #[track_caller]
    pub fn assert_status(&self, status: StatusCode) -> &Self {
        assert_eq!(
            self.status, status,
            "unexpected status; body:\n{}",
            self.body
        );
        self
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn location(&self) -> &str {
        self.header("location")
    }

    #[track_caller]
    pub fn assert_contains(&self, text: &str) -> &Self {
        assert!(
            self.body.contains(text),
            "expected {text:?} in body:\n{}",
            self.body
        );
        self
    }

    #[track_caller]
    pub fn assert_lacks(&self, text: &str) -> &Self {
        assert!(
            !self.body.contains(text),
            "did not expect {text:?} in body:\n{}",
            self.body
        );
        self
    }

    /// The session id the response set, if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("keyward_session="))
            .map(|c| c.split(';').next().unwrap_or("").to_owned())
    }
}

pub fn form_body(fields: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(fields).unwrap()
}

impl Client<'_> {
    pub fn request(&self, method: &str, path: &str) -> axum::http::request::Builder {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1:8080");
        if let Some(cookie) = &self.cookie {
            builder = builder.header(header::COOKIE, cookie);
        }
        builder
    }

    pub async fn send(&mut self, request: Request<Body>) -> TestResponse {
        let mut request = request;
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((self.ip, 40000))));
        let response = self.app.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&bytes).into_owned();
        let resp = TestResponse {
            status,
            headers,
            body,
        };
        if let Some(cookie) = resp.session_cookie() {
            // An expired cookie (sign-out) empties the jar.
            let expired = resp
                .headers
                .get_all(header::SET_COOKIE)
                .iter()
                .any(|v| v.to_str().unwrap_or("").contains("Max-Age=0"));
            self.cookie = if expired { None } else { Some(cookie) };
        }
        if let Some(token) = csrf_in(&resp.body) {
            self.csrf = Some(token);
        }
        resp
    }

    pub async fn get(&mut self, path: &str) -> TestResponse {
        let request = self.request("GET", path).body(Body::empty()).unwrap();
        self.send(request).await
    }

    pub async fn htmx_get(&mut self, path: &str) -> TestResponse {
        let request = self
            .request("GET", path)
            .header("hx-request", "true")
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    /// Posts a form as the browser would from one of our pages: with the
    /// CSRF token of the last page and `Sec-Fetch-Site: same-origin`.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        let token = self.csrf.clone().unwrap_or_default();
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        let request = self
            .request("POST", path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin")
            .body(Body::from(form_body(&all)))
            .unwrap();
        self.send(request).await
    }

    /// Posts as htmx does: the token in `X-CSRF-Token`.
    pub async fn htmx_post(&mut self, path: &str, fields: &[(&str, &str)]) -> TestResponse {
        let token = self.csrf.clone().unwrap_or_default();
        let request = self
            .request("POST", path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin")
            .header("hx-request", "true")
            .header("x-csrf-token", token)
            .body(Body::from(form_body(fields)))
            .unwrap();
        self.send(request).await
    }

    pub async fn sign_in(&mut self, email: &str, password: &str) -> TestResponse {
        self.get("/login").await;
        self.post("/login", &[("email", email), ("password", password)])
            .await
    }
}

/// The CSRF token embedded in a page, if any.
pub fn csrf_in(body: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = body.find(marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_owned())
}

/// A route to try as every persona: method, path, form fields.
pub type Route = (&'static str, String, Vec<(&'static str, &'static str)>);

impl Client<'_> {
    /// Sends `route` as a plain browser would.
    pub async fn call(&mut self, route: &Route) -> TestResponse {
        let (method, path, fields) = route;
        if *method == "GET" {
            self.get(path).await
        } else {
            self.post(path, fields).await
        }
    }
}

/// The first client secret in a body, if any.
pub fn secret_in(body: &str) -> Option<String> {
    let start = body.find("kws_test_").or_else(|| body.find("kws_live_"))?;
    Some(body[start..start + 9 + 43 + 6].to_owned())
}

/// The Client ID shown in a reveal.
pub fn client_id_in(body: &str) -> Option<String> {
    let marker = "<code id=\"reveal-client-id\">";
    let start = body.find(marker)? + marker.len();
    Some(body[start..start + 27].to_owned())
}

impl TestApp {
    pub async fn org_id(&self, name: &str) -> i64 {
        self.state.db.org_by_name(name).await.unwrap().unwrap().id
    }

    pub async fn client_ids(&self, org: &str) -> Vec<String> {
        keyward::on!(self.state.db, |e| sqlx::query_scalar(
            "SELECT c.client_id FROM credentials c JOIN organizations o ON o.id = c.organization_id
             WHERE o.name = $1 ORDER BY c.id",
        )
        .bind(org)
        .fetch_all(e)
        .await)
        .unwrap()
    }

    /// Makes the trial organization Globex a standard one, empty of credentials.
    pub async fn upgrade_globex(&self) {
        keyward::on!(self.state.db, |e| sqlx::query(
            "UPDATE organizations SET plan = 'standard' WHERE name = 'Globex'"
        )
        .execute(e)
        .await
        .map(|r| r.rows_affected()))
        .unwrap();
    }
}

impl Client<'_> {
    /// Creates a credential through the no-JavaScript form; returns (client ID, secret).
    pub async fn create_credential(&mut self, name: &str) -> (String, String) {
        self.get("/settings/credentials/new").await;
        let response = self
            .post("/settings/credentials", &credential_fields(name))
            .await;
        response.assert_status(StatusCode::OK);
        (
            client_id_in(&response.body).unwrap(),
            secret_in(&response.body).unwrap(),
        )
    }
}

/// A complete New Credential / Edit form: the Monitoring permissions, all IP addresses.
pub fn credential_fields(name: &str) -> Vec<(&'static str, &str)> {
    let mut fields = vec![
        ("name", name),
        ("description", ""),
        ("permission_set", "monitoring"),
        ("ip_mode", "all"),
    ];
    for kind in ["audit", "balances", "transactions", "webhooks"] {
        fields.extend([
            ("perm_type", kind),
            ("perm_action", "read"),
            ("perm_scope", "org"),
            ("perm_resource", ""),
        ]);
    }
    fields
}

/// `credential_fields` with some fields replaced.
pub fn with<'a>(
    mut fields: Vec<(&'static str, &'a str)>,
    changes: &[(&'static str, &'a str)],
) -> Vec<(&'static str, &'a str)> {
    for (key, value) in changes {
        fields.retain(|(k, _)| k != key);
        fields.push((key, value));
    }
    fields
}

/// How many permission rows a form shows.
pub fn rows_in(body: &str) -> usize {
    body.matches("name=\"perm_type\"").count()
}
