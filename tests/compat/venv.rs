//! The virtualenv the reference app runs in: `python3 -m venv target/compat-venv` and
//! `pip install -r tests/compat/requirements.txt`, once per process, skipped when the venv's
//! marker file matches the requirements.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's interpreter, installing the venv the first time in this process. Panics with the
/// reason when the setup fails: CI must run this suite, so it never skips.
pub fn venv_python() -> PathBuf {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(set_up_venv) {
        Ok(python) => python.clone(),
        Err(why) => panic!("setting up the compat virtualenv failed: {why}"),
    }
}

fn set_up_venv() -> Result<PathBuf, String> {
    let root = manifest_dir();
    let requirements_path = root.join("tests/compat/requirements.txt");
    let requirements = std::fs::read_to_string(&requirements_path)
        .map_err(|e| format!("cannot read {}: {e}", requirements_path.display()))?;
    let venv = root.join("target/compat-venv");
    let python = venv.join("bin/python");
    let marker = venv.join("freshgate-compat-installed.txt");
    // The marker holds the exact requirements text it was installed from (a stable "hash"):
    // any edit to requirements.txt reinstalls.
    let wanted_marker = format!("installed from tests/compat/requirements.txt:\n{requirements}");
    if python.exists() && std::fs::read_to_string(&marker).ok().as_deref() == Some(&wanted_marker) {
        return Ok(python);
    }
    let creator = std::env::var("FRESHGATE_COMPAT_PYTHON").unwrap_or_else(|_| "python3".into());
    run(
        Command::new(&creator)
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
        &format!("{creator} -m venv --clear {}", venv.display()),
    )?;
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "-r",
            ])
            .arg(&requirements_path),
        &format!(
            "{} -m pip install -r {}",
            python.display(),
            requirements_path.display()
        ),
    )?;
    std::fs::write(&marker, &wanted_marker)
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    Ok(python)
}

fn run(command: &mut Command, shown: &str) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`{shown}` could not start: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "`{shown}` failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}
