//! Config errors that say where (file, line, column), which key, what is wrong and the fix.

use std::fmt;
use std::ops::Range;

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The key as it would be written in TOML, e.g. `route[2].policy`.
    pub key: String,
    pub message: String,
    pub fix: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.key, self.message
        )?;
        if !self.fix.is_empty() {
            write!(f, "\n  fix: {}", self.fix)?;
        }
        Ok(())
    }
}

/// Every problem found in one file; `check` prints them all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// The text of a config file, for turning byte spans into line and column.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    /// 1-based line and column (in characters) of a byte offset.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    pub fn error(
        &self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = self.position(span.start);
        ConfigError {
            file: self.name.to_owned(),
            line,
            column,
            key: key.into(),
            message: message.into(),
            fix: fix.into(),
        }
    }

    /// A TOML syntax or type error from the parser, which already names the problem.
    pub fn from_toml(&self, err: &toml::de::Error) -> ConfigError {
        let span = err.span().unwrap_or(0..0);
        let key = self.key_at(span.start);
        let message = err.message().trim().to_owned();
        let fix = fix_for_toml_message(&message);
        self.error(span, key, message, fix)
    }

    /// The key written on the line of `offset`, qualified by its table (`jwt.secrte`,
    /// `route[2].polcy`): good enough to name the key in parser errors, which carry only a
    /// span.
    fn key_at(&self, offset: usize) -> String {
        let offset = offset.min(self.text.len());
        let line_start = self.text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let line_end = self.text[offset..]
            .find('\n')
            .map_or(self.text.len(), |i| offset + i);
        let line = self.text[line_start..line_end].trim();
        let key = match line.split_once('=') {
            Some((key, _)) => key.trim(),
            None if line.is_empty() => "(document)",
            None => return line.to_owned(),
        };
        let mut table = String::new();
        let mut routes = 0;
        for header in self.text[..line_start].lines().map(str::trim) {
            if header == "[[route]]" {
                routes += 1;
                table = format!("route[{routes}]");
            } else if let Some(name) = header.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
                table = name.trim().to_owned();
            }
        }
        match table.is_empty() {
            true => key.to_owned(),
            false => format!("{table}.{key}"),
        }
    }
}

fn fix_for_toml_message(message: &str) -> String {
    if message.starts_with("unknown field") {
        "remove the key or correct its spelling (keys are listed in the README's config reference)"
            .into()
    } else if message.starts_with("missing field") {
        "add the key".into()
    } else if message.starts_with("invalid type") {
        "write the value with the type named above".into()
    } else {
        "correct the TOML syntax at this position".into()
    }
}

#[cfg(test)]
mod tests {
    use super::Source;

    #[test]
    fn positions_are_one_based_lines_and_character_columns() {
        let src = Source {
            name: "x.toml",
            text: "a = 1\nbé = 2\n",
        };
        assert_eq!(src.position(0), (1, 1), "start of file");
        assert_eq!(src.position(6), (2, 1), "start of line 2");
        assert_eq!(src.position(10), (2, 4), "after a two-byte character");
    }
}
