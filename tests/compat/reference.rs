//! The reference app of this suite, for the topic files several suites share (each suite has a
//! `reference` module: here fastapi-jwt-auth 0.5.0's tests/compat/app.py).

use crate::app::App;

/// Starts the suite's reference app with the shared secret plus `env`.
pub async fn start(env: &[(&str, &str)]) -> App {
    App::start(env).await
}

/// Starts another app of the suite (`script` in tests/compat, following app.py's conventions).
pub async fn start_script(script: &str, env: &[(&str, &str)]) -> App {
    App::start_script(script, env).await
}

/// The `[jwt]` line naming this suite's profile: none, the default.
pub fn profile_line() -> String {
    String::new()
}
