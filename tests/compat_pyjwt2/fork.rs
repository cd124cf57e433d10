//! The reference app: tests/compat_pyjwt2/app.py (async-fastapi-jwt-auth 0.6.6 on PyJWT 2.15.1),
//! run by tests/compat's [`App`] from its own virtualenv.

use crate::app::App;
pub use crate::gateway::profile_line;
use crate::venv::venv_python_from;

/// The fork's requirements and the virtualenv they are installed into.
const REQUIREMENTS: &str = "tests/compat_pyjwt2/requirements.txt";
const VENV: &str = "target/compat-venv-pyjwt2";

/// Starts the fork's app with the shared secret plus `env` (the settings tests/compat/app.py
/// reads), and waits until it answers.
pub async fn start(env: &[(&str, &str)]) -> App {
    start_script("app.py", env).await
}

/// Starts another app of tests/compat_pyjwt2 (`script`, following app.py's conventions).
pub async fn start_script(script: &str, env: &[(&str, &str)]) -> App {
    let python = venv_python_from(REQUIREMENTS, VENV);
    App::start_with(&python, &format!("tests/compat_pyjwt2/{script}"), env).await
}
