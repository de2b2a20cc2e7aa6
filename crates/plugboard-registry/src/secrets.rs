//! Secret settings at rest: a plugin's settings marked secret in its schema (`format =
//! "password"` or `writeOnly`) are stored encrypted under the server key, so a copied
//! database does not give away webhook secrets and API keys. The registry seals them
//! before saving and opens them only to hand them to the plugin.
//!
//! A sealed value is `{"$encrypted": "v1:<key id>:<base64 of nonce and ciphertext>"}`:
//! the setting's JSON encrypted with ChaCha20-Poly1305 (ring's, the implementation rustls
//! already brings), a random 96-bit nonce per value, and the plugin id and setting name as
//! associated data, so a value moved to another plugin or setting does not open. The key
//! id (a hash prefix of the key, never the key) tells which key sealed it.
//!
//! [`SecretKeys`] is the key ring: the current key seals; it and the older ones open. Its
//! keys come from the data folder's key files (`key_file.rs`, created on first start) or
//! from `PLUGBOARD_SECRET_KEY`; `rotate.rs` re-seals every secret under a new key.

mod key_file;
mod rotate;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use sha2::{Digest, Sha256};

pub use key_file::{
    KEY_FILE, KeyFileError, NEW_KEY_FILE, OLD_KEY_FILE, SECRET_KEY_ENV, parse_environment, write_key_file,
};
pub use rotate::{RotateError, Rotated, Unreadable, reseal_all, rotate_environment_key, rotate_key_files};

/// The member of a sealed value's object.
const SEALED_MEMBER: &str = "$encrypted";

/// The version prefix of the sealed format.
const FORMAT: &str = "v1";

/// A server key: 32 random bytes. Its [`Debug`](std::fmt::Debug) shows only its id.
#[derive(Clone)]
pub struct SecretKey {
    bytes: [u8; 32],
    id: String,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "SecretKey({})", self.id)
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &SecretKey) -> bool {
        self.bytes == other.bytes
    }
}

impl SecretKey {
    /// A new key from the operating system's random generator.
    pub fn generate() -> Result<SecretKey, SecretError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|error| SecretError::Random { message: error.to_string() })?;
        Ok(SecretKey::from_bytes(bytes))
    }

    /// The key written as 64 hexadecimal characters (as in the key file and
    /// `PLUGBOARD_SECRET_KEY`), surrounding whitespace ignored; `None` for anything else.
    pub fn parse_hex(text: &str) -> Option<SecretKey> {
        let text = text.trim();
        let mut bytes = [0u8; 32];
        (text.len() == 64 && hex::decode_to_slice(text, &mut bytes).is_ok()).then(|| SecretKey::from_bytes(bytes))
    }

    fn from_bytes(bytes: [u8; 32]) -> SecretKey {
        let digest = Sha256::new().chain_update(b"plugboard secret key id\0").chain_update(bytes).finalize();
        SecretKey { bytes, id: hex::encode(&digest[..4]) }
    }

    /// The key as 64 hexadecimal characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }

    /// Its id: eight hexadecimal characters that name it in sealed values and messages
    /// without giving anything of it away.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn aead(&self) -> LessSafeKey {
        // A 32-byte key is always a valid ChaCha20-Poly1305 key.
        #[allow(clippy::expect_used, reason = "the length is fixed by the type")]
        LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &self.bytes).expect("a 32-byte key"))
    }

    /// `value` sealed under this key for `setting` of `plugin`.
    pub fn seal(
        &self,
        plugin: &str,
        setting: &str,
        value: &serde_json::Value,
    ) -> Result<serde_json::Value, SecretError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|error| SecretError::Random { message: error.to_string() })?;
        let mut sealed = value.to_string().into_bytes();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                associated_data(plugin, setting),
                &mut sealed,
            )
            .map_err(|_| SecretError::Random { message: "the cipher refused the value".to_owned() })?;
        let mut payload = nonce.to_vec();
        payload.extend_from_slice(&sealed);
        let text = format!("{FORMAT}:{}:{}", self.id, BASE64.encode(payload));
        Ok(serde_json::json!({ SEALED_MEMBER: text }))
    }

    /// Opens a sealed value's payload with this key.
    fn open(&self, plugin: &str, setting: &str, payload: &[u8]) -> Result<serde_json::Value, SecretError> {
        let tampered = || SecretError::Tampered { key_id: self.id.clone() };
        let (nonce, sealed) = payload.split_at_checked(NONCE_LEN).ok_or_else(tampered)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| tampered())?;
        let mut sealed = sealed.to_vec();
        let plain =
            self.aead().open_in_place(nonce, associated_data(plugin, setting), &mut sealed).map_err(|_| tampered())?;
        serde_json::from_slice(plain).map_err(|_| tampered())
    }
}

