//! Approval for new credentials: an admin requests, an owner other than the
//! requester approves or rejects, and the requester generates the key.

use axum::http::StatusCode;

use crate::support::pages::*;
use crate::support::*;

/// The owner turns on "Require approval for new credentials".
/// The ids of every credential request, oldest first.
async fn request_ids(app: &TestApp) -> Vec<String> {
    app.sql
        .strings(
            "SELECT request_id FROM credential_requests ORDER BY id",
            &[],
        )
        .await
}

#[tokio::test]
async fn with_approval_required_an_admin_requests_an_owner_approves_and_the_requester_sees_the_secret()
 {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.require_approval().await;

    let mut admin = app.sign_in_as(Persona::Admin).await;
    admin
        .get(NEW_CREDENTIAL)
        .await
        .assert_contains(">Justification</label>")
        .assert_contains(">Request approval</button>");
    admin
        .submit_credential(&credential_fields("Requested one"))
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("Explain in 10 to 500 characters");
    let sent = admin
        .request_credential("Requested one", "Nightly reconciliation job")
        .await;
    assert_eq!(sent.location(), CREDENTIALS);
    let page = admin.get(CREDENTIALS).await;
    page.assert_contains("sent to the organization&#39;s owners for approval")
        .assert_contains("Pending approval")
        .assert_lacks("Generate key");
    let ids = request_ids(&app).await;
    assert_eq!(ids.len(), 1);
    let request_id = &ids[0];
    assert!(secret_in(&page.body).is_none());

    // The pending request counts toward the limit: 1 credential + 1 request + 1 more = 3.
    owner.create_credential("Owner direct").await;
    owner
        .get(CREDENTIALS)
        .await
        .assert_contains("Nightly reconciliation job")
        .assert_contains(">Approve<");
    owner
        .submit_credential(&credential_fields("One too many"))
        .await
        .assert_status(StatusCode::CONFLICT);

    // Nobody but an owner other than the requester decides.
    admin
        .approve(request_id)
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("Only organization owners");
    app.upgrade_globex().await;
    let mut other = app.sign_in_as(Persona::GlobexOwner).await;
    other.get(CREDENTIALS).await;
    other
        .approve(request_id)
        .await
        .assert_status(StatusCode::NOT_FOUND);
    admin
        .generate(request_id)
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("pending, not approved");

    owner
        .htmx()
        .approve(request_id)
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Approved “Requested one”.");
    owner
        .approve(request_id)
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("approved already");
    owner
        .generate(request_id)
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("Only the person who requested");

    admin.get(CREDENTIALS).await.assert_contains("Generate key");
    let reveal = admin.generate(request_id).await;
    reveal
        .assert_status(StatusCode::OK)
        .assert_contains("Save your secret now");
    let secret = secret_in(&reveal.body).unwrap();
    let client_id = client_id_in(&reveal.body).unwrap();
    let digest = app.keys.secret_digest(&secret);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM credential_secrets WHERE digest = '{digest}'"
        ))
        .await,
        1
    );
    assert!(app.client_ids("Acme Payments").await.contains(&client_id));
    admin
        .generate(request_id)
        .await
        .assert_status(StatusCode::FORBIDDEN);
    admin
        .get(CREDENTIALS)
        .await
        .assert_lacks(&secret)
        .assert_lacks("Pending approval");
    let actions = app.audit_actions().await;
    for action in [
        "credential.requested",
        "credential.request_approved",
        "credential.created",
    ] {
        assert!(actions.contains(&action.to_owned()), "{action}");
    }
}

