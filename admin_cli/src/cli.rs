//! The command line, as clap sees it. Also read by the man page generator.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const ABOUT: &str = "Manage app-specific passwords for PAM logins";

const LONG_ABOUT: &str = "\
Manage app-specific passwords for PAM logins (IMAP, POP3, SMTP AUTH, SSH...).

Each password is a random 16-letter secret (abcd-efgh-ijkl-mnop) bound to one \
user, one or more PAM services and a label naming the client. It is shown once \
and stored only as an argon2id hash. Services load pam_apppass.so in their own \
PAM file to accept it. All of a user's app passwords are revoked when the \
primary password changes.";

const AFTER_HELP: &str = "\
Examples:
  apppass init
  apppass generate alice --service imap --service submission --label 'iPhone Mail'
  apppass generate bob@example.org --virtual --any-service --label Laptop --expires 90d
  apppass list alice
  apppass generate alice --service imap --label 'Office scanner' --from 192.0.2.0/24
  apppass revoke alice --label 'iPhone Mail' --reason 'phone lost'
  apppass suspend alice --label 'iPhone Mail'
  apppass rotate alice 7
  apppass config idle-expiry 90d
  apppass doctor
  echo abcd-efgh-ijkl-mnop | apppass verify alice --service imap
  apppass backup /root/apppass-backup/apppass.db
  apppass restore /root/apppass-backup/apppass.db
  apppass export /root/apppass-export.json
  apppass --config /etc/apppass/postgresql.conf import /root/apppass-export.json

Exit status: 0 success, 1 the thing asked about does not hold (verify failed, \
no such password), 2 usage error (bad flag, label, expiry, limit reached, user \
refused, the new password could not be written out), 3 store unavailable or refused; \
run by a user: 3 also apppassd unavailable, 4 refused (the sign-in failed, self-service is off, \
or policy forbids what was asked).";

