//! Prometheus metrics, with the `metrics` crate and its Prometheus
//! exporter, served on their own address (`KEYWARD_METRICS_ADDR`, off by
//! default) so they are never exposed with the console. Every label value
//! comes from a closed set: known methods (else `other`), route templates,
//! the statuses Keyward answers, outcomes; never a client ID, an email or
//! an address, nor anything else a client chooses.

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::Context;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::storage::Db;

const HTTP_DURATION: &str = "keyward_http_request_duration_seconds";

/// Installs the process-wide recorder; the handle renders the text format.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(HTTP_DURATION.to_owned()),
            &[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ],
        )
        .context("metrics buckets")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    gauge!("keyward_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(handle)
}

/// Counts every routed request (a `route_layer`, so a request that matches
/// no route is not counted) by its method, route template and status, and
/// records its latency.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    counter!("keyward_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    histogram!(HTTP_DURATION, "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// A request's method as a label from a closed set: any token is a valid
/// HTTP method, so one that Keyward serves no route for is `other`, and a
/// stream of made-up methods adds no series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// A token request's outcome: issued, invalid_client, unauthorized_client,
/// invalid_scope, throttled, ip_refused or invalid_request.
pub fn token_request(outcome: &'static str) {
    counter!("keyward_token_requests_total", "outcome" => outcome).increment(1);
}

/// A sign-in's outcome: success, failed or throttled.
pub fn sign_in(outcome: &'static str) {
    counter!("keyward_sign_ins_total", "outcome" => outcome).increment(1);
}

/// A webhook delivery attempt's outcome: delivered, retry or failed.
pub fn webhook_delivery(outcome: &'static str) {
    counter!("keyward_webhook_deliveries_total", "outcome" => outcome).increment(1);
}

#[derive(Clone)]
struct Scrape {
    handle: PrometheusHandle,
    db: Db,
}

async fn metrics(State(scrape): State<Scrape>) -> Response {
    let (size, idle) = scrape.db.pool_use();
    gauge!("keyward_db_pool_connections", "state" => "idle").set(idle as f64);
    gauge!("keyward_db_pool_connections", "state" => "in_use")
        .set((size as usize).saturating_sub(idle) as f64);
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        scrape.handle.render(),
    )
        .into_response()
}

/// Serves `GET /metrics` on `addr` until the process ends.
pub async fn serve(addr: SocketAddr, handle: PrometheusHandle, db: Db) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for metrics on {addr}"))?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(Scrape { handle, db });
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(error = %error, "the metrics listener stopped");
        }
    });
    tracing::info!(%addr, "metrics at /metrics");
    Ok(())
}