#[tokio::test]
async fn an_owner_cannot_approve_their_own_request_and_rejected_requests_free_their_place() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.require_approval().await;
    let mut admin = app.sign_in_as(Persona::Admin).await;
    admin.get(NEW_CREDENTIAL).await;
    admin
        .request_credential("Mine to approve", "Testing self-approval")
        .await;
    admin
        .request_credential("Second request", "Fills the last place")
        .await;
    admin
        .request_credential("Third request", "Over the limit now")
        .await
        .assert_status(StatusCode::CONFLICT);
    let ids = request_ids(&app).await;

    // The requester becomes an owner: still not their own approver.
    let admin_id = app.user_id("admin@acme.test").await;
    owner.get(MEMBERS).await;
    owner.change_role(admin_id, Role::Owner).await;
    admin.get(CREDENTIALS).await.assert_lacks(">Approve<");
    admin
        .approve(&ids[0])
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("You cannot approve or reject your own request");

    owner.get(CREDENTIALS).await;
    owner
        .reject(&ids[1])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    owner
        .get(CREDENTIALS)
        .await
        .assert_contains("Rejected the request for “Second request”.")
        .assert_contains("Rejected by");
    // Owners create directly, and the rejected request no longer holds a place.
    owner.create_credential("Owner direct").await;
}

#[tokio::test]
async fn a_rejection_can_say_why_and_the_requester_reads_it_in_the_folded_history() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.require_approval().await;
    let mut admin = app.sign_in_as(Persona::Admin).await;
    admin.get(NEW_CREDENTIAL).await;
    admin
        .request_credential("Ledger export", "Finance wants a nightly export.")
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let id = request_ids(&app).await.remove(0);

    // The dialog asks for an optional reason; only owners get it.
    let mut viewer = app.sign_in_as(Persona::Viewer).await;
    viewer
        .get(&request(&id, "reject"))
        .await
        .assert_status(StatusCode::FORBIDDEN);
    owner
        .get(CREDENTIALS)
        .await
        .assert_contains(&format!("href=\"{}\"", request(&id, "reject")));
    owner
        .htmx()
        .get(&request(&id, "reject"))
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("<label for=\"reason\">Reason <span class=\"muted\">(optional)</span>")
        .assert_contains("admin@acme.test sees it on the request");
    // Too long: the message at the field, the text kept, nothing decided.
    let long = "x".repeat(501);
    owner
        .htmx()
        .reject_with(&id, &long)
        .await
        .assert_status(StatusCode::UNPROCESSABLE_ENTITY)
        .assert_contains("id=\"reason-error\">Keep the reason to 500 characters.")
        .assert_contains(&format!(">{long}</textarea>"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM credential_requests WHERE status = 'pending'")
            .await,
        1
    );
    owner
        .reject_with(&id, "Use the existing Payments backend credential.")
        .await
        .assert_status(StatusCode::SEE_OTHER);

    // The requester sees it, folded below the credentials with the reason.
    let page = admin.get(CREDENTIALS).await;
    let history = &page.body[page.body.find("<details class=\"history\">").unwrap()..];
    assert!(history.contains("<summary>Decided requests (1)</summary>"));
    assert!(history.contains("Ledger export"));
    assert!(
        history.contains("<dd class=\"note\">Use the existing Payments backend credential.</dd>")
    );
    let section = page.body.find("id=\"credentials-section\"").unwrap();
    let above = &page.body[section..page.body.find("<details class=\"history\">").unwrap()];
    assert!(!above.contains("Ledger export"), "{above}");
    assert!(
        app.audit_detail("credential.request_rejected")
            .await
            .contains("\"reason\":\"Use the existing Payments backend credential.\"")
    );
}

#[tokio::test]
async fn the_requester_withdraws_their_request_and_nobody_else_but_an_owner_can() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.require_approval().await;
    let mut admin = app.sign_in_as(Persona::Admin).await;
    admin.get(NEW_CREDENTIAL).await;
    admin
        .request_credential(
            "Payout batcher",
            "The nightly job needs its own credential.",
        )
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let id = request_ids(&app).await.remove(0);
    admin.get(CREDENTIALS).await.assert_contains("Withdraw");
    // A view-only administrator cannot, whatever they post.
    let mut viewer = app.sign_in_as(Persona::Viewer).await;
    viewer.get(CREDENTIALS).await.assert_lacks("Withdraw");
    viewer
        .post(&request(&id, "cancel"), &[])
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains("Only an owner or the person who asked can cancel a request.");
    admin
        .post(&request(&id, "cancel"), &[])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    admin
        .get(CREDENTIALS)
        .await
        .assert_contains("Withdrew the request for “Payout batcher”: its place is free again.")
        .assert_contains("Cancelled");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM credential_requests WHERE status = 'cancelled'")
            .await,
        1
    );
}

