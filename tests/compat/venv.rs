//! The virtualenvs the reference apps run in: `python3 -m venv target/<venv>` and
//! `pip install -r <requirements>`, once per process and venv, skipped when the venv's marker
//! file matches the requirements. Each library pins its own PyJWT, so each suite has its own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

pub fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The interpreter of fastapi-jwt-auth 0.5.0's venv (tests/compat/requirements.txt).
pub fn venv_python() -> PathBuf {
    venv_python_from("tests/compat/requirements.txt", "target/compat-venv")
}

/// The interpreter of the venv `venv_dir` (relative to the crate) installed from
/// `requirements` (relative to the crate), installing it the first time in this process.
/// Panics with the reason when the setup fails: CI must run these suites, so they never skip.
pub fn venv_python_from(requirements: &'static str, venv_dir: &'static str) -> PathBuf {
    static PYTHONS: OnceLock<Mutex<HashMap<&'static str, Result<PathBuf, String>>>> =
        OnceLock::new();
    let mut pythons = PYTHONS.get_or_init(Mutex::default).lock().unwrap();
    let set_up = pythons
        .entry(venv_dir)
        .or_insert_with(|| set_up_venv(requirements, venv_dir));
    match set_up {
        Ok(python) => python.clone(),
        Err(why) => panic!("setting up the virtualenv {venv_dir} failed: {why}"),
    }
}

fn set_up_venv(requirements_file: &str, venv_dir: &str) -> Result<PathBuf, String> {
    let root = manifest_dir();
    let requirements_path = root.join(requirements_file);
    let requirements = std::fs::read_to_string(&requirements_path)
        .map_err(|e| format!("cannot read {}: {e}", requirements_path.display()))?;
    let venv = root.join(venv_dir);
    let python = venv.join("bin/python");
    let marker = venv.join("freshgate-compat-installed.txt");
    // The marker holds the exact requirements text it was installed from (a stable "hash"):
    // any edit to the requirements file reinstalls.
    let wanted_marker = format!("installed from {requirements_file}:\n{requirements}");
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
