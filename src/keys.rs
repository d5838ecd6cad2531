//! The server key: 32 random bytes kept in a file (mode 0600) or in
//! `KEYWARD_KEY`, never in the database. A stolen database alone therefore
//! yields neither secrets nor the means to check guesses against them.
//! Purpose-specific keys are derived from it with HMAC-SHA256.

use std::fmt;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct Keys {
    /// Keys the stored digests of client secrets (the "pepper").
    secret_pepper: [u8; 32],
    /// Keys the argon2id hashes of passwords (argon2's secret input), so a
    /// copy of the database without the key gives no way to test guesses.
    password_pepper: [u8; 32],
    /// Signs the CSRF cookie of visitors who are not signed in.
    csrf: [u8; 32],
    /// Signs the device cookie a browser gets when it signs in.
    device: [u8; 32],
    /// Seals what Keyward must read back but not store in the clear
    /// (webhook signing secrets): XChaCha20-Poly1305.
    seal: [u8; 32],
    /// Signs access tokens (EdDSA).
    signing: ed25519_dalek::SigningKey,
    /// The same key as `jsonwebtoken` wants it, converted once.
    encoding: jsonwebtoken::EncodingKey,
    key_id: String,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keys([redacted])")
    }
}

fn derive(master: &[u8; 32], purpose: &str) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(master)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

impl Keys {
    pub fn from_master(master: [u8; 32]) -> Keys {
        use base64::Engine;
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        use sha2::Digest;
        let signing = ed25519_dalek::SigningKey::from_bytes(&derive(
            &master,
            "keyward/v1/token-signing-ed25519",
        ));
        // PKCS#8 encoding of an in-memory Ed25519 key does not fail; were it
        // to, signing would fail loudly rather than produce a bad token.
        let der = signing
            .to_pkcs8_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        // The RFC 7638 thumbprint of the public key names it in the JWKS and in every token.
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let x = b64.encode(signing.verifying_key().to_bytes());
        let members = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let key_id = b64.encode(sha2::Sha256::digest(members.as_bytes()));
        Keys {
            secret_pepper: derive(&master, "keyward/v1/client-secret-digest"),
            password_pepper: derive(&master, "keyward/v1/password-argon2-secret"),
            csrf: derive(&master, "keyward/v1/csrf-cookie"),
            device: derive(&master, "keyward/v1/device-cookie"),
            seal: derive(&master, "keyward/v1/seal-xchacha20poly1305"),
            encoding: jsonwebtoken::EncodingKey::from_ed_der(&der),
            signing,
            key_id,
        }
    }

    /// The public half of the token signing key, raw (32 bytes).
    pub fn verifying_key_bytes(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// The key id published in the JWKS and put in every token header.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The signing key for `jsonwebtoken`.
    pub fn encoding_key(&self) -> &jsonwebtoken::EncodingKey {
        &self.encoding
    }

    /// The verifying key for `jsonwebtoken`.
    pub fn decoding_key(&self) -> jsonwebtoken::DecodingKey {
        jsonwebtoken::DecodingKey::from_ed_der(&self.verifying_key_bytes())
    }

    /// Fresh random keys, for tests and tools that keep nothing.
    pub fn random() -> Keys {
        let mut master = [0u8; 32];
        OsRng.fill_bytes(&mut master);
        Keys::from_master(master)
    }

    /// Reads the key from `KEYWARD_KEY` (64 hex digits) when set, else from
    /// `path`, creating that file with mode 0600 when it does not exist.
    pub fn load_or_create(path: &Path, env: Option<&str>) -> anyhow::Result<Keys> {
        if let Some(hex) = env.filter(|v| !v.is_empty()) {
            return parse_hex(hex.trim())
                .map(Keys::from_master)
                .context("KEYWARD_KEY must be 64 hexadecimal digits");
        }
        match std::fs::read_to_string(path) {
            Ok(text) => parse_hex(text.trim())
                .map(Keys::from_master)
                .with_context(|| {
                    format!(
                        "the key file {} does not hold 64 hexadecimal digits",
                        path.display()
                    )
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut master = [0u8; 32];
                OsRng.fill_bytes(&mut master);
                write_new(path, &to_hex(&master))?;
                tracing::info!(path = %path.display(), "created a new server key file");
                Ok(Keys::from_master(master))
            }
            Err(e) => {
                Err(e).with_context(|| format!("cannot read the key file {}", path.display()))
            }
        }
    }

    /// The signature of a visitor's CSRF nonce, in hex.
    /// The secret that argon2id mixes into every password hash made here.
    pub fn password_pepper(&self) -> [u8; 32] {
        self.password_pepper
    }

    pub fn csrf_signature(&self, nonce: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.csrf)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(nonce.as_bytes());
        to_hex(&mac.finalize().into_bytes())
    }

    /// The signature of a device cookie's content, in hex.
    pub fn device_signature(&self, content: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.device)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(content.as_bytes());
        to_hex(&mac.finalize().into_bytes())
    }

