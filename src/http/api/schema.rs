//! Field schemas the derive cannot state: the same limits the domain types
//! check, so a request the document calls valid is one the API accepts.

use serde_json::json;
use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, KnownFormat, Object, ObjectBuilder, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{Array, RefOr, Schema};

use crate::domain::AuditAction;
use crate::domain::ip::MAX_ENTRIES;
use crate::domain::permission::{ACTIONS, MAX_PERMISSIONS, SCOPES, SET_TYPES, TYPES};

/// Text that starts and ends with no space and holds no control character
/// (what `trim` and the control check of the domain leave alone).
const ONE_LINE: &str =
    r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$";
/// The same, with line breaks allowed inside.
const MULTI_LINE: &str =
    r"^[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$";

/// `kind`, or `[kind, "null"]` for a field that may be null.
fn of(kind: Type, nullable: bool) -> SchemaType {
    if nullable {
        SchemaType::from_iter([kind, Type::Null])
    } else {
        SchemaType::from(kind)
    }
}

fn text(min: usize, max: usize, pattern: &str, nullable: bool) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(of(Type::String, nullable))
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
}

pub fn name() -> Object {
    text(5, 50, ONE_LINE, false)
        .description(Some("5 to 50 characters, unique in the organization."))
        .examples([json!("Fraud scoring")])
        .build()
}

pub fn name_change() -> Object {
    text(5, 50, ONE_LINE, true)
        .description(Some("5 to 50 characters, unique in the organization."))
        .build()
}

pub fn description() -> Object {
    text(5, 50, ONE_LINE, true)
        .description(Some("5 to 50 characters; null for none."))
        .build()
}

pub fn justification() -> Object {
    text(10, 500, MULTI_LINE, true)
        .description(Some(
            "10 to 500 characters. Required when the organization requires approval and the caller is not an owner.",
        ))
        .build()
}

pub fn reason() -> Object {
    text(1, 500, MULTI_LINE, true)
        .description(Some("Up to 500 characters, shown to the requester."))
        .build()
}

fn set_type(nullable: bool) -> Object {
    ObjectBuilder::new()
        .schema_type(of(Type::String, nullable))
        .enum_values(Some(
            SET_TYPES
                .iter()
                .map(|t| Some(t.key()))
                .chain(nullable.then_some(None)),
        ))
        .description(Some("The permission set type: a preset of permissions."))
        .build()
}

pub fn permission_set() -> Object {
    set_type(false)
}

pub fn permission_set_change() -> Object {
    set_type(true)
}

/// `type:action:scope[:resource]`, a resource only with the vault or key scope.
fn scope_pattern() -> String {
    let limited: Vec<&str> = SCOPES.iter().copied().filter(|s| *s != "org").collect();
    format!(
        "^({}):({}):(org|({})(:[A-Za-z0-9._-]{{1,64}})?)$",
        TYPES.join("|"),
        ACTIONS.join("|"),
        limited.join("|")
    )
}

fn list(items: impl Into<RefOr<Schema>>, max: usize, nullable: bool) -> ArrayBuilder {
    ArrayBuilder::new()
        .schema_type(of(Type::Array, nullable))
        .items(items.into())
        .min_items(Some(1))
        .max_items(Some(max))
}

fn permissions_list(nullable: bool) -> Array {
    let scope = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(scope_pattern()))
        .build();
    list(scope, MAX_PERMISSIONS, nullable)
        .description(Some(
            "OAuth scopes, `type:action:scope[:resource]`; duplicates collapse.",
        ))
        .examples([json!(["transactions:read:org", "vault:update:vault:v-123"])])
        .build()
}

pub fn permissions() -> Array {
    permissions_list(false)
}

pub fn permissions_change() -> Array {
    permissions_list(true)
}

