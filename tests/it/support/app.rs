//! `TestApp`: the app on a fresh database of its own, a moveable clock, and
//! the tests' own SQL handle on that database.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use keyward::keys::Keys;
use keyward::settings::Settings;
use keyward::storage::Db;
use keyward::{AppState, demo};

use super::client::Client;
use super::clock::TestClock;
use super::db::Sql;
use super::testdb::TestDb;

/// The password of every demo user.
pub const PASSWORD: &str = "demo-password-123";

/// The demo personas.
#[derive(Clone, Copy, Debug)]
pub enum Persona {
    /// Olivia Owner, owner of Acme Payments.
    Owner,
    /// Adam Admin, of Acme, with API Credentials: Can Edit.
    Admin,
    /// Vera Viewer, of Acme, with API Credentials: Can View.
    Viewer,
    /// Sam Support, platform support staff (read-only everywhere).
    Support,
    /// Gus Globex, owner of Globex, a trial organization.
    GlobexOwner,
}

impl Persona {
    pub const ALL: [Persona; 5] = [
        Persona::Owner,
        Persona::Admin,
        Persona::Viewer,
        Persona::Support,
        Persona::GlobexOwner,
    ];

    pub fn email(self) -> &'static str {
        match self {
            Persona::Owner => "owner@acme.test",
            Persona::Admin => "admin@acme.test",
            Persona::Viewer => "viewer@acme.test",
            Persona::Support => "support@keyward.test",
            Persona::GlobexOwner => "owner@globex.test",
        }
    }
}

pub struct TestApp {
    router: Router,
    /// The app's own state, for calling its use cases without HTTP.
    pub state: AppState,
    pub clock: TestClock,
    /// The server key the app was given (for the digests it stores).
    pub keys: Keys,
    /// The configuration the app was given.
    pub config: Settings,
    /// The tests' own connection to the app's database.
    pub sql: Sql,
    /// Last, so the database outlives the pools on it.
    _db: TestDb,
}

impl TestApp {
    /// An empty database: the first-run state.
    pub async fn empty() -> TestApp {
        TestApp::start(|_| {}, false).await
    }

    /// The demo organizations and users, all with [`PASSWORD`].
    pub async fn demo() -> TestApp {
        TestApp::demo_with(|_| {}).await
    }

    /// The demo data, with the configuration changed by `configure`.
    pub async fn demo_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
        TestApp::start(configure, true).await
    }

    async fn start(configure: impl FnOnce(&mut Settings), with_demo: bool) -> TestApp {
        let test_db = TestDb::new().await;
        let db = Db::connect(&test_db.url).await.unwrap();
        let clock = TestClock::starting_now();
        let keys = Keys::random();
        let mut config = Settings::for_database(test_db.url.clone());
        configure(&mut config);
        let state =
            AppState::with_clock(db, config.clone(), keys.clone(), Arc::new(clock.manual()))
                .unwrap();
        let router = keyward::build(state.clone()).await.unwrap();
        if with_demo {
            demo::seed(&state, PASSWORD).await.unwrap();
        }
        TestApp {
            router,
            state,
            clock,
            keys,
            config,
            sql: Sql::connect(&test_db.url).await,
            _db: test_db,
        }
    }

    /// A browser with no session yet, driving the app in-process.
    pub fn client(&self) -> Client {
        Client::in_process(self.router.clone())
    }

    /// A browser signed in as `persona`.
    pub async fn sign_in_as(&self, persona: Persona) -> Client {
        let mut client = self.client();
        client
            .sign_in(persona.email(), PASSWORD)
            .await
            .assert_status(StatusCode::SEE_OTHER);
        client
    }

    /// Serves the app on a loopback port; returns its base URL.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = self.router.clone();
        tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        format!("http://{addr}")
    }

    /// The number a `SELECT COUNT(*) …` answers.
    pub async fn count(&self, sql: &str) -> i64 {
        self.sql.scalar_i64(sql, &[]).await
    }

    /// Every action in the audit log, oldest first.
    pub async fn audit_actions(&self) -> Vec<String> {
        self.sql
            .strings("SELECT action FROM audit_events ORDER BY id", &[])
            .await
    }

    /// The detail of the first audit event with `action`.
    pub async fn audit_detail(&self, action: &str) -> String {
        self.sql
            .string(
                "SELECT detail FROM audit_events WHERE action = $1 ORDER BY id LIMIT 1",
                &[action.into()],
            )
            .await
    }

    pub async fn user_id(&self, email: &str) -> i64 {
        self.sql
            .scalar_i64("SELECT id FROM users WHERE email = $1", &[email.into()])
            .await
    }

    pub async fn org_id(&self, name: &str) -> i64 {
        self.sql
            .scalar_i64(
                "SELECT id FROM organizations WHERE name = $1",
                &[name.into()],
            )
            .await
    }

    /// The Client IDs of an organization's credentials, oldest first.
    pub async fn client_ids(&self, org: &str) -> Vec<String> {
        self.sql
            .strings(
                "SELECT c.client_id FROM credentials c JOIN organizations o ON o.id = c.organization_id
                 WHERE o.name = $1 ORDER BY c.id",
                &[org.into()],
            )
            .await
    }

    /// Puts an organization on a plan (`trial` or `standard`): a change of
    /// contract, which no page makes.
    pub async fn set_plan(&self, org: &str, plan: &str) {
        let changed = self
            .sql
            .execute(
                "UPDATE organizations SET plan = $1 WHERE name = $2",
                &[plan.into(), org.into()],
            )
            .await;
        assert_eq!(changed, 1, "no organization {org}");
    }

    /// Makes the trial organization Globex a standard one, empty of credentials.
    pub async fn upgrade_globex(&self) {
        self.set_plan("Globex", "standard").await;
    }
}
