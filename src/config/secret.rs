//! Validation of the HMAC secret (`secret`, `secret_env`, `secret_file`): at most one source,
//! never empty, and a warning when it is weak.

use std::ops::Range;

use toml::Spanned;

use super::raw::RawJwt;
use super::{Secret, Validator};

/// Secrets a dictionary attack tries first (jwt_tool's and hashcat's short lists, the
/// placeholders of popular tutorials).
const COMMON_SECRETS: &[&str] = &[
    "secret",
    "secretkey",
    "secret_key",
    "secret-key",
    "mysecret",
    "my_secret",
    "my-secret",
    "supersecret",
    "super-secret",
    "topsecret",
    "changeme",
    "change-me",
    "change_me",
    "password",
    "passw0rd",
    "jwt",
    "jwtsecret",
    "jwt_secret",
    "jwt-secret",
    "key",
    "test",
    "testing",
    "admin",
    "default",
    "s3cret",
    "s3cr3t",
    "123456",
    "12345678",
    "qwerty",
    "your-256-bit-secret",
    "your_secret_key",
    "your-secret-key",
    "yoursecretkey",
    "shhhhh",
    "keyboard cat",
    "hello",
    "example",
    "demo",
    "dev",
    "development",
    "production",
    "fastapi",
    "flask",
    "django-insecure",
];

impl Validator<'_> {
    /// At most one of `secret`, `secret_env`, `secret_file`. `Some(None)`: none configured.
    pub(super) fn secret(&mut self, raw: &RawJwt) -> Option<Option<Secret>> {
        let sources: Vec<(&str, &Spanned<String>)> = [
            ("secret", &raw.secret),
            ("secret_env", &raw.secret_env),
            ("secret_file", &raw.secret_file),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
        .collect();
        let (key, value) = match sources.as_slice() {
            [] => return Some(None),
            [one] => *one,
            [_, (second, v), ..] => {
                self.err(
                    v.span(),
                    format!("jwt.{second}"),
                    "several secret sources are configured",
                    "set exactly one of secret, secret_env or secret_file in [jwt]",
                );
                return None;
            }
        };
        let bytes = self.secret_bytes(key, value.get_ref());
        match bytes {
            Ok(b) if b.is_empty() => {
                self.err(
                    value.span(),
                    format!("jwt.{key}"),
                    "the secret is empty",
                    "use a long random secret, the same one the app signs with",
                );
                None
            }
            Ok(b) => {
                self.weak_secret(&b, raw, value.span(), key);
                Some(Some(Secret(b)))
            }
            Err((message, fix)) => {
                self.err(value.span(), format!("jwt.{key}"), message, fix);
                None
            }
        }
    }

    /// Warns (never refuses: running apps have such secrets) about an HMAC secret shorter than
    /// the hash output of the strongest configured HS algorithm (RFC 7518 section 3.2: 32 bytes
    /// for HS256) or found in a list of common secrets that a dictionary attack tries first.
    fn weak_secret(&mut self, secret: &[u8], raw: &RawJwt, span: Range<usize>, key: &str) {
        let needed = raw
            .algorithms
            .as_ref()
            .map_or(&[][..], |a| a.get_ref().as_slice())
            .iter()
            .filter_map(|a| match a.get_ref().as_str() {
                "HS256" => Some(32),
                "HS384" => Some(48),
                "HS512" => Some(64),
                _ => None,
            })
            .max()
            .unwrap_or(32);
        let lower = String::from_utf8_lossy(secret).to_ascii_lowercase();
        let message = if COMMON_SECRETS.contains(&lower.as_str()) {
            "the secret is a common one that a dictionary attack finds at once".to_owned()
        } else if secret.len() < needed {
            format!(
                "the secret is {} bytes, shorter than the {needed} bytes RFC 7518 section 3.2 requires for the configured HMAC algorithm",
                secret.len()
            )
        } else {
            return;
        };
        let fix = "use at least 32 random bytes (e.g. `openssl rand -base64 48`), the same secret the app signs with";
        let warning = self.src.error(span, format!("jwt.{key}"), message, fix);
        self.warnings.push(warning);
    }

    /// The secret's bytes from `secret`, `secret_env` or `secret_file`; `Err` is the message
    /// and the fix.
    fn secret_bytes(&self, key: &str, value: &str) -> Result<Vec<u8>, (String, &'static str)> {
        match key {
            "secret" => Ok(value.as_bytes().to_vec()),
            "secret_env" => std::env::var(value).map(String::into_bytes).map_err(|_| {
                (
                    format!("the environment variable {value:?} is not set or not UTF-8"),
                    "export the variable before starting freshgate, or use secret_file",
                )
            }),
            _ => {
                let path = self.resolve(value);
                let mut bytes = crate::fs::read_file(&path, 64 << 10).map_err(|e| {
                    (
                        format!("cannot read {}: {e}", path.display()),
                        "point secret_file at a readable file (relative paths are relative to the config file)",
                    )
                })?;
                // A trailing line break is an artefact of editors and `echo`, not part of the
                // secret.
                while bytes.last().is_some_and(|c| *c == b'\n' || *c == b'\r') {
                    bytes.pop();
                }
                Ok(bytes)
            }
        }
    }
}
