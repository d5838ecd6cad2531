//! Settings > Credentials: the lifecycle (create, edit, rotate, disable and
//! enable, primary, delete) in its htmx and no-JavaScript forms, permission
//! sets and IP allowlists, the limit of three and the single primary under
//! concurrency, the role matrix, and a hunt for plaintext secrets.

use axum::http::StatusCode;
use futures::future::join_all;
use keyward::domain::credential::Environment;
use serde_json::json;

use crate::support::pages::*;
use crate::support::*;

const LIMIT: &str = "Your organization can hold a maximum of 3 API credentials. Delete an existing credential before creating a new one.";

/// A credential's stored permission set, permissions and IP allowlist.
async fn stored(app: &TestApp, name: &str) -> (String, String, String) {
    app.sql
        .one(
            "SELECT permission_set, permissions, ip_allowlist FROM credentials WHERE name = $1",
            &[name.into()],
        )
        .await
}

#[tokio::test]
async fn an_owner_creates_a_credential_without_javascript_and_sees_its_secret_once() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner
        .get(NEW_CREDENTIAL)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("<html")
        .assert_contains("<dialog class=\"dialog wide\" data-guard-changes aria-labelledby=\"dialog-title\" open>")
        .assert_contains(">Credential name</label>")
        .assert_contains("Save &amp; Generate Key");
    let reveal = owner
        .submit_credential(&with(
            credential_fields("  Ledger sync  "),
            &[("description", "Reconciles the ledger")],
        ))
        .await;
    reveal
        .assert_status(StatusCode::OK)
        .assert_contains("Save your secret now")
        .assert_contains("The secret is displayed only once. After you close this dialog, it cannot be retrieved.")
        .assert_contains(">Audience</dt>")
        .assert_contains("https://api.keyward.test")
        .assert_contains(">Client ID</dt>")
        .assert_contains(">Secret</dt>")
        .assert_contains("href=\"/settings/credentials\" data-close-dialog autofocus>Close</a>");
    assert_eq!(reveal.header("cache-control"), "no-store");
    let secret = secret_in(&reveal.body).unwrap();
    let client_id = client_id_in(&reveal.body).unwrap();
    assert!(secret.starts_with("kws_test_") && client_id.starts_with("kwid_"));

    let list = owner.get(CREDENTIALS).await;
    list.assert_contains("Ledger sync")
        .assert_contains("Reconciles the ledger")
        .assert_contains(&client_id)
        .assert_lacks(&secret);
    // Only a keyed digest is stored.
    let digest = app.keys.secret_digest(&secret);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM credential_secrets WHERE digest = '{digest}'"
        ))
        .await,
        1
    );
    let detail = app.audit_detail("credential.created").await;
    assert!(detail.contains("\"name\":\"Ledger sync\""), "{detail}");
}

#[tokio::test]
async fn the_first_credential_is_primary_and_the_empty_state_offers_new_credential() {
    let app = TestApp::demo().await;
    app.upgrade_globex().await;
    let mut owner = app.sign_in_as(Persona::GlobexOwner).await;
    owner
        .get(CREDENTIALS)
        .await
        .assert_contains("No API credentials yet")
        .assert_contains("Create a credential for each system that calls the API")
        .assert_contains("href=\"/settings/credentials/new\"");
    owner.create_credential("Globex billing").await;
    owner.create_credential("Globex reports").await;
    let page = owner.get(CREDENTIALS).await;
    let billing = page.body.find("Globex billing").unwrap();
    let primary = page.body.find("Primary</span>").unwrap();
    let reports = page.body.find("Globex reports").unwrap();
    assert!(
        billing < primary && primary < reports,
        "the first card carries the Primary badge"
    );
    assert_eq!(page.body.matches("Primary</span>").count(), 1);
}

#[tokio::test]
async fn the_htmx_flow_uses_dialog_fragments_and_refreshes_the_list() {
    let app = TestApp::demo().await;
    let mut admin = app.sign_in_as(Persona::Admin).await;
    admin.get(CREDENTIALS).await;
    let dialog = admin.htmx_get(NEW_CREDENTIAL).await;
    dialog
        .assert_status(StatusCode::OK)
        .assert_lacks("<html")
        .assert_contains(
            "<dialog class=\"dialog wide\" data-guard-changes aria-labelledby=\"dialog-title\">",
        );
    assert!(dialog.body.trim_start().starts_with("<dialog"));
    assert!(dialog.header("vary").contains("HX-Request"));

    let reveal = admin
        .htmx()
        .submit_credential(&with(
            credential_fields("Payout worker"),
            &[("description", "")],
        ))
        .await;
    reveal
        .assert_status(StatusCode::OK)
        .assert_lacks("<html")
        .assert_contains("data-secret")
        // The page's message is replaced with what just happened.
        .assert_contains("<div id=\"flash\" data-hx-swap-oob=\"innerHTML\">")
        .assert_contains("Created “Payout worker”: its secret is shown once, below.");
    assert_eq!(reveal.header("hx-trigger"), "credentials-changed");
    assert_eq!(reveal.header("cache-control"), "no-store");
    let secret = secret_in(&reveal.body).unwrap();

    let section = admin.htmx_get(CREDENTIALS).await;
    section
        .assert_lacks("<html")
        .assert_contains("id=\"credentials-section\"")
        .assert_contains("Payout worker")
        .assert_lacks(&secret);
    // Pages never let htmx keep a copy of themselves in localStorage.
    let page = admin.get(CREDENTIALS).await;
    page.assert_contains("data-hx-history=\"false\"")
        .assert_contains("\"historyCacheSize\":0");
}

