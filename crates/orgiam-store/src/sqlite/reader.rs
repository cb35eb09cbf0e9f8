//! SQLite reads on the calling thread. sqlx runs each SQLite connection on a thread of its
//! own and sends it every statement, and every row back, through channels (each value copied
//! out of SQLite first): for a page of roles that was half the request's CPU (the thread hops,
//! the copies, the allocations; see "Where the store path's time goes" in
//! docs/PERFORMANCE.md). A role listing is read instead through `rusqlite` (the same SQLite
//! library) on read-only connections of the same file, run where the request runs, with the
//! rows decoded as they are stepped. A page read takes a few tens of microseconds (bounded by
//! its page), so it does not hold up the async worker it runs on for longer than the sqlx
//! round trips it replaces; a search, which may walk until the statement budget stops it,
//! first hands the worker's other tasks to another thread ([`Readers::read_long`]).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use orgiam_domain::{Error, Result};

use super::BUDGET_CHECK_OPS;
use crate::rows::DbRow;

/// Read-only connections kept for reuse (more are opened when more reads run at once; at most
/// this many wait idle).
const IDLE_READERS: usize = 16;

/// Prepared statements kept per connection (listings differ by their filters' shape).
const STATEMENT_CACHE: usize = 64;

/// SQLite's page cache per connection, in KiB (`PRAGMA cache_size`'s default).
const DEFAULT_PAGE_CACHE_KIB: i64 = 2_000;

/// Room in the page cache per row of a big listing, in KiB: rows in name order lie on pages
/// of their own (about 4 KiB each), with the index's pages besides.
const PAGE_CACHE_KIB_PER_ROW: i64 = 8;

/// The read-only connections of one store.
pub(crate) struct Readers {
    path: PathBuf,
    timeout: Option<Duration>,
    idle: Mutex<Vec<Reader>>,
    /// The clock the budgets' deadlines count from.
    epoch: Instant,
}

/// One connection and its statement budget: the progress handler interrupts a statement
/// once `deadline` (nanoseconds after the epoch; 0: none) has passed, and sets `fired`.
struct Reader {
    conn: rusqlite::Connection,
    deadline: Arc<AtomicU64>,
    fired: Arc<AtomicBool>,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Readers {
    pub(crate) fn new(path: PathBuf, timeout: Option<Duration>) -> Self {
        Self {
            path,
            timeout,
            idle: Mutex::new(Vec::new()),
            epoch: Instant::now(),
        }
    }

    fn open(&self) -> Result<Reader> {
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| Error::Unavailable(format!("cannot open a reader: {e}")))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(read_error)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let deadline = Arc::new(AtomicU64::new(0));
        let fired = Arc::new(AtomicBool::new(false));
        let (d, f, epoch) = (deadline.clone(), fired.clone(), self.epoch);
        conn.progress_handler(
            BUDGET_CHECK_OPS,
            Some(move || {
                let at = d.load(Ordering::Relaxed);
                let late = at != 0 && epoch.elapsed().as_nanos() >= u128::from(at);
                if late {
                    f.store(true, Ordering::Relaxed);
                }
                late
            }),
        );
        Ok(Reader {
            conn,
            deadline,
            fired,
        })
    }

    /// [`Readers::read`] for a read that may run long (a search walking names until it fills
    /// a page, at most the statement budget): the async worker hands its other tasks to
    /// another thread first (`block_in_place`), so a slow search holds up no other request.
    pub(crate) fn read_long<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> Result<T>,
    ) -> Result<T> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(|| self.read(read)),
            _ => self.read(read),
        }
    }

    /// Runs `read` on an idle connection (or a new one) within the statement budget: a
    /// statement stopped by it is [`Error::Overloaded`].
    pub(crate) fn read<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> Result<T>,
    ) -> Result<T> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let reader = match idle {
            Some(r) => r,
            None => self.open()?,
        };
        let deadline = self.timeout.map_or(0, |t| {
            u64::try_from((self.epoch.elapsed() + t).as_nanos()).unwrap_or(u64::MAX)
        });
        reader.fired.store(false, Ordering::Relaxed);
        reader.deadline.store(deadline, Ordering::Relaxed);
        let result = read(&reader.conn);
        reader.deadline.store(0, Ordering::Relaxed);
        let result = match result {
            Err(e) if reader.fired.load(Ordering::Relaxed) => Err(Error::Overloaded(e.to_string())),
            other => other,
        };
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < IDLE_READERS
        {
            idle.push(reader);
        }
        result
    }
}

