//! One way in per value: one table of IP lists, permission lists and
//! webhook drafts, each given to the console's form and to the API. Both
//! accept the same ones, to the same value, and refuse the others with the
//! same message: the console by the field, the API in its problem's
//! `errors`.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::pages::*;
use crate::support::*;

const ACME: &str = "Acme Payments";

/// A value as a client gives it, and what both ways in must answer:
/// `None` to accept it, or the one message that refuses it.
enum Given {
    Ips(Vec<String>),
    Permissions(Vec<String>),
    Webhook {
        url: &'static str,
        events: Vec<&'static str>,
    },
}

fn ips(list: &[&str]) -> Given {
    Given::Ips(list.iter().map(|s| (*s).to_owned()).collect())
}

fn permissions(list: &[&str]) -> Given {
    Given::Permissions(list.iter().map(|s| (*s).to_owned()).collect())
}

fn webhook(url: &'static str, events: &[&'static str]) -> Given {
    Given::Webhook {
        url,
        events: events.to_vec(),
    }
}

/// Every type with every action, organization-wide: 32 permissions.
fn all_org_wide() -> Vec<String> {
    keyward::domain::permission::TYPES
        .iter()
        .flat_map(|t| {
            keyward::domain::permission::ACTIONS
                .iter()
                .map(move |a| format!("{t}:{a}:org"))
        })
        .collect()
}

fn table() -> Vec<(&'static str, Given, Option<&'static str>)> {
    let mut thirty_three = all_org_wide();
    thirty_three.push("vault:read:vault:v-1".to_owned());
    let seven: Vec<String> = (1..=7).map(|i| format!("10.0.0.{i}")).collect();
    vec![
        (
            "an IPv4 and an IPv6 range",
            ips(&["203.0.113.0/24", "2001:db8::/48"]),
            None,
        ),
        (
            "an IPv6 range given by an address in it",
            ips(&["2001:db8::1/64", "198.51.100.7"]),
            None,
        ),
        ("all addresses", ips(&["0.0.0.0/0"]), None),
        (
            "a range listed twice once normalised",
            ips(&["10.0.0.1/24", "10.0.0.0/24"]),
            Some("10.0.0.0/24 is listed twice."),
        ),
        (
            "an address listed twice",
            ips(&["198.51.100.7", "198.51.100.7"]),
            Some("198.51.100.7 is listed twice."),
        ),
        (
            "an IPv6 prefix too long",
            ips(&["2001:db8::/129"]),
            Some(
                "“2001:db8::/129”: the prefix length after / goes from 0 to 128 for an IPv6 address.",
            ),
        ),
        (
            "not an address",
            ips(&["300.1.2.3"]),
            Some(
                "“300.1.2.3” is not an IP address or CIDR range (for example 203.0.113.4 or 10.0.0.0/24).",
            ),
        ),
        (
            "seven entries",
            Given::Ips(seven),
            Some("A credential can have at most 6 IP entries; remove 1."),
        ),
        (
            "no entry",
            ips(&[]),
            Some("Enter at least one IP address or CIDR range, or choose All IP addresses."),
        ),
        (
            "permissions org-wide and in one vault",
            permissions(&["audit:read:org", "vault:update:vault:v-123"]),
            None,
        ),
        ("32 permissions", Given::Permissions(all_org_wide()), None),
        (
            "33 permissions",
            Given::Permissions(thirty_three),
            Some("A credential can hold at most 32 permissions."),
        ),
        (
            "an unknown type of resource",
            permissions(&["audit:read:org", "money:read:org"]),
            Some("“money” is not a type of resource. Choose the access for each type listed."),
        ),
        (
            "an unknown action",
            permissions(&["vault:steal:org"]),
            Some("Choose an access level: “steal” is not one."),
        ),
        (
            "a webhook draft",
            webhook(
                "https://hooks.example.com/keyward",
                &["credential.rotated", "member.joined"],
            ),
            None,
        ),
        (
            "a URL without a scheme",
            webhook("hooks.example.com/keyward", &["credential.rotated"]),
            Some("Enter a full URL, such as https://hooks.example.com/keyward."),
        ),
        (
            "a URL in the clear",
            webhook("http://hooks.example.com/keyward", &["credential.rotated"]),
            Some(
                "Use an https:// URL: events describe your credentials and must not travel in the clear.",
            ),
        ),
        (
            "an unknown event type",
            webhook(
                "https://hooks.example.com/keyward",
                &["credential.rotated", "credential.exploded"],
            ),
            Some("“credential.exploded” is not an event Keyward sends."),
        ),
        (
            "no event type",
            webhook("https://hooks.example.com/keyward", &[]),
            Some("Choose at least one event to send."),
        ),
    ]
}

/// The text of the element with this id (an error by its field), tags and
/// all: up to the end of the element.
fn shown_at<'a>(body: &'a str, id: &str) -> &'a str {
    let marker = format!("id=\"{id}\"");
    let Some(start) = body.find(&marker) else {
        return "";
    };
    let rest = &body[start..];
    let end = ["</p>", "</ul>"]
        .iter()
        .filter_map(|close| rest.find(close))
        .min()
        .unwrap_or(rest.len());
    &rest[..end]
}

