//! Two Keyward servers, separate processes of the real binary on two loopback
//! ports, sharing one database and one key file, as behind a load balancer.
//! Run on PostgreSQL (`KEYWARD_TEST_DATABASE=postgres`) this is the
//! several-instances deployment; on SQLite, two processes on one file.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::http::StatusCode;
use keyward::storage::Db;
use oauth2::reqwest;
use serde_json::Value;

use crate::support::testdb::TestDb;
use crate::support::{PASSWORD, client_id_in, credential_fields, csrf_in, secret_in};

/// A `keyward serve` process, killed on drop.
struct Instance {
    child: Child,
    base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(db: &TestDb, key_file: &std::path::Path, demo: bool) -> Instance {
    let port = free_port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_keyward"));
    command
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("KEYWARD_KEY_FILE", key_file)
        .env("KEYWARD_ADDR", format!("127.0.0.1:{port}"))
        // Both instances issue tokens under one public name, as behind a balancer.
        .env("KEYWARD_PUBLIC_URL", "http://keyward.test")
        .env("KEYWARD_DEMO_PASSWORD", PASSWORD)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    if demo {
        command.arg("--demo");
    }
    let instance = Instance {
        child: command.spawn().unwrap(),
        base: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(response) = http.get(format!("{}/healthz", instance.base)).send().await
            && response.status() == StatusCode::OK
        {
            return instance;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("keyward did not answer /healthz on port {port}");
}

/// A browser session over real HTTP: one cookie, the CSRF token of the last page.
#[derive(Clone)]
struct Browser {
    http: reqwest::Client,
    cookie: Option<String>,
    csrf: Option<String>,
}

struct Page {
    status: StatusCode,
    body: String,
}

impl Browser {
    fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
            csrf: None,
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = match &self.cookie {
            Some(cookie) => request.header("cookie", cookie),
            None => request,
        };
        let response = request.send().await.unwrap();
        let status = response.status();
        if let Some(cookie) = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("keyward_session="))
        {
            self.cookie = Some(cookie.split(';').next().unwrap().to_owned());
        }
        let body = response.text().await.unwrap();
        if let Some(token) = csrf_in(&body) {
            self.csrf = Some(token);
        }
        Page { status, body }
    }

    async fn get(&mut self, url: String) -> Page {
        let request = self.http.get(url);
        self.send(request).await
    }

    async fn post(&mut self, url: String, fields: &[(&str, &str)]) -> Page {
        let token = self.csrf.clone().unwrap_or_default();
        let mut all = vec![("csrf_token", token.as_str())];
        all.extend_from_slice(fields);
        let request = self
            .http
            .post(url)
            .header("sec-fetch-site", "same-origin")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&all).unwrap());
        self.send(request).await
    }
}

async fn token(base: &str, client_id: &str, secret: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/oauth/token"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let status = response.status();
    (
        status,
        serde_json::from_str(&response.text().await.unwrap()).unwrap(),
    )
}

async fn introspect(base: &str, caller: (&str, &str), token: &str) -> Value {
    let response = reqwest::Client::new()
        .post(format!("{base}/oauth/introspect"))
        .basic_auth(caller.0, Some(caller.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_database_share_sessions_limits_and_credentials() {
    let db = TestDb::new().await;
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("keyward.key");
    let a = start(&db, &key_file, true).await;
    let b = start(&db, &key_file, false).await;

    // Globex, upgraded from its trial and with no credentials, races from empty.
    let direct = Db::open(&db.url).await.unwrap();
    keyward::on!(direct, |e| sqlx::query(
        "UPDATE organizations SET plan = 'standard' WHERE name = 'Globex'"
    )
    .execute(e)
    .await
    .map(|r| r.rows_affected()))
    .unwrap();

    // A session made on one instance is valid on the other.
    let mut owner = Browser::new();
    owner.get(format!("{}/login", a.base)).await;
    let signed_in = owner
        .post(
            format!("{}/login", a.base),
            &[("email", "owner@globex.test"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    let page = owner.get(format!("{}/settings/credentials", b.base)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Globex"));
    assert!(page.body.contains("New Credential"));

    // 40 concurrent creates, half through each instance: exactly 3 credentials, one primary.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let mut browser = owner.clone();
        let base = if i % 2 == 0 { &a.base } else { &b.base }.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("Race {i:02}");
            let page = browser
                .post(
                    format!("{base}/settings/credentials"),
                    &credential_fields(&name),
                )
                .await;
            (page.status, client_id_in(&page.body), secret_in(&page.body))
        }));
    }
    let mut created = Vec::new();
    for task in tasks {
        let (status, client_id, secret) = task.await.unwrap();
        assert!(
            !status.is_server_error(),
            "a racing create answered {status}"
        );
        if status == StatusCode::OK {
            created.push((client_id.unwrap(), secret.unwrap()));
        }
    }
    assert_eq!(created.len(), 3, "exactly three creates succeed");
    let (count, primaries): (i64, i64) = keyward::on!(direct, |e| sqlx::query_as(
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE is_primary) FROM credentials c
         JOIN organizations o ON o.id = c.organization_id WHERE o.name = 'Globex'"
    )
    .fetch_one(e)
    .await)
    .unwrap();
    assert_eq!((count, primaries), (3, 1));

    // A rotation through A is refused at B's token endpoint at once.
    let (client_id, old_secret) = created[0].clone();
    let (status, _) = token(&b.base, &client_id, &old_secret).await;
    assert_eq!(status, StatusCode::OK);
    owner
        .get(format!(
            "{}/settings/credentials/{client_id}/rotate",
            a.base
        ))
        .await;
    let rotated = owner
        .post(
            format!("{}/settings/credentials/{client_id}/rotate", a.base),
            &[("grace", "0")],
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    let new_secret = secret_in(&rotated.body).unwrap();
    assert_ne!(new_secret, old_secret);
    let (status, body) = token(&b.base, &client_id, &old_secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    let (status, _) = token(&b.base, &client_id, &new_secret).await;
    assert_eq!(status, StatusCode::OK);
    created[0].1 = new_secret;

    // A delete through A makes introspection at B answer inactive.
    let primary: String = keyward::on!(direct, |e| sqlx::query_scalar(
        "SELECT c.client_id FROM credentials c JOIN organizations o ON o.id = c.organization_id
         WHERE o.name = 'Globex' AND c.is_primary"
    )
    .fetch_one(e)
    .await)
    .unwrap();
    let (doomed, doomed_secret) = created
        .iter()
        .find(|(id, _)| *id != primary)
        .cloned()
        .unwrap();
    let (caller_id, caller_secret) = created
        .iter()
        .find(|(id, _)| *id == primary)
        .cloned()
        .unwrap();
    let (status, issued) = token(&b.base, &doomed, &doomed_secret).await;
    assert_eq!(status, StatusCode::OK);
    let access_token = issued["access_token"].as_str().unwrap().to_owned();
    let caller = (caller_id.as_str(), caller_secret.as_str());
    assert_eq!(
        introspect(&b.base, caller, &access_token).await["active"],
        true
    );
    owner
        .get(format!("{}/settings/credentials/{doomed}/delete", a.base))
        .await;
    let deleted = owner
        .post(
            format!("{}/settings/credentials/{doomed}/delete", a.base),
            &[],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert_eq!(
        introspect(&b.base, caller, &access_token).await,
        serde_json::json!({"active": false})
    );
}
