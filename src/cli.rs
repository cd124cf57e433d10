//! Output helpers for the `freshgate` command's subcommands.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

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