/// The Edit form of a credential with the permission list `scopes`, as the
/// picker sends it: organization-wide ones as one access per type, the
/// others as rows limited to one vault or key.
fn permission_fields(scopes: &[String]) -> Vec<(&'static str, String)> {
    let mut grants: Vec<(String, Vec<String>)> = Vec::new();
    let mut fields = Vec::new();
    for scope in scopes {
        let parts: Vec<&str> = scope.splitn(4, ':').collect();
        match parts[..] {
            [kind, action, "org"] => match grants.iter_mut().find(|(k, _)| k == kind) {
                Some((_, actions)) => actions.push(action.to_owned()),
                None => grants.push((kind.to_owned(), vec![action.to_owned()])),
            },
            [kind, action, scope, resource] => {
                fields.push(("res_type", kind.to_owned()));
                fields.push(("res_access", action.to_owned()));
                fields.push(("res_scope", scope.to_owned()));
                fields.push(("res_resource", resource.to_owned()));
            }
            _ => panic!("not a scope in this table: {scope}"),
        }
    }
    for (kind, actions) in grants {
        fields.push(("grant", format!("{kind}:{}", actions.join(","))));
    }
    fields
}

/// What the console's form and the API answer to one value: each way in
/// where it differs from the other or from the table (none when they agree).
async fn compare(
    what: &str,
    given: &Given,
    refused: Option<&str>,
    console: &mut Client,
    token: &str,
    client_id: &str,
) -> Vec<String> {
    let edit = credential(client_id, "edit");
    let api_path = format!("/api/v1/credentials/{client_id}");
    // The answers, and the console's name for the API's field.
    let (page, api, console_field): (_, _, fn(&str) -> &str) = match given {
        Given::Ips(list) => {
            console.get(&edit).await;
            let text = list.join("\n");
            let mut fields = credential_fields("One parser test");
            fields.retain(|(k, _)| *k != "ip_mode");
            fields.extend([("ip_mode", "limited"), ("ip_list", text.as_str())]);
            let page = console.edit_credential(client_id, &fields).await;
            let body = json!({ "ip_allowlist": list });
            let api = console.api("PATCH", &api_path, token, Some(body)).await;
            (page, api, |_| "ip_list")
        }
        Given::Permissions(scopes) => {
            console.get(&edit).await;
            let picked = permission_fields(scopes);
            let mut fields: Vec<(&str, &str)> = credential_fields("One parser test");
            fields.retain(|(k, _)| *k != "grant");
            fields.extend(picked.iter().map(|(k, v)| (*k, v.as_str())));
            let page = console.edit_credential(client_id, &fields).await;
            let body = json!({ "permissions": scopes });
            let api = console.api("PATCH", &api_path, token, Some(body)).await;
            (page, api, |_| "permissions")
        }
        Given::Webhook { url, events } => {
            console.get("/settings/webhooks").await;
            let mut fields = vec![
                ("url", *url),
                ("description", "One parser"),
                ("enabled", "on"),
            ];
            fields.extend(events.iter().map(|e| ("events", *e)));
            let page = console.post("/settings/webhooks", &fields).await;
            let body = json!({ "url": url, "description": "One parser", "events": events });
            let api = console
                .api("POST", "/api/v1/webhooks", token, Some(body))
                .await;
            (page, api, |field| field)
        }
    };
    let mut wrong = Vec::new();
    let Some(message) = refused else {
        if !(page.status.is_success() || page.status.is_redirection()) {
            wrong.push(format!("{what}: the console refused it ({})", page.status));
        }
        if !api.status.is_success() {
            wrong.push(format!(
                "{what}: the API refused it ({}): {}",
                api.status, api.body
            ));
        }
        if wrong.is_empty() && !matches!(given, Given::Webhook { .. }) {
            // The same value kept: what the console saved reads back as
            // what the API saved.
            let saved = console.api("GET", &api_path, token, None).await.json();
            let key = match given {
                Given::Ips(_) => "ip_allowlist",
                _ => "permissions",
            };
            if saved[key] != api.json()[key] {
                wrong.push(format!(
                    "{what}: the console kept {}, the API {}",
                    saved[key],
                    api.json()[key]
                ));
            }
        }
        return wrong;
    };
    if page.status != StatusCode::UNPROCESSABLE_ENTITY {
        wrong.push(format!("{what}: the console answered {}", page.status));
    }
    if api.status != StatusCode::UNPROCESSABLE_ENTITY {
        wrong.push(format!(
            "{what}: the API answered {}: {}",
            api.status, api.body
        ));
        return wrong;
    }
    let problem: Value = api.json();
    let errors: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or(""),
                e["message"].as_str().unwrap_or(""),
            )
        })
        .collect();
    let [(field, said)] = errors[..] else {
        wrong.push(format!("{what}: the API gave {errors:?}, not one message"));
        return wrong;
    };
    if said != message {
        wrong.push(format!(
            "{what}: the API said {said:?} (at {field}), not {message:?}"
        ));
    }
    // The console shows the same words by the same field.
    let id = format!("{}-error", console_field(field));
    let shown = shown_at(&page.body, &id);
    if !shown.contains(message) {
        wrong.push(format!(
            "{what}: the console shows {shown:?} at #{id}, not {message:?}"
        ));
    }
    wrong
}

#[tokio::test]
async fn the_console_and_the_api_give_the_same_answer_to_the_same_value() {
    let app = TestApp::demo().await;
    let acme = app.org_id(ACME).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let token = owner.api_token("one parser", acme, "write").await;
    let client_id = app.client_ids(ACME).await[0].clone();
    let mut wrong = Vec::new();
    for (what, given, refused) in table() {
        wrong.extend(compare(what, &given, refused, &mut owner, &token, &client_id).await);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
