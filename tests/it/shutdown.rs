//! Stopping a server mid-work: SIGTERM while a webhook delivery and an
//! expiry reminder are in hand. The real binary, a webhook receiver and an
//! SMTP server on loopback that each hold what they get for a moment, so
//! the signal lands mid-send.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::support::process::*;
use crate::support::testdb::TestDb;
use crate::support::*;

const DAY: i64 = 86_400;
/// How long the server drains after SIGTERM.
const DRAIN_SECS: u64 = 2;
/// How long the receiver and the SMTP server hold each request: less than
/// the drain, so what is in hand at the signal can finish within it.
const HOLD: Duration = Duration::from_millis(1200);

/// What a receiver got, and what it answered before the sender went away.
#[derive(Default, Debug)]
struct Seen {
    arrived: Vec<String>,
    answered: Vec<String>,
    /// Given up by the sender while held (SMTP only: the connection closed).
    abandoned: Vec<String>,
}

type Shared = Arc<Mutex<Seen>>;

/// A webhook receiver that holds each delivery for [`HOLD`], then answers 200.
async fn holding_receiver() -> (String, Shared) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/keyward", listener.local_addr().unwrap());
    let seen = Shared::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/hooks/keyward",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let log = log.clone();
            async move {
                let id = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                log.lock().unwrap().arrived.push(id.clone());
                tokio::time::sleep(HOLD).await;
                log.lock().unwrap().answered.push(id);
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// An SMTP server that holds each message for [`HOLD`] after its data,
/// then accepts it (250), unless the client hangs up first. Each message is
/// named by its recipient.
async fn holding_smtp() -> (String, Shared) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let seen = Shared::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::spawn(smtp_session(socket, log.clone()));
        }
    });
    (url, seen)
}

async fn smtp_session(socket: tokio::net::TcpStream, log: Shared) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    let mut recipient = String::new();
    let _ = write.write_all(b"220 holding ESMTP\r\n").await;
    loop {
        let mut line = String::new();
        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let command = line.trim_end().to_ascii_uppercase();
        let answer: &[u8] = if command.starts_with("RCPT TO:") {
            recipient = line.trim_end()["RCPT TO:".len()..].to_owned();
            b"250 ok\r\n"
        } else if command == "DATA" {
            let _ = write.write_all(b"354 go on\r\n").await;
            loop {
                let mut data = String::new();
                if lines.read_line(&mut data).await.unwrap_or(0) == 0 {
                    return;
                }
                if data.trim_end() == "." {
                    break;
                }
            }
            log.lock().unwrap().arrived.push(recipient.clone());
            // Held; a client that hangs up meanwhile never gets the 250.
            let mut rest = String::new();
            tokio::select! {
                () = tokio::time::sleep(HOLD) => {}
                _ = lines.read_line(&mut rest) => {
                    log.lock().unwrap().abandoned.push(recipient.clone());
                    return;
                }
            }
            log.lock().unwrap().answered.push(recipient.clone());
            b"250 queued\r\n"
        } else if command == "QUIT" {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"250 ok\r\n"
        };
        if write.write_all(answer).await.is_err() {
            return;
        }
    }
}

