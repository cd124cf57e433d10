//! Logging setup for the `freshgate` command: the filter from `RUST_LOG` (default `info`),
//! text or JSON lines on standard error.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; `json` picks JSON lines over text.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour only for a terminal: journald and log files must not fill with escape codes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match json {
        false => builder.init(),
        true => builder.json().init(),
    }
}
