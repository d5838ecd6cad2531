//! Random tokens from the operating system's CSPRNG.

use rand::RngCore;
use rand::rngs::OsRng;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` base62 characters (~5.95 bits each), each uniformly distributed.
///
/// Bytes come from the OS in one call per batch (not one per character), and
/// bytes of 248 or more are dropped so every character is equally likely
/// (248 = 4 × 62).
pub fn token(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 96];
    while out.len() < len {
        OsRng.fill_bytes(&mut buf);
        for b in buf {
            if b < 248 && out.len() < len {
                out.push(BASE62[usize::from(b % 62)] as char);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_length_and_alphabet_asked_for() {
        for len in [0, 1, 22, 43, 200] {
            let t = token(len);
            assert_eq!(t.len(), len);
            assert!(t.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
        // Every symbol shows up over enough draws.
        let many = token(20_000);
        for c in BASE62 {
            assert!(many.as_bytes().contains(c));
        }
    }
}