#[derive(Parser, Debug)]
#[command(name = "apppass", version, about = ABOUT, long_about = LONG_ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    /// An SQLite store at PATH (the key file is `key` in the same
    /// directory), whatever the configuration file says [default:
    /// /var/lib/apppass/apppass.db unless the configuration file names
    /// another store]
    #[arg(long, global = true, env = "APPPASS_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// The configuration file naming the store (SQLite or PostgreSQL)
    /// [default: /etc/apppass/apppass.conf when it exists]
    #[arg(long, global = true, env = "APPPASS_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// The self-service socket, for a user managing their own app passwords
    #[arg(
        long,
        global = true,
        env = "APPPASS_SOCKET",
        value_name = "PATH",
        default_value = "/run/apppass/apppassd.sock"
    )]
    pub socket: PathBuf,

    /// Dovecot configuration whose auth cache is flushed after a change
    #[arg(
        long,
        global = true,
        env = "APPPASS_DOVECOT_CONFIG",
        value_name = "FILE"
    )]
    pub dovecot_config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create the store and its key, or migrate an existing store (idempotent)
    #[command(
        long_about = "Create the store directory (0700), the key file (0600) and the \
store (0600), or migrate an existing store to the current schema. Running it again changes \
nothing. The package's post-install runs it. A store is refused next to a key it was not made \
with; if its own key is lost for good, --new-key makes a new one."
    )]
    Init(InitArgs),

    /// Issue a new app password and print it once on stdout
    #[command(
        long_about = "Issue a new app password for USER, usable only for the named PAM \
services, and print it once on stdout (everything else goes to stderr). It cannot be shown \
again: hand it to the client now."
    )]
    Generate(GenerateArgs),

    /// List app passwords (active ones unless --all)
    List(ListArgs),

    /// Revoke app passwords by ID, by label, or all of a user's
    Revoke(RevokeArgs),

    /// Show a user's lifecycle events: generated, revoked, expired, wiped...
    History(HistoryArgs),

    /// Revoke the app passwords of users whose primary password changed
    #[command(
        name = "check-primary",
        long_about = "Compare each user's primary-password fingerprint with the primary \
password now (in /etc/shadow, or in the directory apppass.conf names with 'primary'), as a \
login does, for USER or for every user with an active or suspended app password: a changed \
primary password revokes all of that user's app passwords (reason 'primary password changed'), \
so a reset revokes even the passwords nobody tries. A user without a fingerprint gets one when \
the source gives one. Nothing is revoked because a source did not answer (exit 3; the next run \
checks again), and never because this host's /etc/shadow does not know a user. A fingerprint \
taken from a directory is never handed over to /etc/shadow by itself (a user disabled or moved \
in the directory must not escape a reset there): --retake does it when intended. \
apppass-check-primary.timer runs it every 15 minutes. Root only."
    )]
    CheckPrimary(CheckPrimaryArgs),

    /// Pause an active password: refused at login, kept, still counted
    #[command(
        long_about = "Suspend an active app password of USER, by ID or label: it is refused \
at login until 'apppass resume', keeps its label, services, networks and expiry, and still \
counts toward the limit of active passwords. Dovecot's auth cache is flushed for the user, and \
what is logged in with the password is signed out: Dovecot's connections from the addresses \
it logged in from, and SSH sessions opened with it."
    )]
    Suspend(SuspendArgs),

    /// Let a suspended password log in again
    Resume(SuspendArgs),

    /// Replace a password's secret, keeping its label, services, networks and expiry
    #[command(
        long_about = "Issue a new secret for an active app password of USER and print it \
once on stdout, as generate does. The new password keeps the label, services, networks and \
expiry; the old one is revoked (reason 'rotated') in the same transaction, so exactly one of \
them works at any moment. The new one has a new ID. The old one's sessions end (its IMAP \
connections, its registered PAM sessions), said on stderr: the JSON of --json is the new \
password, printed before the change is kept so that it can never be lost, and so cannot list \
the sessions ended after it."
    )]
    Rotate(RotateArgs),

    /// Check this host's wiring: PAM files, Dovecot, the store's permissions and schema
    #[command(
        long_about = "Read /etc/pam.d, Dovecot's configuration (through doveconf when it is \
installed) and the store's files, and print each problem found with its severity and the fix: \
pam_apppass in common-auth or in a service that gives root or a shell, a 'sufficient' line \
whose following pam_unix lacks try_first_pass, Dovecot's per-protocol PAM service without a \
PAM file for a protocol, unsafe permissions on the store, key or configuration, a missing key, \
Dovecot's auth cache keyed without the client's address, a long auth cache TTL where apppass \
watch does not run, a PostgreSQL host without apppass watch, and a store whose schema is not the one apppass makes (a \
trigger, rule, policy, function or view added, a table changed or missing; read by opening \
the store, as root). Only regular files are read, without blocking and at most 1 MiB each \
(64 KiB of apppass.conf, as pam_apppass): a FIFO, a device, a directory or a larger file \
where a configuration file belongs is itself a finding. \
Exit status 0 when nothing was found, 1 otherwise."
    )]
    Doctor(DoctorArgs),

    /// Sign out, on this host, what a change anywhere took out of service
    #[command(
        long_about = "Run on every host (apppass-watch.service does): follow the store's \
history and, for every app password revoked, wiped, suspended or expired — on this host or on \
any other sharing the store — flush Dovecot's auth cache for its user and end its sessions here \
(Dovecot's connections from the addresses it logged in from, SSH sessions opened with it); and \
do the same within a minute for passwords whose fixed expiry passes. On PostgreSQL it listens \
on the store's channel and acts within a second or two; on SQLite it looks every second. It \
reads the history by ID from where it stopped (kept in --state), so a restart or a lost \
connection misses nothing; it reconnects by itself. Needs root (it signals other users' \
sessions) and only the login role's rights on PostgreSQL."
    )]
    Watch(WatchArgs),

    /// Check a password read from stdin, without recording anything
    #[command(
        long_about = "Read a password from stdin (or prompt without echo on a terminal) \
and check it as the PAM module would for USER and SERVICE. Records no use and revokes nothing. \
Exit status 0 if it is valid, 1 if not."
    )]
    Verify(VerifyArgs),

    /// Reports for moving everyone over to app passwords
    #[command(
        long_about = "`report primary-use` lists who still logged in with the primary password \
where a PAM stack with pam_apppass.so primary_until=... lets it through (the grace period before \
app passwords are required): per user and service, how many times, first and last time (UTC) and \
the client of the last such login, the most recent first. The module counts them in the account \
phase, after pam_unix accepted the password; the same figures appear for one user under \
`apppass list USER`. A user who has moved over stops appearing at the top; one whose last use is \
recent has yet to set up an app password for that service.",
        after_help = "Examples:\n  apppass report primary-use\n  apppass report primary-use --service imap --json"
    )]
    Report(ReportArgs),

    /// Mail account holders what is due now (config notify mail)
    #[command(
        long_about = "Queue the notifications that are due (what the history recorded since \
the last run, passwords ending within 7 days, the primary password still used where app \
passwords become required) and hand every queued mail to the host's MTA (sendmail -t -i, or \
the `sendmail` command apppass.conf names). apppass and apppassd do the same after each \
change; apppass-deliver.timer runs this every five minutes for what happens at logins and with \
time. Each mail is sent once, whichever hosts run it and whenever one is killed; a mail the MTA \
refuses is tried again with backoff and given up a day after it was queued. Nothing when \
notifications are off. On PostgreSQL it needs the store's admin rights (admin_conninfo). \
Exit status 0, or 3 when the store could not be used."
    )]
    Deliver,

    /// Show or change settings
    #[command(
        long_about = "Without arguments, show every setting. `config max-active` shows \
the limit of active passwords per user (default 25); `config max-active N` changes it. \
`config self-service-services` shows the services users may bind their own app passwords to \
(through apppassd); `config self-service-services imap,submission` sets them and turns \
self-service on, `config self-service-services none` turns it off (the default). Services that \
give a shell, root or a desktop are refused. `config idle-expiry 90d` makes a password that was \
not used for 90 days (counted from its creation when never used) stop working, recorded in the \
history as expired (reason idle) at the moment the limit was reached; `config idle-expiry off` \
(the default) turns it off. It is decided at each login; nothing runs in the background. \
`config entitled-group mailusers` lets only members of that group (primary or supplementary, \
through NSS) be given app passwords, by root, apppassd or the web page; a password whose owner \
left the group is refused at login (logged 'not entitled') and listed as not-entitled, and works \
again when they rejoin; users without a passwd entry (virtual mail users) are not concerned. \
`config entitled-group none` (the default) lifts it. \
`config notify mail` mails each account holder what happens to their app passwords: a password \
created (by whom), all revoked at once, all wiped by a primary password change, a revoked one \
presented (once a day per password), one ending within 7 days, the primary password still used \
where app passwords become required (once a week); `config notify off` (the default) stops it. \
Mail goes through the host's MTA (sendmail -t -i, or the `sendmail` command apppass.conf names), \
to the user name when it is an address, else to USER@ the domain of `config notify-domain`, \
else to the local mailbox; `config notify-from` sets From:. `config notify-test USER` sends a \
test mail now. apppass, apppassd and `apppass deliver` send what is due; a refused mail is tried \
again with backoff and given up after a day, and `apppass history` shows what was mailed. \
Without arguments it also shows what apppass.conf says devices are set up with (imap_host, \
smtp_host with port and security, caldav_url, service_name.SVC...): those are changed in \
apppass.conf, not here."
    )]
    Config(ConfigArgs),

    /// Copy the store consistently while it is in use, with its key
    #[command(
        long_about = "Write a consistent copy of the store to FILE through SQLite's online \
backup, and the key file as `key` beside it. Neither is overwritten, and neither is written \
through a symbolic link. Restoring a backup brings back passwords revoked after it was taken: \
revoke them again after a restore. For an SQLite store; back up a PostgreSQL store with \
pg_dump (or apppass export) and its key file."
    )]
    Backup(BackupArgs),

    /// Replace the store and its key with a backup, safely while logins go on
    #[command(
        long_about = "Replace the store with the backup FILE (made by apppass backup) and \
its key with the `key` beside FILE. The backup is checked first (an apppass store, intact, \
made with that key, holding exactly the tables and indexes apppass makes and no trigger or \
view, and only hashes a login accepts); a backup that fails a check is refused with what was \
found, and nothing is changed. Its contents are then written into the live store in one transaction, \
so logins going on meanwhile see the old store or the restored one, never a mixture of the \
backup and the live store's write-ahead log. A live store that cannot be opened is moved \
aside as STORE.replaced-TIME, a different live key is kept as key.replaced-TIME. Passwords \
revoked since the backup was taken are active again: the command lists them, with the command \
that revokes them."
    )]
    Restore(RestoreArgs),

    /// Write the whole store (hashes included) as JSON to a new file, 0600
    #[command(
        long_about = "Write every password (with its hash, so it keeps working), the history, the primary-password fingerprints and the settings to FILE as JSON, mode 0600. FILE must not exist. Counts of what happens meanwhile are left out: self-service sign-in failures, and the primary-password logins `report primary-use` shows (they start again from nothing in the new store). The key is not in it: copy the key file beside the store you import into. Works for every kind of store; with `apppass import` it moves a store from SQLite to PostgreSQL or back."
    )]
    Export(TransferArgs),

    /// Load an export into an empty store (SQLite or PostgreSQL)
    #[command(
        long_about = "Load FILE, written by apppass export, into the configured store, which must be empty (just made with apppass init), in one transaction: IDs, hashes, history, fingerprints and settings come across unchanged. Every entry is checked first, as generate checks a new password (user names, labels without control characters, services, networks) and as a login checks a hash (argon2id within m=19456..65536 KiB, t=2..10, p=1); the first entry refused is named and nothing is imported. Copy the old store's key file beside the new store first (or run init there with that key in place): the fingerprints were made with it."
    )]
    Import(TransferArgs),
}

