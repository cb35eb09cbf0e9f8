//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://./orgiam-data/orgiam.db";

/// A self-hosted Organization IAM server, wire-compatible with Twilio's Organizations IAM APIs.
#[derive(Parser, Debug)]
#[command(name = "orgiam", version, propagate_version = true)]
#[command(
    after_help = "Start here:\n  orgiam serve\n\nEvery command takes --database-url (env ORGIAM_DATABASE_URL) and the master key\n\
the store's keys are sealed with: --master-key-file (env ORGIAM_MASTER_KEY_FILE) or the key\n\
itself in ORGIAM_MASTER_KEY. With SQLite and neither, orgiam keeps it in master.key beside\n\
the database file (created on first start)."
)]
pub struct Cli {
    /// The store: sqlite://PATH (created on demand) or postgres://USER@HOST:PORT/DB.
    #[arg(long, global = true, env = "ORGIAM_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,

    /// A file holding the master key the store's keys are sealed with (mode 0600; the key
    /// itself can be given in ORGIAM_MASTER_KEY instead). Default with SQLite: master.key
    /// beside the database file, created on first start.
    #[arg(long, global = true, env = "ORGIAM_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,

    /// While the master key is being rotated: a file holding the previous master key, which
    /// still opens keys sealed with it (or the key itself in ORGIAM_PREVIOUS_MASTER_KEY).
    #[arg(long, global = true, env = "ORGIAM_PREVIOUS_MASTER_KEY_FILE")]
    pub previous_master_key_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server (migrates the store; bootstraps an empty one).
    #[command(
        after_help = "Example:\n  orgiam serve --listen 0.0.0.0:8080 --public-url https://iam.example.com\n\n\
On an empty store this creates one organization and one OAuth app allowed everything,\n\
and prints its client id and secret once, with curl commands to get a token and list roles."
    )]
    Serve(ServeArgs),
    /// Manage organizations.
    #[command(subcommand)]
    Orgs(OrgsCommand),
    /// Manage OAuth apps (client credentials).
    #[command(subcommand)]
    Apps(AppsCommand),
    /// Manage the organization's accounts and subaccounts.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Manage the organization's users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage an organization's custom roles.
    #[command(subcommand)]
    Roles(RolesCommand),
    /// Manage the install's token-signing keys and the master key that seals them.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Show an organization's audit trail (every change to access), newest first.
    #[command(after_help = "Example:\n  orgiam audit --org OR... --action app.disabled --limit 20")]
    Audit {
        /// The organization (OR...).
        #[arg(long)]
        org: String,
        /// Only this action (app.created, app.disabled, app.enabled, app.deleted,
        /// app.secret_rotated, key.rotated, role_assignment.created, role_assignment.deleted,
        /// roles.imported).
        #[arg(long)]
        action: Option<String>,
        /// Only changes by this actor (an OQ app SID, or cli).
        #[arg(long)]
        actor: Option<String>,
        /// Only changes to this target SID.
        #[arg(long)]
        target: Option<String>,
        /// At most this many events.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Fetch an access token from a running server and print it.
    #[command(
        after_help = "Example:\n  TOKEN=$(orgiam token --client-id OQ... --client-secret S)\n  \
curl -H \"Authorization: Bearer $TOKEN\" http://127.0.0.1:8080/v2/Organizations/Roles"
    )]
    Token(TokenArgs),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "ORGIAM_LISTEN")]
    pub listen: Option<String>,
    /// The absolute URL clients reach this server at (used in links and as the token issuer).
    #[arg(long, env = "ORGIAM_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// A TOML file of settings (listen, public_url, log_format, poll_interval_ms,
    /// master_key_file, ...).
    #[arg(long, env = "ORGIAM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "ORGIAM_LOG_FORMAT")]
    pub log_format: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum OrgsCommand {
    /// Create an organization.
    #[command(after_help = "Example:\n  orgiam orgs create --name \"Acme Corp\" --json")]
    Create {
        /// The organization's name.
        #[arg(long)]
        name: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AccountsCommand {
    /// Create an account, or a subaccount with --parent.
    #[command(
        after_help = "Example:\n  orgiam accounts create --org OR... --name \"Production\" --json\n  orgiam accounts create --org OR... --name \"EU\" --parent AC... --json"
    )]
    Create {
        /// The organization (OR...).
        #[arg(long)]
        org: String,
        /// The account's name.
        #[arg(long)]
        name: String,
        /// The parent account (AC...), making this a subaccount.
        #[arg(long)]
        parent: Option<String>,
        /// The owning user (US...).
        #[arg(long)]
        owner: Option<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Create a user (an email is unique within an organization).
    #[command(
        after_help = "Example:\n  orgiam users create --org OR... --email ada@example.com --name \"Ada Lovelace\" --json"
    )]
    Create {
        /// The organization (OR...).
        #[arg(long)]
        org: String,
        /// The user's email address.
        #[arg(long)]
        email: String,
        /// The user's display name (defaults to the email).
        #[arg(long)]
        name: Option<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum RolesCommand {
    /// Import custom roles from a JSON-lines file (one Role object per line, without sid and
    /// dates). Every line is checked first; nothing is imported unless all are valid.
    #[command(
        after_help = "Example:\n  orgiam roles import --org OR... roles.jsonl\n\n\
A line looks like:\n  {\"friendly_name\": \"Invoice Reader\", \"external_description\": \"Reads invoices\", \"product_group\": \"billing\",\n   \"lowest_level\": \"ACCOUNT\", \"policy\": {\"allow\": [\"/twilio/billing/invoices/read\"], \"deny\": null}, \"resource_types\": null}"
    )]
    Import {
        /// The organization (OR...).
        #[arg(long)]
        org: String,
        /// The JSON-lines file.
        file: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Start signing with a new key. The old key stays published and keeps verifying until the
    /// tokens it signed have expired; with --revoke-old they stop working within a second.
    #[command(
        after_help = "Example:\n  orgiam keys rotate\n  orgiam keys rotate --revoke-old --json"
    )]
    Rotate {
        /// Remove the previous keys at once (their tokens are refused).
        #[arg(long)]
        revoke_old: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Re-seal every stored key with a new master key, in one transaction. Give every replica
    /// the new key as its master key and the old one as its previous key first; remove the old
    /// key once this has run.
    #[command(
        after_help = "Example:\n  orgiam keys new-master-key --out /etc/orgiam/master-2.key\n  \
orgiam keys rotate-master --master-key-file /etc/orgiam/master.key --new-key-file /etc/orgiam/master-2.key"
    )]
    RotateMaster {
        /// The file holding the new master key (mode 0600).
        #[arg(long)]
        new_key_file: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Write a new random master key to a new file (mode 0600). The key is never printed.
    #[command(after_help = "Example:\n  orgiam keys new-master-key --out /etc/orgiam/master.key")]
    NewMasterKey {
        /// The file to create (it must not exist).
        #[arg(long)]
        out: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct AppRef {
    /// The app's SID (its client id, OQ...).
    #[arg(long)]
    pub app: String,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum AppsCommand {
    /// Create an OAuth app; prints its client id and secret (the only time the secret is shown).
    #[command(
        after_help = "Example:\n  orgiam apps create --org OR... --name ci --allow twilio/iam/role-assignments/list --ttl 600 --json"
    )]
    Create {
        /// The organization (OR...).
        #[arg(long)]
        org: String,
        /// The app's name.
        #[arg(long)]
        name: String,
        /// A permission pattern to allow (repeatable), e.g. /twilio/iam/* or twilio/iam/role-assignments/list.
        #[arg(long = "allow", required = true)]
        allow: Vec<String>,
        /// A permission pattern to deny (repeatable); a deny wins over any allow.
        #[arg(long = "deny")]
        deny: Vec<String>,
        /// Access-token lifetime in seconds (60 to 2592000).
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
        /// A description.
        #[arg(long, default_value = "")]
        description: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Disable an app: its tokens stop working within a second, everywhere.
    #[command(after_help = "Example:\n  orgiam apps disable --app OQ...")]
    Disable(AppRef),
    /// Enable a disabled app.
    #[command(after_help = "Example:\n  orgiam apps enable --app OQ...")]
    Enable(AppRef),
    /// Delete an app for good: its secrets are erased and its tokens stop working.
    #[command(after_help = "Example:\n  orgiam apps delete --app OQ...")]
    Delete(AppRef),
    /// Issue a new client secret; the old one keeps working for the grace period.
    #[command(after_help = "Example:\n  orgiam apps rotate-secret --app OQ... --grace 3600 --json")]
    RotateSecret {
        #[command(flatten)]
        app: AppRef,
        /// Seconds the old secret keeps working (0 = it stops at once).
        #[arg(long, default_value_t = 86400)]
        grace: u32,
    },
}

#[derive(Args, Debug)]
pub struct TokenArgs {
    /// The app's client id (OQ...).
    #[arg(long)]
    pub client_id: String,
    /// The app's client secret.
    #[arg(long, env = "ORGIAM_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: String,
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Print the whole token response as JSON.
    #[arg(long)]
    pub json: bool,
}
