//! The custom-role import pipeline: a file of JSON lines (one role each, see
//! `orgiam_domain::import`) checked in full first, then written in batches in one
//! transaction, while a thread parses the next batches. Nothing is written unless every line
//! is valid and no role's name is taken. The command line (`orgiam roles import`) drives it.

use std::collections::HashSet;
use std::io::BufRead;

use orgiam_domain::catalog::Catalog;
use orgiam_domain::model::{Actor, Role};
use orgiam_domain::sid::OrgSid;
use orgiam_domain::store::Store;
use orgiam_domain::{Error, time_fmt};
use orgiam_store::Directory;
use serde_json::Value;

/// Lines per batch handed to the store during an import.
pub const IMPORT_BATCH: usize = 5000;

/// Why a file may not be imported into an organization (nothing was written).
#[derive(Debug)]
pub enum Refusal {
    /// The file could not be read.
    Read(String),
    /// The file names this role more than once (a role's friendly name is its key).
    Repeated(String),
    /// Roles of these names (sorted) exist already in the organization.
    Taken(Vec<String>),
    /// The store failed.
    Store(Error),
}

/// Refuses an import whose roles' names (the import's key, compared case-insensitively) the
/// organization already uses, or that repeats a name. Only the names are read here; the lines
/// are checked in full by [`import_roles`].
pub async fn refuse_reimport(
    store: &dyn Directory,
    org: &OrgSid,
    lines: impl BufRead,
) -> Result<(), Refusal> {
    let mut names = HashSet::new();
    let mut repeated = None;
    for line in lines.lines() {
        let line = line.map_err(|e| Refusal::Read(e.to_string()))?;
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if let Some(name) = v.get("friendly_name").and_then(Value::as_str) {
            // A name the text rule refuses is the import's to report, with its line; it
            // must not reach the store here.
            if orgiam_domain::text::check("friendly_name", name).is_err() {
                continue;
            }
            let key = Role::name_key(name);
            if !names.insert(key) && repeated.is_none() {
                repeated = Some(name.to_owned());
            }
        }
    }
    if let Some(name) = repeated {
        return Err(Refusal::Repeated(name));
    }
    let names: Vec<String> = names.into_iter().collect();
    let mut taken = store
        .existing_role_names(org, &names)
        .await
        .map_err(Refusal::Store)?;
    if taken.is_empty() {
        return Ok(());
    }
    taken.sort();
    Err(Refusal::Taken(taken))
}

/// Why an import failed (nothing was written).
#[derive(Debug)]
pub enum ImportError {
    /// A line could not be read or is not a valid role: `line N: why`.
    Line(String),
    /// The file could not be opened (the opener's message).
    Open(String),
    /// The file holds no roles.
    Empty,
    /// The built-in catalog could not be read.
    Catalog(String),
    /// The store failed.
    Store(Error),
}

/// Pass 1: checks every line `open` reads as a custom role of `org`, so that a bad one is
/// reported before anything is written; returns how many roles the file holds.
pub fn check_roles<R, O>(org: &OrgSid, open: O) -> Result<u64, ImportError>
where
    R: BufRead,
    O: FnOnce() -> Result<R, String>,
{
    let groups = Catalog::builtin()
        .map_err(|e| ImportError::Catalog(e.to_string()))?
        .groups;
    let now = time_fmt::now();
    let mut total = 0u64;
    for (i, line) in open().map_err(ImportError::Open)?.lines().enumerate() {
        let line = line.map_err(|e| ImportError::Line(format!("line {}: {e}", i + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        orgiam_domain::import::parse_line(&line, org, &groups, now)
            .map_err(|e| ImportError::Line(format!("line {}: {e}", i + 1)))?;
        total += 1;
    }
    if total == 0 {
        return Err(ImportError::Empty);
    }
    Ok(total)
}

/// Pass 2: imports the custom roles `lines` holds into `org`, as `actor`, in batches in one
/// transaction (a line that turns out bad rolls it all back); `progress` hears the size of
/// each batch handed to the store. Returns the roles imported. Call [`check_roles`] first to
/// report a bad line before the store is touched.
pub async fn import_roles<R>(
    store: &dyn Store,
    org: &OrgSid,
    lines: R,
    actor: &Actor,
    progress: impl Fn(u64) + Send + 'static,
) -> Result<u64, ImportError>
where
    R: BufRead + Send + 'static,
{
    let groups = Catalog::builtin()
        .map_err(|e| ImportError::Catalog(e.to_string()))?
        .groups;
    let now = time_fmt::now();
    // Pass 2: the same lines, in batches, in one transaction. A thread parses the next batches
    // while the store writes the last one (two at most wait in the channel).
    let (tx, rx) = std::sync::mpsc::sync_channel(2);
    let reader = lines;
    let parser_org = org.clone();
    let parser = std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(IMPORT_BATCH);
        for (i, line) in reader.lines().enumerate() {
            let parsed = line
                .map_err(|e| e.to_string())
                .and_then(|line| {
                    if line.trim().is_empty() {
                        return Ok(None);
                    }
                    orgiam_domain::import::parse_line(&line, &parser_org, &groups, now)
                        .map(Some)
                        .map_err(|e| e.to_string())
                })
                .map_err(|e| Error::bad_request(format!("line {}: {e}", i + 1)));
            match parsed {
                Ok(None) => {}
                Ok(Some(role)) => {
                    batch.push(role);
                    if batch.len() == IMPORT_BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(IMPORT_BATCH));
                        if tx.send(Ok(full)).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(Ok(batch));
        }
    });
    let mut next_batch = move || -> orgiam_domain::Result<Option<Vec<Role>>> {
        // A closed channel is the end of the file (or a parser that stopped after an error it sent).
        let Ok(batch) = rx.recv() else {
            return Ok(None);
        };
        let batch = batch?;
        progress(batch.len() as u64);
        Ok(Some(batch))
    };
    let imported = store.import_roles(org, &mut next_batch, actor).await;
    drop(next_batch);
    let _ = parser.join();
    imported.map_err(ImportError::Store)
}
