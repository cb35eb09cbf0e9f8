//! `orgiam`: the server and its administrative commands.

mod access;
mod admin;
mod cli;
mod commands;
mod master;
mod settings;
mod shared;
mod validate;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // With --json, errors are JSON too: `{"error": …}` on stdout, where the JSON of a success
    // goes (and, for people watching, the same message as text on stderr).
    let json = std::env::args_os().any(|a| a == "--json");
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if json && !matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let text = e.render().to_string();
                let first = text
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches("error: ");
                println!("{}", serde_json::json!({"error": first}));
            }
            e.exit()
        }
    };
    // Every command that opens the store reads the master key settings from here.
    let _ = master::KEY_CONFIG.set(master::KeyConfig::from_flags_and_env(
        cli.master_key_file.clone(),
        cli.previous_master_key_file.clone(),
    ));
    let outcome = match admin::run(cli).await {
        admin::Dispatch::Done(outcome) => outcome,
        admin::Dispatch::Other(cli) => commands::run(*cli).await.map_err(shared::Failure::from),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if json {
                println!("{}", serde_json::json!({"error": e.message}));
            }
            eprintln!("error: {}", e.message);
            std::process::ExitCode::from(e.code)
        }
    }
}
