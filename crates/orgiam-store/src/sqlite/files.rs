//! The SQLite file on disk: its path in the URL, and permissions private to the owner.

use orgiam_domain::{Error, Result};

/// The file path of a `sqlite://` URL, if it names one.
pub(crate) fn file_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Creates the database's folder (0700) and file (0600) when missing, whatever the umask,
/// so that SQLite's journal files, which take the database file's mode, are private too; and
/// warns when an existing folder or file is open to other users.
pub(super) fn private_files(db: &std::path::Path) -> Result<()> {
    let cannot = |p: &std::path::Path, e: std::io::Error| {
        Error::Unavailable(format!("cannot create {}: {e}", p.display()))
    };
    let dir = db.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = dir {
        if dir.exists() {
            warn_if_open(dir, "data directory", 0o700);
        } else {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder.create(dir).map_err(|e| cannot(dir, e))?;
            set_mode(dir, 0o700).map_err(|e| cannot(dir, e))?;
        }
    }
    if db.exists() {
        warn_if_open(db, "database file", 0o600);
        for suffix in ["-wal", "-shm"] {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            let journal = std::path::PathBuf::from(name);
            if journal.exists() {
                warn_if_open(&journal, "database file", 0o600);
            }
        }
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(db) {
        Ok(_) => set_mode(db, 0o600).map_err(|e| cannot(db, e)),
        // Another process created it first.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(cannot(db, e)),
    }
}

#[cfg(unix)]
fn set_mode(path: &std::path::Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &std::path::Path, _: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn warn_if_open(path: &std::path::Path, what: &str, want: u32) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = %format!("{mode:04o}"),
                "the {what} is open to other users: run `chmod {want:o} {}`",
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_open(_: &std::path::Path, _: &str, _: u32) {}
