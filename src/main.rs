//! The `freshgate` command: parse the command line, set up logging, hand over to the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use freshgate::cli::{self, printed};
use freshgate::revocation::{self, RevokeTarget};
use freshgate::runtime::load;
use freshgate::{clock, config, runtime, token};

/// An edge gateway that enforces fastapi-jwt-auth's fresh-token policies.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// The config file.
    #[arg(long, global = true, default_value = "gateway.toml")]
    config: PathBuf,
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the gateway (the default).
    Serve,
    /// Validate the config and print the route table in the order it is matched.
    Check {
        /// Also fetch every remote key set (jwks_url, oidc_issuer) once and report what came.
        #[arg(long)]
        online: bool,
    },
    /// Show what freshgate would do with a request, without serving or contacting an upstream.
    /// Exits 0 when the request would be forwarded, 1 when it would be rejected.
    Explain {
        /// The request method, e.g. GET.
        method: String,
        /// The request target: a path with optional query (`/a?b=1`) or an absolute URL.
        url: String,
        /// A token, sent as `Authorization: Bearer <token>` (or the configured header/type).
        #[arg(long)]
        token: Option<String>,
        /// An extra request header, `'Name: value'`; repeatable.
        #[arg(long = "header", value_name = "NAME: VALUE")]
        headers: Vec<String>,
        /// Do not ask the `[revocation]` store (offline); the token counts as not revoked there.
        #[arg(long)]
        no_revocation: bool,
    },
    /// Revoke a token (until its exp), a jti, or every token of a subject issued until now
    /// (`--subject S --all`), in the `[revocation]` store.
    #[command(group(clap::ArgGroup::new("what").required(true)))]
    Revoke {
        #[arg(long, group = "what")]
        token: Option<String>,
        #[arg(long, group = "what")]
        jti: Option<String>,
        #[arg(long, group = "what", requires = "all")]
        subject: Option<String>,
        #[arg(long, requires = "subject")]
        all: bool,
    },
    /// Print a token signed with the configured secret, with fastapi-jwt-auth's claims.
    Token {
        /// The `sub` claim.
        #[arg(long)]
        sub: String,
        /// Mint a refresh token instead of an access token.
        #[arg(long, conflicts_with = "fresh")]
        refresh: bool,
        /// Mark the access token fresh, as `/login` does.
        #[arg(long)]
        fresh: bool,
        /// Lifetime, e.g. 15m, 1h, 30d (default 15m for access, 30d for refresh).
        #[arg(long, value_parser = config::parse_duration)]
        expires_in: Option<Duration>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Kept to the end of main: dropping it flushes the buffered log lines.
    let _logs = freshgate::logging::init(matches!(cli.log_format, LogFormat::Json));
    let path = cli.config.as_path();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => runtime::serve(path),
        Command::Check { online } => with_snapshot(path, |s| cli::check(path, s, online)),
        Command::Explain {
            method,
            url,
            token,
            headers,
            no_revocation,
        } => with_snapshot(path, |snapshot| {
            let request = cli::Explain {
                method: &method,
                url: &url,
                token: token.as_deref(),
                headers: &headers,
                revocation: !no_revocation,
            };
            cli::explain(snapshot, &request)
        }),
        Command::Revoke {
            token,
            jti,
            subject,
            ..
        } => with_snapshot(path, |snapshot| {
            let target = RevokeTarget::of(token, jti, subject);
            printed(path, revocation::revoke(snapshot, &target, clock::now_ms()))
        }),
        Command::Token {
            sub,
            refresh,
            fresh,
            expires_in,
        } => with_snapshot(path, |snapshot| {
            let minted = token::mint(snapshot, sub, refresh, fresh, expires_in);
            printed(path, minted.map(|token| format!("{token}\n")))
        }),
    }
}

/// Runs `command` on the loaded config; an invalid config has printed its errors.
fn with_snapshot(path: &Path, command: impl FnOnce(&freshgate::Snapshot) -> ExitCode) -> ExitCode {
    match load(path).1 {
        Some(snapshot) => command(&snapshot),
        None => ExitCode::FAILURE,
    }
}
