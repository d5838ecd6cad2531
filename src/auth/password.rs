//! argon2id password hashing on a bounded pool of blocking threads, keyed
//! by the server key.
//!
//! Every hash made here mixes in a secret derived from the server key
//! (argon2's `secret` input, a "pepper") and says so with `keyid=kw1` in
//! its PHC string: a copy of the database without the key file gives no
//! way to test a guess. A hash without that mark was made before the pepper:
//! it is checked as it was made, and sign-in replaces it with a keyed one.
//!
//! Each hash costs ~19 MiB and tens of milliseconds of CPU. Running it on the
//! async runtime would stall every other request, and running an unbounded
//! number at once would let a flood of sign-ins take the machine: so hashes
//! wait for one of a few permits, then run on the blocking pool.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, KeyId, ParamsBuilder, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{OnceCell, Semaphore};

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every permit stayed taken for the whole wait: the server is saturated.
    #[error("password hashing is saturated")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// argon2's secret input, from the server key.
    pepper: Arc<[u8; 32]>,
    /// The hash of a random password, verified against for unknown emails so
    /// that they take as long as known ones.
    dummy: Arc<OnceCell<String>>,
}

/// How long a sign-in waits for a hashing slot before it is told to retry.
const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// The `keyid` of a hash keyed by the pepper.
const PEPPER_ID: &[u8] = b"kw1";

/// Whether a parsed hash names the pepper (PHC strings hold the keyid in
/// unpadded standard base64).
fn keyed(parsed: &PasswordHash<'_>) -> bool {
    parsed.params.get_str("keyid").is_some_and(|id| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(id)
            .ok()
            == Some(PEPPER_ID.to_vec())
    })
}

/// OWASP: argon2id, m=19 MiB, t=2, p=1; keyed by `pepper` when given.
fn argon2(pepper: Option<&[u8]>) -> Result<Argon2<'_>, HashError> {
    let failed = |e: argon2::Error| HashError::Failed(e.to_string());
    let mut params = ParamsBuilder::new();
    params.m_cost(19 * 1024).t_cost(2).p_cost(1);
    match pepper {
        Some(pepper) => {
            params.keyid(KeyId::new(PEPPER_ID).map_err(failed)?);
            let params = params.build().map_err(failed)?;
            Argon2::new_with_secret(pepper, Algorithm::Argon2id, Version::V0x13, params)
                .map_err(failed)
        }
        None => Ok(Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            params.build().map_err(failed)?,
        )),
    }
}

impl PasswordHasher {
    pub fn new(concurrency: usize, pepper: [u8; 32]) -> Self {
        PasswordHasher {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            pepper: Arc::new(pepper),
            dummy: Arc::new(OnceCell::new()),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = tokio::time::timeout(QUEUE_WAIT, self.permits.acquire())
            .await
            .map_err(|_| HashError::Busy)?
            .map_err(|_| HashError::Busy)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| HashError::Failed(e.to_string()))?
    }

    pub async fn hash(&self, password: &SecretString) -> Result<String, HashError> {
        let password = password.clone();
        let pepper = self.pepper.clone();
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2(Some(&pepper[..]))?
                .hash_password(password.expose_secret().as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| HashError::Failed(e.to_string()))
        })
        .await
    }

    /// Verifies `password` against `stored`, or, when there is no stored hash
    /// (unknown email), against a dummy so both take the same time; then `false`.
    pub async fn verify(
        &self,
        password: &SecretString,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        let known = stored.is_some();
        let phc = match stored {
            Some(phc) => phc,
            None => self.dummy_hash().await?,
        };
        let password = password.clone();
        let pepper = self.pepper.clone();
        let matches = self
            .run(move || {
                let parsed =
                    PasswordHash::new(&phc).map_err(|e| HashError::Failed(e.to_string()))?;
                let pepper = keyed(&parsed).then_some(&pepper[..]);
                Ok(argon2(pepper)?
                    .verify_password(password.expose_secret().as_bytes(), &parsed)
                    .is_ok())
            })
            .await?;
        Ok(known && matches)
    }

    /// Whether `phc` was made with the pepper; one made before it is
    /// replaced at its holder's next sign-in.
    pub fn is_keyed(phc: &str) -> bool {
        PasswordHash::new(phc).is_ok_and(|parsed| keyed(&parsed))
    }

    async fn dummy_hash(&self) -> Result<String, HashError> {
        self.dummy
            .get_or_try_init(|| async {
                let random = crate::random::token(32);
                self.hash(&SecretString::from(random)).await
            })
            .await
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> SecretString {
        SecretString::from(text.to_owned())
    }

    #[tokio::test]
    async fn a_hash_is_keyed_by_the_pepper_and_an_unkeyed_one_still_verifies() {
        let hasher = PasswordHasher::new(1, [7; 32]);
        let hash = hasher.hash(&secret("correct horse")).await.unwrap();
        assert!(hash.contains(",keyid=a3cx$"), "{hash}");
        assert!(
            hasher
                .verify(&secret("correct horse"), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(&secret("wrong horse"), Some(hash.clone()))
                .await
                .unwrap()
        );
        // Another key, or plain argon2id with the same salt and parameters
        // (a stolen database, no key file), cannot confirm the password.
        let other = PasswordHasher::new(1, [8; 32]);
        assert!(
            !other
                .verify(&secret("correct horse"), Some(hash.clone()))
                .await
                .unwrap()
        );
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(
            argon2(None)
                .unwrap()
                .verify_password(b"correct horse", &parsed)
                .is_err()
        );
        // A hash made before the pepper is checked as it was made.
        let salt = SaltString::generate(&mut OsRng);
        let unkeyed = argon2(None)
            .unwrap()
            .hash_password(b"older password", &salt)
            .unwrap()
            .to_string();
        assert!(!unkeyed.contains("keyid"), "{unkeyed}");
        assert!(
            hasher
                .verify(&secret("older password"), Some(unkeyed.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify(&secret("older passwort"), Some(unkeyed))
                .await
                .unwrap()
        );
    }
}
