//! A real SMTP server on loopback: Python's `aiosmtpd`, writing every
//! message it accepts to a Maildir that the tests read. `tests/run.sh`
//! makes sure the module is installed; `KEYWARD_TEST_PYTHON` names the
//! interpreter (default `python3`).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Smtp {
    pub port: u16,
    maildir: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Smtp {
    pub async fn start() -> Smtp {
        let python = std::env::var("KEYWARD_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let dir = tempfile::tempdir().unwrap();
        // Maildir creates the folder with its cur/new/tmp when it is missing.
        let maildir = dir.path().join("mail");
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new(&python)
                .args(["-m", "aiosmtpd", "-n", "-l"])
                .arg(format!("127.0.0.1:{port}"))
                .args(["-c", "aiosmtpd.handlers.Mailbox"])
                .arg(&maildir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot run {python} -m aiosmtpd: {e} (tests/run.sh installs it)")
                });
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(status)) = child.try_wait() {
                    assert!(
                        status.success() || started.elapsed() > Duration::ZERO,
                        "aiosmtpd exited: {status}"
                    );
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Smtp {
                        port,
                        maildir,
                        child,
                        _dir: dir,
                    };
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("aiosmtpd did not start: is it installed for {python}? (tests/run.sh installs it)")
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The messages delivered to `recipient`, decoded, oldest first; waits
    /// a little for one to arrive.
    pub async fn messages_to(&self, recipient: &str) -> Vec<String> {
        let started = Instant::now();
        loop {
            let found = self.delivered_to(recipient);
            if !found.is_empty() || started.elapsed() > Duration::from_secs(5) {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The messages delivered to `recipient` so far, decoded, oldest first.
    pub fn delivered_to(&self, recipient: &str) -> Vec<String> {
        let mut found: Vec<(std::time::SystemTime, String)> = Vec::new();
        if let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) {
            for entry in entries.flatten() {
                let raw = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let to_them = raw
                    .lines()
                    .any(|l| l.eq_ignore_ascii_case(&format!("X-RcptTo: {recipient}")));
                if to_them {
                    let when = entry.metadata().and_then(|m| m.modified()).unwrap();
                    found.push((when, decode(&raw)));
                }
            }
        }
        found.sort();
        found.into_iter().map(|(_, m)| m).collect()
    }

    /// The message to `recipient` that follows the `seen` already there;
    /// waits up to 10 seconds for it.
    pub async fn next_to(&self, recipient: &str, seen: usize) -> String {
        let started = Instant::now();
        loop {
            let found = self.delivered_to(recipient);
            if found.len() > seen {
                return found[seen].clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no message {} to {recipient}",
                seen + 1
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The one-time code an invitation's code email carries.
pub fn code_in(message: &str) -> String {
    let start = message
        .find("Your code is ")
        .unwrap_or_else(|| panic!("no code in {message}"))
        + "Your code is ".len();
    let code: String = message[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert_eq!(code.len(), 6, "{message}");
    code
}

/// A header as a mail program reads it: folded lines joined.
pub fn header(message: &str, name: &str) -> Option<String> {
    let unfolded = message.replace("\r\n ", " ").replace("\n ", " ");
    unfolded
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_owned))
}

/// A message with a quoted-printable body made readable (soft line breaks
/// joined, `=XX` decoded), as a mail client shows it.
fn decode(raw: &str) -> String {
    if !raw
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: quoted-printable")
    {
        return raw.to_owned();
    }
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let mut out = Vec::new();
    let bytes = joined.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