#[tokio::test]
async fn bad_names_and_descriptions_are_shown_at_their_fields_in_both_forms() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(NEW_CREDENTIAL).await;
    for hx in [false, true] {
        let cases = [
            ("abc", "", "Enter a credential name of 5 to 50 characters."),
            (
                &"x".repeat(51) as &str,
                "",
                "Enter a credential name of 5 to 50 characters.",
            ),
            (
                "Good name",
                "abc",
                "Enter a description of 5 to 50 characters.",
            ),
            (
                "PAYMENTS BACKEND",
                "",
                "A credential with this name already exists in your organization.",
            ),
        ];
        for (name, description, message) in cases {
            let fields = with(credential_fields(name), &[("description", description)]);
            if hx {
                owner.htmx();
            }
            let response = owner.submit_credential(&fields).await;
            response
                .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
                .assert_contains(message)
                .assert_contains("aria-invalid=\"true\"");
            assert_eq!(response.body.contains("<html"), !hx);
        }
    }
    assert_eq!(app.client_ids("Acme Payments").await.len(), 1);
}

#[tokio::test]
async fn a_permission_set_type_sets_the_access_levels_with_and_without_javascript() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let new = owner.get(NEW_CREDENTIAL).await;
    new.assert_contains(">Permission set type</label>")
        .assert_contains("Monitoring: Webhooks and auditing")
        // One row per type of resource, in plain language.
        .assert_contains("<span class=\"grant-name\">Policies</span>")
        .assert_contains("Rules that approve or block transactions.")
        .assert_contains(">Read, create and update</option>");
    assert_eq!(
        granted(&new.body),
        [
            "balances:read",
            "transactions:read",
            "webhooks:read",
            "audit:read"
        ]
    );
    assert_eq!(rows_in(&new.body), 0);

    let form = with(
        credential_fields("Preset test"),
        &[("permission_set", "controls"), ("op", "preset")],
    );
    let page = owner.submit_credential(&form).await;
    page.assert_status(StatusCode::OK)
        .assert_contains("<html")
        .assert_contains("value=\"Preset test\"");
    assert_eq!(
        granted(&page.body),
        [
            "policies:create,read,update,delete",
            "addresses:create,read,update,delete"
        ]
    );
    let fragment = owner
        .htmx()
        .submit_credential(&with(form.clone(), &[("permission_set", "wallets")]))
        .await;
    fragment.assert_status(StatusCode::OK).assert_lacks("<html");
    assert_eq!(
        granted(&fragment.body),
        [
            "balances:read",
            "key:create,read",
            "vault:create,read,update"
        ]
    );
    assert!(
        fragment.body.contains("id=\"permission_set\"") && fragment.body.contains(" autofocus")
    );
    // Changing the picker creates nothing.
    assert_eq!(app.client_ids("Acme Payments").await.len(), 1);
}

#[tokio::test]
async fn rows_limited_to_a_vault_or_key_are_added_and_removed_in_place() {
    let app = TestApp::demo().await;
    let mut admin = app.sign_in_as(Persona::Admin).await;
    admin.get(NEW_CREDENTIAL).await;
    let mut base = credential_fields("Row editing");
    base.extend(limited_row("vault", "create,read,update", "vault", "v-1"));
    let added = admin
        .submit_credential(&with(base.clone(), &[("op", "add")]))
        .await;
    added
        .assert_status(StatusCode::OK)
        .assert_contains("id=\"res-2-type\" name=\"res_type\" autofocus")
        .assert_contains("<label for=\"res-2-resource\">ID</label>");
    assert_eq!(rows_in(&added.body), 2);
    let removed = admin
        .htmx()
        .submit_credential(&with(base.clone(), &[("op", "remove-0")]))
        .await;
    removed
        .assert_status(StatusCode::OK)
        .assert_lacks("<html")
        .assert_contains("value=\"Row editing\"");
    assert_eq!(rows_in(&removed.body), 0);
    assert_eq!(granted(&removed.body).len(), 4);
    assert_eq!(app.client_ids("Acme Payments").await.len(), 1);
}

#[tokio::test]
async fn unknown_types_levels_and_scopes_are_refused_at_their_row_and_duplicates_collapse() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(NEW_CREDENTIAL).await;
    let base = vec![
        ("name", "Row checks"),
        ("description", ""),
        ("permission_set", "monitoring"),
        ("ip_mode", "all"),
        ("grant", "audit:read"),
    ];
    for (bad, message) in [
        (
            limited_row("money", "read", "vault", ""),
            "Choose a type of resource.",
        ),
        (
            limited_row("vault", "steal", "vault", ""),
            "Choose an access level",
        ),
        (limited_row("vault", "", "vault", ""), "or remove the row"),
        (
            limited_row("vault", "read", "galaxy", ""),
            "Choose a vault or a key.",
        ),
        (
            limited_row("vault", "read", "org", ""),
            "Choose a vault or a key.",
        ),
        (
            limited_row("vault", "read", "vault", "v 1"),
            "A resource is a vault or wallet id",
        ),
    ] {
        let mut form = base.clone();
        form.extend(bad);
        for hx in [false, true] {
            if hx {
                owner.htmx();
            }
            owner
                .submit_credential(&form)
                .await
                .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
                .assert_contains(message)
                .assert_contains("aria-describedby=\"res-1-error\"")
                .assert_contains("id=\"res-1-error\"");
        }
    }
    // A forged organization-wide value is refused at the picker.
    for (forged, message) in [
        ("money:read", "“money” is not a type of resource."),
        ("audit:steal", "Choose an access level: “steal” is not one."),
    ] {
        owner
            .submit_credential(&with_grant(base.clone(), forged))
            .await
            .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
            .assert_contains(message)
            .assert_contains("id=\"permissions-error\"");
    }
    let none = with_grant(base.clone(), "audit:");
    owner
        .submit_credential(&none)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Add at least one permission.");

    let mut dup = base.clone();
    dup.extend(limited_row("vault", "update", "vault", "v-123"));
    dup.extend(limited_row("vault", "update", "vault", "v-123"));
    dup.push(("grant", "audit:read,read"));
    owner
        .submit_credential(&dup)
        .await
        .assert_status(StatusCode::OK);
    let (set, permissions, _) = stored(&app, "Row checks").await;
    assert_eq!(
        (set.as_str(), permissions.as_str()),
        ("monitoring", "audit:read:org vault:update:vault:v-123")
    );
    owner
        .get(CREDENTIALS)
        .await
        .assert_contains("<li class=\"chip\" title=\"audit:read:org\">Audit log: Read</li>")
        .assert_contains(
            "<li class=\"chip\" title=\"vault:update:vault:v-123\">Vaults in vault v-123: Update</li>",
        );
}

