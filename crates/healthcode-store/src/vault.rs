//! Personal data at rest: sealed with an AEAD key, found again through keyed hashes (blind
//! indexes), so that the database alone reveals no identities.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::fmt;
use std::path::Path;

const NONCE_LEN: usize = 24;

/// The keys for personal data. Derived from one 32-byte master key, kept in the data directory
/// (mode 0600) or given by the environment.
#[derive(Clone)]
pub struct Vault {
    cipher: XChaCha20Poly1305,
    index_key: [u8; 32],
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Vault(<keys hidden>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("sealed data is damaged or was sealed with another key")]
    Open,
    #[error("the data key must be 64 hexadecimal characters")]
    BadKey,
    #[error("cannot read or write the data key file: {0}")]
    Io(#[from] std::io::Error),
}

fn derive(master: &[u8; 32], label: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).unwrap_or_else(|_| unreachable!());
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().into()
}

impl Vault {
    pub fn from_master_key(master: &[u8; 32]) -> Vault {
        let seal_key = derive(master, "healthcode/v1/seal");
        Vault {
            cipher: XChaCha20Poly1305::new(&seal_key.into()),
            index_key: derive(master, "healthcode/v1/blind-index"),
        }
    }

    /// A master key from its hex form (as in `HEALTHCODE_DATA_KEY`).
    pub fn from_hex(text: &str) -> Result<Vault, VaultError> {
        let mut key = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut key).map_err(|_| VaultError::BadKey)?;
        Ok(Vault::from_master_key(&key))
    }

    /// Reads the key file, creating it with a fresh random key (readable only by its owner) on
    /// first use.
    pub fn load_or_create(path: &Path) -> Result<Vault, VaultError> {
        if path.exists() {
            return Vault::from_hex(&std::fs::read_to_string(path)?);
        }
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        write_private(path, &hex::encode(key))?;
        Ok(Vault::from_master_key(&key))
    }

    /// Encrypts `plain`; `context` (e.g. `people.name`) is bound to it so a sealed value cannot be
    /// moved into another column. Output: nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, plain: &[u8], context: &str) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: plain,
            aad: context.as_bytes(),
        };
        // Encryption with a valid key and in-memory buffers cannot fail.
        let sealed = self.cipher.encrypt(&nonce, payload).unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, VaultError> {
        if sealed.len() < NONCE_LEN {
            return Err(VaultError::Open);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let payload = Payload {
            msg: body,
            aad: context.as_bytes(),
        };
        self.cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| VaultError::Open)
    }

    pub fn open_string(&self, sealed: &[u8], context: &str) -> Result<String, VaultError> {
        String::from_utf8(self.open(sealed, context)?).map_err(|_| VaultError::Open)
    }

    /// A keyed hash to look a value up by, without storing the value.
    pub fn blind_index(&self, context: &str, value: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.index_key)
            .unwrap_or_else(|_| unreachable!());
        mac.update(context.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// Writes a secret file readable only by its owner.
pub fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(content.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_opens_and_binds_context() {
        let vault = Vault::from_master_key(&[7; 32]);
        let sealed = vault.seal("张三".as_bytes(), "people.name");
        assert_ne!(&sealed[NONCE_LEN..], "张三".as_bytes());
        assert_eq!(vault.open_string(&sealed, "people.name").unwrap(), "张三");
        assert!(
            vault.open(&sealed, "people.phone").is_err(),
            "context is bound"
        );
        assert!(
            Vault::from_master_key(&[8; 32])
                .open(&sealed, "people.name")
                .is_err()
        );
        let mut tampered = sealed.clone();
        tampered[NONCE_LEN] ^= 1;
        assert!(vault.open(&tampered, "people.name").is_err());
        assert!(vault.open(&[1, 2, 3], "people.name").is_err());
        assert_ne!(
            vault.seal(b"x", "c"),
            vault.seal(b"x", "c"),
            "fresh nonce each time"
        );
    }

    #[test]
    fn blind_index_is_stable_keyed_and_contextual() {
        let vault = Vault::from_master_key(&[7; 32]);
        let a = vault.blind_index("phone", "13800000000");
        assert_eq!(a, vault.blind_index("phone", "13800000000"));
        assert_ne!(a, vault.blind_index("document", "13800000000"));
        assert_ne!(
            a,
            Vault::from_master_key(&[8; 32]).blind_index("phone", "13800000000")
        );
    }

    #[test]
    fn key_file_is_created_private_and_reloaded() {
        let dir = std::env::temp_dir().join(format!("hc-vault-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("data.key");
        let _ = std::fs::remove_file(&path);
        let first = Vault::load_or_create(&path).unwrap();
        let second = Vault::load_or_create(&path).unwrap();
        assert_eq!(first.blind_index("c", "v"), second.blind_index("c", "v"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(matches!(Vault::from_hex("abc"), Err(VaultError::BadKey)));
    }
}
