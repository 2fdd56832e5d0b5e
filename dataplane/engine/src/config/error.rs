//! Configuration errors: one line naming the file, the key and the fix.

use std::path::{Path, PathBuf};

use super::*;

/// The name used in messages when the configuration did not come from a file.
const UNNAMED: &str = "relay.toml";

/// Why a configuration was refused. Every message is one line that names the
/// file (when known), the key and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// TOML syntax or a value of the wrong type or form; `key` is the dotted
    /// path toml reports for it (absent for pure syntax errors).
    #[error(
        "{}: line {line}, column {column}: {}{message}",
        file_label(.file.as_deref()),
        key_label(.key.as_deref())
    )]
    Syntax {
        file: Option<PathBuf>,
        line: usize,
        column: usize,
        key: Option<String>,
        message: String,
    },
    /// A value that parses but breaks a rule (checked by [`Config::validate`]).
    #[error("relay.toml: {key}: {message}")]
    Invalid { key: String, message: String },
    /// [`ConfigError::Invalid`] for a configuration loaded from `path`.
    #[error("{}: {key}: {message}", .path.display())]
    InvalidIn {
        path: PathBuf,
        key: String,
        message: String,
    },
}

pub(super) fn file_label(f: Option<&Path>) -> String {
    f.map_or_else(|| UNNAMED.to_owned(), |p| p.display().to_string())
}

pub(super) fn key_label(k: Option<&str>) -> String {
    k.map(|k| format!("{k}: ")).unwrap_or_default()
}

impl ConfigError {
    /// The dotted key the error is about (`sixto4.unicast_addr`), if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Syntax { key, .. } => key.as_deref(),
            ConfigError::Invalid { key, .. } | ConfigError::InvalidIn { key, .. } => Some(key),
        }
    }

    /// Attach the file the configuration came from.
    pub fn in_file(self, path: &Path) -> ConfigError {
        match self {
            ConfigError::Syntax {
                line,
                column,
                key,
                message,
                ..
            } => ConfigError::Syntax {
                file: Some(path.to_owned()),
                line,
                column,
                key,
                message,
            },
            ConfigError::Invalid { key, message } | ConfigError::InvalidIn { key, message, .. } => {
                ConfigError::InvalidIn {
                    path: path.to_owned(),
                    key,
                    message,
                }
            }
            e @ ConfigError::Read { .. } => e,
        }
    }

    pub(super) fn from_toml(src: &str, e: &toml::de::Error) -> ConfigError {
        let (line, column) = e.span().map_or((1, 1), |r| line_column(src, r.start));
        let msg = e.message();
        let field = backticked_after(msg, "unknown field ")
            .or_else(|| backticked_after(msg, "missing field "));
        let key = match (toml_key_path(src), field) {
            (Some(parent), Some(f)) => Some(format!("{parent}.{f}")),
            (None, Some(f)) => Some(f.to_owned()),
            (parent, None) => parent,
        };
        let mut message = if msg.contains("untagged enum TosRepr") {
            "not a TOS policy: use \"copy\", \"compat\" or a number 0..=255".to_owned()
        } else {
            msg.split('\n').collect::<Vec<_>>().join("; ")
        };
        if msg.starts_with("unknown field") {
            message.push_str("; remove it or fix its spelling (docs/config.md lists every key)");
        } else if msg.starts_with("missing field") {
            message.push_str("; this table needs it (docs/config.md)");
        }
        ConfigError::Syntax {
            file: None,
            line,
            column,
            key,
            message,
        }
    }
}

/// 1-based line and column (in characters) of byte offset `at`.
pub(super) fn line_column(src: &str, at: usize) -> (usize, usize) {
    let before = src.get(..at).unwrap_or(src);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |l| l.chars().count());
    (before.matches('\n').count() + 1, column + 1)
}

/// `name` in "…unknown field `name`, expected…".
fn backticked_after<'a>(msg: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = msg.strip_prefix(prefix)?.strip_prefix('`')?;
    rest.split_once('`').map(|(name, _)| name)
}

/// The dotted path toml gives a deserialisation error when it has no source
/// text to point into: deserialising the parsed table instead of the string
/// makes toml end its message with "in `sixto4.tunnel_mtu`".
pub(super) fn toml_key_path(src: &str) -> Option<String> {
    let table: toml::Table = src.parse().ok()?;
    let err = Config::deserialize(toml::Value::Table(table)).err()?;
    let shown = err.to_string();
    let last = shown.lines().last()?;
    let path = last.strip_prefix("in `")?.strip_suffix('`')?;
    Some(path.to_owned())
}