#[tokio::test]
async fn the_card_lists_permissions_as_readable_chips_and_summarises_addresses() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.create_credential("Summary test").await;
    let page = owner.get(CREDENTIALS).await;
    page.assert_contains(">Webhooks: Read</li>")
        .assert_contains("All IP addresses")
        // The demo credential: transactions create and read, balances read.
        .assert_contains(">Transactions: Read and create</li>")
        .assert_contains(">Balances: Read</li>")
        .assert_contains("2 IP addresses: 203.0.113.0/24, 198.51.100.7")
        .assert_lacks("permissions, org scope");
}

#[tokio::test]
async fn an_edit_keeps_access_no_level_names() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (client_id, _) = owner.create_credential("Odd access").await;
    let odd = with_grant(credential_fields("Odd access"), "policies:create,delete");
    owner
        .edit_credential(&client_id, &odd)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let form = owner.get(&credential(&client_id, "edit")).await;
    form.assert_contains(
        "<option value=\"policies:create,delete\" selected>Create and delete</option>",
    );
    // Saving the form unchanged keeps it.
    let (_, before, _) = stored(&app, "Odd access").await;
    owner
        .edit_credential(&client_id, &odd)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert_eq!(stored(&app, "Odd access").await.1, before);
    assert!(
        before.contains("policies:create:org policies:delete:org"),
        "{before}"
    );
}

#[tokio::test]
async fn ip_entries_are_parsed_normalised_and_limited_with_a_clear_message_each() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(NEW_CREDENTIAL).await;
    fn limited(list: &str) -> Vec<(&'static str, &str)> {
        with(
            credential_fields("IP checks"),
            &[("ip_mode", "limited"), ("ip_list", list)],
        )
    }
    let huge = "9".repeat(10 * 1024);
    let seven = (1..=7)
        .map(|i| format!("10.0.0.{i}"))
        .collect::<Vec<_>>()
        .join("\n");
    for (list, message) in [
        (
            "999.1.1.1",
            "Line 1: “999.1.1.1” is not an IP address or CIDR range",
        ),
        (
            "10.0.0.1\n10.0.0.0/33",
            "Line 2: “10.0.0.0/33”: the prefix length after / goes from 0 to 32 for an IPv4 address.",
        ),
        // Line numbers are the textarea's, blank lines counted.
        (
            "10.0.0.1\n\n\nhello",
            "Line 4: “hello” is not an IP address or CIDR range",
        ),
        (
            "::ffff:",
            "Line 1: “::ffff:” is not an IP address or CIDR range",
        ),
        (huge.as_str(), "Enter at most 6 entries, one per line."),
        (
            seven.as_str(),
            "A credential can have at most 6 IP entries; remove 1.",
        ),
        (
            "10.0.0.1/24\n10.0.0.0/24",
            "Line 2: 10.0.0.0/24 is listed twice.",
        ),
        ("", "Enter at least one IP address or CIDR range"),
    ] {
        for hx in [false, true] {
            if hx {
                owner.htmx();
            }
            owner
                .submit_credential(&limited(list))
                .await
                .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
                .assert_contains(message)
                .assert_contains("id=\"ip_list-error\"");
        }
    }
    assert_eq!(app.client_ids("Acme Payments").await.len(), 1);

    let six = "10.0.0.7/24\n203.0.113.4\n2001:db8::1/64\n::1\n198.51.100.0/25\n192.0.2.1";
    let reveal = owner.submit_credential(&limited(six)).await;
    reveal
        .assert_status(StatusCode::OK)
        .assert_contains("10.0.0.7/24 is shown as 10.0.0.0/24: the network it belongs to.");
    let (_, _, ips) = stored(&app, "IP checks").await;
    assert_eq!(
        ips,
        "10.0.0.0/24 203.0.113.4 2001:db8::/64 ::1 198.51.100.0/25 192.0.2.1"
    );
    owner
        .get(CREDENTIALS)
        .await
        .assert_contains("6 IP addresses: 10.0.0.0/24, 203.0.113.4, 2001:db8::/64");
}

#[tokio::test]
async fn production_warns_about_all_ip_addresses() {
    let app = TestApp::demo_with(|c| c.environment = Environment::Production).await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner
        .get(NEW_CREDENTIAL)
        .await
        .assert_contains("This is the production environment: use Limited IP addresses");
    let (_, secret) = owner.create_credential("Live one here").await;
    assert!(secret.starts_with("kws_live_"));
    let sandbox = TestApp::demo().await;
    sandbox
        .sign_in_as(Persona::Owner)
        .await
        .get(NEW_CREDENTIAL)
        .await
        .assert_lacks("production environment");
}

