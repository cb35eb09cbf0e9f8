//! Where the master key comes from, the SQLite zero-setup key file, and the commands that
//! manage the master key.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use zeroize::Zeroizing;

use orgiam_domain::Error;
use orgiam_domain::store::Store;
use orgiam_server::bootstrap;
use orgiam_server::master_key::{HOW_TO_CONFIGURE, MasterKey, MasterKeys};
use orgiam_store::DatabaseUrl;

/// The name of the zero-setup key file, beside the SQLite database file.
pub const DEFAULT_KEY_FILE: &str = "master.key";

/// The flags' and environment's key settings, set once at start (every command that opens the
/// store reads them).
pub static KEY_CONFIG: OnceLock<Result<KeyConfig, String>> = OnceLock::new();

/// One way a key is configured: the key itself (and where it was read from), or a file.
#[derive(Clone)]
pub enum KeySource {
    Value(Zeroizing<String>, &'static str),
    File(PathBuf),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Value(_, origin) => write!(f, "Value(<redacted>, {origin})"),
            Self::File(p) => write!(f, "File({})", p.display()),
        }
    }
}

impl KeySource {
    fn load(&self) -> Result<MasterKey, String> {
        match self {
            Self::Value(text, origin) => MasterKey::parse(text, origin),
            Self::File(path) => MasterKey::read_file(path),
        }
        .map_err(|e| e.to_string())
    }
}

/// The master key and the previous one, as configured.
#[derive(Clone, Debug, Default)]
pub struct KeyConfig {
    pub master: Option<KeySource>,
    pub previous: Option<KeySource>,
}

/// One of a file and a value, refusing both.
fn one(
    file: Option<PathBuf>,
    value: Option<(String, &'static str)>,
    file_name: &str,
) -> Result<Option<KeySource>, String> {
    match (file, value) {
        (Some(_), Some((_, origin))) => Err(format!(
            "both {origin} and {file_name} are set: configure the key once"
        )),
        (Some(f), None) => Ok(Some(KeySource::File(f))),
        (None, Some((v, origin))) => Ok(Some(KeySource::Value(Zeroizing::new(v), origin))),
        (None, None) => Ok(None),
    }
}

fn env(name: &'static str) -> Option<(String, &'static str)> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(|v| (v, name))
}

impl KeyConfig {
    /// `--master-key-file`/`ORGIAM_MASTER_KEY_FILE` or `ORGIAM_MASTER_KEY`, and the previous
    /// key likewise.
    pub fn from_flags_and_env(
        master_file: Option<PathBuf>,
        previous_file: Option<PathBuf>,
    ) -> Result<Self, String> {
        Ok(Self {
            master: one(
                master_file,
                env("ORGIAM_MASTER_KEY"),
                "--master-key-file (ORGIAM_MASTER_KEY_FILE)",
            )?,
            previous: one(
                previous_file,
                env("ORGIAM_PREVIOUS_MASTER_KEY"),
                "--previous-master-key-file (ORGIAM_PREVIOUS_MASTER_KEY_FILE)",
            )?,
        })
    }

    /// These settings, or where they are unset, the config file's.
    pub fn or_config_file(
        self,
        master_key: Option<String>,
        master_key_file: Option<PathBuf>,
        previous_master_key: Option<String>,
        previous_master_key_file: Option<PathBuf>,
    ) -> Result<Self, String> {
        let master = match self.master {
            Some(m) => Some(m),
            None => one(
                master_key_file,
                master_key.map(|v| (v, "master_key in the config file")),
                "master_key_file in the config file",
            )?,
        };
        let previous = match self.previous {
            Some(p) => Some(p),
            None => one(
                previous_master_key_file,
                previous_master_key.map(|v| (v, "previous_master_key in the config file")),
                "previous_master_key_file in the config file",
            )?,
        };
        Ok(Self { master, previous })
    }
}

/// The flags' and environment's settings (read once by `run`).
pub fn configured() -> Result<KeyConfig, String> {
    KEY_CONFIG
        .get()
        .cloned()
        .unwrap_or_else(|| Ok(KeyConfig::default()))
}

/// The zero-setup key file of a SQLite database file.
pub fn default_key_file(url: &DatabaseUrl) -> Option<PathBuf> {
    let db = orgiam_store::sqlite_file(url.expose())?;
    let dir = db
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    Some(dir.join(DEFAULT_KEY_FILE))
}

