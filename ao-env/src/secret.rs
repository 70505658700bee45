//! Secrets by reference: configs name a secret (`env:NAME`, `file:PATH`), and
//! the value is read only when a caller asks, through a [`SecretResolver`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, ErrorKind};

/// Where a secret lives. Displays as written (`env:AO_PROD_WALLET`); the
/// reference is not secret, the value behind it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecretRef {
    /// An environment variable.
    Env(String),
    /// A file; relative paths are relative to the config file that names it.
    File(PathBuf),
}

impl SecretRef {
    /// Parses `env:NAME` or `file:PATH`; the error says what is wrong.
    pub fn parse(text: &str, base: &Path) -> Result<Self, String> {
        if let Some(name) = text.strip_prefix("env:") {
            let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if ok {
                Ok(Self::Env(name.to_owned()))
            } else {
                Err(format!("`env:{name}` is not an environment variable name (letters, digits, _)"))
            }
        } else if let Some(path) = text.strip_prefix("file:") {
            if path.is_empty() { Err("`file:` needs a path".into()) } else { Ok(Self::File(base.join(path))) }
        } else {
            Err("a secret is a reference, `env:NAME` or `file:PATH`, never the value itself".into())
        }
    }

    /// Whether a string is written as a secret reference.
    pub fn looks_like(text: &str) -> bool {
        text.starts_with("env:") || text.starts_with("file:")
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(n) => write!(f, "env:{n}"),
            SecretRef::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

impl Serialize for SecretRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A resolved secret. `Debug` and `Display` print `[redacted]`; only
/// [`expose`](Self::expose) gives the text, so it never reaches a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value. Call it where the secret is used, nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A keyed BLAKE3 digest: compares two secrets without holding either's text.
    pub(crate) fn fingerprint(&self) -> [u8; 32] {
        *blake3::keyed_hash(&[0x5e; 32], self.0.as_bytes()).as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Best effort: overwrite the buffer in place (same length, same
        // allocation) before it is freed; black_box keeps the writes.
        let n = self.0.len();
        self.0.clear();
        self.0.extend(std::iter::repeat_n('\0', n));
        std::hint::black_box(&self.0);
    }
}

/// Reads secrets. Errors name the reference and why, never a value.
pub trait SecretResolver: Send + Sync {
    /// The value behind `reference`.
    fn resolve(&self, reference: &SecretRef) -> Result<Secret, Error>;
}

fn secret_error(reference: &SecretRef, reason: impl Into<String>) -> Error {
    Error::new(ErrorKind::Secret { reference: reference.to_string(), reason: reason.into() })
}

/// Resolves from the process environment and the filesystem. File contents
/// are trimmed of a trailing newline.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemSecrets;

impl SecretResolver for SystemSecrets {
    fn resolve(&self, reference: &SecretRef) -> Result<Secret, Error> {
        match reference {
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(Secret::new(v)),
                Ok(_) => Err(secret_error(reference, "is set but empty")),
                Err(std::env::VarError::NotPresent) => Err(secret_error(reference, "is not set")),
                Err(std::env::VarError::NotUnicode(_)) => Err(secret_error(reference, "is not valid UTF-8")),
            },
            SecretRef::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| secret_error(reference, e.kind().to_string()))?;
                let text =
                    String::from_utf8(bytes).map_err(|_| secret_error(reference, "is not UTF-8 text"))?;
                let value = text.trim_end_matches(['\n', '\r']);
                if value.is_empty() {
                    return Err(secret_error(reference, "is empty"));
                }
                Ok(Secret::new(value))
            }
        }
    }
}

/// An in-memory resolver for tests and hosts with their own vault.
#[derive(Default)]
pub struct MapSecrets(BTreeMap<SecretRef, Secret>);

impl MapSecrets {
    /// An empty resolver.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a secret.
    #[must_use]
    pub fn with(mut self, reference: SecretRef, value: impl Into<String>) -> Self {
        self.0.insert(reference, Secret::new(value));
        self
    }
}

impl fmt::Debug for MapSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapSecrets").field("references", &self.0.keys().collect::<Vec<_>>()).finish()
    }
}

impl SecretResolver for MapSecrets {
    fn resolve(&self, reference: &SecretRef) -> Result<Secret, Error> {
        self.0.get(reference).cloned().ok_or_else(|| secret_error(reference, "is not known"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_display_as_written() {
        let base = Path::new("/cfg");
        assert_eq!(SecretRef::parse("env:AO_KEY", base).unwrap(), SecretRef::Env("AO_KEY".into()));
        assert_eq!(SecretRef::parse("file:k.json", base).unwrap().to_string(), "file:/cfg/k.json");
        for bad in ["env:", "env:1X", "env:A-B", "file:", "hunter2"] {
            assert!(SecretRef::parse(bad, base).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_redact_in_debug_and_display() {
        let s = Secret::new("hunter2");
        assert_eq!(
            format!("{s:?} {s} {:?}", Some(&s)),
            "Secret([redacted]) [redacted] Some(Secret([redacted]))"
        );
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(s.fingerprint(), Secret::new("hunter2").fingerprint());
        assert_ne!(s.fingerprint(), Secret::new("hunter3").fingerprint());
    }

    #[test]
    fn missing_secrets_name_the_reference() {
        let r = SecretRef::Env("AO_ENV_SURELY_UNSET_VARIABLE".into());
        let err = SystemSecrets.resolve(&r).unwrap_err();
        assert_eq!(err.to_string(), "secret env:AO_ENV_SURELY_UNSET_VARIABLE: is not set");
    }
}