#[tokio::test]
async fn at_three_credentials_new_credential_is_disabled_and_refused() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.create_credential("Second one").await;
    owner.create_credential("Third one").await;
    let page = owner.get(CREDENTIALS).await;
    page.assert_contains("id=\"new-credential\" disabled aria-describedby=\"limit-note\"")
        .assert_contains(LIMIT);
    owner.get(NEW_CREDENTIAL).await.assert_contains(LIMIT);
    owner
        .submit_credential(&with(
            credential_fields("Fourth one"),
            &[("description", "")],
        ))
        .await
        .assert_status(StatusCode::CONFLICT)
        .assert_contains(LIMIT);
    assert_eq!(app.client_ids("Acme Payments").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_creates_at_two_credentials_make_exactly_one_more() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.create_credential("Second one").await;
    owner.get(CREDENTIALS).await;
    let names: Vec<String> = (0..20).map(|i| format!("Racer number {i}")).collect();
    let responses = join_all(names.iter().map(|name| {
        let mut client = owner.clone();
        async move {
            client
                .htmx()
                .submit_credential(&with(credential_fields(name), &[("description", "")]))
                .await
        }
    }))
    .await;
    let created = responses
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let refused = responses
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, refused), (1, 19));
    assert_eq!(app.client_ids("Acme Payments").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_credential_is_primary_under_concurrent_requests() {
    let app = TestApp::demo().await;
    app.upgrade_globex().await;
    let mut owner = app.sign_in_as(Persona::GlobexOwner).await;
    owner.get(CREDENTIALS).await;
    // Racing first creates: one of them becomes primary.
    let responses = join_all((0..3).map(|i| {
        let mut client = owner.clone();
        async move {
            client
                .submit_credential(&credential_fields(&format!("First racer {i}")))
                .await
        }
    }))
    .await;
    assert!(responses.iter().all(|r| r.status == StatusCode::OK));
    let primaries = "SELECT COUNT(*) FROM credentials c JOIN organizations o ON o.id = c.organization_id WHERE o.name = 'Globex' AND c.is_primary";
    assert_eq!(app.count(primaries).await, 1);
    // Racing "Make primary" on every credential.
    let ids = app.client_ids("Globex").await;
    let responses = join_all(ids.iter().map(|id| {
        let mut client = owner.clone();
        async move { client.htmx().make_primary(id).await }
    }))
    .await;
    assert!(responses.iter().all(|r| r.status == StatusCode::OK));
    assert_eq!(app.count(primaries).await, 1);
}

#[tokio::test]
async fn rotating_keeps_the_client_id_and_replaces_the_secret_at_once() {
    let app = TestApp::demo().await;
    let mut admin = app.sign_in_as(Persona::Admin).await;
    let (client_id, old) = admin.create_credential("Rotation target").await;
    admin
        .get(&credential(&client_id, "rotate"))
        .await
        .assert_contains("<h2 id=\"dialog-title\">Rotate Credential</h2>")
        .assert_contains(">Rotate Credential</button>")
        .assert_contains("By default the previous secret is immediately invalidated.")
        .assert_contains("<option value=\"0\" selected>Immediately: invalidate it now</option>");
    let reveal = admin.rotate(&client_id, Grace::Unchosen).await;
    reveal
        .assert_status(StatusCode::OK)
        .assert_contains("Save your new secret now");
    let new = secret_in(&reveal.body).unwrap();
    assert_ne!(new, old);
    assert_eq!(client_id_in(&reveal.body).unwrap(), client_id);
    let digests = app
        .sql
        .strings(
            "SELECT s.digest FROM credential_secrets s JOIN credentials c ON c.id = s.credential_id WHERE c.client_id = $1",
            &[(&client_id).into()],
        )
        .await;
    assert_eq!(digests, vec![app.keys.secret_digest(&new)]);
    let page = admin.get(CREDENTIALS).await;
    let card = &page.body[page.body.find("Rotation target").unwrap()..];
    let rotated = &card[card.find("Rotated</dt>").unwrap()..];
    assert!(rotated[..200].contains("just now"), "{}", &rotated[..200]);
    assert!(
        app.audit_actions()
            .await
            .contains(&"credential.rotated".to_owned())
    );
}

#[tokio::test]
async fn a_rotation_grace_window_keeps_the_old_secret_until_it_ends_or_is_expired() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (id, old) = owner.create_credential("Graceful client").await;
    let mut m = app.client();
    owner
        .get(&credential(&id, "rotate"))
        .await
        .assert_contains(">24 hours</option>")
        .assert_contains(">7 days</option>");
    owner
        .rotate(&id, Grace::Seconds(42))
        .await
        .assert_status(StatusCode::BAD_REQUEST);

    let reveal = owner.rotate(&id, Grace::Hours(1)).await;
    reveal
        .assert_status(StatusCode::OK)
        .assert_contains("The previous secret keeps working until")
        .assert_contains("(in 1 hour)");
    let new = secret_in(&reveal.body).unwrap();
    m.get_token(&id, &old).await;
    m.get_token(&id, &new).await;
    let page = owner.get(CREDENTIALS).await;
    page.assert_contains("Previous secret</span>")
        .assert_contains("<span class=\"badge warning\">Rotating until ")
        // An exact countdown and the window chosen.
        .assert_contains(">1 h left</span> of a 1-hour window)")
        .assert_contains("New secret last used")
        .assert_contains(">Expire now");
    // Each secret is told apart by its last four characters, and no more.
    page.assert_contains(&format!(
        "ending in </span>{}</code>",
        &new[new.len() - 4..]
    ))
    .assert_contains(&format!(
        "ending in </span>{}</code>",
        &old[old.len() - 4..]
    ))
    .assert_lacks(&new[new.len() - 8..]);

    // After the window the old secret fails.
    app.clock.advance(3601);
    m.client_credentials(&id, &old)
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");

    // Expire now ends a window at once.
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(CREDENTIALS).await;
    let reveal = owner.rotate(&id, Grace::Days(7)).await;
    let newest = secret_in(&reveal.body).unwrap();
    m.get_token(&id, &new).await;
    // Used in the last hour: Expire now asks first.
    owner.get(CREDENTIALS).await.assert_contains(&format!(
        "href=\"/settings/credentials/{id}/expire-previous\""
    ));
    owner
        .get(&credential(&id, "expire-previous"))
        .await
        .assert_contains("Expire the previous secret</h2>")
        .assert_contains("It was used in the last hour.");
    owner
        .expire_previous(&id)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner
        .get(CREDENTIALS)
        .await
        .assert_lacks("Previous secret</span>")
        .assert_contains("no longer works");
    m.client_credentials(&id, &new)
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    m.get_token(&id, &newest).await;
    assert!(
        app.audit_actions()
            .await
            .contains(&"credential.previous_secret_expired".to_owned())
    );
}

