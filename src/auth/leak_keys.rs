//! The public keys GitHub's secret scanning signs its reports with, read
//! from the document GitHub publishes, saved by the operator as a file
//! (`KEYWARD_LEAK_PUBLIC_KEYS`): nothing is fetched at run time.
//!
//! A report is signed with ECDSA P-256 over SHA-256 of the raw body; the
//! signature is base64 of its ASN.1 DER form, and the key is named by the
//! `Github-Public-Key-Identifier` header.

use anyhow::Context;
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;

#[derive(Deserialize)]
struct Document {
    public_keys: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    key_identifier: String,
    key: String,
}

pub struct LeakKeys(Vec<(String, VerifyingKey)>);

impl LeakKeys {
    /// Reads the saved document; every key must parse.
    pub fn load(path: &std::path::Path) -> anyhow::Result<LeakKeys> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the leak public keys {}", path.display()))?;
        LeakKeys::from_document(&text)
            .with_context(|| format!("in the leak public keys {}", path.display()))
    }

    pub fn from_document(text: &str) -> anyhow::Result<LeakKeys> {
        let document: Document = serde_json::from_str(text).context(
            "expected {\"public_keys\": [{\"key_identifier\", \"key\", \"is_current\"}]}",
        )?;
        let keys = document
            .public_keys
            .into_iter()
            .map(|entry| {
                let key =
                    VerifyingKey::from_public_key_pem(entry.key.trim()).with_context(|| {
                        format!(
                            "key {} is not a P-256 public key in PEM",
                            entry.key_identifier
                        )
                    })?;
                Ok((entry.key_identifier, key))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        anyhow::ensure!(!keys.is_empty(), "no public keys");
        Ok(LeakKeys(keys))
    }

    /// Whether `body` carries a valid signature by the key `key_id`.
    pub fn verify(&self, key_id: &str, signature: &str, body: &[u8]) -> bool {
        let Some((_, key)) = self.0.iter().find(|(id, _)| id == key_id) else {
            return false;
        };
        let Ok(der) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
            return false;
        };
        let Ok(signature) = Signature::from_der(&der) else {
            return false;
        };
        key.verify(body, &signature).is_ok()
    }
}