#[derive(Args, Debug)]
pub struct TransferArgs {
    /// The export file
    pub file: PathBuf,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// The key is lost for good: make a new one and revoke the app passwords
    /// whose primary-password fingerprint it keyed
    #[arg(long)]
    pub new_key: bool,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The backup to restore; its key is `key` in the same directory
    pub file: PathBuf,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// User name exactly as PAM receives it (alice, or alice@example.org);
    /// left out by a user making their own
    pub user: Option<String>,

    /// PAM service the password is for (repeatable): imap, pop3, sshd...
    #[arg(
        long = "service",
        value_name = "SVC",
        required_unless_present = "any_service",
        conflicts_with = "any_service"
    )]
    pub services: Vec<String>,

    /// Any service except those that give root, a shell or a desktop, unlock a screen or change the account (listed below)
    #[arg(long, long_help = any_service_help())]
    pub any_service: bool,

    /// Name of the client, unique among the user's active passwords
    #[arg(long, value_name = "TEXT")]
    pub label: String,

    /// Lifetime (12h, 90d, 2w) or last valid day (2027-01-31, UTC)
    #[arg(long, value_name = "WHEN")]
    pub expires: Option<String>,

    /// Log in only from this network (repeatable): 192.0.2.0/24,
    /// 2001:db8::/32, or one address. Matched against the client address
    /// the service gives PAM (PAM_RHOST); a host name or no address is
    /// refused
    #[arg(long = "from", value_name = "CIDR")]
    pub from: Vec<String>,

    /// Allow a user with no passwd entry (a virtual mail user)
    #[arg(long = "virtual")]
    pub virtual_user: bool,

    /// Allow a password for uid 0
    #[arg(long)]
    pub allow_root: bool,

    /// Print a JSON object instead of the bare password
    #[arg(long)]
    pub json: bool,

    /// Also write a configuration profile for Apple devices (mail,
    /// calendars, contacts, with the password inside) to FILE: new, mode
    /// 0600, never over an existing file. The servers come from
    /// apppass.conf (imap_host, smtp_host, caldav_url...)
    #[arg(long, value_name = "FILE")]
    pub profile: Option<std::path::PathBuf>,
}