#[tokio::test]
async fn edit_renames_with_an_audit_of_before_and_after() {
    let app = TestApp::demo().await;
    let mut admin = app.sign_in_as(Persona::Admin).await;
    let (client_id, _) = admin.create_credential("Old name here").await;
    admin
        .get(&credential(&client_id, "edit"))
        .await
        .assert_contains("value=\"Old name here\"")
        .assert_contains(">Save</button>");
    admin
        .htmx()
        .edit_credential(&client_id, &credential_fields("Payments backend"))
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("already exists");
    let saved = admin
        .htmx()
        .edit_credential(
            &client_id,
            &with(
                credential_fields("New name here"),
                &[("description", "Now described")],
            ),
        )
        .await;
    saved
        .assert_status(StatusCode::OK)
        .assert_contains("data-hx-swap-oob")
        .assert_contains("Saved “New name here”.");
    assert_eq!(saved.header("hx-trigger"), "credentials-changed");
    assert!(!saved.body.contains("<dialog"), "the dialog closes");
    let redirect = admin
        .edit_credential(
            &client_id,
            &with(credential_fields("Newer name"), &[("description", "")]),
        )
        .await;
    assert_eq!(redirect.location(), CREDENTIALS);
    admin
        .get(CREDENTIALS)
        .await
        .assert_contains("Saved “Newer name”.")
        .assert_contains("Newer name");
    let detail = app.audit_detail("credential.updated").await;
    assert!(
        detail.contains("\"before\":{\"description\":null,\"expires_at\":null,\"ip_allowlist\":\"0.0.0.0/0\",\"name\":\"Old name here\"") && detail.contains("\"after\":{\"description\":\"Now described\""),
        "{detail}"
    );
}

#[tokio::test]
async fn edit_changes_permissions_and_addresses_with_before_and_after_in_the_audit() {
    let app = TestApp::demo().await;
    let mut admin = app.sign_in_as(Persona::Admin).await;
    let (client_id, _) = admin.create_credential("Editable one").await;
    let form = admin.get(&credential(&client_id, "edit")).await;
    assert_eq!(granted(&form.body).len(), 4);
    let changed = with(
        credential_fields("Editable one"),
        &[
            ("permission_set", "transactions"),
            ("ip_mode", "limited"),
            ("ip_list", "203.0.113.9"),
        ],
    );
    admin
        .edit_credential(&client_id, &changed)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let (set, _, ips) = stored(&app, "Editable one").await;
    assert_eq!(
        (set.as_str(), ips.as_str()),
        ("transactions", "203.0.113.9")
    );
    let detail = app.audit_detail("credential.updated").await;
    assert!(
        detail.contains("\"ip_allowlist\":\"0.0.0.0/0\"")
            && detail.contains("\"ip_allowlist\":\"203.0.113.9\""),
        "{detail}"
    );
}

#[tokio::test]
async fn disable_and_enable_follow_the_roles_and_say_what_happens_to_tokens() {
    let app = TestApp::demo().await;
    let client_id = app.client_ids("Acme Payments").await[0].clone();
    let events = app.audit_actions().await;
    for persona in [Persona::Viewer, Persona::Support] {
        let mut browser = app.sign_in_as(persona).await;
        browser.get(CREDENTIALS).await;
        for response in [
            browser.get(&credential(&client_id, "disable")).await,
            browser.disable(&client_id).await,
            browser.enable(&client_id).await,
        ] {
            response
                .assert_status(StatusCode::FORBIDDEN)
                .assert_contains("API Credentials: Can Edit");
        }
    }
    app.upgrade_globex().await;
    let mut other = app.sign_in_as(Persona::GlobexOwner).await;
    other.get(CREDENTIALS).await;
    for response in [
        other.disable(&client_id).await,
        other.enable(&client_id).await,
    ] {
        response
            .assert_status(StatusCode::NOT_FOUND)
            .assert_contains("There is nothing here, or it was deleted.");
    }
    // Nothing changed: still enabled, and no event but the visits.
    let status = "SELECT status FROM credentials WHERE client_id = $1";
    assert_eq!(
        app.sql.string(status, &[(&client_id).into()]).await,
        "enabled"
    );
    let after: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|a| a != "support.viewed" && a != "sign_in")
        .collect();
    let before: Vec<String> = events.into_iter().filter(|a| a != "sign_in").collect();
    assert_eq!(after, before);

    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner
        .get(&credential(&client_id, "disable"))
        .await
        .assert_contains("Existing tokens issued by this credential keep working until they expire (up to 1 hour).")
        .assert_contains(">Disable</button>");
    owner
        .htmx()
        .disable(&client_id)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("gets no new tokens");
    owner
        .get(CREDENTIALS)
        .await
        .assert_contains("<span class=\"badge\">Disabled</span>")
        .assert_contains("Gets no new tokens until enabled again.")
        .assert_contains(">Enable</button>");
    let mut admin = app.sign_in_as(Persona::Admin).await;
    admin.get(CREDENTIALS).await;
    admin
        .enable(&client_id)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    admin
        .get(CREDENTIALS)
        .await
        .assert_lacks("<span class=\"badge\">Disabled</span>")
        .assert_lacks("card credential disabled")
        .assert_contains("can get new tokens again");
    let actions = app.audit_actions().await;
    assert!(
        actions.contains(&"credential.disabled".to_owned())
            && actions.contains(&"credential.enabled".to_owned())
    );
}

