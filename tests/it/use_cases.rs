//! The use cases of `keyward::service`, called without HTTP: the rules as
//! the console, and later the API, meet them.

use std::net::{IpAddr, Ipv4Addr};

use keyward::domain::credential::{CredentialName, Description, Secret};
use keyward::domain::ip::IpAllowlist;
use keyward::domain::permission::{Permissions, SetType};
use keyward::domain::{
    Access, ClientId, CredentialsPermission, Grace, Justification, OrgId, RequestStatus, UserId,
};
use keyward::service::credentials::{self, CreateOutcome, Draft};
use keyward::service::{Actor, Error, Origin, members, requests};

use crate::support::{Persona, TestApp};

const ACME: &str = "Acme Payments";

async fn actor(app: &TestApp, persona: Persona, access: Access) -> Actor {
    Actor {
        user: UserId(app.user_id(persona.email()).await),
        email: persona.email().to_owned(),
        org: OrgId(app.org_id(ACME).await),
        access,
        origin: Origin {
            ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 44)),
            user_agent: Some("use-case test".to_owned()),
        },
        token: None,
    }
}

/// Acme's owner, and its administrator with Can Edit.
async fn owner_and_admin(app: &TestApp) -> (Actor, Actor) {
    let admin = Access::Admin(CredentialsPermission::Edit);
    (
        actor(app, Persona::Owner, Access::Owner).await,
        actor(app, Persona::Admin, admin).await,
    )
}

fn draft(name: &str) -> Draft {
    Draft {
        name: CredentialName::parse(name).unwrap(),
        description: Description::parse("").unwrap(),
        set: SetType::Monitoring,
        permissions: Permissions::new(SetType::Monitoring.defaults()).unwrap(),
        ips: IpAllowlist::All,
        expires_at: None,
    }
}

fn created(outcome: CreateOutcome) -> credentials::Created {
    match outcome {
        CreateOutcome::Created(created) => *created,
        other => panic!("expected a credential, got {other:?}"),
    }
}

#[tokio::test]
async fn the_limit_of_three_is_the_use_cases_own_and_counts_what_exists() {
    let app = TestApp::demo().await;
    let owner = actor(&app, Persona::Owner, Access::Owner).await;
    // The demo holds one credential: two more fit.
    for name in ["Ledger sync", "Fraud scoring"] {
        let made = created(
            credentials::create(&app.state, &owner, &draft(name), None)
                .await
                .unwrap(),
        );
        assert!(Secret::is_well_formed(made.secret.expose()));
        assert!(!made.is_primary, "the demo credential is the primary");
    }
    let refused = credentials::create(&app.state, &owner, &draft("Fourth system"), None).await;
    assert!(matches!(refused, Err(Error::LimitReached)), "{refused:?}");
    assert_eq!(
        refused.unwrap_err().to_string(),
        "Your organization can hold a maximum of 3 API credentials. Delete an existing credential before creating a new one."
    );
    assert_eq!(app.client_ids(ACME).await.len(), 3);
}

#[tokio::test]
async fn an_administrator_demoted_after_the_request_began_is_refused_under_the_lock() {
    let app = TestApp::demo().await;
    // The administrator's request began while they could edit...
    let (owner, admin) = owner_and_admin(&app).await;
    // ...and an owner made them read-only before it reached the database.
    members::change(
        &app.state,
        &owner,
        admin.user,
        Access::Admin(CredentialsPermission::View),
    )
    .await
    .unwrap();
    let refused = credentials::create(&app.state, &admin, &draft("Late arrival"), None).await;
    assert!(
        matches!(refused, Err(Error::NeedsEditPermission)),
        "{refused:?}"
    );
    assert_eq!(app.client_ids(ACME).await.len(), 1);
}