/// What binds a sealed value to its place.
fn associated_data(plugin: &str, setting: &str) -> Aad<Vec<u8>> {
    Aad::from(format!("plugboard secret setting {FORMAT}\0{plugin}\0{setting}").into_bytes())
}

/// Whether `value` is a sealed value (whether or not it opens).
pub fn is_sealed(value: &serde_json::Value) -> bool {
    value
        .as_object()
        .is_some_and(|object| object.len() == 1 && object.get(SEALED_MEMBER).is_some_and(|text| text.is_string()))
}

/// The key id of a sealed value, when it is one in a format this version reads.
pub fn sealed_key_id(value: &serde_json::Value) -> Option<&str> {
    let text = value.as_object()?.get(SEALED_MEMBER)?.as_str()?;
    let mut parts = text.splitn(3, ':');
    (parts.next()? == FORMAT).then_some(())?;
    parts.next()
}

/// Why a secret cannot be sealed or opened. The messages say what to do; they never hold
/// a secret or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Sealed under a key this server does not have.
    #[error(
        "it was encrypted with server key `{key_id}`, which this server does not have (it has {}); {hint}",
        known.iter().map(|id| format!("`{id}`")).collect::<Vec<_>>().join(", ")
    )]
    UnknownKey {
        /// The id of the key that sealed it.
        key_id: String,
        /// The ids of the keys this server has.
        known: Vec<String>,
        /// Where to get the key back, by where this server's keys come from.
        hint: String,
    },
    /// The key is right by its id, but the value does not open: it was changed, or copied
    /// from another plugin or setting.
    #[error(
        "it does not decrypt with server key `{key_id}`: it was changed, or copied from another plugin or setting; enter the secret again"
    )]
    Tampered {
        /// The key that should have opened it.
        key_id: String,
    },
    /// Not a value Plugboard sealed, or sealed by a newer version.
    #[error("it is not a value this Plugboard encrypted (it names no `v1:` key); enter the secret again")]
    Malformed,
    /// The operating system's random generator failed.
    #[error("cannot encrypt: {message}")]
    Random {
        /// What failed.
        message: String,
    },
}

/// Where a key ring's keys come from, which decides how it learns a new key and what a
/// missing key's message tells to do.
#[derive(Debug, Clone)]
enum KeySource {
    /// The data folder's key files, read again when a value names a key not in the ring
    /// (another process rotated the key).
    Folder(PathBuf),
    /// `PLUGBOARD_SECRET_KEY`.
    Environment,
    /// Given by the program (tests).
    Given,
}

#[derive(Debug)]
struct Ring {
    current: SecretKey,
    /// Keys that open but no longer seal: the previous key after a rotation, a rotation's
    /// new key before it is in place.
    older: Vec<SecretKey>,
}

/// The server's keys: the current one seals, every one opens. Cheap to clone; clones share
/// the keys, so one that learns a rotated key teaches all.
#[derive(Debug, Clone)]
pub struct SecretKeys {
    ring: Arc<RwLock<Ring>>,
    source: KeySource,
}

impl SecretKeys {
    /// A key ring of `current` and `older`, as a program gives them.
    pub fn new(current: SecretKey, older: Vec<SecretKey>) -> SecretKeys {
        SecretKeys::with_source(current, older, KeySource::Given)
    }

    fn with_source(current: SecretKey, older: Vec<SecretKey>, source: KeySource) -> SecretKeys {
        let older = older.into_iter().filter(|key| *key != current).collect();
        SecretKeys { ring: Arc::new(RwLock::new(Ring { current, older })), source }
    }

    /// The key that seals.
    pub fn current(&self) -> SecretKey {
        self.read().current.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Ring> {
        self.ring.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn find(&self, key_id: &str) -> Option<SecretKey> {
        let ring = self.read();
        std::iter::once(&ring.current).chain(&ring.older).find(|key| key.id == key_id).cloned()
    }

    /// `value` sealed under the current key for `setting` of `plugin`.
    pub fn seal(
        &self,
        plugin: &str,
        setting: &str,
        value: &serde_json::Value,
    ) -> Result<serde_json::Value, SecretError> {
        self.current().seal(plugin, setting, value)
    }

    /// The value `sealed` holds, for `setting` of `plugin`. A key it names that the ring
    /// does not have is looked for in the key files again first (another process may have
    /// rotated the key; then the key file's key seals from now on).
    pub fn open(
        &self,
        plugin: &str,
        setting: &str,
        sealed: &serde_json::Value,
    ) -> Result<serde_json::Value, SecretError> {
        let text = sealed.get(SEALED_MEMBER).and_then(serde_json::Value::as_str).ok_or(SecretError::Malformed)?;
        let mut parts = text.splitn(3, ':');
        let (Some(FORMAT), Some(key_id), Some(payload)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SecretError::Malformed);
        };
        let payload = BASE64.decode(payload).map_err(|_| SecretError::Malformed)?;
        let key = match self.find(key_id) {
            Some(key) => key,
            None => {
                self.reload();
                self.find(key_id).ok_or_else(|| self.unknown_key(key_id))?
            }
        };
        key.open(plugin, setting, &payload)
    }

    /// Reads the key files again, when the keys come from them: their current key becomes
    /// this ring's, and every key known before still opens.
    fn reload(&self) {
        let KeySource::Folder(folder) = &self.source else { return };
        let read = match key_file::read_keys(folder) {
            Ok(Some(read)) => read,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!("cannot read the server key files again: {error}");
                return;
            }
        };
        let mut ring = self.ring.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if read.current != ring.current {
            tracing::info!(key = read.current.id(), "the server key was rotated; encrypting with the new one");
        }
        let known = std::iter::once(ring.current.clone()).chain(ring.older.drain(..)).chain(read.older);
        let mut older: Vec<SecretKey> = Vec::new();
        for key in known {
            if key != read.current && !older.contains(&key) {
                older.push(key);
            }
        }
        ring.current = read.current;
        ring.older = older;
    }

