//! Settings > Credentials: the lifecycle, in its htmx and no-JavaScript forms,
//! the role matrix, the limit and the single primary under concurrency, and
//! a hunt for plaintext secrets.

use axum::http::StatusCode;
use futures::future::join_all;

use crate::helpers::*;

const LIMIT: &str = "Your organization can hold a maximum of 3 API credentials. Delete an existing credential before creating a new one.";

#[tokio::test]
async fn an_owner_creates_a_credential_without_javascript_and_sees_its_secret_once() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    owner
        .get("/settings/credentials/new")
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("<html")
        .assert_contains("<dialog class=\"dialog wide\" aria-labelledby=\"dialog-title\" open>")
        .assert_contains(">Credential name</label>")
        .assert_contains("Save &amp; Generate Key");
    let reveal = owner
        .post(
            "/settings/credentials",
            &with(
                credential_fields("  Ledger sync  "),
                &[("description", "Reconciles the ledger")],
            ),
        )
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

    let list = owner.get("/settings/credentials").await;
    list.assert_contains("Ledger sync")
        .assert_contains("Reconciles the ledger")
        .assert_contains(&client_id)
        .assert_lacks(&secret);
    // Only a keyed digest is stored.
    let digest = app.state.keys.secret_digest(&secret);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM credential_secrets WHERE digest = '{digest}'"
        ))
        .await,
        1
    );
    let detail: String = keyward::on!(app.state.db, |e| sqlx::query_scalar(
        "SELECT detail FROM audit_events WHERE action = 'credential.created'"
    )
    .fetch_one(e)
    .await)
    .unwrap();
    assert!(detail.contains("\"name\":\"Ledger sync\""), "{detail}");
}

#[tokio::test]
async fn the_first_credential_is_primary_and_the_empty_state_offers_new_credential() {
    let app = TestApp::demo().await;
    app.upgrade_globex().await;
    let mut owner = app.signed_in(Persona::OtherOwner).await;
    owner
        .get("/settings/credentials")
        .await
        .assert_contains("No API credentials yet")
        .assert_contains("Create a credential for each system that calls the API")
        .assert_contains("href=\"/settings/credentials/new\"");
    owner.create_credential("Globex billing").await;
    owner.create_credential("Globex reports").await;
    let page = owner.get("/settings/credentials").await;
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
    let mut admin = app.signed_in(Persona::AdminEdit).await;
    admin.get("/settings/credentials").await;
    let dialog = admin.htmx_get("/settings/credentials/new").await;
    dialog
        .assert_status(StatusCode::OK)
        .assert_lacks("<html")
        .assert_contains("<dialog class=\"dialog wide\" aria-labelledby=\"dialog-title\">");
    assert!(dialog.body.trim_start().starts_with("<dialog"));
    assert!(dialog.header("vary").contains("HX-Request"));

    let reveal = admin
        .htmx_post(
            "/settings/credentials",
            &with(credential_fields("Payout worker"), &[("description", "")]),
        )
        .await;
    reveal
        .assert_status(StatusCode::OK)
        .assert_lacks("<html")
        .assert_contains("data-secret");
    assert_eq!(reveal.header("hx-trigger"), "credentials-changed");
    assert_eq!(reveal.header("cache-control"), "no-store");
    let secret = secret_in(&reveal.body).unwrap();

    let section = admin.htmx_get("/settings/credentials").await;
    section
        .assert_lacks("<html")
        .assert_contains("id=\"credentials-section\"")
        .assert_contains("Payout worker")
        .assert_lacks(&secret);
    // Pages never let htmx keep a copy of themselves in localStorage.
    let page = admin.get("/settings/credentials").await;
    page.assert_contains("data-hx-history=\"false\"")
        .assert_contains("\"historyCacheSize\":0");
}

