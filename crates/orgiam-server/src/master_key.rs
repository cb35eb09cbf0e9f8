//! The master key: the key-encryption key every stored private key and MAC/pepper key is
//! sealed with. It is never stored in the database: it comes from `ORGIAM_MASTER_KEY`, the
//! config file or a key file, so a copy of the database alone cannot sign a token, forge a
//! page token or check a guessed client secret.
//!
//! A sealed value is `MAGIC | key id (8) | nonce (24) | XChaCha20-Poly1305 ciphertext and tag`.
//! The associated data is the magic, the key id and the value's slot name (`meta/page_key`,
//! `signing_keys/<kid>/private_der`, …), so a sealed value moved to another slot, or to another
//! row, does not open. The key id is the first 8 bytes of SHA-256 over a label and the key:
//! it names the key (in errors and logs) without revealing it.

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use orgiam_domain::model::{ServerKeys, SigningKey, key_slots};
use orgiam_domain::store::Store;
use orgiam_domain::{Error, Result};

/// Bytes of a master key.
pub const KEY_LEN: usize = 32;
const MAGIC: &[u8; 8] = b"ogseal1\0";
const ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = MAGIC.len() + ID_LEN + NONCE_LEN;
/// The shortest sealed value (56 bytes). Plain keys are 32 bytes (page and secret keys) or a
/// PKCS#8 DER document (starting 0x30), so a plain value is never mistaken for a sealed one.
const MIN_SEALED_LEN: usize = HEADER_LEN + TAG_LEN;

/// Where an operator sets the master key (for error messages).
pub const HOW_TO_CONFIGURE: &str = "set ORGIAM_MASTER_KEY, or master_key or master_key_file in \
the config file, or pass --master-key-file (a file holding the key, mode 0600)";

/// One master key. `Debug` shows its id only.
#[derive(Clone)]
pub struct MasterKey {
    id: [u8; ID_LEN],
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> Self {
        Self::from_bytes(orgiam_domain::secret::random_bytes::<KEY_LEN>())
    }

    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let key = Zeroizing::new(bytes);
        let mut h = Sha256::new();
        h.update(b"orgiam master key id v1\0");
        h.update(key.as_slice());
        let digest = h.finalize();
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&digest[..ID_LEN]);
        Self { id, key }
    }

    /// Reads a key written as base64 (44 characters, as `orgiam keys new-master-key` writes
    /// it) or as 64 hex digits. `origin` names where it came from; the value is never echoed.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let text = text.trim();
        let bad = || {
            Error::bad_request(format!(
                "{origin} is not a master key: expected {KEY_LEN} random bytes as base64 \
                 (44 characters) or hex (64 digits); create one with `orgiam keys new-master-key`"
            ))
        };
        if text.is_empty() {
            return Err(Error::bad_request(format!("{origin} is empty")));
        }
        let decoded: Zeroizing<Vec<u8>> =
            if text.len() == 2 * KEY_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                Zeroizing::new(
                    (0..KEY_LEN)
                        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                        .collect::<std::result::Result<Vec<u8>, _>>()
                        .map_err(|_| bad())?,
                )
            } else {
                Zeroizing::new(
                    [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
                        .iter()
                        .find_map(|engine| engine.decode(text).ok())
                        .ok_or_else(bad)?,
                )
            };
        let bytes: [u8; KEY_LEN] = decoded.as_slice().try_into().map_err(|_| bad())?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key's id: 16 hex digits, safe to log.
    pub fn id(&self) -> String {
        hex(&self.id)
    }

    /// The key as a key file holds it (base64 and a newline).
    pub fn encode(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}\n", STANDARD.encode(self.key.as_slice())))
    }

    /// Reads a key file, refusing one that other users could read or change.
    pub fn read_file(path: &Path) -> Result<Self> {
        let shown = path.display();
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::bad_request(format!("cannot read master key file {shown}: {e}")))?;
        if !meta.is_file() {
            return Err(Error::bad_request(format!(
                "master key file {shown} is not a regular file"
            )));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(Error::bad_request(format!(
                    "master key file {shown} is open to other users (mode {mode:04o}): \
                     run `chmod 600 {shown}` (the file must be readable by orgiam's user only)"
                )));
            }
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            Error::bad_request(format!("cannot read master key file {shown}: {e}"))
        })?);
        Self::parse(&text, &format!("master key file {shown}"))
    }

    /// Writes the key to a new file (mode 0600 whatever the umask); fails if the file exists.
    /// The file appears whole or not at all: the key is written to a temporary file beside it,
    /// which is then hard-linked to `path` (atomic, and refused if `path` exists), so a process
    /// starting at the same moment never reads an empty or partial key.
    pub fn write_new_file(&self, path: &Path) -> Result<()> {
        use std::io::Write as _;
        let shown = path.display();
        let cannot = |e: std::io::Error| {
            Error::bad_request(format!("cannot write master key file {shown}: {e}"))
        };
        let name = path.file_name().map_or_else(
            || std::ffi::OsString::from("master.key"),
            std::ffi::OsStr::to_os_string,
        );
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(&name);
        tmp_name.push(format!(".{}.{}.new", std::process::id(), self.id()));
        let tmp = path.with_file_name(tmp_name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let written = (|| {
            let mut file = options.open(&tmp)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            }
            file.write_all(self.encode().as_bytes())?;
            file.sync_all()?;
            std::fs::hard_link(&tmp, path)
        })();
        let _ = std::fs::remove_file(&tmp);
        written.map_err(cannot)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&chacha20poly1305::Key::from(*self.key))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn aad(id: &[u8], slot: &str) -> Vec<u8> {
    [MAGIC.as_slice(), id, slot.as_bytes()].concat()
}

