//! The outgoing request of a webhook delivery, beside the mailer: which
//! addresses it may reach, how it is signed, and the HTTP client that sends
//! it. The worker that empties the outbox is `jobs::webhooks`.
//!
//! Why a send failed is a [`DeliveryError`] category, never the resolver's
//! or the HTTP library's text, which can name the addresses an internal host
//! resolves to.
//!
//! The client follows no redirect, waits at most 10 seconds, reads at most
//! 64 KiB of an answer, uses no proxy, and connects only to addresses the
//! [`Guard`] permits, checked on the addresses DNS returned, which are the
//! ones it then connects to.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use crate::domain::OrgId;
use crate::domain::webhook::{DeliveryError, SigningSecret};

/// The longest one send takes: connecting, then the answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// At most this much of an answer is read, then the connection is dropped.
const MAX_ANSWER: usize = 64 * 1024;

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

/// Why the resolver gave no address: a category only, so neither the name's
/// addresses nor the system resolver's message travel further (into the
/// delivery log, which the organization's owners read).
#[derive(Debug, Clone, Copy)]
struct Unreachable(DeliveryError);

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.key())
    }
}

impl std::error::Error for Unreachable {}

/// Resolves names as the system does, then keeps only permitted addresses:
/// the client connects to what this returns, so a name cannot resolve to a
/// public address here and a private one at connect time.
struct GuardedResolver(Arc<Guard>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let unreachable = |category| -> Box<dyn std::error::Error + Send + Sync> {
                Box::new(Unreachable(category))
            };
            let found: Vec<SocketAddr> = match tokio::net::lookup_host((host.as_str(), 0)).await {
                Ok(found) => found.collect(),
                Err(_) => return Err(unreachable(DeliveryError::CouldNotResolve)),
            };
            let permitted: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| guard.permits(a.ip()))
                .collect();
            if !permitted.is_empty() {
                Ok(Box::new(permitted.into_iter()) as reqwest::dns::Addrs)
            } else if found.is_empty() {
                Err(unreachable(DeliveryError::CouldNotResolve))
            } else {
                Err(unreachable(DeliveryError::AddressNotAllowed))
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
    pub error: Option<DeliveryError>,
}

impl Answer {
    /// Nothing was sent, for `error`.
    pub fn refused(error: DeliveryError) -> Answer {
        Answer {
            status: None,
            error: Some(error),
        }
    }
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
        let refused = Answer::refused;
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return refused(DeliveryError::SendFailed);
        };
        // An address written in the URL is not resolved, so it is checked here.
        let literal = parsed
            .host_str()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|h| h.parse::<IpAddr>().ok());
        if literal.is_some_and(|ip| !self.guard.permits(ip)) {
            return refused(DeliveryError::AddressNotAllowed);
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
            Err(error) => return refused(categorize(&error)),
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
            Some(DeliveryError::Redirect)
        } else if !status.is_success() {
            Some(DeliveryError::HttpStatus)
        } else {
            None
        };
        Answer {
            status: Some(status.as_u16()),
            error,
        }
    }
}

/// The category of a send error, from its kind and causes, never its text
/// (which names the URL and the addresses connected to).
fn categorize(error: &reqwest::Error) -> DeliveryError {
    let mut chain: Vec<&(dyn std::error::Error + 'static)> = vec![error];
    while let Some(next) = chain.last().and_then(|e| cause(*e)) {
        chain.push(next);
    }
    if let Some(Unreachable(category)) = chain.iter().find_map(|e| e.downcast_ref::<Unreachable>())
    {
        return *category;
    }
    if error.is_timeout() {
        return DeliveryError::Timeout;
    }
    // rustls reports a failed handshake (a certificate refused, a server
    // that does not speak TLS) as invalid data on the connection.
    let tls = chain.iter().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData)
    });
    if tls {
        DeliveryError::Tls
    } else if error.is_connect() {
        DeliveryError::CouldNotConnect
    } else {
        DeliveryError::SendFailed
    }
}

/// What caused `error`, going into the error an I/O error wraps (its own
/// `source` skips it; rustls's errors travel that way).
fn cause<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    match error
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        Some(inner) => Some(inner),
        None => error.source(),
    }
}

/// What a sealed signing secret is bound to: its organization.
pub fn seal_context(org: OrgId) -> String {
    format!("webhook-secret/org/{org}")
}

/// The Standard Webhooks headers of one attempt: its id, its time (unix
/// seconds, which receivers compare with their clock) and a signature by
/// each of `secrets` (during a rotation, the new and the previous one).
pub fn signed_headers(
    secrets: &[SigningSecret],
    message_id: &str,
    timestamp: i64,
    payload: &str,
) -> [(&'static str, String); 3] {
    let signature = secrets
        .iter()
        .map(|s| s.sign(message_id, timestamp, payload.as_bytes()))
        .collect::<Vec<_>>()
        .join(" ");
    [
        ("webhook-id", message_id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ]
}
