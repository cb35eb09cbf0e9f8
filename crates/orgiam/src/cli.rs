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
    /// The store: sqlite://PATH or postgres://USER@HOST:PORT/DB. Only `serve` and `init`
    /// create a missing store.
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
    /// Create a new, empty store (schema and keys) at --database-url; `serve` then bootstraps it.
    #[command(
        after_help = "Example:\n  orgiam init --database-url sqlite:///var/lib/orgiam/orgiam.db\n  orgiam orgs create --name Acme"
    )]
    Init {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Apply the store's pending schema migrations (the store must exist).
    #[command(
        after_help = "Example:\n  orgiam migrate --database-url postgres://orgiam@db/orgiam\n\n\
`orgiam serve` also migrates on start unless given --no-migrate; every other command\n\
refuses a store whose schema is older or newer than the binary."
    )]
    Migrate {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Manage an organization's role assignments.
    #[command(subcommand)]
    Assignments(AssignmentsCommand),
    /// May this user do that, here? Prints the decision and why: the assignments that grant
    /// it, the denies that remove it, and for a denial the nearest assignment that would
    /// allow it.
    #[command(
        after_help = "Example:\n  orgiam check --org OR... --user US... --permission /twilio/voice/calls/create --scope AC..."
    )]
    Check(CheckArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Example:\n  orgiam completions bash > /etc/bash_completion.d/orgiam\n  orgiam completions zsh > \"${fpath[1]}/_orgiam\""
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Paging and output flags of every `list` command.
#[derive(Args, Debug)]
pub struct Paging {
    /// At most this many (1 to 1000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    /// Start after this SID (a page that is not the last ends with the flag for the next).
    #[arg(long)]
    pub after: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Show one object.
#[derive(Args, Debug)]
pub struct ShowOrgScoped {
    /// The organization (OR...).
    #[arg(long)]
    pub org: String,
    /// The object's SID.
    pub sid: String,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum AssignmentsCommand {
    /// Give a user a role at a scope (the organization, an account or a subaccount).
    #[command(
        after_help = "Example:\n  orgiam assignments create --org OR... --role IX... --scope OR... --identity US... --json"
    )]
    Create {
        /// The organization (OR...).
        #[arg(long)]
        org: String,
        /// The role (IX...).
        #[arg(long)]
        role: String,
        /// The scope: the organization (OR...) or one of its accounts (AC...).
        #[arg(long)]
        scope: String,
        /// The user (US...).
        #[arg(long)]
        identity: String,
        /// Limit the assignment to one resource of this type (with --resource-id).
        #[arg(long)]
        resource_type: Option<String>,
        /// The resource's id (with --resource-type).
        #[arg(long)]
        resource_id: Option<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Remove a role assignment.
    #[command(after_help = "Example:\n  orgiam assignments delete --org OR... IY...")]
    Delete(ShowOrgScoped),
    /// List role assignments, ordered by SID.
    #[command(
        after_help = "Example:\n  orgiam assignments list --org OR... --identity US...\n  orgiam assignments list --org OR... --scope AC... --json"
    )]
    List {
        /// The organization (OR...).
        #[arg(long)]
        org: String,
        /// Only this user's (US...).
        #[arg(long)]
        identity: Option<String>,
        /// Only at this scope (OR... or AC...).
        #[arg(long)]
        scope: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "ORGIAM_LISTEN")]
    pub listen: Option<String>,
    /// The absolute URL clients reach this server at (used in links and as the token issuer).
    #[arg(long, env = "ORGIAM_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// A TOML file of settings (every key: see --help).
    #[arg(long, env = "ORGIAM_CONFIG", long_help = crate::settings::settings_help())]
    pub config: Option<PathBuf>,
    /// Log format: text or json [default: text]. Colour only on a terminal, never with NO_COLOR.
    #[arg(long, env = "ORGIAM_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Refuse to start on a store whose schema is not this binary's, instead of migrating it.
    #[arg(long)]
    pub no_migrate: bool,
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
    /// List organizations, ordered by SID.
    #[command(
        after_help = "Example:\n  orgiam orgs list\n  orgiam orgs list --limit 100 --after OR... --json"
    )]
    List(Paging),
    /// Show one organization.
    #[command(after_help = "Example:\n  orgiam orgs show OR...")]
    Show {
        /// The organization (OR...).
        sid: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AccountsCommand {
    /// Create an account, or a subaccount with --parent.
    #[command(
        after_help = "Example:\n  orgiam accounts create --org OR... --name \"Production\" --owner US... --json\n  orgiam accounts create --org OR... --name \"EU\" --parent AC... --json"
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
        /// The owning user (US...); required for an account, a subaccount defaults to its
        /// parent's owner.
        #[arg(long)]
        owner: Option<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List the organization's accounts and subaccounts, ordered by SID.
    #[command(after_help = "Example:\n  orgiam accounts list --org OR...")]
    List {
        /// The organization (OR...).
        #[arg(long)]
        org: String,
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one account.
    #[command(after_help = "Example:\n  orgiam accounts show --org OR... AC...")]
    Show(ShowOrgScoped),
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
        /// When the email is taken, print the existing user and succeed (exit 0) instead of
        /// failing with exit status 4.
        #[arg(long)]
        if_missing: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List the organization's users, ordered by SID (or find one by --email).
    #[command(
        after_help = "Example:\n  orgiam users list --org OR...\n  orgiam users list --org OR... --email ada@example.com --json"
    )]
    List {
        /// The organization (OR...).
        #[arg(long)]
        org: String,
        /// Only the user with this email.
        #[arg(long)]
        email: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one user.
    #[command(after_help = "Example:\n  orgiam users show --org OR... US...")]
    Show(ShowOrgScoped),
    /// Make an inactive user active again (its assignments apply again).
    #[command(after_help = "Example:\n  orgiam users activate --org OR... --user US...")]
    Activate(UserRef),
    /// Make a user inactive: it keeps its assignments, but every check for it is denied
    /// (reason inactive_user) until it is activated.
    #[command(after_help = "Example:\n  orgiam users deactivate --org OR... --user US...")]
    Deactivate(UserRef),
    /// Delete a user and, in the same transaction, its role assignments (the same as SCIM's
    /// DELETE .../scim/Users/US...).
    #[command(after_help = "Example:\n  orgiam users delete --org OR... --user US...")]
    Delete(UserRef),
}

/// One user of an organization.
#[derive(Args, Debug)]
pub struct UserRef {
    /// The organization (OR...).
    #[arg(long)]
    pub org: String,
    /// The user (US...).
    #[arg(long)]
    pub user: String,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `orgiam check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The organization (OR...).
    #[arg(long)]
    pub org: String,
    /// The user (US...).
    #[arg(long)]
    pub user: String,
    /// The permission, e.g. /twilio/voice/calls/create.
    #[arg(long)]
    pub permission: String,
    /// Where: the organization or one of its accounts (default: the organization).
    #[arg(long)]
    pub scope: Option<String>,
    /// A resource's type (with --resource-id).
    #[arg(long)]
    pub resource_type: Option<String>,
    /// A resource's id (with --resource-type).
    #[arg(long)]
    pub resource_id: Option<String>,
    /// Print the result as the HTTP API shows it (with explain), one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum RolesCommand {
    /// Import custom roles from a JSON-lines file (one Role object per line, without sid and
    /// dates). Every line is checked first; nothing is imported unless all are valid. A role's
    /// key is its friendly name (compared case-insensitively): a file naming a role the
    /// organization already has is refused, so importing the same file twice adds nothing.
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
    /// List the roles an organization sees, built-in and custom, ordered by name.
    #[command(
        after_help = "Example:\n  orgiam roles list --org OR...\n  orgiam roles list --org OR... --search invoice --product-group billing --json"
    )]
    List {
        /// The organization (OR...).
        #[arg(long)]
        org: String,
        /// Only roles whose name contains this (or whose SID starts with it).
        #[arg(long)]
        search: Option<String>,
        /// Only roles of this product group.
        #[arg(long)]
        product_group: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one role (built-in or custom) with its policy.
    #[command(after_help = "Example:\n  orgiam roles show --org OR... IX...")]
    Show(ShowOrgScoped),
    /// Delete a custom role (refused while assignments use it; built-in roles cannot be deleted).
    #[command(after_help = "Example:\n  orgiam roles delete --org OR... IX...")]
    Delete(ShowOrgScoped),
    /// Create one custom role from a JSON object: the Role object's fields without sid and
    /// dates (as `POST /v2/Organizations/Roles` takes it). Prints the role and its ETag.
    #[command(
        after_help = "Example:\n  orgiam roles create --org OR... --role '{\"friendly_name\": \"Invoice Reader\", \"lowest_level\": \"ACCOUNT\", \"policy\": {\"allow\": [\"/twilio/billing/invoices/read\"]}}'"
    )]
    Create {
        /// The organization (OR...).
        #[arg(long)]
        org: String,
        /// The role, a JSON object.
        #[arg(long)]
        role: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Change fields of a custom role (a JSON object of the fields to change, as
    /// `POST /v2/Organizations/Roles/{sid}` takes it). With --if-match, only if the role still
    /// has that ETag (else exit code 4); without, whatever it holds now.
    #[command(
        after_help = "Example:\n  orgiam roles update --org OR... IX... --set '{\"external_description\": \"Reads invoices\"}' --if-match '\"3f2a...\"'"
    )]
    Update {
        /// The organization (OR...).
        #[arg(long)]
        org: String,
        /// The role (IX...).
        sid: String,
        /// The fields to change, a JSON object.
        #[arg(long)]
        set: String,
        /// The ETag the role must still have.
        #[arg(long)]
        if_match: Option<String>,
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
        /// An audience (resource server) the app may ask tokens for besides this server,
        /// e.g. https://api.example.com (repeatable).
        #[arg(long = "audience")]
        audience: Vec<String>,
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
    /// List OAuth apps (of one organization with --org), ordered by SID.
    #[command(
        after_help = "Example:\n  orgiam apps list --org OR...\n  orgiam apps list --deleted --json"
    )]
    List {
        /// Only this organization's (OR...).
        #[arg(long)]
        org: Option<String>,
        /// Include deleted apps.
        #[arg(long)]
        deleted: bool,
        #[command(flatten)]
        paging: Paging,
    },
    /// Show one app (never its secrets).
    #[command(after_help = "Example:\n  orgiam apps show --app OQ...")]
    Show(AppRef),
    /// Change an app's name, description, policy, token lifetime or audiences; it keeps its client id and
    /// secrets. A new policy (--allow, with any --deny) replaces the old one whole; servers
    /// apply the change within one poll interval.
    #[command(
        after_help = "Example:\n  orgiam apps update --app OQ... --allow twilio/iam/roles/list --allow twilio/iam/role-assignments/list\n  orgiam apps update --app OQ... --ttl 600 --name deploy-bot"
    )]
    Update {
        #[command(flatten)]
        app: AppRef,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new description.
        #[arg(long)]
        description: Option<String>,
        /// The new policy's allowed patterns (repeatable; replaces the policy).
        #[arg(long = "allow")]
        allow: Vec<String>,
        /// The new policy's denied patterns (repeatable; needs --allow).
        #[arg(long = "deny", requires = "allow")]
        deny: Vec<String>,
        /// A new access-token lifetime in seconds (60 to 2592000).
        #[arg(long)]
        ttl: Option<i64>,
        /// The audiences the app may ask tokens for besides this server (repeatable;
        /// replaces the list).
        #[arg(long = "audience", conflicts_with = "clear_audiences")]
        audience: Vec<String>,
        /// Remove every audience but this server's own.
        #[arg(long)]
        clear_audiences: bool,
    },
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
    /// The app's client secret. One that starts with `-` works as given, or as
    /// --client-secret=S, or from the environment variable.
    #[arg(
        long,
        env = "ORGIAM_CLIENT_SECRET",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub client_secret: String,
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Print the whole token response as JSON.
    #[arg(long)]
    pub json: bool,
}
