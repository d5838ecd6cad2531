//! Webhook deliveries: the worker that empties the outbox, and the HTTP
//! client it sends with.
//!
//! Every instance runs a worker. Each round it claims due deliveries with a
//! lease (`storage::webhooks::claim_due`: `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL), sends them concurrently, and records the outcome: delivered
//! on a 2xx answer, otherwise retried with exponential backoff and jitter
//! until three days after the event. A delivery whose instance dies
//! mid-send is claimed again once its lease ends: at least once, and with
//! healthy instances exactly once.
//!
//! The client follows no redirect, waits at most 10 seconds, reads at most
//! 64 KiB of an answer, uses no proxy, and connects only to addresses the
//! [`Guard`] permits, checked on the addresses DNS returned, which are the
//! ones it then connects to.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;
use ipnet::IpNet;

use crate::domain::webhook::{self, SigningSecret};
use crate::state::AppState;
use crate::storage::webhooks::{self as repo, AttemptOutcome, Attempted, Due};

/// How long a claimed delivery is reserved for the instance sending it:
/// longer than a whole round of sends takes (they run concurrently, each at
/// most [`TIMEOUT`]).
const LEASE_SECS: i64 = 120;
const BATCH: i64 = 10;
const TIMEOUT: Duration = Duration::from_secs(10);
/// At most this much of an answer is read, then the connection is dropped.
const MAX_ANSWER: usize = 64 * 1024;
/// How often the worker looks for due deliveries.
const POLL: Duration = Duration::from_secs(1);

/// Which addresses deliveries may reach: public ones, and those in networks
/// the operator allowed (`KEYWARD_WEBHOOK_ALLOWED_NETWORKS`).
#[derive(Debug, Clone, Default)]
pub struct Guard {
    allowed: Vec<IpNet>,
}

impl Guard {
    pub fn new(allowed: Vec<IpNet>) -> Guard {
        Guard { allowed }
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        is_public(ip) || self.allowed.iter().any(|net| net.contains(&ip))
    }

    fn refusal(ip: IpAddr) -> String {
        format!(
            "{ip} is a loopback, private or reserved address; deliveries do not go there unless the operator allows it (KEYWARD_WEBHOOK_ALLOWED_NETWORKS)"
        )
    }
}

/// Whether `ip` is an ordinary public unicast address.
fn is_public(ip: IpAddr) -> bool {
    const V4_RESERVED: &[&str] = &[
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/3",
    ];
    const V6_RESERVED: &[&str] = &[
        "::/96",
        "::1/128",
        "::ffff:0:0:0/96",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "2002::/16",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    ];
    let in_any = |nets: &[&str]| {
        nets.iter()
            .filter_map(|n| n.parse::<IpNet>().ok())
            .any(|n| n.contains(&ip))
    };
    match ip {
        IpAddr::V4(_) => !in_any(V4_RESERVED),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => !in_any(V6_RESERVED),
        },
    }
}

/// Resolves names as the system does, then keeps only permitted addresses:
/// the client connects to what this returns, so a name cannot resolve to a
/// public address here and a private one at connect time.
struct GuardedResolver(Arc<Guard>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| guard.permits(a.ip()))
                .collect();
            match (permitted.is_empty(), found.first()) {
                (false, _) => Ok(Box::new(permitted.into_iter()) as reqwest::dns::Addrs),
                (true, Some(first)) => {
                    Err(format!("{host} resolves to {}", Guard::refusal(first.ip())).into())
                }
                (true, None) => Err(format!("{host} does not resolve").into()),
            }
        })
    }
}

/// The outgoing HTTP client of webhooks.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    guard: Arc<Guard>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("guard", &self.guard)
            .finish()
    }
}

/// What a receiver answered, or why nothing was sent.
pub struct Answer {
    pub status: Option<u16>,
    pub error: Option<String>,
}