/// The master keys to open `store` with: the configured ones; else, with SQLite, the key file
/// beside the database (created, and announced once on stderr, for a store that holds no
/// sealed keys yet); else an error saying what to configure.
pub async fn resolve(
    url: &DatabaseUrl,
    config: &KeyConfig,
    store: &dyn Store,
) -> Result<MasterKeys, String> {
    let previous = config.previous.as_ref().map(KeySource::load).transpose()?;
    if let Some(master) = &config.master {
        return Ok(MasterKeys::new(master.load()?, previous));
    }
    if previous.is_some() {
        return Err(
            "a previous master key is configured but no master key: the previous key only \
             opens keys during a rotation; configure the current one too"
                .into(),
        );
    }
    let Some(path) = default_key_file(url) else {
        if url.expose().starts_with("sqlite:") {
            // An in-memory database dies with the process: so can its key.
            return Ok(MasterKeys::new(MasterKey::generate(), []));
        }
        let sealed_with = MasterKeys::ids_in_store(store)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !sealed_with.is_empty() {
            return Err(format!(
                "the store's keys are sealed with master key {}, and no master key is \
                 configured: {HOW_TO_CONFIGURE}",
                sealed_with.join(", ")
            ));
        }
        return Err(format!(
            "no master key is configured, and PostgreSQL needs one (the same on every \
             replica; it seals the keys stored in the database): create one with `orgiam keys \
             new-master-key --out /etc/orgiam/master.key`, then {HOW_TO_CONFIGURE}"
        ));
    };
    if path.exists() {
        return Ok(MasterKeys::new(
            MasterKey::read_file(&path).map_err(|e| e.to_string())?,
            [],
        ));
    }
    let sealed_with = MasterKeys::ids_in_store(store)
        .await
        .map_err(|e| fail(e.to_string()))?;
    if !sealed_with.is_empty() {
        return Err(format!(
            "the store's keys are sealed with master key {}, and no master key is configured \
             (and there is no {}): {HOW_TO_CONFIGURE}",
            sealed_with.join(", "),
            path.display()
        ));
    }
    let key = MasterKey::generate();
    match key.write_new_file(&path) {
        Ok(()) => {
            eprintln!(
                "orgiam: created the master key file {} (mode 0600). It seals the keys stored \
                 in the database: keep it, and keep it apart from the database and its backups \
                 (see \"Keys at rest\" in docs/USAGE.md).",
                path.display()
            );
            Ok(MasterKeys::new(key, []))
        }
        // Another process starting on the same new store wrote it first.
        Err(_) if path.exists() => Ok(MasterKeys::new(
            MasterKey::read_file(&path).map_err(|e| e.to_string())?,
            [],
        )),
        Err(e) => Err(e.to_string()),
    }
}

fn fail(e: String) -> String {
    e.strip_prefix("internal error: ")
        .or_else(|| e.strip_prefix("service unavailable: "))
        .map(str::to_owned)
        .unwrap_or(e)
}

fn error_text(e: Error) -> String {
    fail(e.to_string())
}

/// `orgiam keys rotate-master`: every stored key re-sealed with the new master key in one
/// transaction, then checked to open with it alone.
pub async fn rotate_master(
    url: &DatabaseUrl,
    new_key_file: &Path,
    json: bool,
) -> Result<(), String> {
    let new = MasterKey::read_file(new_key_file).map_err(|e| e.to_string())?;
    let store: std::sync::Arc<dyn Store> =
        orgiam_store::open(url, orgiam_store::OpenMode::Existing)
            .await
            .map_err(error_text)?;
    let current = resolve(url, &configured()?, store.as_ref()).await?;
    bootstrap::ensure_keys(store.as_ref(), &current)
        .await
        .map_err(error_text)?;
    let old = current.ids();
    let changed = current
        .reseal_all(store.as_ref(), &new)
        .await
        .map_err(error_text)?;
    let only_new = MasterKeys::new(new.clone(), []);
    only_new
        .server_keys(store.as_ref())
        .await
        .map_err(error_text)?;
    only_new
        .signing_keys(store.as_ref())
        .await
        .map_err(error_text)?;
    if json {
        println!(
            "{}",
            serde_json::json!({"master_key": new.id(), "previous_master_keys": old, "resealed": changed})
        );
    } else {
        println!(
            "Re-sealed {changed} stored keys with master key {} (was {}).\n\
             Next: make {} every replica's master key (--master-key-file or ORGIAM_MASTER_KEY), \
             restart them, and then remove the old key everywhere. Until a replica has the new \
             key it keeps serving with the keys it loaded, but cannot restart or load new \
             signing keys.",
            new.id(),
            old.join(", "),
            new_key_file.display()
        );
        if let Some(default) = default_key_file(url).filter(|p| p.exists())
            && configured()?.master.is_none()
        {
            println!(
                "This store used {}: start with --master-key-file {} and delete {} once no \
                 process uses it.",
                default.display(),
                new_key_file.display(),
                default.display()
            );
        }
    }
    Ok(())
}

/// `orgiam keys new-master-key`: a random key in a new 0600 file; only its id is printed.
pub fn new_master_key(out: &Path, json: bool) -> Result<(), String> {
    let key = MasterKey::generate();
    key.write_new_file(out).map_err(|e| e.to_string())?;
    if json {
        println!(
            "{}",
            serde_json::json!({"master_key": key.id(), "file": out.display().to_string()})
        );
    } else {
        println!(
            "Wrote master key {} to {} (mode 0600). Keep this file out of the database's \
             backups.",
            key.id(),
            out.display()
        );
    }
    Ok(())
}