/// Whether a stored value is sealed (rather than a plain key written by an older version).
pub fn is_sealed(stored: &[u8]) -> bool {
    stored.len() >= MIN_SEALED_LEN && stored.starts_with(MAGIC)
}

/// The id of the master key a stored value is sealed with.
pub fn sealed_with(stored: &[u8]) -> Option<String> {
    is_sealed(stored).then(|| hex(&stored[MAGIC.len()..MAGIC.len() + ID_LEN]))
}

/// The configured master keys: the first seals, every one opens (the others are previous keys
/// kept while a rotation of the master key reaches every replica). `Debug` shows ids only.
#[derive(Clone, Default)]
pub struct MasterKeys {
    keys: Arc<Vec<MasterKey>>,
}

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MasterKeys").field(&self.ids()).finish()
    }
}

impl MasterKeys {
    /// `primary` seals new values; `previous` keys only open old ones.
    pub fn new(primary: MasterKey, previous: impl IntoIterator<Item = MasterKey>) -> Self {
        let mut keys = vec![primary];
        for k in previous {
            if keys.iter().all(|have| have.id != k.id) {
                keys.push(k);
            }
        }
        Self {
            keys: Arc::new(keys),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The ids of the configured keys, the sealing one first.
    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(MasterKey::id).collect()
    }

    /// The id of the key new values are sealed with.
    pub fn primary_id(&self) -> Option<String> {
        self.keys.first().map(MasterKey::id)
    }

    fn missing() -> Error {
        Error::internal(format!("no master key is configured: {HOW_TO_CONFIGURE}"))
    }

    /// Seals `plain` for `slot` with the primary key.
    pub fn seal(&self, slot: &str, plain: &[u8]) -> Result<Vec<u8>> {
        let key = self.keys.first().ok_or_else(Self::missing)?;
        let nonce = orgiam_domain::secret::random_bytes::<NONCE_LEN>();
        let sealed = key
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: &aad(&key.id, slot),
                },
            )
            .map_err(|_| Error::internal(format!("sealing {slot} failed")))?;
        Ok([
            MAGIC.as_slice(),
            key.id.as_slice(),
            nonce.as_slice(),
            sealed.as_slice(),
        ]
        .concat())
    }

    /// Opens a value sealed for `slot`. The errors name the slot and key ids, never a value.
    pub fn unseal(&self, slot: &str, stored: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if !is_sealed(stored) {
            return Err(Error::internal(format!(
                "the store's {slot} is not sealed with a master key"
            )));
        }
        let id = &stored[MAGIC.len()..MAGIC.len() + ID_LEN];
        let Some(key) = self.keys.iter().find(|k| k.id == id) else {
            if self.is_empty() {
                return Err(Error::internal(format!(
                    "the store's keys are sealed with master key {}, and no master key is \
                     configured: {HOW_TO_CONFIGURE}",
                    hex(id)
                )));
            }
            return Err(Error::internal(format!(
                "the store's keys are sealed with master key {}, which is not configured \
                 (configured: {}): start with the master key this store was sealed with \
                 ({HOW_TO_CONFIGURE})",
                hex(id),
                self.ids().join(", ")
            )));
        };
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&stored[MAGIC.len() + ID_LEN..HEADER_LEN]);
        key.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &stored[HEADER_LEN..],
                    aad: &aad(id, slot),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                Error::internal(format!(
                    "the store's {slot} does not open with master key {}: the stored value \
                     was altered or moved from another slot",
                    key.id()
                ))
            })
    }

    /// The install's page and secret keys, opened.
    pub async fn server_keys(&self, store: &dyn Store) -> Result<ServerKeys> {
        let sealed = store.server_keys().await?;
        Ok(ServerKeys {
            page_key: self.unseal(key_slots::PAGE_KEY, &sealed.page_key)?.to_vec(),
            secret_key: self
                .unseal(key_slots::SECRET_KEY, &sealed.secret_key)?
                .to_vec(),
        })
    }

    /// Every signing key, newest first, with its private key opened.
    pub async fn signing_keys(&self, store: &dyn Store) -> Result<Vec<SigningKey>> {
        self.open_signing_keys(store.signing_keys().await?)
    }

    /// Signing keys as the store keeps them, with their private keys opened.
    pub fn open_signing_keys(&self, keys: Vec<SigningKey>) -> Result<Vec<SigningKey>> {
        keys.into_iter().map(|k| self.open_signing_key(k)).collect()
    }

    /// A signing key with its private key sealed, as the store keeps it.
    pub fn seal_signing_key(&self, key: &SigningKey) -> Result<SigningKey> {
        Ok(SigningKey {
            private_der: self.seal(&key_slots::signing_key(key.kid.as_str()), &key.private_der)?,
            ..key.clone()
        })
    }

    fn open_signing_key(&self, key: SigningKey) -> Result<SigningKey> {
        let private_der = self
            .unseal(&key_slots::signing_key(key.kid.as_str()), &key.private_der)?
            .to_vec();
        Ok(SigningKey { private_der, ..key })
    }

    /// Seals, in one transaction, whatever the store still holds in plain (a database written
    /// before keys were sealed). Returns how many values it sealed.
    pub async fn seal_plain_values(&self, store: &dyn Store) -> Result<usize> {
        let plain_left = match store.server_keys().await {
            Ok(k) => !is_sealed(&k.page_key) || !is_sealed(&k.secret_key),
            Err(_) => false,
        } || store
            .signing_keys()
            .await?
            .iter()
            .any(|k| !is_sealed(&k.private_der));
        if !plain_left {
            return Ok(0);
        }
        store
            .reseal_keys(&|slot: &str, value: &[u8]| {
                if is_sealed(value) {
                    Ok(None)
                } else {
                    self.seal(slot, value).map(Some)
                }
            })
            .await
    }

    /// Re-seals every stored value with `new` (values sealed with any configured key, or with
    /// `new` already, or plain), in one transaction. Returns how many values changed.
    pub async fn reseal_all(&self, store: &dyn Store, new: &MasterKey) -> Result<usize> {
        let target = Self::new(new.clone(), self.keys.iter().cloned());
        store
            .reseal_keys(&|slot: &str, value: &[u8]| {
                if sealed_with(value).as_deref() == Some(new.id().as_str()) {
                    // Opening it proves it is sound before the old key goes away.
                    target.unseal(slot, value)?;
                    return Ok(None);
                }
                let plain = if is_sealed(value) {
                    target.unseal(slot, value)?
                } else {
                    Zeroizing::new(value.to_vec())
                };
                target.seal(slot, &plain).map(Some)
            })
            .await
    }

    /// The ids of the master keys the store's values are sealed with (empty on a store that
    /// holds no keys yet, or only plain ones).
    pub async fn ids_in_store(store: &dyn Store) -> Result<Vec<String>> {
        let mut ids: Vec<String> = store
            .signing_keys()
            .await?
            .iter()
            .filter_map(|k| sealed_with(&k.private_der))
            .collect();
        if let Ok(k) = store.server_keys().await {
            ids.extend(sealed_with(&k.page_key));
            ids.extend(sealed_with(&k.secret_key));
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (MasterKey, MasterKey) {
        (MasterKey::generate(), MasterKey::generate())
    }

    #[test]
    fn seals_and_opens_only_in_its_slot_with_its_key() -> Result<()> {
        let (a, b) = keys();
        let ring = MasterKeys::new(a.clone(), []);
        let sealed = ring.seal("meta/page_key", &[7u8; 32])?;
        assert!(is_sealed(&sealed));
        assert_eq!(sealed_with(&sealed), Some(a.id()));
        assert_eq!(
            ring.unseal("meta/page_key", &sealed)?.as_slice(),
            &[7u8; 32]
        );
        // Another slot: refused (a sealed value cannot be swapped into another place).
        let moved = ring
            .unseal("meta/secret_key", &sealed)
            .err()
            .map(|e| e.to_string());
        assert!(
            moved
                .as_deref()
                .is_some_and(|m| m.contains("altered or moved")),
            "{moved:?}"
        );
        // Another key: refused, naming the key the value needs.
        let other = MasterKeys::new(b.clone(), []);
        let wrong = other
            .unseal("meta/page_key", &sealed)
            .err()
            .map(|e| e.to_string());
        assert!(
            wrong
                .as_deref()
                .is_some_and(|m| m.contains(&a.id()) && m.contains("not configured")),
            "{wrong:?}"
        );
        // No key: refused, saying how to configure one.
        let none = MasterKeys::default()
            .unseal("meta/page_key", &sealed)
            .err()
            .map(|e| e.to_string());
        assert!(
            none.as_deref()
                .is_some_and(|m| m.contains("ORGIAM_MASTER_KEY") && m.contains(&a.id())),
            "{none:?}"
        );
        assert!(MasterKeys::default().seal("x", b"y").is_err());
        // A previous key still opens; the primary seals.
        let both = MasterKeys::new(b.clone(), [a.clone()]);
        assert_eq!(
            both.unseal("meta/page_key", &sealed)?.as_slice(),
            &[7u8; 32]
        );
        assert_eq!(sealed_with(&both.seal("s", b"v")?), Some(b.id()));
        // A flipped bit anywhere is refused.
        for i in [MAGIC.len() + ID_LEN, HEADER_LEN, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert!(ring.unseal("meta/page_key", &bad).is_err(), "byte {i}");
        }
        // Plain keys are never taken for sealed ones.
        assert!(!is_sealed(&[0u8; 32]));
        let der = crate::keys::generate_signing_key()?.private_der;
        assert!(!is_sealed(&der));
        let mut plain = MAGIC.to_vec();
        plain.resize(48, 0);
        assert!(!is_sealed(&plain));
        Ok(())
    }

    #[test]
    fn two_seals_differ() -> Result<()> {
        let ring = MasterKeys::new(MasterKey::generate(), []);
        assert_ne!(ring.seal("s", b"v")?, ring.seal("s", b"v")?);
        Ok(())
    }

    #[test]
    fn parses_base64_and_hex_and_never_echoes_the_value() -> Result<()> {
        let k = MasterKey::generate();
        let b64 = k.encode();
        assert_eq!(MasterKey::parse(&b64, "t")?.id(), k.id());
        let hexed = hex(k.key.as_slice());
        assert_eq!(MasterKey::parse(&hexed, "t")?.id(), k.id());
        assert_eq!(MasterKey::parse(&hexed.to_uppercase(), "t")?.id(), k.id());
        for bad in ["", "short", &b64[..20], "zz".repeat(32).as_str()] {
            let e = MasterKey::parse(bad, "ORGIAM_MASTER_KEY")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("ORGIAM_MASTER_KEY"), "{e}");
            assert!(bad.len() < 4 || !e.contains(bad), "echoed the value: {e}");
        }
        Ok(())
    }

    #[test]
    fn debug_shows_the_id_and_never_the_key() {
        let k = MasterKey::generate();
        let raw = k.key.to_vec();
        let encodings = [
            STANDARD.encode(&raw),
            STANDARD_NO_PAD.encode(&raw),
            URL_SAFE_NO_PAD.encode(&raw),
            hex(&raw),
            format!("{raw:?}"),
            format!("{:?}", k.key.as_slice()),
        ];
        let ring = MasterKeys::new(k.clone(), [MasterKey::generate()]);
        for shown in [format!("{k:?}"), format!("{k:#?}"), format!("{ring:?}")] {
            assert!(shown.contains(&k.id()), "{shown}");
            for e in &encodings {
                assert!(!shown.contains(e.as_str()), "Debug leaked the key: {shown}");
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_0600_and_others_are_refused() -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir =
            std::env::temp_dir().join(format!("orgiam-mk-{}", orgiam_domain::sid::random_body()));
        std::fs::create_dir_all(&dir).map_err(Error::internal)?;
        let path = dir.join("master.key");
        let k = MasterKey::generate();
        k.write_new_file(&path)?;
        let mode = std::fs::metadata(&path)
            .map_err(Error::internal)?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(MasterKey::read_file(&path)?.id(), k.id());
        // Never overwritten.
        assert!(MasterKey::generate().write_new_file(&path).is_err());
        assert_eq!(MasterKey::read_file(&path)?.id(), k.id());
        // Written whole through a temporary file beside it, which is gone afterwards.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .map_err(Error::internal)?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("master.key")]);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640))
            .map_err(Error::internal)?;
        let e = MasterKey::read_file(&path).err().map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(|m| m.contains("chmod 600")),
            "{e:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