/// Waits up to 20 seconds for `ready`.
async fn until(what: &str, ready: impl Fn() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < Duration::from_secs(20), "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_mid_delivery_and_mid_reminder_finishes_both_leaves_the_rest_claimable_and_exits_within_the_drain()
 {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("keyward.key");
    let (hook_url, hooks) = holding_receiver().await;
    let (smtp_url, mails) = holding_smtp().await;
    let drain = DRAIN_SECS.to_string();
    let env = [
        ("KEYWARD_WEBHOOK_ALLOW_HTTP", "true"),
        ("KEYWARD_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8"),
        ("KEYWARD_SMTP_URL", smtp_url.as_str()),
        ("KEYWARD_SMTP_FROM", "Keyward <keyward@acme.test>"),
        ("KEYWARD_SHUTDOWN_DRAIN_SECS", drain.as_str()),
    ];

    // Set up on a first server: Acme's owner subscribes to expiry reminders
    // and holds three credentials (the demo's and two more).
    let setup = start_with(&db, &key_file, true, &env).await;
    let mut owner = Client::http(&setup.base);
    owner
        .sign_in("owner@acme.test", PASSWORD)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    crate::webhooks::add_webhook(&mut owner, &hook_url, &["credential.expiring"]).await;
    owner.create_credential("Second bot").await;
    owner.create_credential("Third bot").await;
    drop(setup);
    // All three expire within a week, one day apart: three reminders, each
    // an email to the owner (their creator) and a webhook delivery.
    let sql = Sql::connect(&db.url).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let ids = sql
        .strings("SELECT client_id FROM credentials ORDER BY id", &[])
        .await;
    assert_eq!(ids.len(), 3);
    for (i, id) in (2..).zip(&ids) {
        sql.execute(
            "UPDATE credentials SET expires_at = $1 WHERE client_id = $2",
            &[(now + i * DAY).into(), id.into()],
        )
        .await;
    }

    // The server under test sends the first reminder as it starts.
    let log = dir.path().join("keyward.log");
    let mut server = start_logged(&db.url, &key_file, false, &env, Some(&log)).await;
    until("the first reminder email reached the SMTP server", || {
        !mails.lock().unwrap().arrived.is_empty()
    })
    .await;
    until("its webhook delivery reached the receiver", || {
        !hooks.lock().unwrap().arrived.is_empty()
    })
    .await;
    let in_hand = hooks.lock().unwrap().arrived[0].clone();
    assert!(mails.lock().unwrap().answered.is_empty(), "sent mid-email");
    assert!(
        hooks.lock().unwrap().answered.is_empty(),
        "sent mid-delivery"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let signalled = Instant::now();

    // It exits, successfully, within the drain (and a little).
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(DRAIN_SECS + 2),
            "still running {DRAIN_SECS} s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = signalled.elapsed();
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{status}\n{log}");
    assert!(took >= Duration::from_secs(DRAIN_SECS), "{took:?}");

    // The delivery in hand was finished: the receiver answered, and the
    // row says delivered. Every other is claimable now, none held by a
    // lease of the stopped server.
    let after = time::OffsetDateTime::now_utc().unix_timestamp();
    let rows: Vec<(String, String, i64, Option<i64>)> = sql
        .all(
            "SELECT message_id, status, locked_until, response_status FROM webhook_deliveries",
            &[],
        )
        .await;
    let hooks = std::mem::take(&mut *hooks.lock().unwrap());
    assert!(hooks.answered.contains(&in_hand), "{hooks:?}");
    for (id, status, locked_until, answer) in &rows {
        let delivered =
            status == "delivered" && *answer == Some(200) && hooks.answered.contains(id);
        let claimable = status == "pending" && *locked_until <= after;
        assert!(
            delivered || claimable,
            "delivery {id} is {status}, locked {} s more, answered {answer:?}: {rows:?}\n{log}",
            locked_until - after
        );
    }
    assert!(
        rows.iter()
            .any(|(id, status, ..)| *id == in_hand && status == "delivered"),
        "{rows:?}"
    );

    // The reminder in hand was finished: every reminder recorded as sent
    // had its email accepted, none was cut off, and the rest are still due.
    let reminded = sql
        .scalar_i64("SELECT COUNT(*) FROM credential_reminders", &[])
        .await;
    let mails = std::mem::take(&mut *mails.lock().unwrap());
    assert!(
        mails.abandoned.is_empty(),
        "an email was cut off: {mails:?}"
    );
    assert_eq!(
        mails.answered.len() as i64,
        reminded,
        "recorded reminders whose email was not sent: {mails:?}"
    );
    assert!(
        (1..3).contains(&reminded),
        "{reminded} reminders sent: the one in hand, and no new one after SIGTERM"
    );
    assert!(mails.answered.iter().all(|to| to == "<owner@acme.test>"));
}
