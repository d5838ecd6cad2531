//! Random tokens from the operating system's CSPRNG.

use rand::Rng;
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;

/// `len` base62 characters (~5.95 bits each).
pub fn token(len: usize) -> String {
    OsRng
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