#[derive(Args, Debug)]
pub struct CheckPrimaryArgs {
    /// Only this user (default: every user with an active or suspended password)
    pub user: Option<String>,

    /// Print a JSON array, one object per user checked: user, result
    /// (unchanged, wiped, taken, retaken, no-fingerprint, locked, gone or
    /// not-checked), revoked, source, why, sessions_ended
    #[arg(long)]
    pub json: bool,

    /// Take every fingerprint again from what the source gives now and
    /// revoke nothing: run it right after moving users from a directory to
    /// /etc/shadow, or after changing ldap_attribute, ldap_filter,
    /// ldap_base or dovecot_primary_field (which would otherwise look like
    /// every user's primary password changed)
    #[arg(long)]
    pub retake: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only this user's passwords
    pub user: Option<String>,

    /// Include revoked and expired passwords (and when each was last
    /// presented after it stopped working)
    #[arg(long)]
    pub all: bool,

    /// Print a JSON array
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
// One of ID, --label, --all: checked by the command, since a user revoking
// their own gives the ID where the administrator gives USER.
#[command(group(clap::ArgGroup::new("which").args(["id", "label", "all"])))]
pub struct RevokeArgs {
    /// Whose password; left out by a user revoking their own
    pub user: Option<String>,

    /// ID of the password (see `apppass list`)
    pub id: Option<i64>,