#[tokio::test]
async fn the_primary_credential_cannot_be_deleted_until_another_is_made_primary() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let primary = app.client_ids("Acme Payments").await[0].clone();
    let (other, _) = owner.create_credential("Deletable one").await;
    let page = owner.get(CREDENTIALS).await;
    page.assert_contains(&format!("<button type=\"button\" disabled aria-describedby=\"primary-note-{primary}\">Delete</button>"))
        .assert_contains("The primary credential cannot be deleted.");
    owner
        .delete(&primary)
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("The primary credential cannot be deleted.");
    owner
        .get(&credential(&primary, "delete"))
        .await
        .assert_status(StatusCode::FORBIDDEN);

    owner
        .make_primary(&other)
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner
        .get(CREDENTIALS)
        .await
        .assert_contains("“Deletable one” is now the primary credential.");
    owner
        .get(&credential(&primary, "delete"))
        .await
        .assert_contains("Any API clients using it will immediately lose access.")
        .assert_contains(">Delete</button>");
    owner
        .htmx()
        .delete(&primary)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Deleted “Payments backend”.");
    assert_eq!(app.client_ids("Acme Payments").await, vec![other.clone()]);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM credential_secrets").await,
        1
    );
    // Deleted meanwhile: the dialog says so.
    let gone = owner.htmx_get(&credential(&primary, "edit")).await;
    gone.assert_status(StatusCode::NOT_FOUND)
        .assert_contains("<dialog")
        .assert_contains("There is nothing here, or it was deleted.");
    assert_eq!(gone.header("hx-retarget"), "#dialog-root");
}

/// Every credentials route, with an existing credential of Acme.
fn routes(client_id: &str) -> Vec<Route> {
    let id = |action: &str| credential(client_id, action);
    vec![
        ("GET", NEW_CREDENTIAL.into(), vec![]),
        ("POST", CREDENTIALS.into(), credential_fields("Sneaky one")),
        ("GET", id("edit"), vec![]),
        ("POST", id("edit"), credential_fields("Sneaky rename")),
        ("GET", id("rotate"), vec![]),
        ("POST", id("rotate"), vec![]),
        ("POST", id("make-primary"), vec![]),
        ("GET", id("delete"), vec![]),
        ("POST", id("delete"), vec![]),
    ]
}

#[tokio::test]
async fn the_role_matrix_holds_on_every_credentials_route() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (client_id, _) = owner.create_credential("Target of all").await;
    let all = routes(&client_id);

    for persona in [Persona::Viewer, Persona::Support] {
        let mut browser = app.sign_in_as(persona).await;
        let page = browser.get(CREDENTIALS).await;
        page.assert_status(StatusCode::OK)
            .assert_contains("Target of all")
            .assert_lacks("Actions for")
            .assert_lacks("New Credential");
        for route in &all {
            browser
                .call(route)
                .await
                .assert_status(StatusCode::FORBIDDEN)
                .assert_contains("API Credentials: Can Edit");
        }
    }
    // Another organization's owner: the credential does not exist for them.
    app.upgrade_globex().await;
    let mut globex = app.sign_in_as(Persona::GlobexOwner).await;
    globex.get(CREDENTIALS).await.assert_lacks("Target of all");
    let missing = routes("kwid_doesnotexist0000000000");
    for (foreign, unknown) in all.iter().zip(&missing).skip(2) {
        let a = globex.call(foreign).await;
        let b = globex.call(unknown).await;
        a.assert_status(StatusCode::NOT_FOUND);
        assert_eq!(
            without_request_id(&a.body.replace(&client_id, "")),
            without_request_id(&b.body.replace("kwid_doesnotexist0000000000", "")),
            "{foreign:?}"
        );
    }
    // Signed out.
    let mut stranger = app.client();
    stranger.get(LOGIN).await;
    for route in &all {
        assert_eq!(stranger.call(route).await.location(), LOGIN, "{route:?}");
    }
    // Owners and Can Edit admins get the menu.
    let mut admin = app.sign_in_as(Persona::Admin).await;
    admin
        .get(CREDENTIALS)
        .await
        .assert_contains("Actions for Target of all")
        .assert_contains("New Credential");
    // Nothing changed.
    assert_eq!(app.client_ids("Acme Payments").await.len(), 2);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM credentials WHERE name LIKE 'Sneaky%'")
            .await,
        0
    );
    assert!(
        !app.audit_actions()
            .await
            .iter()
            .any(|a| a == "credential.rotated" || a == "credential.deleted")
    );
}

