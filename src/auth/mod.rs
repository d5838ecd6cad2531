//! Passwords and sign-in throttling.

pub mod password;
pub mod throttle;
pub mod token_limits;

pub use password::PasswordHasher;