impl Sender {
    /// The client, or why it cannot be built (then webhooks cannot run:
    /// the server does not start rather than send without its guard).
    pub fn new(guard: Guard) -> anyhow::Result<Sender> {
        let guard = Arc::new(guard);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .no_proxy()
            .user_agent(concat!("Keyward-Webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver(guard.clone())))
            .build()
            .map_err(|e| anyhow::anyhow!("the webhook HTTP client: {e}"))?;
        Ok(Sender { client, guard })
    }

    /// Posts `body` to `url` with the Standard Webhooks headers.
    pub async fn post(&self, url: &str, headers: &[(&str, String)], body: String) -> Answer {
        let refused = |error: String| Answer {
            status: None,
            error: Some(error),
        };
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return refused("the URL is not valid".to_owned());
        };
        // An address written in the URL is not resolved, so it is checked here.
        let literal = parsed
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|h| h.parse::<IpAddr>().ok());
        if let Some(ip) = literal.filter(|ip| !self.guard.permits(*ip)) {
            return refused(Guard::refusal(ip));
        }
        let mut request = self
            .client
            .post(parsed)
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => return refused(describe(error)),
        };
        let status = response.status();
        // Read (and drop) at most 64 KiB of the answer.
        let mut read = 0;
        while read < MAX_ANSWER {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                _ => break,
            }
        }
        let error = if status.is_redirection() {
            Some(format!(
                "answered {status} (a redirect); redirects are not followed"
            ))
        } else if !status.is_success() {
            Some(format!("answered {status}"))
        } else {
            None
        };
        Answer {
            status: Some(status.as_u16()),
            error,
        }
    }
}

/// A send error without the URL (its path may hold the receiver's secret),
/// with its causes: "error sending request: client error (Connect): …".
fn describe(error: reqwest::Error) -> String {
    if error.is_timeout() {
        return "no answer within 10 seconds".to_owned();
    }
    let error = error.without_url();
    let mut parts = vec![error.to_string()];
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// Runs the worker until the process ends.
pub fn spawn(state: AppState) {
    tokio::spawn(async move {
        loop {
            match run_once(&state).await {
                Ok(sent) if sent > 0 => continue,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = format!("{error:#}"), "webhook worker round failed")
                }
            }
            tokio::time::sleep(POLL).await;
        }
    });
}

/// One round: claims due deliveries, sends them, records the outcomes.
/// Returns how many were attempted.
pub async fn run_once(state: &AppState) -> anyhow::Result<usize> {
    let now = state.now();
    let due = {
        let mut conn = state.db.acquire().await?;
        repo::claim_due(&mut conn, now, LEASE_SECS, BATCH).await?
    };
    let count = due.len();
    let results = join_all(due.into_iter().map(|d| attempt(state, d))).await;
    for result in results {
        result?;
    }
    Ok(count)
}

async fn attempt(state: &AppState, due: Due) -> anyhow::Result<()> {
    let mut conn = state.db.acquire().await?;
    let Some(endpoint) = repo::endpoint_of(&mut conn, due.endpoint_id).await? else {
        return Ok(()); // deleted meanwhile: its deliveries went with it
    };
    drop(conn);
    let now = state.now();
    let context = seal_context(endpoint.organization_id);
    let mut secrets = vec![endpoint.secret.clone()];
    if endpoint.previous_until.is_some_and(|until| until > now) {
        secrets.extend(endpoint.previous_secret.clone());
    }
    let secrets: Vec<SigningSecret> = secrets
        .iter()
        .filter_map(|sealed| state.keys.open(sealed, &context))
        .map(SigningSecret::from_stored)
        .collect();
    // The attempt's own time, which receivers compare with their clock.
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let signature = secrets
        .iter()
        .map(|s| s.sign(&due.message_id, timestamp, due.payload.as_bytes()))
        .collect::<Vec<_>>()
        .join(" ");
    let headers = [
        ("webhook-id", due.message_id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ];
    let refused = |error: &str| Answer {
        status: None,
        error: Some(error.to_owned()),
    };
    let answer = match &state.webhook_sender {
        _ if secrets.is_empty() => {
            refused("the signing secret cannot be read with this server's key")
        }
        None => refused("this server cannot send webhooks: its HTTP client could not start"),
        Some(sender) => {
            sender
                .post(&endpoint.url, &headers, due.payload.clone())
                .await
        }
    };
    let now = state.now();
    let outcome = if answer.error.is_none() {
        AttemptOutcome::Delivered
    } else {
        let wait = webhook::retry_wait(
            state.config.webhook_retry_base_secs,
            due.attempts,
            rand::random::<f64>(),
        );
        if now + wait > due.give_up_at {
            AttemptOutcome::GaveUp
        } else {
            AttemptOutcome::RetryAt(now + wait)
        }
    };
    crate::telemetry::webhook_delivery(match outcome {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::RetryAt(_) => "retry",
        AttemptOutcome::GaveUp => "failed",
    });
    let attempted = Attempted {
        claimed_until: due.locked_until,
        response_status: answer.status.map(i64::from),
        error: answer.error.as_deref(),
        outcome,
    };
    let mut conn = state.db.acquire().await?;
    repo::record_attempt(&mut conn, &due, &attempted, now, webhook::FAILING_AFTER).await
}

/// What a sealed signing secret is bound to: its organization.
pub fn seal_context(org: crate::domain::OrgId) -> String {
    format!("webhook-secret/org/{org}")
}
