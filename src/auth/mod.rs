//! Passwords and sign-in throttling.

pub mod password;
pub mod throttle;

pub use password::PasswordHasher;
