//! One integration-test binary. Most tests drive the app in-process through
//! its router; `instances` runs the real binary twice over HTTP. Both use the
//! same client, in `support`.

mod support;

mod api;
mod audit_log;
mod commands;
mod credentials;
mod expiry;
mod instances;
mod leaks;
mod members;
mod oauth;
mod one_parser;
mod pages;
mod properties;
mod requests;
mod routes;
mod sessions;
mod shutdown;
mod tenancy;
mod throttle;
mod use_cases;
mod webhooks;
