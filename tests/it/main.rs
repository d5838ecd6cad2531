//! One integration-test binary: the whole app driven in-process through its router.

mod helpers;
mod instances;
mod support;

mod credentials;
mod foundation;
mod members;
mod oauth;
mod oauth_client;
mod properties;
mod scoped;
