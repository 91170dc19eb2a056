//! Bot tokens at rest: XChaCha20-Poly1305 under the at-rest key derived from
//! `GATEHOUSE_SECRET_KEY`, a fresh random 24-byte nonce per value, stored as
//! `v1.<base64url(nonce ‖ ciphertext)>`. The bot's id is bound in as associated data, so a
//! ciphertext copied onto another bot's row does not decrypt.
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use rand::RngCore;
use uuid::Uuid;

use crate::error::{Error, Result};

const PREFIX: &str = "v1.";

pub fn encrypt(key: &[u8; 32], bot_id: Uuid, token: &str) -> Result<String> {
    let cipher = XChaCha20Poly1305::new_from_slice(key).map_err(Error::internal)?;
    let mut nonce = [0u8; 24];
    rand::rng().fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: token.as_bytes(),
                aad: bot_id.as_bytes(),
            },
        )
        .map_err(|_| Error::internal(anyhow::anyhow!("encrypting a bot token failed")))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
}

pub fn decrypt(key: &[u8; 32], bot_id: Uuid, stored: &str) -> Result<String> {
    let broken = || Error::internal(anyhow::anyhow!("stored bot token cannot be decrypted"));
    let raw = stored
        .strip_prefix(PREFIX)
        .and_then(|b| URL_SAFE_NO_PAD.decode(b).ok())
        .ok_or_else(broken)?;
    if raw.len() < 24 + 16 {
        return Err(broken());
    }
    let (nonce, sealed) = raw.split_at(24);
    let nonce: [u8; 24] = nonce.try_into().map_err(|_| broken())?;
    let cipher = XChaCha20Poly1305::new_from_slice(key).map_err(Error::internal)?;
    let plain = cipher
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: sealed,
                aad: bot_id.as_bytes(),
            },
        )
        .map_err(|_| broken())?;
    String::from_utf8(plain).map_err(|_| broken())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_binds_the_bot_id() {
        let key = [7u8; 32];
        let id = Uuid::now_v7();
        let sealed = encrypt(&key, id, "123:ABC").unwrap();
        assert!(!sealed.contains("123:ABC"));
        assert_eq!(decrypt(&key, id, &sealed).unwrap(), "123:ABC");
        assert!(decrypt(&key, Uuid::now_v7(), &sealed).is_err());
        assert!(decrypt(&[8u8; 32], id, &sealed).is_err());
        // A fresh nonce each time: the same token never encrypts the same way twice.
        assert_ne!(sealed, encrypt(&key, id, "123:ABC").unwrap());
    }
}