    /// Label of the password (case is ignored)
    #[arg(long, value_name = "TEXT")]
    pub label: Option<String>,

    /// Every unrevoked password of the user
    #[arg(long)]
    pub all: bool,

    /// Why, for the history (default: "revoked by administrator")
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,

    /// Print a JSON object: the passwords revoked and the sessions ended
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct WhichArgs {
    /// Whose password; left out by a user changing their own
    pub user: Option<String>,

    /// ID of the password (see `apppass list`)
    pub id: Option<i64>,

    /// Label of the password (case is ignored)
    #[arg(long, value_name = "TEXT", conflicts_with = "id")]
    pub label: Option<String>,
}

#[derive(Args, Debug)]
pub struct SuspendArgs {
    #[command(flatten)]
    pub which: WhichArgs,

    /// Print a JSON object: the password, its status and the sessions ended
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RotateArgs {
    #[command(flatten)]
    pub which: WhichArgs,

    /// Print a JSON object instead of the bare password
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// Catch up once and leave, instead of watching until stopped
    #[arg(long)]
    pub once: bool,

    /// Where the position in the history is kept across restarts
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/var/lib/apppass/watch.position"
    )]
    pub state: PathBuf,

    /// Where the running watcher writes its PID (apppass doctor reads it)
    #[arg(long, value_name = "FILE", default_value = apppass_core::watch::PID_FILE)]
    pub pid_file: PathBuf,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Read the files under DIR as if DIR were / (to check another root,
    /// or a test tree)
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Print a JSON array of findings
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Whose history; left out by a user reading their own
    pub user: Option<String>,

    /// Print a JSON array
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub report: Report,
}

#[derive(Subcommand, Debug)]
pub enum Report {
    /// Who still logs in with the primary password, where, and when last
    PrimaryUse(PrimaryUseArgs),
}

#[derive(Args, Debug)]
pub struct PrimaryUseArgs {
    /// Only logins to this PAM service
    #[arg(long, value_name = "SERVICE")]
    pub service: Option<String>,

    /// Print a JSON array
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    pub user: String,

    /// PAM service to check against
    #[arg(long, value_name = "SVC")]
    pub service: String,
}

#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Setting to show or change
    pub name: Option<Setting>,

    /// New value: a number for max-active; SVC,SVC... or none for
    /// self-service-services; a duration (90d, 12h, 26w) or off for
    /// idle-expiry; mail or off for notify; an address, a domain or none
    /// for notify-from and notify-domain; the user for notify-test
    pub value: Option<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// Most active passwords per user
    MaxActive,
    /// Services users may choose for their own app passwords (none: off)
    SelfServiceServices,
    /// Passwords unused this long stop working (off by default)
    IdleExpiry,
    /// Only members of this group may have app passwords (none: everyone)
    EntitledGroup,
    /// Mail account holders about their app passwords: mail or off
    Notify,
    /// The From: address of those mails (none: the MTA's default)
    NotifyFrom,
    /// The domain of users named without one (none: their local mailbox)
    NotifyDomain,
    /// Send USER a test mail now
    NotifyTest,
}

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Where to write the copy; must not exist
    pub file: PathBuf,
}

/// The clap command, for man pages and completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// `--any-service` in full: the list comes from the one place that decides.
fn any_service_help() -> String {
    format!(
        "Any service except those that give root, a shell or a desktop session, unlock a screen \
or change the account; a password for one of them must name it with --service. Never matched \
by --any-service: {}. Never matched at all, not even named: {} (where users manage their own \
app passwords).",
        apppass_core::policy::PRIVILEGED_SERVICES.join(", "),
        apppass_core::policy::SELF_SERVICE_SERVICES.join(", ")
    )
}