/// A `rusqlite` error as the store's: an unavailable database (busy, locked, unreadable) is
/// [`Error::Unavailable`]; anything else is internal.
pub(crate) fn read_error(e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure,
        ) => Error::Unavailable(e.to_string()),
        _ => Error::internal(e.to_string()),
    }
}

impl super::SqliteStore {
    /// The rows of a listing's statement (its budget the store's statement budget), decoded
    /// as they are stepped.
    pub(super) async fn fetch_rows<T>(
        &self,
        q: crate::sql::Stmt<'_>,
        decode: fn(&dyn crate::rows::DbRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.readers.read(|conn| rows_of(conn, &q, decode))
    }
}

impl super::SqliteStore {
    /// Hands each row of a listing's statement to `visit` as it is stepped (its budget the
    /// store's statement budget).
    pub(super) async fn visit_rows(
        &self,
        q: crate::sql::Stmt<'_>,
        visit: &mut (dyn FnMut(&dyn crate::rows::DbRow) -> Result<()> + Send),
    ) -> Result<()> {
        // `Vec<()>` allocates nothing.
        self.readers
            .read(|conn| rows_of(conn, &q, |r| visit(r)).map(drop))
    }
}

/// Gives `conn`'s page cache room for a listing of `rows` rows, when that is more than
/// SQLite's default (which it keeps afterwards). A page of 1,000 roles spans about 4 MB of
/// pages: within the default, each read of it evicted the pages it needed next and read them
/// all from the file again (a third of an `Expand=true` page of 1,000). Only such pages grow a
/// cache: with every connection's cache four times the default, the mixed workload of small
/// pages ran 40 % slower.
pub(super) fn room_for(conn: &rusqlite::Connection, rows: i64) -> Result<()> {
    let kib = rows.saturating_mul(PAGE_CACHE_KIB_PER_ROW);
    if kib > DEFAULT_PAGE_CACHE_KIB {
        conn.pragma_update(None, "cache_size", -kib)
            .map_err(read_error)?;
    }
    Ok(())
}

/// The rows of `q` on `conn`, decoded.
pub(super) fn rows_of<T>(
    conn: &rusqlite::Connection,
    q: &crate::sql::Stmt<'_>,
    mut decode: impl FnMut(&dyn crate::rows::DbRow) -> Result<T>,
) -> Result<Vec<T>> {
    let mut st = conn.prepare_cached(q.sql()).map_err(read_error)?;
    let mut rows = st.query(q.params()).map_err(read_error)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(read_error)? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// `rusqlite`'s rows, decoded like sqlx's (see [`DbRow`]).
impl DbRow for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<String> {
        self.get(i).map_err(read_error)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        self.get(i).map_err(read_error)
    }
    fn int(&self, i: usize) -> Result<i64> {
        self.get(i).map_err(read_error)
    }
    fn str_at(&self, i: usize) -> Result<&str> {
        self.get_ref(i)
            .map_err(read_error)?
            .as_str()
            .map_err(|e| Error::internal(format!("column {i}: {e}")))
    }
    fn opt_str_at(&self, i: usize) -> Result<Option<&str>> {
        self.get_ref(i)
            .map_err(read_error)?
            .as_str_or_null()
            .map_err(|e| Error::internal(format!("column {i}: {e}")))
    }
    fn opt_bytes_at(&self, i: usize) -> Result<Option<&[u8]>> {
        self.get_ref(i)
            .map_err(read_error)?
            .as_bytes_or_null()
            .map_err(|e| Error::internal(format!("column {i}: {e}")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A big listing grows the connection's page cache to fit it (and it stays grown); a
    /// small one leaves SQLite's default.
    #[test]
    fn big_listings_make_room_in_the_page_cache() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let size = || -> i64 {
            conn.query_row("PRAGMA cache_size", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(size(), -DEFAULT_PAGE_CACHE_KIB);
        room_for(&conn, 101).unwrap();
        assert_eq!(size(), -DEFAULT_PAGE_CACHE_KIB);
        room_for(&conn, 1001).unwrap();
        assert_eq!(size(), -1001 * PAGE_CACHE_KIB_PER_ROW);
        room_for(&conn, 51).unwrap();
        assert_eq!(size(), -1001 * PAGE_CACHE_KIB_PER_ROW);
    }
}
