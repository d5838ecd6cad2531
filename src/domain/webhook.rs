//! Webhooks: where an organization wants to hear about what happens to its
//! credentials, which events, and how each delivery is signed (the Standard
//! Webhooks specification, so receivers verify with `standardwebhooks` or
//! `svix`).

use std::fmt;
use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use super::{AuditAction, FieldError, trimmed_len};

/// Declares the event types with their name on the wire and their label.
macro_rules! event_types {
    ($($variant:ident => $key:literal, $label:literal,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType {
            $($variant,)*
        }

        impl EventType {
            /// Every type an endpoint can subscribe to, in the order the form lists them.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)*];

            /// The `type` of the payload, e.g. `credential.rotated`.
            pub fn key(self) -> &'static str {
                match self {
                    $(EventType::$variant => $key,)*
                }
            }

            pub fn label(self) -> &'static str {
                match self {
                    $(EventType::$variant => $label,)*
                }
            }

            pub fn parse(raw: &str) -> Option<EventType> {
                match raw {
                    $($key => Some(EventType::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

event_types! {
    CredentialCreated => "credential.created", "Credential created",
    CredentialUpdated => "credential.updated", "Credential edited",
    CredentialRotated => "credential.rotated", "Credential rotated",
    PreviousSecretExpired => "credential.previous_secret_expired", "Previous secret expired",
    CredentialDisabled => "credential.disabled", "Credential disabled",
    CredentialEnabled => "credential.enabled", "Credential enabled",
    CredentialDeleted => "credential.deleted", "Credential deleted",
    CredentialMadePrimary => "credential.made_primary", "Credential made primary",
    CredentialExpiring => "credential.expiring", "Credential expiring soon",
    CredentialExpired => "credential.expired", "Credential expired",
    SecretLeaked => "credential.secret_leaked", "Secret leaked",
    AuthenticationFailures => "credential.authentication_failures", "Repeated authentication failures",
    AddressRefused => "credential.address_refused", "Request from an address not allowed",
    RequestCreated => "request.created", "Request created",
    RequestApproved => "request.approved", "Request approved",
    RequestRejected => "request.rejected", "Request rejected",
    MemberInvited => "member.invited", "Member invited",
    MemberJoined => "member.joined", "Member joined",
    MemberRemoved => "member.removed", "Member removed",
}

/// The test event an owner sends from the page: not a subscription, and
/// delivered to the one endpoint it was sent to.
pub const TEST_EVENT: &str = "webhook.test";

impl EventType {
    /// The event an audited action is sent as, if any. Every change that
    /// webhooks report is audited, so the outbox is filled where the audit
    /// event is recorded, in the same transaction.
    pub fn of(action: AuditAction) -> Option<EventType> {
        use AuditAction as A;
        Some(match action {
            A::CredentialCreated => EventType::CredentialCreated,
            A::CredentialUpdated => EventType::CredentialUpdated,
            A::CredentialRotated => EventType::CredentialRotated,
            A::PreviousSecretExpired => EventType::PreviousSecretExpired,
            A::CredentialDisabled => EventType::CredentialDisabled,
            A::CredentialEnabled => EventType::CredentialEnabled,
            A::CredentialDeleted => EventType::CredentialDeleted,
            A::CredentialMadePrimary => EventType::CredentialMadePrimary,
            A::CredentialExpiring => EventType::CredentialExpiring,
            A::CredentialExpired => EventType::CredentialExpired,
            A::SecretLeaked => EventType::SecretLeaked,
            A::TokenAuthFailed | A::TokenThrottled => EventType::AuthenticationFailures,
            A::TokenAddressRefused => EventType::AddressRefused,
            A::CredentialRequested | A::ChangeRequested => EventType::RequestCreated,
            A::RequestApproved => EventType::RequestApproved,
            A::RequestRejected => EventType::RequestRejected,
            A::MemberInvited => EventType::MemberInvited,
            A::MemberJoined | A::MemberAdded => EventType::MemberJoined,
            A::MemberRemoved => EventType::MemberRemoved,
            _ => return None,
        })
    }

    /// Events that a client can cause at will: at most one per credential
    /// per hour reaches an endpoint.
    pub fn is_throttled(self) -> bool {
        matches!(
            self,
            EventType::AuthenticationFailures | EventType::AddressRefused
        )
    }
}

/// A new message id (`webhook-id`): the same for every attempt and endpoint
/// of one event, so a receiver can tell a retry from a new event.
pub fn message_id() -> String {
    format!("msg_{}", crate::random::token(27))
}

/// The body of a delivery, as Standard Webhooks shapes it. `data` never
/// holds a secret: it is built from what the audit log records.
pub fn payload(kind: &str, now: i64, data: serde_json::Value) -> String {
    serde_json::json!({
        "type": kind,
        "timestamp": super::iso_time(now),
        "data": data,
    })
    .to_string()
}

/// How often a throttled event may reach one endpoint for one credential.
pub const THROTTLE_SECS: i64 = 3600;

/// The event types an endpoint subscribes to: at least one, stored as keys
/// separated by spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypes(Vec<EventType>);

impl EventTypes {
    pub fn parse<'a>(keys: impl IntoIterator<Item = &'a str>) -> Result<EventTypes, FieldError> {
        let mut types = Vec::new();
        for key in keys {
            let Some(event) = EventType::parse(key.trim()) else {
                return Err(FieldError::new(
                    "events",
                    format!("“{key}” is not an event Keyward sends."),
                ));
            };
            if !types.contains(&event) {
                types.push(event);
            }
        }
        if types.is_empty() {
            return Err(FieldError::new(
                "events",
                "Choose at least one event to send.",
            ));
        }
        // Stored and shown in the form's order, whatever order they came in.
        types.sort_by_key(|t| EventType::ALL.iter().position(|a| a == t));
        Ok(EventTypes(types))
    }

    pub fn all() -> EventTypes {
        EventTypes(EventType::ALL.to_vec())
    }

    pub fn parse_stored(raw: &str) -> Result<EventTypes, FieldError> {
        EventTypes::parse(raw.split_whitespace())
    }

    pub fn contains(&self, event: EventType) -> bool {
        self.0.contains(&event)
    }

    pub fn iter(&self) -> impl Iterator<Item = EventType> + '_ {
        self.0.iter().copied()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_stored(&self) -> String {
        self.0.iter().map(|t| t.key()).collect::<Vec<_>>().join(" ")
    }
}

pub const URL_MAX: usize = 2000;
pub const DESCRIPTION_MAX: usize = 200;

/// Where deliveries go: an https URL, or http to a loopback host when the
/// server runs with the development flag. Whether its addresses may be
/// reached is decided when connecting, after DNS (see `webhooks::guard`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub fn parse(raw: &str, allow_http_loopback: bool) -> Result<WebhookUrl, FieldError> {
        let raw = raw.trim();
        let error = |message: &str| Err(FieldError::new("url", message));
        if raw.is_empty() {
            return error("Enter the URL that receives the events.");
        }
        if raw.len() > URL_MAX {
            return error("Use a URL of at most 2,000 characters.");
        }
        let Ok(url) = reqwest::Url::parse(raw) else {
            return error("Enter a full URL, such as https://hooks.example.com/keyward.");
        };
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return error("Enter a full URL, such as https://hooks.example.com/keyward.");
        };
        if !url.username().is_empty() || url.password().is_some() {
            return error(
                "Leave the user name and password out of the URL: every delivery is signed instead.",
            );
        }
        if url.fragment().is_some() {
            return error("Leave the #fragment out of the URL: it is never sent to a server.");
        }
        match url.scheme() {
            "https" => {}
            "http" if allow_http_loopback && is_loopback_host(host) => {}
            "http" => {
                return error(
                    "Use an https:// URL: events describe your credentials and must not travel in the clear.",
                );
            }
            _ => return error("Use an https:// URL."),
        }
        // Normalising may encode characters; what is stored fits the limit too.
        let url = url.to_string();
        if url.len() > URL_MAX {
            return error("Use a URL of at most 2,000 characters.");
        }
        Ok(WebhookUrl(url))
    }

    pub fn parse_stored(raw: &str) -> WebhookUrl {
        WebhookUrl(raw.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The scheme, host and port alone: how lists show an endpoint, since a
    /// URL's path or query may hold a receiver's own secret (chat services
    /// put one there).
    pub fn origin(&self) -> String {
        match reqwest::Url::parse(&self.0) {
            Ok(url) => url.origin().ascii_serialization(),
            Err(_) => String::new(),
        }
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_loopback_host(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// What the endpoint is for, as its owners describe it ("SIEM", "#alerts");
/// may be empty.
pub fn parse_description(raw: &str) -> Result<String, FieldError> {
    trimmed_len("description", "description", raw, 0, DESCRIPTION_MAX)
}

pub const SECRET_PREFIX: &str = "whsec_";

/// An endpoint's signing secret: `whsec_` and 32 random bytes in base64, as
/// Standard Webhooks defines it. Shown to the owner once; stored sealed.
pub struct SigningSecret(SecretString);

impl SigningSecret {
    pub fn generate() -> SigningSecret {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        SigningSecret(format!("{SECRET_PREFIX}{}", B64.encode(key)).into())
    }

    /// A secret read back from storage (after unsealing).
    pub fn from_stored(text: String) -> SigningSecret {
        SigningSecret(text.into())
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &[u8]) -> String {
        let key = B64
            .decode(self.expose().trim_start_matches(SECRET_PREFIX))
            .unwrap_or_default();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret([redacted])")
    }
}

/// After a rotation, deliveries are signed with both secrets for this long,
/// so receivers can switch without missing one.
pub const ROTATION_OVERLAP_SECS: i64 = 24 * 3600;

/// Deliveries are retried for this long after the event.
pub const RETRY_FOR_SECS: i64 = 3 * 24 * 3600;
/// Waits between attempts grow from the base to at most this.
pub const MAX_RETRY_WAIT_SECS: i64 = 12 * 3600;
/// After this many failed attempts in a row, the endpoint is shown as failing.
pub const FAILING_AFTER: i64 = 5;

/// The wait before attempt `attempts + 1`, in seconds: exponential from
/// `base`, capped, with ±20 % jitter so a receiver that comes back is not
/// met by every retry at once. `unit` in 0..1 is the random draw.
pub fn retry_wait(base: i64, attempts: i64, unit: f64) -> i64 {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let wait = base
        .max(1)
        .saturating_mul(1_i64 << exponent)
        .min(MAX_RETRY_WAIT_SECS);
    let jitter = 0.8 + 0.4 * unit.clamp(0.0, 1.0);
    ((wait as f64) * jitter).round().max(1.0) as i64
}

/// The status of one event's delivery to one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub fn key(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<DeliveryStatus> {
        match raw {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "Retrying",
            DeliveryStatus::Delivered => "Delivered",
            DeliveryStatus::Failed => "Failed",
        }
    }
}

/// Why an attempt failed, in one of a few fixed categories. Only the
/// category is stored and shown: the resolver's and the HTTP library's own
/// error text can name the addresses an internal host resolves to, which
/// an organization's owners must not learn through Keyward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryError {
    /// The host is (or resolves only to) a loopback, private or reserved
    /// address the operator did not allow: failed at once, never retried.
    AddressNotAllowed,
    CouldNotResolve,
    CouldNotConnect,
    Tls,
    Timeout,
    /// The receiver answered 3xx; the status is stored beside it.
    Redirect,
    /// The receiver answered something other than 2xx or 3xx.
    HttpStatus,
    SecretUnreadable,
    SenderUnavailable,
    /// Anything else that stopped the request.
    SendFailed,
}

impl DeliveryError {
    pub const ALL: &'static [DeliveryError] = &[
        DeliveryError::AddressNotAllowed,
        DeliveryError::CouldNotResolve,
        DeliveryError::CouldNotConnect,
        DeliveryError::Tls,
        DeliveryError::Timeout,
        DeliveryError::Redirect,
        DeliveryError::HttpStatus,
        DeliveryError::SecretUnreadable,
        DeliveryError::SenderUnavailable,
        DeliveryError::SendFailed,
    ];

    /// How it is stored, and the API's `error_code`.
    pub fn key(self) -> &'static str {
        match self {
            DeliveryError::AddressNotAllowed => "address_not_allowed",
            DeliveryError::CouldNotResolve => "could_not_resolve",
            DeliveryError::CouldNotConnect => "could_not_connect",
            DeliveryError::Tls => "tls",
            DeliveryError::Timeout => "timeout",
            DeliveryError::Redirect => "redirect",
            DeliveryError::HttpStatus => "http_status",
            DeliveryError::SecretUnreadable => "secret_unreadable",
            DeliveryError::SenderUnavailable => "sender_unavailable",
            DeliveryError::SendFailed => "send_failed",
        }
    }

    pub fn parse(raw: &str) -> Option<DeliveryError> {
        DeliveryError::ALL.iter().copied().find(|e| e.key() == raw)
    }

    /// What the deliveries list says, with the receiver's status if it answered.
    pub fn describe(self, status: Option<i64>) -> String {
        let code = status.map(|c| c.to_string()).unwrap_or_default();
        match self {
            DeliveryError::AddressNotAllowed => {
                "Address not allowed: the host is a loopback, private or reserved address (not retried)".to_owned()
            }
            DeliveryError::CouldNotResolve => "Could not resolve host".to_owned(),
            DeliveryError::CouldNotConnect => "Could not connect".to_owned(),
            DeliveryError::Tls => "TLS error".to_owned(),
            DeliveryError::Timeout => "No answer within 10 seconds".to_owned(),
            DeliveryError::Redirect => format!("HTTP {code}: redirects are not followed"),
            DeliveryError::HttpStatus => format!("HTTP {code}"),
            DeliveryError::SecretUnreadable => {
                "The signing secret cannot be read with this server's key".to_owned()
            }
            DeliveryError::SenderUnavailable => {
                "This server cannot send webhooks: its HTTP client could not start".to_owned()
            }
            DeliveryError::SendFailed => "The request failed".to_owned(),
        }
    }

    /// Whether a later attempt could succeed. A refused address stays
    /// refused (it changes only with the operator's settings), so it is not
    /// retried for 3 days, resolving the name each time.
    pub fn is_retried(self) -> bool {
        self != DeliveryError::AddressNotAllowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let secret = SigningSecret::from_stored("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn urls_must_be_https_unless_loopback_in_development() {
        assert!(WebhookUrl::parse("https://hooks.example.com/k?x=1", false).is_ok());
        assert!(WebhookUrl::parse("http://hooks.example.com/k", true).is_err());
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/k", false).is_err());
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/k", true).is_ok());
        assert!(WebhookUrl::parse("http://[::1]:9000/k", true).is_ok());
        assert!(WebhookUrl::parse("http://localhost:9000/k", true).is_ok());
        assert!(WebhookUrl::parse("ftp://example.com", true).is_err());
        assert!(WebhookUrl::parse("https://user:pw@example.com", false).is_err());
        assert!(WebhookUrl::parse("example.com/hook", false).is_err());
        let origin = WebhookUrl::parse("https://hooks.slack.test/T0/B0/secret", false).unwrap();
        assert_eq!(origin.origin(), "https://hooks.slack.test");
    }

    #[test]
    fn event_types_are_kept_in_form_order_without_repeats() {
        let types =
            EventTypes::parse(["member.joined", "credential.created", "member.joined"]).unwrap();
        assert_eq!(types.to_stored(), "credential.created member.joined");
        assert!(EventTypes::parse([]).is_err());
        assert!(EventTypes::parse(["credential.exploded"]).is_err());
    }

    #[test]
    fn delivery_errors_read_back_what_they_store() {
        for error in DeliveryError::ALL {
            assert_eq!(DeliveryError::parse(error.key()), Some(*error));
        }
        assert_eq!(DeliveryError::parse("getaddrinfo failed"), None);
        assert_eq!(DeliveryError::HttpStatus.describe(Some(503)), "HTTP 503");
    }

    #[test]
    fn retry_waits_grow_and_are_capped() {
        assert_eq!(retry_wait(5, 1, 0.5), 5);
        assert_eq!(retry_wait(5, 2, 0.5), 10);
        assert_eq!(retry_wait(5, 40, 0.5), MAX_RETRY_WAIT_SECS);
        assert!(retry_wait(5, 3, 0.0) >= 16 && retry_wait(5, 3, 1.0) <= 24);
    }
}
