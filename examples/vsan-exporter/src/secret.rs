//! Credentials that never print: [`Secret`] shows `<secret>` in `Debug` and `Display`.
//!
//! # Example
//!
//! ```
//! use vsan_exporter::secret::Secret;
//! let s = Secret::new("hunter2");
//! assert_eq!(format!("{s} {s:?}"), "<secret> <secret>");
//! assert_eq!(s.expose(), "hunter2");
//! ```

use std::path::Path;

/// A string that is only readable through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Reads a secret from a file, trimming one trailing newline.
    ///
    /// # Errors
    /// Reading the file (the error names the path, never the content).
    pub fn from_file(path: &Path) -> std::io::Result<Secret> {
        let s = std::fs::read_to_string(path)?;
        Ok(Secret(
            s.strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&s)
                .to_owned(),
        ))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Login credentials for one vCenter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// User name (not secret).
    pub user: String,
    /// Password.
    pub password: Secret,
}
