//! Keyward: a self-hosted console in which an organization manages its OAuth 2.0
//! API credentials, and the authorization server that makes them work.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod auth;
pub mod backup;
pub mod clock;
pub mod demo;
pub mod domain;
pub mod http;
pub mod jobs;
pub mod keys;
pub mod mail;
pub mod random;
pub mod service;
pub mod settings;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod webhook_client;

pub use http::app;
pub use state::AppState;

/// Opens the database, prepares sessions and returns the state and router.
pub async fn build(state: AppState) -> anyhow::Result<axum::Router> {
    let store = http::session_store(&state).await?;
    Ok(app(state, store))
}
