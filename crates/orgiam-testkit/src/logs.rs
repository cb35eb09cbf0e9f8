//! Test logs: off by default, switched on with `ORGIAM_TEST_LOG` (a log filter such as `debug`
//! or `orgiam_server=trace`).
//!
//! In-process servers log through [`init`] into the test's captured output; out-of-process
//! servers get the same filter as `ORGIAM_LOG` ([`server_filter`]), else `warn`.

use std::sync::Once;

/// The environment variable that switches test logs on.
pub const VAR: &str = "ORGIAM_TEST_LOG";

/// The filter asked for with `ORGIAM_TEST_LOG`, if any.
pub fn filter() -> Option<String> {
    std::env::var(VAR).ok().filter(|v| !v.trim().is_empty())
}

/// The `ORGIAM_LOG` a spawned `orgiam serve` gets: the test filter, else `warn`.
pub fn server_filter() -> String {
    filter().unwrap_or_else(|| "warn".to_owned())
}

/// Installs a subscriber writing to the test's captured output when `ORGIAM_TEST_LOG` is set;
/// does nothing otherwise, and only once per process.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Some(filter) = filter() else { return };
        let Ok(filter) = tracing_subscriber::EnvFilter::try_new(&filter) else {
            eprintln!("{VAR}={filter:?} is not a log filter; test logs stay off");
            return;
        };
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}