    fn unknown_key(&self, key_id: &str) -> SecretError {
        let ring = self.read();
        let known = std::iter::once(&ring.current).chain(&ring.older).map(|key| key.id.clone()).collect();
        let hint = match &self.source {
            KeySource::Folder(folder) => format!(
                "put the `{KEY_FILE}` saved with this database back in {} (or set {SECRET_KEY_ENV} to that key) and restart, or enter the secret again",
                folder.display()
            ),
            KeySource::Environment => format!(
                "set {SECRET_KEY_ENV} to the key this database was saved with and restart, or enter the secret again"
            ),
            KeySource::Given => "give the server the key it was saved with, or enter the secret again".to_owned(),
        };
        SecretError::UnknownKey { key_id: key_id.to_owned(), known, hint }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use serde_json::json;

    use super::*;

    #[test]
    fn a_sealed_value_opens_only_for_its_plugin_and_setting_and_under_its_key() {
        let key = SecretKey::generate().unwrap();
        let keys = SecretKeys::new(key.clone(), Vec::new());
        let value = json!({"token": "whs_123", "n": 1});
        let sealed = keys.seal("github-webhook", "secret", &value).unwrap();
        assert!(is_sealed(&sealed));
        assert_eq!(sealed_key_id(&sealed), Some(key.id()));
        assert!(!sealed.to_string().contains("whs_123"), "{sealed}");
        assert_eq!(keys.open("github-webhook", "secret", &sealed).unwrap(), value);

        let moved = keys.open("other-plugin", "secret", &sealed).unwrap_err();
        assert_eq!(moved, SecretError::Tampered { key_id: key.id().to_owned() });
        assert!(keys.open("github-webhook", "api_key", &sealed).is_err());

        let other = SecretKeys::new(SecretKey::generate().unwrap(), Vec::new());
        let error = other.open("github-webhook", "secret", &sealed).unwrap_err();
        assert!(matches!(&error, SecretError::UnknownKey { key_id, .. } if key_id == key.id()), "{error}");
        // An older key still opens.
        let rotated = SecretKeys::new(SecretKey::generate().unwrap(), vec![key]);
        assert_eq!(rotated.open("github-webhook", "secret", &sealed).unwrap(), value);
    }

    #[test]
    fn each_sealing_differs_and_a_changed_byte_does_not_open() {
        let keys = SecretKeys::new(SecretKey::generate().unwrap(), Vec::new());
        let one = keys.seal("p", "s", &json!("x")).unwrap();
        let two = keys.seal("p", "s", &json!("x")).unwrap();
        assert_ne!(one, two);
        let text = one[SEALED_MEMBER].as_str().unwrap();
        let mut flipped = text.to_owned();
        let last = flipped.pop().unwrap();
        flipped.push(if last == 'A' { 'B' } else { 'A' });
        let error = keys.open("p", "s", &json!({ SEALED_MEMBER: flipped })).unwrap_err();
        assert!(matches!(error, SecretError::Tampered { .. } | SecretError::Malformed), "{error}");
        assert_eq!(keys.open("p", "s", &json!({ SEALED_MEMBER: "v9:abc:AAAA" })), Err(SecretError::Malformed));
    }

    #[test]
    fn keys_are_64_hex_characters_and_never_shown() {
        let key = SecretKey::generate().unwrap();
        let parsed = SecretKey::parse_hex(&format!("  {}\n", key.to_hex())).unwrap();
        assert_eq!(parsed, key);
        assert_eq!(parsed.id(), key.id());
        assert_eq!(format!("{key:?}"), format!("SecretKey({})", key.id()));
        assert!(SecretKey::parse_hex(&key.to_hex()[..63]).is_none());
        assert!(SecretKey::parse_hex(&"g".repeat(64)).is_none());
    }
}
