//! Output helpers for the `freshgate` command's subcommands.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use crate::config::Snapshot;

/// Prints a command's output, or its error naming the config file.
pub fn printed(path: &Path, result: Result<String, String>) -> ExitCode {
    match result {
        Ok(text) => {
            print_out(&text);
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{}: {message}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// Writes to standard output; a closed pipe (`freshgate check | head -1`) is not an error.
pub fn print_out(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// `freshgate check`: the route table, and with `--online` every remote key set fetched once.
pub fn check(path: &Path, snapshot: &Snapshot, online: bool) -> ExitCode {
    print_out(&crate::explain::route_table(path, snapshot));
    if !online {
        return ExitCode::SUCCESS;
    }
    let (report, ok) = crate::keys::fetch_all_now(snapshot);
    print_out(&report);
    match ok {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    }
}

/// The request `freshgate explain` explains.
#[derive(Debug)]
pub struct Explain<'a> {
    pub method: &'a str,
    pub url: &'a str,
    pub token: Option<&'a str>,
    pub headers: &'a [String],
    /// Look the token up in the `[revocation]` store (not `--no-revocation`).
    pub revocation: bool,
}

/// `freshgate explain`: exit 0 when the request would be forwarded, 1 when rejected, 2 on a
/// usage error.
pub fn explain(snapshot: &Snapshot, request: &Explain<'_>) -> ExitCode {
    // Remote keys are fetched once so they can verify the token (failures are logged).
    if !snapshot.auth.decoder().remotes().is_empty() {
        let _ = crate::keys::fetch_all_now(snapshot);
    }
    let now = crate::clock::now_ms();
    let r = request;
    let report = crate::explain::explain_with(
        snapshot,
        r.method,
        r.url,
        r.token,
        r.headers,
        now,
        r.revocation,
    );
    match report {
        Ok(report) => {
            print_out(&report.to_string());
            ExitCode::from(u8::from(!report.forwarded()))
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}