    /// The stored form of a client secret: HMAC-SHA256 under the pepper, in hex.
    pub fn secret_digest(&self, secret: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.secret_pepper)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(secret.as_bytes());
        to_hex(&mac.finalize().into_bytes())
    }
}

impl Keys {
    /// `plaintext` sealed for storage: base64 of a random 24-byte nonce and
    /// the ciphertext. `context` (say, the organization's id) is bound to
    /// it, so a sealed value moved to another row does not open.
    pub fn seal(&self, plaintext: &str, context: &str) -> String {
        use base64::Engine;
        use chacha20poly1305::XChaCha20Poly1305;
        use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, Payload};
        let cipher = XChaCha20Poly1305::new((&self.seal).into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .unwrap_or_else(|_| unreachable!("encryption of a short text does not fail"));
        let mut out = nonce.to_vec();
        out.extend(sealed);
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    /// What [`Keys::seal`] sealed with the same `context`; `None` when it was
    /// sealed under another key or changed.
    pub fn open(&self, sealed: &str, context: &str) -> Option<String> {
        use base64::Engine;
        use chacha20poly1305::aead::{Aead, KeyInit, Payload};
        use chacha20poly1305::{XChaCha20Poly1305, XNonce};
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .ok()?;
        if bytes.len() < 24 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(24);
        let cipher = XChaCha20Poly1305::new((&self.seal).into());
        let plain = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok()
    }
}

fn write_new(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create the key file {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    Ok(())
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let keys = Keys::random();
        let sealed = keys.seal("whsec_abc", "org:1");
        assert!(!sealed.contains("whsec_abc"));
        assert_eq!(keys.open(&sealed, "org:1").as_deref(), Some("whsec_abc"));
        assert_eq!(keys.open(&sealed, "org:2"), None);
        assert_eq!(Keys::random().open(&sealed, "org:1"), None);
        assert_ne!(
            keys.seal("whsec_abc", "org:1"),
            sealed,
            "a fresh nonce each time"
        );
    }

    #[test]
    fn the_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.key");
        let first = Keys::load_or_create(&path, None).unwrap();
        let again = Keys::load_or_create(&path, None).unwrap();
        assert_eq!(first.secret_digest("s"), again.secret_digest("s"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert!(Keys::load_or_create(&path, Some("zz")).is_err());
        let from_env = Keys::load_or_create(&path, Some(&"ab".repeat(32))).unwrap();
        assert_ne!(from_env.secret_digest("s"), first.secret_digest("s"));
    }

    #[test]
    fn digests_are_keyed() {
        let a = Keys::from_master([1; 32]);
        let b = Keys::from_master([2; 32]);
        assert_ne!(a.secret_digest("kws_test_x"), b.secret_digest("kws_test_x"));
        assert_eq!(a.secret_digest("kws_test_x").len(), 64);
    }
}
