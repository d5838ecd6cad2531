//! Pages, forms and what the tests read out of pages.

/// The pages a signed-in user visits.
pub mod pages {
    pub const LOGIN: &str = "/login";
    pub const SETUP: &str = "/setup";
    pub const CREDENTIALS: &str = "/settings/credentials";
    pub const NEW_CREDENTIAL: &str = "/settings/credentials/new";
    pub const MEMBERS: &str = "/settings/members";
    pub const ORGANIZATION: &str = "/settings/organization";
    pub const ACCOUNT: &str = "/account";
    pub const AUDIT_LOG: &str = "/audit-log";

    /// A credential's dialog or action: `edit`, `rotate`, `delete`, …
    pub fn credential(client_id: &str, action: &str) -> String {
        format!("/settings/credentials/{client_id}/{action}")
    }

    /// A credential request's action: `approve`, `reject` or `generate`.
    pub fn request(request_id: &str, action: &str) -> String {
        format!("/settings/credentials/requests/{request_id}/{action}")
    }

    /// A member's role form.
    pub fn member(user_id: i64) -> String {
        format!("/settings/members/{user_id}")
    }

    /// A member's Remove dialog and action.
    pub fn remove_member(user_id: i64) -> String {
        format!("/settings/members/{user_id}/remove")
    }
}

pub fn form_body(fields: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(fields).unwrap()
}

/// The CSRF token embedded in a page, if any.
pub fn csrf_in(body: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = body.find(marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_owned())
}

/// The first client secret in a body, if any.
pub fn secret_in(body: &str) -> Option<String> {
    let start = body.find("kws_test_").or_else(|| body.find("kws_live_"))?;
    Some(body[start..start + 9 + 43 + 6].to_owned())
}

/// The Client ID shown in a reveal.
pub fn client_id_in(body: &str) -> Option<String> {
    let marker = "<code id=\"reveal-client-id\">";
    let start = body.find(marker)? + marker.len();
    Some(body[start..start + 27].to_owned())
}

/// The path of the invitation link shown once on the Members page.
pub fn invitation_path_in(body: &str) -> Option<String> {
    let marker = "<code id=\"invite-link\">";
    let start = body.find(marker)? + marker.len();
    let link = &body[start..];
    let link = &link[..link.find('<')?];
    Some(link[link.find("/invitations/")?..].to_owned())
}

/// How many rows limited to one vault or key a form shows.
pub fn rows_in(body: &str) -> usize {
    body.matches("name=\"res_type\"").count()
}

/// The organization-wide access a form has selected: `type:actions` for
/// each type of resource with any access, in the picker's order.
pub fn granted(body: &str) -> Vec<String> {
    body.split("<option value=\"")
        .skip(1)
        .filter_map(|option| {
            let (value, rest) = option.split_once('"')?;
            let (_, actions) = value.split_once(':')?;
            (rest.starts_with(" selected>") && !actions.is_empty()).then(|| value.to_owned())
        })
        .collect()
}

/// A complete New Credential / Edit form: the Monitoring permissions, all IP addresses.
pub fn credential_fields(name: &str) -> Vec<(&'static str, &str)> {
    let mut fields = vec![
        ("name", name),
        ("description", ""),
        ("permission_set", "monitoring"),
        ("ip_mode", "all"),
    ];
    for grant in [
        "audit:read",
        "balances:read",
        "transactions:read",
        "webhooks:read",
        "vault:",
    ] {
        fields.push(("grant", grant));
    }
    fields
}

/// A row limited to one vault or key.
pub fn limited_row<'a>(
    kind: &'a str,
    access: &'a str,
    scope: &'a str,
    resource: &'a str,
) -> Vec<(&'static str, &'a str)> {
    vec![
        ("res_type", kind),
        ("res_access", access),
        ("res_scope", scope),
        ("res_resource", resource),
    ]
}

/// `fields` with the access to one type of resource set (`"webhooks:read,delete"`).
pub fn with_grant<'a>(
    mut fields: Vec<(&'static str, &'a str)>,
    grant: &'a str,
) -> Vec<(&'static str, &'a str)> {
    let kind = grant.split(':').next().unwrap_or_default();
    fields.retain(|(k, v)| !(*k == "grant" && v.split(':').next() == Some(kind)));
    fields.push(("grant", grant));
    fields
}

/// `fields` with some fields replaced (or added).
pub fn with<'a>(
    mut fields: Vec<(&'static str, &'a str)>,
    changes: &[(&'static str, &'a str)],
) -> Vec<(&'static str, &'a str)> {
    for (key, value) in changes {
        fields.retain(|(k, _)| k != key);
        fields.push((key, value));
    }
    fields
}

/// A secret that is certainly not `secret`, though it looks like it: the
/// last character changed (to `x`, or to `y` when it was an `x` already),
/// which also breaks the checksum.
pub fn mistyped(secret: &str) -> String {
    let (body, last) = secret.split_at(secret.len() - 1);
    let other = if last == "x" { "y" } else { "x" };
    format!("{body}{other}")
}

/// A secret with the right prefix, length and checksum that no credential
/// has (256 fresh random bits): it passes the shape check and reaches the
/// digest comparison, where it must fail.
pub fn well_formed_wrong_secret() -> String {
    use keyward::domain::credential::{Environment, Secret};
    let secret = Secret::generate(Environment::Sandbox);
    assert!(Secret::is_well_formed(secret.expose()));
    secret.expose().to_owned()
}
