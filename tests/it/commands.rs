//! The binary's one-shot commands an operator runs (`keyward migrate`,
//! `keyward user add`), and what a real server writes to its log after
//! every kind of secret has passed through it.

use std::path::Path;

use axum::http::StatusCode;

use crate::support::pages::*;
use crate::support::process::*;
use crate::support::testdb::TestDb;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyward_migrate_applies_every_migration_once() {
    let db = TestDb::new().await;
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("keyward.key");
    let backend = if db.url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    let shipped = std::fs::read_dir(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend),
    )
    .unwrap()
    .count() as i64;
    for _ in 0..2 {
        let (ok, text) = keyward(&db.url, &key_file, &["migrate"]);
        assert!(ok, "{text}");
        let sql = Sql::connect(&db.url).await;
        let applied = sql
            .scalar_i64("SELECT COUNT(*) FROM _sqlx_migrations WHERE success", &[])
            .await;
        assert_eq!(applied, shipped, "every migration, once");
        // The schema is there: the tables the app writes first.
        assert_eq!(
            sql.scalar_i64("SELECT COUNT(*) FROM organizations", &[])
                .await,
            0
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyward_user_add_makes_an_account_that_signs_in_with_its_role() {
    let db = TestDb::new().await;
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("keyward.key");
    // Acme Payments exists (the demo data), then the server stops.
    drop(start(&db, &key_file, true).await);
    let add = |email: &str, password: &str, extra: &[&str]| {
        let mut args = vec!["user", "add", "--email", email, "--name", "Olga Operator"];
        args.extend_from_slice(extra);
        keyward_with_input(&db.url, &key_file, &args, &format!("{password}\n"))
    };
    let acme = ["--org", "Acme Payments", "--role", "admin-view"];
    let users = "SELECT COUNT(*) FROM users";
    let sql = Sql::connect(&db.url).await;
    let before = sql.scalar_i64(users, &[]).await;

    // Mistakes are named and write nothing.
    let (ok, text) = add("olga@acme.test", "short", &acme);
    assert!(!ok && text.contains("12"), "{text}");
    let (ok, text) = add(
        "olga@acme.test",
        "a long enough password",
        &["--org", "Nowhere Inc", "--role", "admin-view"],
    );
    assert!(!ok && text.contains("Nowhere Inc"), "{text}");
    let (ok, text) = add(
        "olga@acme.test",
        "a long enough password",
        &["--org", "Acme Payments", "--role", "king"],
    );
    assert!(
        !ok && text.contains("--role must be owner, admin-edit or admin-view"),
        "{text}"
    );
    let (ok, text) = add("not an email", "a long enough password", &acme);
    assert!(!ok && text.to_lowercase().contains("email"), "{text}");
    assert_eq!(sql.scalar_i64(users, &[]).await, before);

    let (ok, text) = add("olga@acme.test", "a long enough password", &acme);
    assert!(ok && text.contains("added olga@acme.test"), "{text}");
    let (ok, text) = add("olga@acme.test", "a long enough password", &acme);
    assert!(!ok, "a second account for one email: {text}");
    assert_eq!(sql.scalar_i64(users, &[]).await, before + 1);
    // The password is stored as an argon2id hash only.
    let hash = sql
        .string(
            "SELECT password_hash FROM users WHERE email = 'olga@acme.test'",
            &[],
        )
        .await;
    // argon2id at 19 MiB, 2 iterations, 1 lane (OWASP's first choice),
    // keyed by the server key ("kw1" in base64).
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1,keyid=a3cx$"),
        "{hash}"
    );

    // Without the key the hash gives no way to test the password: a server
    // with another key refuses the right one.
    let other_key = key_dir.path().join("another.key");
    let stranger = start(&db, &other_key, false).await;
    Client::http(&stranger.base)
        .sign_in("olga@acme.test", "a long enough password")
        .await
        .assert_status(StatusCode::UNAUTHORIZED);
    drop(stranger);

    let server = start(&db, &key_file, false).await;
    let mut olga = Client::http(&server.base);
    olga.sign_in("olga@acme.test", "a long enough password")
        .await
        .assert_status(StatusCode::SEE_OTHER);
    olga.get(CREDENTIALS)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Acme Payments")
        .assert_contains("API Credentials: Can View")
        .assert_lacks("New Credential");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_holds_no_secret_password_cookie_token_or_query_string() {
    let db = TestDb::new().await;
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("keyward.key");
    let log = key_dir.path().join("keyward.log");
    // Debug, as an operator chasing a problem would turn it on.
    let server = start_logged(
        &db.url,
        &key_file,
        true,
        &[("RUST_LOG", "debug")],
        Some(&log),
    )
    .await;
    let mut owner = Client::http(&server.base);
    let wrong_password = "Wrong-Password-Typed-3141";
    owner.sign_in("owner@acme.test", wrong_password).await;
    owner
        .sign_in("owner@acme.test", PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let session = owner.cookie.clone().unwrap();
    let (id, secret) = owner.create_credential("Logged client").await;
    let (rs_id, rs_secret) = owner.create_credential("Logged resource").await;
    let mut machine = Client::http(&server.base);
    let token = machine.get_token(&id, &secret).await;
    let by_basic = machine
        .token_request(
            &[("grant_type", "client_credentials")],
            Some((&id, &secret)),
        )
        .await;
    by_basic.assert_status(StatusCode::OK);
    machine
        .introspect(Auth::Basic(&rs_id, &rs_secret), &token)
        .await;
    machine
        .revoke(Auth::Post(&id, &secret), &token)
        .await
        .assert_status(StatusCode::OK);
    let rotated = owner.rotate(&id, Grace::Hours(1)).await;
    let new_secret = secret_in(&rotated.body).unwrap();
    let acme = Sql::connect(&db.url)
        .await
        .scalar_i64(
            "SELECT id FROM organizations WHERE name = 'Acme Payments'",
            &[],
        )
        .await;
    let pat = owner.api_token("logged token", acme, "write").await;
    owner
        .api("GET", "/api/v1/credentials", &pat, None)
        .await
        .assert_status(StatusCode::OK);
    let link = owner
        .invitation_link("logged@acme.test", Role::CanView)
        .await;
    let invitation = link.trim_start_matches("/invitations/").to_owned();
    Client::http(&server.base)
        .get(&link)
        .await
        .assert_status(StatusCode::OK);
    owner
        .get("/audit-log?actor=query-marker-2718&action=credential.created")
        .await
        .assert_status(StatusCode::OK);
    owner
        .change_password(PASSWORD, "Another-Password-2718")
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let csrf = owner.csrf.clone().unwrap();
    drop(server);

    let text = std::fs::read_to_string(&log).unwrap();
    // The log is there, and it logged these requests.
    assert!(
        text.contains("/oauth/token") && text.contains("/audit-log"),
        "{text}"
    );
    assert!(text.contains("/invitations/[token]"), "{text}");
    let session_id = session.split_once('=').unwrap().1;
    for (what, value) in [
        ("the password", PASSWORD),
        ("a wrong password", wrong_password),
        ("the new password", "Another-Password-2718"),
        ("a client secret", secret.as_str()),
        ("the secret's body", &secret["kws_test_".len()..]),
        ("the rotated secret", new_secret.as_str()),
        ("the resource server's secret", rs_secret.as_str()),
        ("an access token", token.as_str()),
        ("a personal access token", pat.as_str()),
        ("an invitation token", invitation.as_str()),
        ("the session id", session_id),
        ("the CSRF token", csrf.as_str()),
        ("a query string", "query-marker-2718"),
        ("a Basic header", "Basic "),
        ("a bearer header", "Bearer kwpat_"),
    ] {
        assert!(!text.contains(value), "the log holds {what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyward_health_exits_zero_only_when_the_path_answers_200() {
    let db = TestDb::new().await;
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("keyward.key");
    let server = start(&db, &key_file, true).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let health = |addr: &str, extra: &[&str]| {
        let mut args = vec!["health"];
        args.extend_from_slice(extra);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
            .args(&args)
            .env("KEYWARD_ADDR", addr)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.success(), text)
    };
    assert!(health(&addr, &[]).0, "/healthz answers 200");
    assert!(
        health(&addr, &["--path", "/readyz"]).0,
        "/readyz answers 200"
    );
    let (ok, text) = health(&addr, &["--path", "/no-such-probe"]);
    assert!(!ok && text.contains("404"), "{text}");
    drop(server);
    let (ok, text) = health(&addr, &[]);
    assert!(!ok && text.contains("does not answer"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyward_restore_refuses_a_file_that_is_not_a_sound_database() {
    let db = TestDb::new().await;
    if !db.url.starts_with("sqlite") {
        return; // PostgreSQL is restored with pg_restore (instances.rs checks the refusal).
    }
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("keyward.key");
    drop(start(&db, &key_file, true).await);
    let sql = Sql::connect(&db.url).await;
    let users = sql.scalar_i64("SELECT COUNT(*) FROM users", &[]).await;
    // A copy cut short, as an interrupted transfer leaves it.
    let good = key_dir.path().join("good.db");
    let (ok, text) = keyward(&db.url, &key_file, &["backup", good.to_str().unwrap()]);
    assert!(ok, "{text}");
    let bytes = std::fs::read(&good).unwrap();
    let cut = key_dir.path().join("cut.db");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let garbage = key_dir.path().join("garbage.db");
    std::fs::write(&garbage, b"not a database at all, just text").unwrap();
    for bad in [&cut, &garbage] {
        let (ok, text) = keyward(&db.url, &key_file, &["restore", bad.to_str().unwrap()]);
        assert!(!ok, "restored {}: {text}", bad.display());
        assert!(
            text.contains(bad.to_str().unwrap()) || text.contains("database"),
            "{text}"
        );
    }
    assert_eq!(
        sql.scalar_i64("SELECT COUNT(*) FROM users", &[]).await,
        users
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_its_journal_and_its_backups_are_readable_by_their_owner_alone() {
    use std::os::unix::fs::PermissionsExt;
    let db = TestDb::new().await;
    if !db.url.starts_with("sqlite") {
        return; // PostgreSQL's files are the database server's.
    }
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let file = Path::new(db.url.strip_prefix("sqlite://").unwrap()).to_owned();
    let companion = |suffix: &str| {
        let mut name = file.as_os_str().to_owned();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("keyward.key");
    // While a server runs, the WAL and SHM files hold live session ids.
    let server = start(&db, &key_file, true).await;
    for path in [file.clone(), companion("-wal"), companion("-shm")] {
        assert_eq!(mode(&path), 0o600, "{}: {:o}", path.display(), mode(&path));
    }
    drop(server);

    // A database an earlier version left world-readable is made private at start.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(start(&db, &key_file, false).await);
    assert_eq!(mode(&file), 0o600, "{:o}", mode(&file));

    let backup = key_dir.path().join("backup.db");
    let (ok, text) = keyward(&db.url, &key_file, &["backup", backup.to_str().unwrap()]);
    assert!(ok, "{text}");
    assert_eq!(mode(&backup), 0o600, "{:o}", mode(&backup));
    // Restoring from a copy someone left world-readable keeps the database private.
    std::fs::set_permissions(&backup, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, text) = keyward(&db.url, &key_file, &["restore", backup.to_str().unwrap()]);
    assert!(ok, "{text}");
    assert_eq!(mode(&file), 0o600, "{:o}", mode(&file));
}

/// `TOKEN=$(keyward token add …)` holds the token and nothing else, however
/// much is logged: the log is on standard error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_prints_its_result_alone_on_standard_output_and_logs_on_standard_error() {
    let db = TestDb::new().await;
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("keyward.key");
    let server = start_logged(&db.url, &key_file, true, &[], None).await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["token", "add", "--email", "owner@acme.test"])
        .args(["--org", "Acme Payments", "--name", "ci", "--access", "read"])
        .env("DATABASE_URL", &db.url)
        .env("KEYWARD_KEY_FILE", &key_file)
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.len() == 1 && lines[0].starts_with("kwpat_"),
        "standard output: {stdout:?}"
    );
    assert!(
        !stderr.trim().is_empty(),
        "the debug log is on standard error"
    );
    assert!(!stderr.contains(lines[0]), "the token is not logged");
    Client::http(&server.base)
        .api("GET", "/api/v1/credentials", lines[0], None)
        .await
        .assert_status(StatusCode::OK);
}