/// An IPv4 or IPv6 address, or an IPv4 CIDR range. (IPv6 ranges are
/// accepted too; the document leaves them out, as no format names them.)
fn ip_entry() -> RefOr<Schema> {
    let octet = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
    let cidr = format!(r"^{octet}(\.{octet}){{3}}/(3[0-2]|[12]?[0-9])$");
    let format = |f| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(f)))
            .build()
    };
    let any = AnyOfBuilder::new()
        .item(format(KnownFormat::Ipv4))
        .item(format(KnownFormat::Ipv6))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(cidr))
                .build(),
        )
        .build();
    RefOr::T(Schema::AnyOf(any))
}

fn ip_list(nullable: bool) -> Array {
    list(ip_entry(), MAX_ENTRIES, nullable)
        .unique_items(true)
        .description(Some(
            "Up to 6 addresses or CIDR ranges, each listed once, normalised (10.0.0.7/24 is 10.0.0.0/24, so the two are one entry listed twice). [\"0.0.0.0/0\"] for all addresses.",
        ))
        .examples([json!(["203.0.113.0/24", "198.51.100.7"])])
        .build()
}

pub fn ip_allowlist() -> Array {
    ip_list(false)
}

pub fn ip_allowlist_change() -> Array {
    ip_list(true)
}

pub fn grace_seconds() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .enum_values(Some([0, 3600, 86_400, 604_800]))
        .description(Some(
            "How long the previous secret keeps working: 0 (stops at once, the default), 1 hour, 24 hours or 7 days.",
        ))
        .examples([json!(86_400)])
        .build()
}

pub fn action_key() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(AuditAction::ALL.iter().map(|a| a.key())))
        .description(Some("Only events of this action."))
        .build()
}

pub fn filter_text() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(200))
        .pattern(Some(r"^[^\x00-\x1f\x7f-\x9f]*$"))
        .build()
}

pub fn date() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
        .build()
}

pub fn cursor() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[0-9]{1,18}$"))
        .description(Some("The `next_cursor` of the previous page."))
        .build()
}

/// An https URL. The document states its length and format; which URLs
/// the domain accepts (https, no user name, password or fragment; http only
/// for loopback on a server started with the development flag) is in the
/// description, since no pattern states it exactly.
fn url_of(nullable: bool) -> Object {
    ObjectBuilder::new()
        .schema_type(of(Type::String, nullable))
        .format(Some(SchemaFormat::Custom("uri".to_owned())))
        .max_length(Some(crate::domain::webhook::URL_MAX))
        .description(Some(
            "Where deliveries are posted: an https URL without user name, password or fragment. Deliveries never go to loopback, private or reserved addresses unless the server's operator allows them.",
        ))
        .examples([json!("https://hooks.example.com/keyward")])
        .build()
}

pub fn webhook_url() -> Object {
    url_of(false)
}

pub fn webhook_url_change() -> Object {
    url_of(true)
}

pub fn webhook_description() -> Object {
    ObjectBuilder::new()
        .schema_type(of(Type::String, true))
        .max_length(Some(crate::domain::webhook::DESCRIPTION_MAX))
        .pattern(Some(
            r"^([^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?)?$",
        ))
        .description(Some(
            "Up to 200 characters on one line; what the endpoint is for.",
        ))
        .build()
}

fn events_of(nullable: bool) -> Array {
    let kinds = crate::domain::webhook::EventType::ALL
        .iter()
        .map(|t| t.key());
    let mut list = ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(kinds)),
        )
        .min_items(Some(1))
        .description(Some(
            "The event types to send: at least one; repeats collapse.",
        ))
        .examples([json!(["credential.rotated", "credential.secret_leaked"])]);
    if nullable {
        list = list.schema_type(of(Type::Array, true));
    }
    list.build()
}

pub fn webhook_events() -> Array {
    events_of(false)
}

pub fn webhook_events_change() -> Array {
    events_of(true)
}

pub fn expires_on() -> Object {
    ObjectBuilder::new()
        .schema_type(of(Type::String, true))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
        .description(Some(
            "The last day the credential works, UTC. A date after today; when the organization requires an expiry, no further ahead than its limit.",
        ))
        .examples([json!("2027-03-31")])
        .build()
}
