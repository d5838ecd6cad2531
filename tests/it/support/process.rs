//! Keyward as a real process: `keyward serve` on a loopback port, killed
//! on drop, and one-shot commands (`keyward migrate`, `keyward user add`, …).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::http::StatusCode;

use super::testdb::TestDb;
use super::{Client, PASSWORD, free_port};

/// The name both instances issue tokens under, as behind a balancer.
pub const PUBLIC_URL: &str = "http://keyward.test";

/// A `keyward serve` process, killed on drop.
pub struct Instance {
    pub child: Child,
    pub base: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `keyward serve` (with the demo data when `demo`) on a free loopback
/// port and waits until it answers.
pub async fn start(db: &TestDb, key_file: &Path, demo: bool) -> Instance {
    start_with(db, key_file, demo, &[]).await
}

/// [`start`] with more environment variables.
pub async fn start_with(
    db: &TestDb,
    key_file: &Path,
    demo: bool,
    env: &[(&str, &str)],
) -> Instance {
    start_logged(&db.url, key_file, demo, env, None).await
}

/// [`start_with`], writing its standard output (the log) to `log` if given.
pub async fn start_logged(
    database_url: &str,
    key_file: &Path,
    demo: bool,
    env: &[(&str, &str)],
    log: Option<&Path>,
) -> Instance {
    start_at("127.0.0.1", database_url, key_file, demo, env, log).await
}

/// [`start_logged`] listening on `host` (`127.0.0.1`, or `[::1]`).
pub async fn start_at(
    host: &str,
    database_url: &str,
    key_file: &Path,
    demo: bool,
    env: &[(&str, &str)],
    log: Option<&Path>,
) -> Instance {
    // A port free when chosen may be taken (by another test's server) before
    // the process binds it; the process then exits, and another is tried.
    for _ in 0..5 {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyward"));
        command
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("KEYWARD_KEY_FILE", key_file)
            .env("KEYWARD_ADDR", format!("{host}:{port}"))
            .env("KEYWARD_PUBLIC_URL", PUBLIC_URL)
            .env("KEYWARD_DEMO_PASSWORD", PASSWORD)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            // The log is on standard error; standard output is for what a
            // command prints.
            .stdout(Stdio::null())
            .stderr(match log {
                Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
                None => Stdio::null(),
            });
        if demo {
            command.arg("--demo");
        }
        let mut instance = Instance {
            child: command.spawn().unwrap(),
            base: format!("http://{host}:{port}"),
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
        let host = instance.base["http://".len()..].rsplit_once(':').unwrap().0;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if tokio::net::TcpStream::connect((host, port)).await.is_ok() {
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

/// `keyward ARGS` against `database_url` and `key_file`; its exit status and output.
pub fn keyward(database_url: &str, key_file: &Path, args: &[&str]) -> (bool, String) {
    keyward_with_input(database_url, key_file, args, "")
}

/// [`keyward`] with `stdin` on its standard input (a password, say).
pub fn keyward_with_input(
    database_url: &str,
    key_file: &Path,
    args: &[&str],
    stdin: &str,
) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keyward"));
    command
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("KEYWARD_KEY_FILE", key_file)
        .env("RUST_LOG", "warn");
    let output = output_with_input(command, stdin.as_bytes());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Runs `command` with `stdin` on its standard input; its whole output.
pub fn output_with_input(mut command: Command, stdin: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}
