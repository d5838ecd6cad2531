//! Passwords and sign-in throttling.

pub mod api_limits;
pub mod leak_keys;
pub mod password;
pub mod throttle;
pub mod token_limits;

pub use password::PasswordHasher;
