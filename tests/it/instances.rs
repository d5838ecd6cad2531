//! Two Keyward servers, separate processes of the real binary on two loopback
//! ports, sharing one database and one key file, as behind a load balancer.
//! Run on PostgreSQL (`KEYWARD_TEST_DATABASE=postgres`) this is the
//! several-instances deployment; on SQLite, two processes on one file.
//! The browser and the machine clients are the suite's `Client`, over HTTP.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;

use crate::support::pages::*;
use crate::support::process::*;
use crate::support::testdb::TestDb;
use crate::support::*;

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
            let (client_id, secret) = (client_id_in(&page.body), secret_in(&page.body));
            (page.status, page.body, client_id, secret)
        }));
    }
    let mut created = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        let (status, body, client_id, secret) = task.await.unwrap();
        // Each answer, from either instance, is Globex's own page: the
        // session made at A held at both.
        let at = ["A", "B"][i % 2];
        assert!(body.contains("Globex"), "not signed in at {at}:\n{body}");
        match status {
            StatusCode::OK => created.push((client_id.unwrap(), secret.unwrap())),
            // The form again, saying why: only the limit may refuse a create.
            StatusCode::CONFLICT => assert!(
                body.contains(keyward::domain::credential::LIMIT_MESSAGE),
                "a refusal without the limit's message:\n{body}"
            ),
            other => panic!("a racing create answered {other}:\n{body}"),
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

/// Webhook deliveries may reach the loopback receiver, over http, and are
/// retried after 1, 2, 4… seconds.
const LOCAL_WEBHOOKS: &[(&str, &str)] = &[
    ("KEYWARD_WEBHOOK_ALLOW_HTTP", "true"),
    ("KEYWARD_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8"),
    ("KEYWARD_WEBHOOK_RETRY_BASE_SECS", "1"),
];

/// Waits until no delivery is pending (at most 60 s).
async fn until_delivered(sql: &Sql) {
    for _ in 0..600 {
        let waiting = sql
            .scalar_i64(
                "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'",
                &[],
            )
            .await;
        if waiting == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("webhook deliveries still pending after 60 s");
}

/// Every stored delivery was accepted by the receiver exactly once.
async fn accepted_exactly_once(sql: &Sql, receiver: &Receiver, events: usize) {
    let stored = sql
        .strings("SELECT message_id FROM webhook_deliveries", &[])
        .await;
    assert_eq!(stored.len(), events, "one delivery per event");
    let accepted = receiver.accepted();
    let unique: std::collections::BTreeSet<&String> = accepted.iter().collect();
    assert_eq!(
        unique.len(),
        accepted.len(),
        "an event was accepted twice: {accepted:?}"
    );
    let stored: std::collections::BTreeSet<&String> = stored.iter().collect();
    assert_eq!(unique, stored);
    assert!(receiver.log().iter().all(|l| l["verified"] == true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_events_survive_a_restart_while_the_receiver_is_down() {
    let db = TestDb::new().await;
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("keyward.key");
    // The receiver's port is chosen, but nothing listens there yet.
    let mut receiver = Receiver::new(0);
    let first = start_with(&db, &key_file, true, LOCAL_WEBHOOKS).await;
    let sql = Sql::connect(&db.url).await;
    let mut owner = Client::http(&first.base);
    owner
        .sign_in("owner@acme.test", PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let (_, secret) = crate::webhooks::add_webhook(
        &mut owner,
        &receiver.url(),
        &[
            "credential.created",
            "credential.rotated",
            "credential.disabled",
            "credential.enabled",
        ],
    )
    .await;
    let (client_id, _) = owner.create_credential("Survivor").await;
    owner.get(CREDENTIALS).await;
    owner
        .rotate(&client_id, Grace::Immediately)
        .await
        .assert_status(StatusCode::OK);
    owner.get(CREDENTIALS).await;
    owner
        .disable(&client_id)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner
        .enable(&client_id)
        .await
        .assert_status(StatusCode::SEE_OTHER);

    // Attempts fail while the receiver is down. A claimed delivery counts
    // its attempt before the outcome is recorded: wait for the outcomes.
    let failed = "SELECT COUNT(*) FROM webhook_deliveries WHERE attempts > 0 AND status = 'pending' AND last_error IS NOT NULL";
    let mut failed_attempts = 0;
    for _ in 0..300 {
        failed_attempts = sql.scalar_i64(failed, &[]).await;
        if failed_attempts == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        failed_attempts, 4,
        "each event was tried and is waiting for a retry"
    );

    // Keyward stops; the receiver comes up; another Keyward process starts.
    drop(first);
    receiver.set_secret(&secret);
    receiver.start().await;
    let _second = start_with(&db, &key_file, false, LOCAL_WEBHOOKS).await;
    until_delivered(&sql).await;
    accepted_exactly_once(&sql, &receiver, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_deliver_each_webhook_event_once() {
    let db = TestDb::new().await;
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("keyward.key");
    let mut receiver = Receiver::new(0);
    receiver.start().await;
    let a = start_with(&db, &key_file, true, LOCAL_WEBHOOKS).await;
    let b = start_with(&db, &key_file, false, LOCAL_WEBHOOKS).await;
    let sql = Sql::connect(&db.url).await;
    let mut owner_at_a = Client::http(&a.base);
    owner_at_a
        .sign_in("owner@acme.test", PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let (_, secret) = crate::webhooks::add_webhook(
        &mut owner_at_a,
        &receiver.url(),
        &[
            "credential.created",
            "credential.disabled",
            "credential.enabled",
        ],
    )
    .await;
    receiver.set_secret(&secret);
    let (client_id, _) = owner_at_a.create_credential("Shared").await;
    owner_at_a.get(CREDENTIALS).await;
    let mut owner_at_b = owner_at_a.at(&b.base);
    // 30 changes, alternating between the instances, while both workers run.
    for i in 0..15 {
        let browser = if i % 2 == 0 {
            &mut owner_at_a
        } else {
            &mut owner_at_b
        };
        browser
            .disable(&client_id)
            .await
            .assert_status(StatusCode::SEE_OTHER);
        browser
            .enable(&client_id)
            .await
            .assert_status(StatusCode::SEE_OTHER);
    }
    until_delivered(&sql).await;
    // Give a duplicate, were there one, time to arrive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    accepted_exactly_once(&sql, &receiver, 31).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_instance_is_not_ready_while_it_drains_then_exits() {
    let db = TestDb::new().await;
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("keyward.key");
    let mut instance = start_with(
        &db,
        &key_file,
        false,
        &[("KEYWARD_SHUTDOWN_DRAIN_SECS", "3")],
    )
    .await;
    let mut probe = Client::http(&instance.base);
    probe
        .get("/readyz")
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("ready");
    // SIGTERM, as systemd and container runtimes stop a service.
    let killed = Command::new("kill")
        .args(["-TERM", &instance.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut saw_draining = false;
    for _ in 0..40 {
        let ready = probe.get("/readyz").await;
        if ready.status == StatusCode::SERVICE_UNAVAILABLE {
            ready.assert_contains("shutting down");
            // Still alive, and still serving, while it drains.
            probe.get("/healthz").await.assert_status(StatusCode::OK);
            saw_draining = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(saw_draining, "/readyz never answered 503 after SIGTERM");
    let mut exited = None;
    for _ in 0..200 {
        if let Some(status) = instance.child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = exited.expect("the server did not stop within 10 s of SIGTERM");
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id_that_the_answer_and_the_error_page_show() {
    let db = TestDb::new().await;
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("keyward.key");
    let log = key_dir.path().join("keyward.log");
    let env = [
        ("KEYWARD_LOG_FORMAT", "json"),
        ("RUST_LOG", "info,sqlx=warn"),
    ];
    let instance = start_logged(&db.url, &key_file, true, &env, Some(&log)).await;
    let mut browser = Client::http(&instance.base);
    browser
        .sign_in("owner@acme.test", PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let missing = browser.get("/settings/webhooks/424242").await;
    missing.assert_status(StatusCode::NOT_FOUND);
    let id = missing.header("x-request-id").to_owned();
    assert_eq!(id.len(), 20, "{id}");
    missing.assert_contains(&format!("quote request ID <code>{id}</code>"));
    let other = browser.get("/healthz").await;
    assert_ne!(other.header("x-request-id"), id, "one id per request");

    // Every line is one JSON object; the 404's line carries its id.
    let mut found = None;
    for _ in 0..50 {
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect();
        found = lines
            .into_iter()
            .find(|l| l["span"]["request_id"] == id.as_str() && l["status"] == 404);
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line = found.expect("a log line with the 404's request id");
    assert_eq!(line["span"]["path"], "/settings/webhooks/424242");
    assert_eq!(line["level"], "INFO");
    // Numbers are numbers, so log tools can aggregate them.
    assert!(line["latency"].is_f64(), "latency in milliseconds: {line}");
    // The password typed at sign-in is in no line.
    assert!(!std::fs::read_to_string(&log).unwrap().contains(PASSWORD));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_load_restores_a_server_that_accepts_earlier_secrets() {
    let db = TestDb::new().await;
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("keyward.key");
    let unlimited = [
        ("KEYWARD_TOKEN_RATE_PER_CLIENT", "100000"),
        ("KEYWARD_TOKEN_RATE_PER_IP", "100000"),
    ];
    let server = start_with(&db, &key_file, true, &unlimited).await;
    let backup = key_dir.path().join("backup.db");
    let backup_arg = backup.to_str().unwrap();
    if !db.url.starts_with("sqlite") {
        let (ok, text) = keyward(&db.url, &key_file, &["backup", backup_arg]);
        assert!(!ok && text.contains("pg_dump"), "{text}");
        return;
    }
    let mut owner = Client::http(&server.base);
    owner
        .sign_in("owner@acme.test", PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let (client_id, secret) = owner.create_credential("Backed up").await;

    // Token requests (each a write: the secret's last use) run from before
    // the backup starts until after it ends.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let base = server.base.clone();
        let (client_id, secret, stop) = (client_id.clone(), secret.clone(), stop.clone());
        tokio::spawn(async move {
            let mut machine = Client::http(&base);
            let (mut issued, mut refused) = (0, 0);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match machine.client_credentials(&client_id, &secret).await.status {
                    StatusCode::OK => issued += 1,
                    _ => refused += 1,
                }
            }
            (issued, refused)
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (ok, text) = keyward(&db.url, &key_file, &["backup", backup_arg]);
    assert!(ok, "{text}");
    assert!(text.contains("the key file is not in it"), "{text}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (issued, refused) = load.await.unwrap();
    assert!(
        issued > 10 && refused == 0,
        "{issued} issued, {refused} refused during the backup"
    );
    assert_eq!(
        keyward::storage::Db::integrity_of(&backup).await.unwrap(),
        "ok"
    );
    // Readable by its owner alone, and without the console's sessions (the
    // owner above has one in the live database).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
    }
    let live = Sql::connect(&db.url).await;
    assert!(live.scalar_i64("SELECT COUNT(*) FROM sessions", &[]).await > 0);
    drop(live);
    let copy_sql = Sql::connect(&format!("sqlite://{}", backup.display())).await;
    assert_eq!(
        copy_sql
            .scalar_i64("SELECT COUNT(*) FROM sessions", &[])
            .await,
        0
    );
    drop(copy_sql);
    // A second backup to the same file is refused rather than overwriting it.
    let (ok, text) = keyward(&db.url, &key_file, &["backup", backup_arg]);
    assert!(!ok && text.contains("exists already"), "{text}");

    // Restoring over a running server is refused.
    let (ok, text) = keyward(&db.url, &key_file, &["restore", backup_arg]);
    assert!(
        !ok && text.contains("a Keyward server is running"),
        "{text}"
    );

    // A server started on the backup, with the same key file, accepts the secret.
    drop(server);
    let copy = key_dir.path().join("copy.db");
    std::fs::copy(&backup, &copy).unwrap();
    let restored = start_logged(
        &format!("sqlite://{}", copy.display()),
        &key_file,
        false,
        &[],
        None,
    )
    .await;
    Client::http(&restored.base)
        .client_credentials(&client_id, &secret)
        .await
        .assert_status(StatusCode::OK);
    drop(restored);

    // With every server stopped, restore puts the backup in place.
    owner_gone_and_restored(&db.url, &key_file, backup_arg, &client_id, &secret).await;
}

async fn owner_gone_and_restored(
    url: &str,
    key_file: &Path,
    backup: &str,
    client_id: &str,
    secret: &str,
) {
    let sql = Sql::connect(url).await;
    sql.execute("DELETE FROM credentials", &[]).await;
    drop(sql);
    let (ok, text) = keyward(url, key_file, &["restore", backup]);
    assert!(ok, "{text}");
    let server = start_logged(url, key_file, false, &[], None).await;
    Client::http(&server.base)
        .client_credentials(client_id, secret)
        .await
        .assert_status(StatusCode::OK);
}

/// The samples of a Prometheus text exposition, parsed by the reference
/// parser (`prometheus_client` from PyPI): (name, labels, value).
fn parse_metrics(text: &str) -> Vec<(String, std::collections::BTreeMap<String, String>, f64)> {
    let python = std::env::var("KEYWARD_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let script = "import sys, json\nfrom prometheus_client.parser import text_string_to_metric_families\nout = [[s.name, s.labels, s.value] for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]\nprint(json.dumps(out))";
    let mut command = Command::new(python);
    command.args(["-c", script]);
    let output = output_with_input(command, text.as_bytes());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn sample(
    samples: &[(String, std::collections::BTreeMap<String, String>, f64)],
    name: &str,
    label: (&str, &str),
) -> f64 {
    samples
        .iter()
        .filter(|(n, labels, _)| {
            n == name && labels.get(label.0).map(String::as_str) == Some(label.1)
        })
        .map(|(_, _, v)| v)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_apart_from_the_console_and_move_with_requests() {
    let db = TestDb::new().await;
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("keyward.key");
    let metrics_port = free_port();
    let addr = format!("127.0.0.1:{metrics_port}");
    let server = start_with(&db, &key_file, true, &[("KEYWARD_METRICS_ADDR", &addr)]).await;
    let scrape = || async {
        let mut metrics = Client::http(&format!("http://{addr}"));
        let page = metrics.get("/metrics").await;
        page.assert_status(StatusCode::OK);
        assert!(
            page.header("content-type")
                .starts_with("text/plain; version=0.0.4")
        );
        parse_metrics(&page.body)
    };
    // Not on the console's address.
    Client::http(&server.base)
        .get("/metrics")
        .await
        .assert_status(StatusCode::NOT_FOUND);

    let mut owner = Client::http(&server.base);
    owner
        .sign_in("owner@acme.test", PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let (client_id, secret) = owner.create_credential("Measured").await;
    let before = scrape().await;
    let mut machine = Client::http(&server.base);
    machine
        .client_credentials(&client_id, &secret)
        .await
        .assert_status(StatusCode::OK);
    machine
        .client_credentials(&client_id, &secret)
        .await
        .assert_status(StatusCode::OK);
    machine
        .client_credentials(&client_id, &mistyped(&secret))
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    Client::http(&server.base)
        .sign_in("owner@acme.test", "not the password at all")
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    let after = scrape().await;

    let moved = |name: &str, label: (&str, &str)| {
        sample(&after, name, label) - sample(&before, name, label)
    };
    assert_eq!(
        moved("keyward_token_requests_total", ("outcome", "issued")),
        2.0
    );
    assert_eq!(
        moved(
            "keyward_token_requests_total",
            ("outcome", "invalid_client")
        ),
        1.0
    );
    assert_eq!(moved("keyward_sign_ins_total", ("outcome", "failed")), 1.0);
    assert!(sample(&after, "keyward_sign_ins_total", ("outcome", "success")) >= 1.0);
    assert_eq!(
        moved("keyward_http_requests_total", ("route", "/oauth/token")),
        3.0
    );
    assert!(
        sample(
            &after,
            "keyward_http_request_duration_seconds_count",
            ("route", "/oauth/token")
        ) >= 3.0
    );
    assert_eq!(
        sample(
            &after,
            "keyward_build_info",
            ("version", env!("CARGO_PKG_VERSION"))
        ),
        1.0
    );
    assert!(
        after
            .iter()
            .any(|(n, _, _)| n == "keyward_db_pool_connections")
    );
    // Label values are bounded: no client ID, email or address in any.
    for (name, labels, _) in &after {
        for value in labels.values() {
            assert!(
                !value.contains("kwid_") && !value.contains('@') && !value.contains("127.0.0.1"),
                "{name} {labels:?}"
            );
        }
    }

    // Any token is a valid method: made-up methods, on routes and off them,
    // fall under one label each and add no series.
    let mut anonymous = Client::http(&server.base);
    anonymous
        .send(anonymous.request("PROBE", "/healthz"))
        .await
        .assert_status(StatusCode::METHOD_NOT_ALLOWED);
    anonymous
        .send(anonymous.request("PROBE", "/nowhere"))
        .await
        .assert_status(StatusCode::NOT_FOUND);
    let series = scrape().await.len();
    for i in 0..40 {
        for path in ["/healthz", &format!("/nowhere/{i}")] {
            let response = anonymous
                .send(anonymous.request(&format!("MADEUP{i}"), path))
                .await;
            assert!(
                response.status.is_client_error(),
                "{path}: {}",
                response.status
            );
        }
    }
    let flooded = scrape().await;
    assert_eq!(flooded.len(), series, "made-up methods added series");
    assert!(
        flooded.iter().all(|(_, labels, _)| labels
            .get("method")
            .is_none_or(|m| !m.starts_with("MADEUP") && !m.starts_with("PROBE"))),
        "a made-up method became a label"
    );
    // Routed requests are counted (the 405s); unrouted ones (404) are not.
    assert_eq!(
        sample(&flooded, "keyward_http_requests_total", ("method", "other"))
            - sample(&after, "keyward_http_requests_total", ("method", "other")),
        41.0
    );
}

#[test]
fn settings_layer_file_then_environment_then_flags_and_name_their_mistakes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keyward.toml");
    std::fs::write(
        &file,
        "addr = \"127.0.0.1:9001\"\ntoken_rate_per_ip = 7\nupgrade_contact = \"the file\"\n[backup]\nkeep = 3\n",
    )
    .unwrap();
    let check = |env: &[(&str, &str)], args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_keyward"))
            .arg("--config")
            .arg(&file)
            .args(args)
            .args(["config", "check"])
            .env_remove("DATABASE_URL")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            output.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    };
    // The file over the defaults.
    let (ok, text) = check(&[], &[]);
    assert!(ok, "{text}");
    for line in [
        "addr = \"127.0.0.1:9001\"",
        "token_rate_per_ip = 7",
        "keep = 3",
        "token_rate_per_client = 20",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    // The environment over the file; a flag over both.
    let (ok, text) = check(
        &[
            ("KEYWARD_TOKEN_RATE_PER_IP", "8"),
            ("KEYWARD_ADDR", "127.0.0.1:9002"),
            ("KEYWARD_UPGRADE_CONTACT", "12345"),
        ],
        &["--addr", "127.0.0.1:9003"],
    );
    assert!(ok, "{text}");
    for line in [
        "addr = \"127.0.0.1:9003\"",
        "token_rate_per_ip = 8",
        "upgrade_contact = \"12345\"",
        "keep = 3",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    // Passwords are redacted.
    let (ok, text) = check(
        &[(
            "KEYWARD_SMTP_URL",
            "smtps://mailer:hunter2@mail.example.com:465",
        )],
        &[],
    );
    assert!(
        ok && text.contains("mailer:[redacted]@") && !text.contains("hunter2"),
        "{text}"
    );
    // Values are typed when read: check prints what the server runs with,
    // computed defaults included, networks as parsed.
    let (ok, text) = check(
        &[("KEYWARD_TRUSTED_PROXIES", " 10.0.0.0/8, 192.0.2.7")],
        &["--log-format", "json"],
    );
    assert!(ok, "{text}");
    for line in [
        "public_url = \"http://127.0.0.1:9001\"",
        "trusted_proxies = \"10.0.0.0/8,192.0.2.7/32\"",
        "log_format = \"json\"",
        "every = \"1d\"",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    // A bad value names its setting and where it came from.
    for (env, args, expected) in [
        (
            ("KEYWARD_BACKUP_KEEP", "lots"),
            &[][..],
            "backup.keep: invalid type",
        ),
        (
            ("KEYWARD_ENVIRONMENT", "prod"),
            &[],
            "environment: `prod` is not sandbox or production (from environment variable)",
        ),
        (
            ("KEYWARD_WEBHOOK_ALLOWED_NETWORKS", "10.0.0.0/8,intranet"),
            &[],
            "webhook.allowed_networks: `intranet` is not an IP address or CIDR range (from environment variable)",
        ),
        (
            ("KEYWARD_BACKUP_EVERY", "6"),
            &[],
            "backup.every: `6` is not a period such as 30m, 6h or 1d (from environment variable)",
        ),
        (
            ("KEYWARD_UNUSED", ""),
            &["--log-format", "xml"],
            "log_format: `xml` is not text or json (from command-line flag)",
        ),
    ] {
        let (ok, text) = check(&[env], args);
        assert!(!ok && text.contains(expected), "{expected} in {text}");
    }
    // An unknown key names itself and the file.
    std::fs::write(&file, "addr = \"127.0.0.1:9001\"\ntoken_rate = 5\n").unwrap();
    let (ok, text) = check(&[], &[]);
    assert!(
        !ok && text.contains("token_rate") && text.contains(file.to_str().unwrap()),
        "{text}"
    );
}

#[test]
fn the_readme_lists_every_setting_as_the_code_defines_it() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("<!-- settings reference: generated by `keyward config reference` -->\n")
        .expect("the README marks its settings reference");
    let end = readme.find("<!-- end of settings reference -->").unwrap();
    let table = &readme[start..end];
    let table = &table[table.find('\n').unwrap() + 1..];
    assert_eq!(
        table,
        keyward::settings::reference_table(),
        "run `keyward config reference` and paste its output into the README"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allowlist_judges_the_forwarded_client_behind_a_trusted_proxy_and_ipv6_clients_by_their_socket()
 {
    let db = TestDb::new().await;
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("keyward.key");
    // This instance is behind a balancer at 127.0.0.1.
    let proxied = start_with(
        &db,
        &key_file,
        true,
        &[("KEYWARD_TRUSTED_PROXIES", "127.0.0.1")],
    )
    .await;
    let mut owner = Client::http(&proxied.base);
    owner
        .sign_in("owner@acme.test", PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner.get(NEW_CREDENTIAL).await;
    let limited = with(
        credential_fields("Behind the balancer"),
        &[
            ("ip_mode", "limited"),
            ("ip_list", "203.0.113.0/24\n2001:db8::/32\n::1"),
        ],
    );
    let page = owner.submit_credential(&limited).await;
    page.assert_status(StatusCode::OK);
    let (id, secret) = (
        client_id_in(&page.body).unwrap(),
        secret_in(&page.body).unwrap(),
    );
    let token_from = |base: &str, forwarded: Option<&str>| {
        let mut machine = Client::http(base);
        let mut request = machine
            .request("POST", "/oauth/token")
            .form(&[("grant_type", "client_credentials")])
            .basic_auth(&id, &secret);
        if let Some(forwarded) = forwarded {
            request = request.header("x-forwarded-for", forwarded);
        }
        async move { machine.send(request).await }
    };
    let refused = |response: TestResponse, ip: &str| {
        response
            .assert_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client")
            .assert_contains(&format!("Requests from {ip} are not allowed"));
    };

    // From the trusted balancer, the client it names is judged.
    token_from(&proxied.base, Some("203.0.113.9"))
        .await
        .assert_status(StatusCode::OK);
    token_from(&proxied.base, Some("2001:db8::7"))
        .await
        .assert_status(StatusCode::OK);
    refused(
        token_from(&proxied.base, Some("198.51.100.1")).await,
        "198.51.100.1",
    );
    // A client that sends its own header first gains nothing: the balancer
    // appends the address it saw, and that one is judged.
    refused(
        token_from(&proxied.base, Some("203.0.113.9, 198.51.100.1")).await,
        "198.51.100.1",
    );
    // Without the header, the balancer itself is the client.
    refused(token_from(&proxied.base, None).await, "127.0.0.1");
    let sql = Sql::connect(&db.url).await;
    let last_used = "SELECT s.last_used_ip FROM credential_secrets s JOIN credentials c ON c.id = s.credential_id WHERE c.client_id = $1";
    assert_eq!(sql.string(last_used, &[(&id).into()]).await, "203.0.113.9");

    // An instance that trusts no proxy ignores the header: the socket decides.
    let direct = start(&db, &key_file, false).await;
    refused(
        token_from(&direct.base, Some("203.0.113.9")).await,
        "127.0.0.1",
    );
    // An IPv6 client, on the real socket of an instance listening on ::1.
    let v6 = start_at("[::1]", &db.url, &key_file, false, &[], None).await;
    token_from(&v6.base, None)
        .await
        .assert_status(StatusCode::OK);
    // Last used is written at most once a minute: the row still says the
    // first address, and the audit of a refusal names the IPv6 one.
    assert_eq!(sql.string(last_used, &[(&id).into()]).await, "203.0.113.9");
    owner.get(NEW_CREDENTIAL).await;
    let v4_only = with(
        credential_fields("IPv4 only"),
        &[("ip_mode", "limited"), ("ip_list", "203.0.113.0/24")],
    );
    let page = owner.submit_credential(&v4_only).await;
    page.assert_status(StatusCode::OK);
    let (v4_id, v4_secret) = (
        client_id_in(&page.body).unwrap(),
        secret_in(&page.body).unwrap(),
    );
    let mut machine = Client::http(&v6.base);
    let response = machine
        .token_request(
            &[("grant_type", "client_credentials")],
            Some((&v4_id, &v4_secret)),
        )
        .await;
    refused(response, "::1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_disable_and_both_failure_throttles_hold_across_instances() {
    let db = TestDb::new().await;
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("keyward.key");
    let a = start(&db, &key_file, true).await;
    let b = start(&db, &key_file, false).await;
    let mut owner = Client::http(&a.base);
    owner
        .sign_in("owner@acme.test", PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let (id, secret) = owner.create_credential("Shared client").await;
    let (rs_id, rs_secret) = owner.create_credential("Shared resource").await;
    let rs = Auth::Basic(&rs_id, &rs_secret);
    let (mut at_a, mut at_b) = (Client::http(&a.base), Client::http(&b.base));

    // Revoked through B, inactive at A.
    let token = at_a.get_token(&id, &secret).await;
    assert_eq!(at_a.introspect(rs, &token).await["active"], true);
    at_b.revoke(Auth::Basic(&id, &secret), &token)
        .await
        .assert_status(StatusCode::OK);
    assert_eq!(
        at_a.introspect(rs, &token).await,
        json!({ "active": false })
    );

    // Disabled through A, refused at B.
    owner.get(CREDENTIALS).await;
    owner
        .disable(&id)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    at_b.client_credentials(&id, &secret)
        .await
        .assert_oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client");
    owner.enable(&id).await.assert_status(StatusCode::SEE_OTHER);
    at_b.get_token(&id, &secret).await;

    // An instance started with another key checks secrets against digests
    // it cannot make: every secret is wrong there, and its tokens verify
    // with a key nobody publishes.
    let other_key = key_dir.path().join("other.key");
    let stranger = start(&db, &other_key, false).await;
    let mut at_stranger = Client::http(&stranger.base);
    at_stranger
        .client_credentials(&rs_id, &rs_secret)
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    let jwks_a = at_a.get("/.well-known/jwks.json").await.json();
    let jwks_stranger = at_stranger.get("/.well-known/jwks.json").await.json();
    assert_ne!(jwks_a["keys"][0]["x"], jwks_stranger["keys"][0]["x"]);

    // Failures per client ID, alternating instances: the 20th is refused
    // with 429 wherever it lands.
    let wrong = well_formed_wrong_secret();
    for n in 1..=19 {
        let at = if n % 2 == 0 { &mut at_a } else { &mut at_b };
        at.client_credentials(&id, &wrong)
            .await
            .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    at_a.client_credentials(&id, &wrong)
        .await
        .assert_oauth_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    at_b.client_credentials(&id, &wrong)
        .await
        .assert_oauth_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");

    // Failures per address (100 in the window), each for another unknown
    // client ID, alternating instances: the address is throttled at both.
    let sql = Sql::connect(&db.url).await;
    let so_far = sql
        .scalar_i64(
            "SELECT COUNT(*) FROM sign_in_failures WHERE key = 'token-ip:127.0.0.1'",
            &[],
        )
        .await;
    assert_eq!(
        so_far, 22,
        "the other key's, the 19 failures and the 2 refused"
    );
    for n in so_far + 1..100 {
        let at = if n % 2 == 0 { &mut at_a } else { &mut at_b };
        let unknown = format!("kwid_{n:0>22}");
        at.client_credentials(&unknown, &wrong)
            .await
            .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    for at in [&mut at_a, &mut at_b] {
        at.client_credentials(&format!("kwid_{:0>22}", 100), &wrong)
            .await
            .assert_oauth_error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    }

    // Failed sign-ins for one account, alternating instances: the sixth
    // attempt is refused at both, even with the right password.
    for n in 0..5 {
        let base = if n % 2 == 0 { &a.base } else { &b.base };
        Client::http(base)
            .sign_in("admin@acme.test", "not the password!")
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    }
    for base in [&a.base, &b.base] {
        Client::http(base)
            .sign_in("admin@acme.test", PASSWORD)
            .await
            .assert_status(StatusCode::TOO_MANY_REQUESTS)
            .assert_contains("Too many failed sign-in attempts.");
    }
}

#[tokio::test]
async fn a_component_the_settings_name_but_that_cannot_be_built_stops_the_server_naming_it() {
    use keyward::settings::Settings;
    let test_db = TestDb::new().await;
    let build = |change: fn(&mut Settings)| {
        let url = test_db.url.clone();
        async move {
            let mut settings = Settings::for_database(url.clone());
            change(&mut settings);
            let db = keyward::storage::Db::connect(&url).await.unwrap();
            keyward::AppState::new(db, settings, keyward::keys::Keys::random())
                .err()
                .map(|e| format!("{e:#}"))
        }
    };
    assert_eq!(build(|_| {}).await, None);
    let smtp = build(|s| s.smtp_url = Some("nope".to_owned())).await;
    assert!(
        smtp.as_deref()
            .is_some_and(|e| e.contains("KEYWARD_SMTP_URL is not a usable SMTP URL")),
        "{smtp:?}"
    );
    let from = build(|s| {
        s.smtp_url = Some("smtp://127.0.0.1:25".to_owned());
        s.smtp_from = "not an address".to_owned();
    })
    .await;
    assert!(
        from.as_deref()
            .is_some_and(|e| e.contains("KEYWARD_SMTP_FROM is not an email address")),
        "{from:?}"
    );
    let keys = build(|s| s.leak_public_keys = Some("/nonexistent/keys.json".into())).await;
    assert!(
        keys.as_deref()
            .is_some_and(|e| e.contains("reading the leak public keys /nonexistent/keys.json")),
        "{keys:?}"
    );
}
