//! Two Keyward servers, separate processes of the real binary on two loopback
//! ports, sharing one database and one key file, as behind a load balancer.
//! Run on PostgreSQL (`KEYWARD_TEST_DATABASE=postgres`) this is the
//! several-instances deployment; on SQLite, two processes on one file.
//! The browser and the machine clients are the suite's `Client`, over HTTP.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;

use crate::support::pages::*;
use crate::support::testdb::TestDb;
use crate::support::*;

/// The name both instances issue tokens under, as behind a balancer.
const PUBLIC_URL: &str = "http://keyward.test";

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

/// Starts `keyward serve` (with the demo data when `demo`) on a free loopback
/// port and waits until it answers.
async fn start(db: &TestDb, key_file: &Path, demo: bool) -> Instance {
    // A port free when chosen may be taken (by another test's server) before
    // the process binds it; the process then exits, and another is tried.
    for _ in 0..5 {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyward"));
        command
            .arg("serve")
            .env("DATABASE_URL", &db.url)
            .env("KEYWARD_KEY_FILE", key_file)
            .env("KEYWARD_ADDR", format!("127.0.0.1:{port}"))
            .env("KEYWARD_PUBLIC_URL", PUBLIC_URL)
            .env("KEYWARD_DEMO_PASSWORD", PASSWORD)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        if demo {
            command.arg("--demo");
        }
        let mut instance = Instance {
            child: command.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
        };
        if ready(&mut instance, port).await {
            return instance;
        }
    }
    panic!("keyward could not get a free port in five tries");
}

/// Whether the instance came up on its port: false if it exited, or if what
/// answers there is another server.
async fn ready(instance: &mut Instance, port: u16) -> bool {
    for _ in 0..400 {
        if instance.child.try_wait().unwrap().is_some() {
            return false;
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            let mut probe = Client::http(&instance.base);
            let health = probe.get("/healthz").await;
            let metadata = probe.get("/.well-known/oauth-authorization-server").await;
            return health.status == StatusCode::OK
                && metadata.status == StatusCode::OK
                && metadata.json()["issuer"] == PUBLIC_URL
                && instance.child.try_wait().unwrap().is_none();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("keyward did not answer on port {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_database_share_sessions_limits_and_credentials() {
    let db = TestDb::new().await;
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("keyward.key");
    let a = start(&db, &key_file, true).await;
    let b = start(&db, &key_file, false).await;

    // Globex, upgraded from its trial and with no credentials, races from empty.
    let sql = Sql::connect(&db.url).await;
    let upgraded = sql
        .execute(
            "UPDATE organizations SET plan = 'standard' WHERE name = 'Globex'",
            &[],
        )
        .await;
    assert_eq!(upgraded, 1);

    // A session made on one instance is valid on the other.
    let mut owner = Client::http(&a.base);
    owner
        .sign_in("owner@globex.test", PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let mut owner_at_b = owner.at(&b.base);
    owner_at_b
        .get(CREDENTIALS)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Globex")
        .assert_contains("New Credential");
    // One browser: the session and the CSRF token of that page, at either instance.
    let mut owner_at_a = owner_at_b.at(&a.base);

    // 40 concurrent creates, half through each instance: exactly 3 credentials, one primary.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let mut browser = if i % 2 == 0 {
            owner_at_a.clone()
        } else {
            owner_at_b.clone()
        };
        tasks.push(tokio::spawn(async move {
            let name = format!("Race {i:02}");
            let page = browser.submit_credential(&credential_fields(&name)).await;
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
    let (count, primaries): (i64, i64) = sql
        .one(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE is_primary) FROM credentials c
             JOIN organizations o ON o.id = c.organization_id WHERE o.name = 'Globex'",
            &[],
        )
        .await;
    assert_eq!((count, primaries), (3, 1));

    // A rotation through A is refused at B's token endpoint at once.
    let mut machine_at_b = Client::http(&b.base);
    let grant = [("grant_type", "client_credentials")];
    let (client_id, old_secret) = created[0].clone();
    machine_at_b
        .token_request(&grant, Some((&client_id, &old_secret)))
        .await
        .assert_status(StatusCode::OK);
    owner_at_a.get(&credential(&client_id, "rotate")).await;
    let rotated = owner_at_a.rotate(&client_id, Grace::Immediately).await;
    rotated.assert_status(StatusCode::OK);
    let new_secret = secret_in(&rotated.body).unwrap();
    assert_ne!(new_secret, old_secret);
    machine_at_b
        .token_request(&grant, Some((&client_id, &old_secret)))
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    machine_at_b
        .token_request(&grant, Some((&client_id, &new_secret)))
        .await
        .assert_status(StatusCode::OK);
    created[0].1 = new_secret;

    // A delete through A makes introspection at B answer inactive.
    let primary = sql
        .string(
            "SELECT c.client_id FROM credentials c JOIN organizations o ON o.id = c.organization_id
             WHERE o.name = 'Globex' AND c.is_primary",
            &[],
        )
        .await;
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
    let issued = machine_at_b
        .token_request(&grant, Some((&doomed, &doomed_secret)))
        .await;
    issued.assert_status(StatusCode::OK);
    let access_token = issued.json()["access_token"].as_str().unwrap().to_owned();
    let caller = Auth::Basic(&caller_id, &caller_secret);
    assert_eq!(
        machine_at_b.introspect(caller, &access_token).await["active"],
        true
    );
    owner_at_a.get(&credential(&doomed, "delete")).await;
    owner_at_a
        .delete(&doomed)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert_eq!(
        machine_at_b.introspect(caller, &access_token).await,
        json!({"active": false})
    );
}
