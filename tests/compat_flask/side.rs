//! Both sides of a table with the same settings: the reference app (tests/compat_flask/app.py in
//! its own virtualenv) with `JWT_*` environment variables, and freshgate with
//! `profile = "flask-jwt-extended"` and the matching `[jwt]` lines, in front of the echo upstream.

use tempfile::TempDir;

use crate::app::App;
use crate::case::Case;
use crate::gateway::Stack;
use crate::judge::{assert_cases_of, Library};
use crate::library::FLASK_JWT_EXTENDED;
use crate::venv::venv_python_from;

/// One setting on both sides: the app's environment variable and the gateway's `[jwt]` line.
pub struct Setting {
    env: (&'static str, String),
    toml: String,
    /// The body key it makes the library answer with ([`error_message_key`]).
    message_key: Option<&'static str>,
}

fn setting(env: &'static str, value: impl Into<String>, toml: impl Into<String>) -> Setting {
    Setting {
        env: (env, value.into()),
        toml: toml.into(),
        message_key: None,
    }
}

/// A TOML list of strings.
fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("{item:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

/// `JWT_TOKEN_LOCATION` / `token_location`, in this order.
pub fn token_location(locations: &[&str]) -> Setting {
    setting(
        "JWT_TOKEN_LOCATION",
        locations.join(","),
        format!("token_location = {}", list(locations)),
    )
}

/// `JWT_COOKIE_CSRF_PROTECT` / `csrf_protect`.
pub fn csrf_protect(on: bool) -> Setting {
    setting(
        "JWT_COOKIE_CSRF_PROTECT",
        on.to_string(),
        format!("csrf_protect = {on}"),
    )
}

/// `JWT_ACCESS_CSRF_HEADER_NAME` / `access_csrf_header`.
pub fn access_csrf_header(name: &str) -> Setting {
    setting(
        "JWT_ACCESS_CSRF_HEADER_NAME",
        name,
        format!("access_csrf_header = {name:?}"),
    )
}

/// `JWT_REFRESH_CSRF_HEADER_NAME` / `refresh_csrf_header`.
pub fn refresh_csrf_header(name: &str) -> Setting {
    setting(
        "JWT_REFRESH_CSRF_HEADER_NAME",
        name,
        format!("refresh_csrf_header = {name:?}"),
    )
}

/// `JWT_DECODE_ISSUER` / `issuer`; the app also writes it into the tokens it issues.
pub fn issuer(issuer: &str) -> [Setting; 2] {
    [
        setting("JWT_DECODE_ISSUER", issuer, format!("issuer = {issuer:?}")),
        setting("JWT_ENCODE_ISSUER", issuer, ""),
    ]
}

/// `JWT_DECODE_AUDIENCE` / `audience`; the app also writes the first into the tokens it issues.
pub fn audience(audiences: &[&str]) -> [Setting; 2] {
    [
        setting(
            "JWT_DECODE_AUDIENCE",
            audiences.join(","),
            format!("audience = {}", list(audiences)),
        ),
        setting("JWT_ENCODE_AUDIENCE", audiences[0], ""),
    ]
}

/// `JWT_DECODE_LEEWAY` / `leeway`, in seconds.
pub fn leeway(seconds: u32) -> Setting {
    setting(
        "JWT_DECODE_LEEWAY",
        seconds.to_string(),
        format!("leeway = \"{seconds}s\""),
    )
}

/// `JWT_ERROR_MESSAGE_KEY` / `error_message_key`.
pub fn error_message_key(key: &'static str) -> Setting {
    Setting {
        message_key: Some(key),
        ..setting(
            "JWT_ERROR_MESSAGE_KEY",
            key,
            format!("error_message_key = {key:?}"),
        )
    }
}

/// `JWT_HEADER_NAME` / `header_name`.
pub fn header_name(name: &str) -> Setting {
    setting("JWT_HEADER_NAME", name, format!("header_name = {name:?}"))
}

/// `JWT_HEADER_TYPE` / `header_type` (may be empty: no type word).
pub fn header_type(word: &str) -> Setting {
    setting("JWT_HEADER_TYPE", word, format!("header_type = {word:?}"))
}

/// `JWT_QUERY_STRING_NAME` / `query_string_name`.
pub fn query_string_name(name: &str) -> Setting {
    setting(
        "JWT_QUERY_STRING_NAME",
        name,
        format!("query_string_name = {name:?}"),
    )
}

/// The app's `token_in_blocklist_loader` and the gateway's `denylist_file` revoke these `jti`s.
/// The file is written when the sides start.
pub fn revoked(jtis: &[&str]) -> Setting {
    setting("COMPAT_REVOKED_JTIS", jtis.join(","), "")
}

/// The app and the gateway, started with the same settings.
pub struct Sides {
    pub app: App,
    pub stack: Stack,
    library: Library,
    _denylist: Option<TempDir>,
}

impl Sides {
    pub async fn start(settings: Vec<Setting>) -> Sides {
        let python = venv_python_from(
            "tests/compat_flask/requirements.txt",
            "target/compat-venv-flask",
        );
        let env: Vec<(&str, &str)> = settings
            .iter()
            .map(|s| (s.env.0, s.env.1.as_str()))
            .collect();
        let app = App::start_with(&python, "tests/compat_flask/app.py", &env).await;
        let mut lines = vec!["profile = \"flask-jwt-extended\"".to_string()];
        lines.extend(
            settings
                .iter()
                .filter(|s| !s.toml.is_empty())
                .map(|s| s.toml.clone()),
        );
        let denylist = denylist(&settings, &mut lines);
        let stack = Stack::start(&lines.join("\n")).await;
        let library = Library {
            message_key: settings
                .iter()
                .find_map(|s| s.message_key)
                .unwrap_or(FLASK_JWT_EXTENDED.message_key),
            ..FLASK_JWT_EXTENDED
        };
        Sides {
            app,
            stack,
            library,
            _denylist: denylist,
        }
    }

    /// Sends every case of the `suite` table to both sides; every case must be judged right.
    pub async fn judge(&self, suite: &str, cases: Vec<Case>) {
        assert_cases_of(&self.library, suite, &self.app, &self.stack, cases).await;
    }
}

/// With [`revoked`] among the settings: the gateway's denylist file (and its `[jwt]` line).
fn denylist(settings: &[Setting], lines: &mut Vec<String>) -> Option<TempDir> {
    let jtis = settings.iter().find(|s| s.env.0 == "COMPAT_REVOKED_JTIS")?;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("revoked.txt");
    std::fs::write(&path, jtis.env.1.replace(',', "\n") + "\n").expect("write the denylist");
    lines.push(format!("denylist_file = {:?}", path.display().to_string()));
    Some(dir)
}