#[tokio::test]
async fn bad_names_and_descriptions_are_shown_at_their_fields_in_both_forms() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    owner.get("/settings/credentials/new").await;
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
            let response = if hx {
                owner.htmx_post("/settings/credentials", &fields).await
            } else {
                owner.post("/settings/credentials", &fields).await
            };
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
async fn at_three_credentials_new_credential_is_disabled_and_refused() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    owner.create_credential("Second one").await;
    owner.create_credential("Third one").await;
    let page = owner.get("/settings/credentials").await;
    page.assert_contains("id=\"new-credential\" disabled aria-describedby=\"limit-note\"")
        .assert_contains(LIMIT);
    owner
        .get("/settings/credentials/new")
        .await
        .assert_contains(LIMIT);
    owner
        .post(
            "/settings/credentials",
            &with(credential_fields("Fourth one"), &[("description", "")]),
        )
        .await
        .assert_status(StatusCode::CONFLICT)
        .assert_contains(LIMIT);
    assert_eq!(app.client_ids("Acme Payments").await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_creates_at_two_credentials_make_exactly_one_more() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    owner.create_credential("Second one").await;
    owner.get("/settings/credentials").await;
    let names: Vec<String> = (0..20).map(|i| format!("Racer number {i}")).collect();
    let responses = join_all(names.iter().map(|name| {
        let mut client = owner.clone();
        async move {
            client
                .htmx_post(
                    "/settings/credentials",
                    &with(credential_fields(name), &[("description", "")]),
                )
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
    let mut owner = app.signed_in(Persona::OtherOwner).await;
    owner.get("/settings/credentials").await;
    // Racing first creates: one of them becomes primary.
    let responses = join_all((0..3).map(|i| {
        let mut client = owner.clone();
        async move {
            client
                .post(
                    "/settings/credentials",
                    &credential_fields(&format!("First racer {i}")),
                )
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
        async move {
            client
                .htmx_post(&format!("/settings/credentials/{id}/make-primary"), &[])
                .await
        }
    }))
    .await;
    assert!(responses.iter().all(|r| r.status == StatusCode::OK));
    assert_eq!(app.count(primaries).await, 1);
}

#[tokio::test]
async fn rotating_keeps_the_client_id_and_replaces_the_secret_at_once() {
    let app = TestApp::demo().await;
    let mut admin = app.signed_in(Persona::AdminEdit).await;
    let (client_id, old) = admin.create_credential("Rotation target").await;
    admin
        .get(&format!("/settings/credentials/{client_id}/rotate"))
        .await
        .assert_contains("<h2 id=\"dialog-title\">Rotate Credential</h2>")
        .assert_contains(">Rotate Credential</button>")
        .assert_contains("By default the previous secret is immediately invalidated.")
        .assert_contains("<option value=\"0\" selected>Immediately: invalidate it now</option>");
    let reveal = admin
        .post(&format!("/settings/credentials/{client_id}/rotate"), &[])
        .await;
    reveal
        .assert_status(StatusCode::OK)
        .assert_contains("Save your new secret now");
    let new = secret_in(&reveal.body).unwrap();
    assert_ne!(new, old);
    assert_eq!(client_id_in(&reveal.body).unwrap(), client_id);
    let digests: Vec<String> = keyward::on!(app.state.db, |e| sqlx::query_scalar(
        "SELECT s.digest FROM credential_secrets s JOIN credentials c ON c.id = s.credential_id WHERE c.client_id = $1",
    )
    .bind(&client_id)
    .fetch_all(e)
    .await)
    .unwrap();
    assert_eq!(digests, vec![app.state.keys.secret_digest(&new)]);
    let page = admin.get("/settings/credentials").await;
    let card = &page.body[page.body.find("Rotation target").unwrap()..];
    let rotated = &card[card.find("Last rotated").unwrap()..];
    assert!(rotated[..200].contains("just now"), "{}", &rotated[..200]);
    assert!(
        app.audit_actions()
            .await
            .contains(&"credential.rotated".to_owned())
    );
}

#[tokio::test]
async fn edit_renames_with_an_audit_of_before_and_after() {
    let app = TestApp::demo().await;
    let mut admin = app.signed_in(Persona::AdminEdit).await;
    let (client_id, _) = admin.create_credential("Old name here").await;
    admin
        .get(&format!("/settings/credentials/{client_id}/edit"))
        .await
        .assert_contains("value=\"Old name here\"")
        .assert_contains(">Save</button>");
    let path = format!("/settings/credentials/{client_id}/edit");
    admin
        .htmx_post(&path, &credential_fields("Payments backend"))
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("already exists");
    let saved = admin
        .htmx_post(
            &path,
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
        .post(
            &path,
            &with(credential_fields("Newer name"), &[("description", "")]),
        )
        .await;
    assert_eq!(redirect.location(), "/settings/credentials");
    admin
        .get("/settings/credentials")
        .await
        .assert_contains("Saved “Newer name”.")
        .assert_contains("Newer name");
    let detail: String = keyward::on!(app.state.db, |e| {
        sqlx::query_scalar(
        "SELECT detail FROM audit_events WHERE action = 'credential.updated' ORDER BY id LIMIT 1",
    )
    .fetch_one(e)
    .await
    })
    .unwrap();
    assert!(
        detail.contains("\"before\":{\"description\":null,\"ip_allowlist\":\"0.0.0.0/0\",\"name\":\"Old name here\"") && detail.contains("\"after\":{\"description\":\"Now described\""),
        "{detail}"
    );
}

#[tokio::test]
async fn the_primary_credential_cannot_be_deleted_until_another_is_made_primary() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    let primary = app.client_ids("Acme Payments").await[0].clone();
    let (other, _) = owner.create_credential("Deletable one").await;
    let page = owner.get("/settings/credentials").await;
    page.assert_contains(&format!("<button type=\"button\" disabled aria-describedby=\"primary-note-{primary}\">Delete</button>"))
        .assert_contains("The primary credential cannot be deleted.");
    let refused = owner
        .post(&format!("/settings/credentials/{primary}/delete"), &[])
        .await;
    refused
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("The primary credential cannot be deleted.");
    owner
        .get(&format!("/settings/credentials/{primary}/delete"))
        .await
        .assert_status(StatusCode::FORBIDDEN);

    owner
        .post(&format!("/settings/credentials/{other}/make-primary"), &[])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner
        .get("/settings/credentials")
        .await
        .assert_contains("“Deletable one” is now the primary credential.");
    owner
        .get(&format!("/settings/credentials/{primary}/delete"))
        .await
        .assert_contains("Any API clients using it will immediately lose access.")
        .assert_contains(">Delete</button>");
    let deleted = owner
        .htmx_post(&format!("/settings/credentials/{primary}/delete"), &[])
        .await;
    deleted
        .assert_status(StatusCode::OK)
        .assert_contains("Deleted “Payments backend”.");
    assert_eq!(app.client_ids("Acme Payments").await, vec![other.clone()]);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM credential_secrets").await,
        1
    );
    // Deleted meanwhile: the dialog says so.
    let gone = owner
        .htmx_get(&format!("/settings/credentials/{primary}/edit"))
        .await;
    gone.assert_status(StatusCode::NOT_FOUND)
        .assert_contains("<dialog")
        .assert_contains("There is nothing here, or it was deleted.");
    assert_eq!(gone.header("hx-retarget"), "#dialog-root");
}

/// Every credentials route, with an existing credential of Acme.
fn routes(client_id: &str) -> Vec<Route> {
    let id = |suffix: &str| format!("/settings/credentials/{client_id}/{suffix}");
    vec![
        ("GET", "/settings/credentials/new".into(), vec![]),
        (
            "POST",
            "/settings/credentials".into(),
            credential_fields("Sneaky one"),
        ),
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
    let mut owner = app.signed_in(Persona::Owner).await;
    let (client_id, _) = owner.create_credential("Target of all").await;
    let all = routes(&client_id);

    for persona in [Persona::AdminView, Persona::Support] {
        let mut browser = app.signed_in(persona).await;
        let page = browser.get("/settings/credentials").await;
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
    let mut globex = app.signed_in(Persona::OtherOwner).await;
    globex
        .get("/settings/credentials")
        .await
        .assert_lacks("Target of all");
    let missing = routes("kwid_doesnotexist0000000000");
    for (foreign, unknown) in all.iter().zip(&missing).skip(2) {
        let a = globex.call(foreign).await;
        let b = globex.call(unknown).await;
        a.assert_status(StatusCode::NOT_FOUND);
        assert_eq!(
            a.body.replace(&client_id, ""),
            b.body.replace("kwid_doesnotexist0000000000", ""),
            "{foreign:?}"
        );
    }
    // Signed out.
    let mut stranger = app.client();
    stranger.get("/login").await;
    for route in &all {
        assert_eq!(stranger.call(route).await.location(), "/login", "{route:?}");
    }
    // Owners and Can Edit admins get the menu.
    let mut admin = app.signed_in(Persona::AdminEdit).await;
    admin
        .get("/settings/credentials")
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
    let mut globex = app.signed_in(Persona::OtherOwner).await;
    globex
        .get("/settings/credentials")
        .await
        .assert_contains("API credentials are not available on the Trial plan")
        .assert_lacks("New Credential");
    globex
        .post(
            "/settings/credentials",
            &with(credential_fields("Trial attempt"), &[("description", "")]),
        )
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("Trial organizations cannot hold API credentials.");
    assert!(app.client_ids("Globex").await.is_empty());
}

#[tokio::test]
async fn support_visits_to_the_credentials_page_are_audited() {
    let app = TestApp::demo().await;
    let mut support = app.signed_in(Persona::Support).await;
    support
        .get("/settings/credentials")
        .await
        .assert_status(StatusCode::OK);
    let acme = app.org_id("Acme Payments").await;
    let row: (String, Option<String>, String) = keyward::on!(app.state.db, |e| sqlx::query_as(
        "SELECT actor, target, detail FROM audit_events WHERE action = 'support.viewed' AND organization_id = $1",
    )
    .bind(acme)
    .fetch_one(e)
    .await)
    .unwrap();
    assert_eq!(
        row,
        (
            "support@keyward.test".to_owned(),
            Some("Credentials".to_owned()),
            "{\"support\":true}".to_owned()
        )
    );
}

#[tokio::test]
async fn no_page_of_any_role_and_no_table_holds_a_plaintext_secret() {
    let app = TestApp::demo().await;
    let mut owner = app.signed_in(Persona::Owner).await;
    let mut secrets = Vec::new();
    let (a, first) = owner.create_credential("Hunted one").await;
    secrets.push(first);
    let (b, second) = owner.create_credential("Hunted two").await;
    secrets.push(second);
    for id in [&a, &b] {
        let reveal = owner
            .htmx_post(&format!("/settings/credentials/{id}/rotate"), &[])
            .await;
        secrets.push(secret_in(&reveal.body).unwrap());
    }
    assert_eq!(secrets.len(), 4);

    let mut paths = vec![
        "/settings/credentials".to_owned(),
        "/settings/credentials/new".to_owned(),
        "/audit-log".to_owned(),
        "/settings/members".to_owned(),
        "/settings/organization".to_owned(),
        "/account".to_owned(),
    ];
    for id in [&a, &b] {
        for suffix in ["edit", "rotate", "delete"] {
            paths.push(format!("/settings/credentials/{id}/{suffix}"));
        }
    }
    for persona in [
        Persona::Owner,
        Persona::AdminEdit,
        Persona::AdminView,
        Persona::Support,
        Persona::OtherOwner,
    ] {
        let mut browser = app.signed_in(persona).await;
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

    let stored = app.every_stored_value().await;
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