#[tokio::test]
async fn trial_organizations_see_an_explanation_and_cannot_create() {
    let app = TestApp::demo().await;
    let mut globex = app.sign_in_as(Persona::GlobexOwner).await;
    globex
        .get(CREDENTIALS)
        .await
        .assert_contains("API credentials are not available on the Trial plan")
        .assert_lacks("New Credential");
    globex
        .submit_credential(&with(
            credential_fields("Trial attempt"),
            &[("description", "")],
        ))
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("Trial organizations cannot hold API credentials.");
    assert!(app.client_ids("Globex").await.is_empty());
}

#[tokio::test]
async fn no_page_of_any_role_and_no_table_holds_a_plaintext_secret() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let mut secrets = Vec::new();
    let (a, first) = owner.create_credential("Hunted one").await;
    secrets.push(first);
    let (b, second) = owner.create_credential("Hunted two").await;
    secrets.push(second);
    for id in [&a, &b] {
        let reveal = owner.htmx().rotate(id, Grace::Unchosen).await;
        secrets.push(secret_in(&reveal.body).unwrap());
    }
    assert_eq!(secrets.len(), 4);

    let mut paths: Vec<String> = [
        CREDENTIALS,
        NEW_CREDENTIAL,
        AUDIT_LOG,
        MEMBERS,
        ORGANIZATION,
        ACCOUNT,
    ]
    .map(str::to_owned)
    .to_vec();
    for id in [&a, &b] {
        for action in ["edit", "rotate", "delete"] {
            paths.push(credential(id, action));
        }
    }
    for persona in Persona::ALL {
        let mut browser = app.sign_in_as(persona).await;
        for path in &paths {
            for response in [browser.get(path).await, browser.htmx_get(path).await] {
                for secret in &secrets {
                    assert!(
                        !response.body.contains(secret.as_str()),
                        "{persona:?} GET {path} shows a secret"
                    );
                    assert!(
                        !response.body.contains(&secret[9..]),
                        "{persona:?} GET {path} shows a secret body"
                    );
                }
            }
        }
    }

    let stored = app.sql.every_stored_value().await;
    assert!(
        stored
            .iter()
            .any(|(label, _)| label == "credential_secrets.digest")
    );
    for (label, value) in stored {
        let text = String::from_utf8_lossy(&value);
        for secret in &secrets {
            assert!(!text.contains(&secret[9..]), "{label} holds a secret");
        }
    }
}

/// The opening tag of the element with `id` in `body`.
fn tag<'a>(body: &'a str, id: &str) -> &'a str {
    let at = body
        .find(&format!("id=\"{id}\""))
        .expect("the element is there");
    let start = body[..at].rfind('<').unwrap();
    let end = at + body[at..].find('>').unwrap();
    &body[start..=end]
}

#[tokio::test]
async fn after_a_failed_submit_focus_is_on_the_first_invalid_field() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(NEW_CREDENTIAL).await;
    // Only the IP list is wrong: it has focus, not the name.
    let mut fields = credential_fields("Edge gateway");
    fields.retain(|(k, _)| *k != "ip_mode");
    fields.extend([("ip_mode", "limited"), ("ip_list", "10.0.0.1\n\nnot-an-ip")]);
    let page = owner.htmx().submit_credential(&fields).await;
    page.assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Line 3: “not-an-ip”");
    assert!(
        tag(&page.body, "ip_list").contains("autofocus"),
        "{}",
        tag(&page.body, "ip_list")
    );
    assert!(tag(&page.body, "ip_list").contains("rows=\"6\""));
    assert!(!tag(&page.body, "name").contains("autofocus"));
    // A bad description comes before the IP list.
    let mut both = fields.clone();
    both.retain(|(k, _)| *k != "description");
    both.push(("description", "abc"));
    let page = owner.htmx().submit_credential(&both).await;
    assert!(tag(&page.body, "description").contains("autofocus"));
    assert!(!tag(&page.body, "ip_list").contains("autofocus"));
    // A bad limited row: its invalid input (the first row's scope).
    let mut row = credential_fields("Edge gateway");
    row.extend(limited_row("vault", "read", "galaxy", ""));
    let page = owner.htmx().submit_credential(&row).await;
    page.assert_status(StatusCode::UNPROCESSABLE_ENTITY);
    let scope = page.body.find("name=\"res_scope\"").unwrap();
    let scope_tag = &page.body
        [page.body[..scope].rfind('<').unwrap()..scope + page.body[scope..].find('>').unwrap()];
    assert!(
        scope_tag.contains("autofocus") && scope_tag.contains("aria-invalid"),
        "{scope_tag}"
    );
}

/// A page without its request ID, which differs on every request.
fn without_request_id(body: &str) -> String {
    let marker = "quote request ID <code>";
    match body.find(marker) {
        Some(start) => {
            let from = start + marker.len();
            let end = body[from..].find('<').map_or(body.len(), |e| from + e);
            format!("{}{}", &body[..from], &body[end..])
        }
        None => body.to_owned(),
    }
}