#[tokio::test]
async fn a_request_is_decided_once_by_another_owner_and_generated_by_its_requester() {
    let app = TestApp::demo().await;
    let (owner, admin) = owner_and_admin(&app).await;
    app.sql
        .execute(
            "UPDATE organizations SET require_approval = TRUE WHERE name = 'Acme Payments'",
            &[],
        )
        .await;

    let unexplained = credentials::create(&app.state, &admin, &draft("Payout batcher"), None).await;
    assert!(
        matches!(unexplained, Err(Error::JustificationRequired)),
        "{unexplained:?}"
    );

    let why = Justification::parse("Nightly payouts need their own credential.").unwrap();
    let request_id =
        match credentials::create(&app.state, &admin, &draft("Payout batcher"), Some(&why))
            .await
            .unwrap()
        {
            CreateOutcome::Requested { request_id, name } => {
                assert_eq!(name, "Payout batcher");
                request_id
            }
            other => panic!("expected a request, got {other:?}"),
        };
    // An administrator cannot decide; nobody generates before approval.
    let by_admin = requests::approve(&app.state, &admin, &request_id).await;
    assert!(matches!(by_admin, Err(Error::OwnersDecide)), "{by_admin:?}");
    let early = requests::generate(&app.state, &admin, &request_id).await;
    assert!(
        matches!(early, Err(Error::NotApproved(RequestStatus::Pending))),
        "{early:?}"
    );

    let decided = requests::approve(&app.state, &owner, &request_id)
        .await
        .unwrap();
    assert_eq!(decided.requested_by, "admin@acme.test");
    let again = requests::reject(&app.state, &owner, &request_id, None).await;
    assert!(
        matches!(again, Err(Error::AlreadyDecided(RequestStatus::Approved))),
        "{again:?}"
    );
    let not_theirs = requests::generate(&app.state, &owner, &request_id).await;
    assert!(
        matches!(not_theirs, Err(Error::NotRequester)),
        "{not_theirs:?}"
    );

    let made = requests::generate(&app.state, &admin, &request_id)
        .await
        .unwrap();
    assert_eq!(made.name, "Payout batcher");
    assert!(Secret::is_well_formed(made.secret.expose()));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM credential_requests WHERE status = 'completed'")
            .await,
        1
    );
    assert_eq!(app.client_ids(ACME).await.len(), 2);
}

#[tokio::test]
async fn rotation_with_a_grace_window_says_until_when_the_previous_secret_works() {
    let app = TestApp::demo().await;
    let owner = actor(&app, Persona::Owner, Access::Owner).await;
    let made = created(
        credentials::create(&app.state, &owner, &draft("Ledger sync"), None)
            .await
            .unwrap(),
    );
    let rotated = credentials::rotate(&app.state, &owner, &made.client_id, Grace::Hours(24))
        .await
        .unwrap();
    assert_eq!(rotated.client_id, made.client_id);
    assert_eq!(rotated.previous_valid_until, Some(app.clock.now() + 86_400));
    assert_ne!(rotated.secret.expose(), made.secret.expose());
    let unknown = ClientId::generate();
    let missing = credentials::rotate(&app.state, &owner, &unknown, Grace::None).await;
    assert!(matches!(missing, Err(Error::NotFound)), "{missing:?}");
}

#[tokio::test]
async fn the_last_owner_can_be_neither_demoted_nor_removed() {
    let app = TestApp::demo().await;
    let owner = actor(&app, Persona::Owner, Access::Owner).await;
    let demoted = members::change(
        &app.state,
        &owner,
        owner.user,
        Access::Admin(CredentialsPermission::Edit),
    )
    .await;
    assert!(matches!(demoted, Err(Error::LastOwner)), "{demoted:?}");
    let removed = members::remove(&app.state, &owner, owner.user).await;
    assert!(matches!(removed, Err(Error::LastOwner)), "{removed:?}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM memberships WHERE role = 'owner'")
            .await,
        2,
        "Acme's and Globex's owners are still there"
    );
}

#[tokio::test]
async fn a_stored_value_that_does_not_parse_is_an_error_naming_the_column_and_value() {
    let app = TestApp::demo().await;
    let owner = actor(&app, Persona::Owner, Access::Owner).await;
    app.sql
        .execute("UPDATE credentials SET permission_set = 'everything'", &[])
        .await;
    let error = match credentials::overview(&app.state, &owner).await {
        Err(Error::Internal(error)) => format!("{error:#}"),
        Ok(_) => panic!("a damaged row was read as something else"),
        Err(other) => panic!("unexpected refusal: {other:?}"),
    };
    assert!(error.contains("permission_set"), "{error}");
    assert!(
        error.contains("\"everything\" is not a valid permission set type"),
        "{error}"
    );
}
