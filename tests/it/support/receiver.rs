//! A real webhook receiver on loopback (`webhook_receiver.py`): it verifies
//! each delivery with the `standardwebhooks` Python library and logs what it
//! saw and answered. `tests/run.sh` installs the library.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Receiver {
    pub port: u16,
    secret_file: PathBuf,
    clock_file: PathBuf,
    log_file: PathBuf,
    child: Option<Child>,
    fail_first: u32,
    redirect_to: Option<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback port free when asked (another process may take it before use).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Receiver {
    /// A receiver that answers 500 to its first `fail_first` verified
    /// deliveries and 200 after; not started yet (see [`Receiver::start`]).
    pub fn new(fail_first: u32) -> Receiver {
        let dir = tempfile::tempdir().unwrap();
        Receiver {
            port: free_port(),
            secret_file: dir.path().join("secret"),
            clock_file: dir.path().join("clock"),
            log_file: dir.path().join("log.jsonl"),
            child: None,
            fail_first,
            redirect_to: None,
            _dir: dir,
        }
    }

    /// A receiver that answers every request with a redirect to `target`.
    pub fn redirecting(target: &str) -> Receiver {
        let mut receiver = Receiver::new(0);
        receiver.redirect_to = Some(target.to_owned());
        receiver
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/keyward", self.port)
    }

    /// The signing secret Keyward showed, which the receiver verifies with.
    pub fn set_secret(&self, secret: &str) {
        std::fs::write(&self.secret_file, secret).unwrap();
    }

    /// Sets the receiver's clock to `unix` (the app's, which a test moved):
    /// a delivery's timestamp is checked against it.
    pub fn set_clock(&self, unix: i64) {
        std::fs::write(&self.clock_file, unix.to_string()).unwrap();
    }

    pub async fn start(&mut self) {
        let python = std::env::var("KEYWARD_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/it/support/webhook_receiver.py"
        );
        let mut command = Command::new(&python);
        command
            .arg(script)
            .arg(self.port.to_string())
            .arg(&self.secret_file)
            .arg(&self.log_file)
            .args(["--fail-first", &self.fail_first.to_string()])
            .arg("--clock-file")
            .arg(&self.clock_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(target) = &self.redirect_to {
            command.args(["--redirect-to", target]);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python} {script}: {e}"));
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(status)) = child.try_wait() {
                let _ = child.wait();
                panic!(
                    "the webhook receiver exited ({status}): is standardwebhooks installed for {python}? (tests/run.sh installs it)"
                );
            }
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                self.child = Some(child);
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the webhook receiver did not start on port {}", self.port);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every request it got, oldest first.
    pub fn log(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log_file)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// The message ids it accepted (answered 200 after verifying), in order.
    pub fn accepted(&self) -> Vec<String> {
        self.log()
            .iter()
            .filter(|l| l["answer"] == 200 && l["verified"] == true)
            .map(|l| l["id"].as_str().unwrap().to_owned())
            .collect()
    }
}
