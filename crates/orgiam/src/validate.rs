//! Checks of settings and flags where they are read, each failing with the fix in its message.

use std::path::Path;

use orgiam_domain::catalog::Catalog;
use orgiam_domain::policy::Pattern;

/// The namespace whose permissions the built-in catalog lists; patterns in it must name at
/// least one of them. Other namespaces are free.
const CHECKED_NAMESPACE: &str = "twilio";

/// Refuses a pattern in the `twilio` namespace that matches no catalog permission, suggesting
/// the closest catalog names.
pub fn in_catalog(flag: &str, patterns: &[Pattern]) -> Result<(), String> {
    let checked: Vec<&Pattern> = patterns
        .iter()
        .filter(|p| {
            p.as_str()
                .trim_start_matches('/')
                .split('/')
                .next()
                .is_some_and(|ns| ns == CHECKED_NAMESPACE)
        })
        .collect();
    if checked.is_empty() {
        return Ok(());
    }
    let catalog = Catalog::builtin()?;
    for p in checked {
        if catalog.permissions.iter().any(|c| p.matches(&c.permission)) {
            continue;
        }
        let mut scored: Vec<(f64, &str)> = catalog
            .permissions
            .iter()
            .map(|c| {
                let name = c.permission.as_str();
                (strsim::normalized_levenshtein(p.as_str(), name), name)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        let closest: Vec<&str> = scored.iter().take(3).map(|(_, n)| *n).collect();
        return Err(format!(
            "--{flag} {} is no permission of the built-in catalog (patterns in the /{CHECKED_NAMESPACE}/ \
             namespace must match one; other namespaces are free). Closest: {}",
            p.as_str(),
            closest.join(", ")
        ));
    }
    Ok(())
}

const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// Checks an `ORGIAM_LOG` value: comma-separated directives, each a level or
/// `target=level` (the tracing filter syntax). A bare word that is not a level (which the
/// filter would read as a target name, enabling nothing useful) is refused.
pub fn log_filter(value: &str) -> Result<(), String> {
    let fix = "use one of off, error, warn, info, debug, trace, or directives like \
               info,orgiam_server=debug";
    for directive in value.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = match directive.rsplit_once('=') {
            Some((_, level)) => level,
            None if directive.contains(['[', ':']) => continue,
            None => directive,
        };
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "ORGIAM_LOG='{value}': '{level}' is not a log level: {fix}"
            ));
        }
    }
    tracing_subscriber::EnvFilter::try_new(value)
        .map(drop)
        .map_err(|e| format!("ORGIAM_LOG='{value}' is not a log filter ({e}): {fix}"))
}

/// Checks that a `--config` path is a file this process can read.
pub fn config_file(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let fix = "pass a TOML file (see docs/OPERATIONS.md for a complete sample)";
    match std::fs::metadata(path) {
        Err(e) => Err(format!("config file {shown} cannot be read ({e}): {fix}")),
        Ok(m) if !m.is_file() => Err(format!("config {shown} is not a file: {fix}")),
        Ok(_) => std::fs::File::open(path)
            .map(drop)
            .map_err(|e| format!("config file {shown} cannot be read ({e}): {fix}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_patterns_must_name_a_catalog_permission() {
        let p = |s: &str| Pattern::parse(s).expect("pattern");
        assert!(in_catalog("allow", &[p("/twilio/iam/roles/list")]).is_ok());
        assert!(in_catalog("allow", &[p("/twilio/iam/*")]).is_ok());
        assert!(in_catalog("allow", &[p("/*")]).is_ok());
        assert!(in_catalog("allow", &[p("/acme/billing/invoices/read")]).is_ok());
        let e = in_catalog("allow", &[p("twilio/iam/rolez/lst")]).expect_err("typo");
        assert!(e.contains("/twilio/iam/rolez/lst"), "{e}");
        assert!(
            e.contains("/twilio/iam/roles/list"),
            "suggests the closest: {e}"
        );
        assert!(in_catalog("deny", &[p("/twilio/nothing/*")]).is_err());
    }

    #[test]
    fn log_levels_are_checked() {
        assert!(log_filter("debug").is_ok());
        assert!(log_filter("info,orgiam_server=debug").is_ok());
        assert!(log_filter("WARN").is_ok());
        let e = log_filter("verbose").expect_err("not a level");
        assert!(e.contains("verbose") && e.contains("debug"), "{e}");
        assert!(log_filter("orgiam_server=loud").is_err());
    }

    #[test]
    fn config_paths_must_be_readable_files() {
        let dir = std::env::temp_dir();
        let e = config_file(&dir).expect_err("a folder");
        assert!(e.contains("not a file"), "{e}");
        assert!(config_file(&dir.join("no-such-orgiam.toml")).is_err());
    }
}