#[tokio::test]
async fn a_second_rotation_in_a_window_stops_the_oldest_and_windows_last_24_hours_or_7_days() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (id, first) = owner.create_credential("Twice rotated").await;
    let mut m = app.client();
    let second = secret_in(&owner.rotate(&id, Grace::Hours(24)).await.body).unwrap();
    app.clock.advance(3600);
    m.get_token(&id, &first).await;
    // A second rotation inside the window: the oldest secret stops at once,
    // the one it replaced gets a window of its own.
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(CREDENTIALS).await;
    let third = secret_in(&owner.rotate(&id, Grace::Hours(24)).await.body).unwrap();
    m.client_credentials(&id, &first)
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    m.get_token(&id, &second).await;
    m.get_token(&id, &third).await;
    let live = "SELECT COUNT(*) FROM credential_secrets s JOIN credentials c ON c.id = s.credential_id WHERE c.client_id = $1";
    assert_eq!(app.sql.scalar_i64(live, &[(&id).into()]).await, 2);
    // 24 hours: still working a minute before, not a second after.
    app.clock.advance(24 * 3600 - 60);
    m.get_token(&id, &second).await;
    app.clock.advance(61);
    m.client_credentials(&id, &second)
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    m.get_token(&id, &third).await;

    // 7 days, the same way.
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.get(CREDENTIALS).await;
    let fourth = secret_in(&owner.rotate(&id, Grace::Days(7)).await.body).unwrap();
    app.clock.advance(7 * 86_400 - 60);
    m.get_token(&id, &third).await;
    app.clock.advance(61);
    m.client_credentials(&id, &third)
        .await
        .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    m.get_token(&id, &fourth).await;
}

#[tokio::test]
async fn the_database_itself_holds_one_primary_per_organization() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (second, _) = owner.create_credential("Second one").await;
    // Whatever the code did, a second primary row is refused by the index.
    let made = app
        .sql
        .try_execute(
            "UPDATE credentials SET is_primary = TRUE WHERE client_id = $1",
            &[(&second).into()],
        )
        .await;
    let error = made.unwrap_err().to_string();
    assert!(
        error.contains("credentials_one_primary") || error.contains("UNIQUE"),
        "{error}"
    );
    let primaries = "SELECT COUNT(*) FROM credentials c JOIN organizations o ON o.id = c.organization_id WHERE o.name = 'Acme Payments' AND c.is_primary";
    assert_eq!(app.count(primaries).await, 1);
    // Another organization has a primary of its own.
    app.upgrade_globex().await;
    app.sign_in_as(Persona::GlobexOwner)
        .await
        .create_credential("Globex first")
        .await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM credentials WHERE is_primary")
            .await,
        2
    );
}

#[tokio::test]
async fn expire_now_asks_first_only_while_the_previous_secret_was_used_in_the_last_hour() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let (id, old) = owner.create_credential("Asked or not").await;
    owner.get(CREDENTIALS).await;
    owner
        .rotate(&id, Grace::Hours(24))
        .await
        .assert_status(StatusCode::OK);
    let asks = format!("href=\"/settings/credentials/{id}/expire-previous\"");
    let acts = format!(
        "<form class=\"inline-form\" method=\"post\" action=\"/settings/credentials/{id}/expire-previous\""
    );
    // Never used since: the button acts at once.
    owner
        .get(CREDENTIALS)
        .await
        .assert_contains(&acts)
        .assert_lacks(&asks);
    // Used: the button opens the question.
    app.client().get_token(&id, &old).await;
    owner
        .get(CREDENTIALS)
        .await
        .assert_contains(&asks)
        .assert_lacks(&acts);
    // An hour without use: at once again.
    app.clock.advance(3601);
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner
        .get(CREDENTIALS)
        .await
        .assert_contains(&acts)
        .assert_lacks(&asks);
}

/// The value of the hidden input `name` in a page, unescaped.
fn hidden_value(html: &str, name: &str) -> String {
    let start = html
        .find(&format!(r#"name="{name}" value=""#))
        .unwrap_or_else(|| panic!("no input {name} in the page"))
        + format!(r#"name="{name}" value=""#).len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end]
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn a_console_edit_keeps_a_change_another_made_to_a_field_it_left_as_shown() {
    let app = TestApp::demo().await;
    let acme = app.org_id("Acme Payments").await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    let token = owner.api_token("ci", acme, "write").await;
    let (client_id, _) = owner.create_credential("Ledger sync").await;
    let form = owner.get(&credential(&client_id, "edit")).await;
    form.assert_status(StatusCode::OK);
    let shown = hidden_value(&form.body, "shown");

    // While the dialog is open, a script describes the credential.
    let path = format!("/api/v1/credentials/{client_id}");
    app.client()
        .api(
            "PATCH",
            &path,
            &token,
            Some(json!({ "description": "Set by the nightly script" })),
        )
        .await
        .assert_status(StatusCode::OK);

    // The person renames it; the description field is as the dialog showed it.
    owner
        .edit_credential(
            &client_id,
            &with(
                credential_fields("Ledger sync"),
                &[("name", "Ledger sync v2"), ("shown", &shown)],
            ),
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let stored = app.client().api("GET", &path, &token, None).await.json();
    assert_eq!(stored["name"], "Ledger sync v2");
    assert_eq!(stored["description"], "Set by the nightly script");

    // A field the person did change is saved, whoever changed it meanwhile.
    let form = owner.get(&credential(&client_id, "edit")).await;
    let shown = hidden_value(&form.body, "shown");
    app.client()
        .api(
            "PATCH",
            &path,
            &token,
            Some(json!({ "name": "Renamed by script" })),
        )
        .await
        .assert_status(StatusCode::OK);
    owner
        .edit_credential(
            &client_id,
            &with(
                credential_fields("Ledger sync v3"),
                &[("description", "Set by a person"), ("shown", &shown)],
            ),
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let stored = app.client().api("GET", &path, &token, None).await.json();
    assert_eq!(stored["name"], "Ledger sync v3");
    assert_eq!(stored["description"], "Set by a person");
}