/// What a trial organization is told when it would hold a credential.
const TRIAL: &str = "Trial organizations cannot hold API credentials.";

#[tokio::test]
async fn a_trial_organization_can_neither_request_approve_nor_generate() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.require_approval().await;
    let mut admin = app.sign_in_as(Persona::Admin).await;
    admin.get(NEW_CREDENTIAL).await;
    for name in ["Approved before", "Pending before"] {
        admin
            .request_credential(name, "Made while on the standard plan")
            .await
            .assert_status(StatusCode::SEE_OTHER);
    }
    let ids = request_ids(&app).await;
    owner.get(CREDENTIALS).await;
    owner
        .approve(&ids[0])
        .await
        .assert_status(StatusCode::SEE_OTHER);
    let before = app.client_ids("Acme Payments").await;

    // The contract lapses to a trial.
    app.set_plan("Acme Payments", "trial").await;
    admin
        .get(CREDENTIALS)
        .await
        .assert_contains("not available on the Trial plan");
    admin
        .request_credential("During the trial", "Made while on the trial plan")
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains(TRIAL);
    owner
        .approve(&ids[1])
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains(TRIAL);
    admin
        .generate(&ids[0])
        .await
        .assert_status(StatusCode::FORBIDDEN)
        .assert_contains(TRIAL);
    assert_eq!(app.client_ids("Acme Payments").await, before);
    assert_eq!(request_ids(&app).await.len(), 2);
    let statuses = "SELECT status FROM credential_requests ORDER BY id";
    assert_eq!(
        app.sql.strings(statuses, &[]).await,
        ["approved", "pending"]
    );
    // Rejecting promises nothing, and stays possible.
    owner
        .reject_with(&ids[1], "Not during the trial")
        .await
        .assert_status(StatusCode::SEE_OTHER);
    assert_eq!(
        app.sql.strings(statuses, &[]).await,
        ["approved", "rejected"]
    );

    // Back on the standard plan, the approved request is generated.
    app.set_plan("Acme Payments", "standard").await;
    admin
        .generate(&ids[0])
        .await
        .assert_status(StatusCode::OK)
        .assert_contains("Save your secret now");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_and_direct_creates_racing_for_the_last_places_never_pass_three() {
    let app = TestApp::demo().await;
    let mut owner = app.sign_in_as(Persona::Owner).await;
    owner.require_approval().await;
    owner.get(NEW_CREDENTIAL).await;
    let mut admin = app.sign_in_as(Persona::Admin).await;
    admin.get(NEW_CREDENTIAL).await;
    let taken = "SELECT (SELECT COUNT(*) FROM credentials c JOIN organizations o ON o.id = c.organization_id WHERE o.name = 'Acme Payments')
         + (SELECT COUNT(*) FROM credential_requests r JOIN organizations o ON o.id = r.organization_id
            WHERE o.name = 'Acme Payments' AND r.status IN ('pending', 'approved') AND r.credential_id IS NULL)";
    assert_eq!(app.count(taken).await, 1, "the demo's one credential");
    // Ten owners' creates and ten administrators' requests at once, for two places.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let mut browser = if i % 2 == 0 {
            owner.clone()
        } else {
            admin.clone()
        };
        tasks.push(tokio::spawn(async move {
            let name = format!("Racer {i:02}");
            let response = if i % 2 == 0 {
                browser.submit_credential(&credential_fields(&name)).await
            } else {
                browser
                    .request_credential(&name, "Racing for the last place")
                    .await
            };
            (i, response)
        }));
    }
    let mut won = 0;
    for task in tasks {
        let (i, response) = task.await.unwrap();
        let won_status = if i % 2 == 0 {
            StatusCode::OK
        } else {
            StatusCode::SEE_OTHER
        };
        if response.status == won_status {
            won += 1;
        } else {
            assert_eq!(
                response.status,
                StatusCode::CONFLICT,
                "{i}: {}",
                response.body
            );
            response.assert_contains(keyward::domain::credential::LIMIT_MESSAGE);
        }
    }
    assert_eq!(won, 2, "two places were left");
    assert_eq!(app.count(taken).await, 3);
}
