//! Config file formats: JSON always, YAML and TOML behind the `yaml` and `toml` features.
//!
//! # Example
//!
//! ```
//! use vsanobs_hotreload::Format;
//!
//! #[derive(serde::Deserialize, Debug, PartialEq)]
//! struct Cfg { port: u16 }
//!
//! assert_eq!(Format::from_path("app.json".as_ref()), Some(Format::Json));
//! assert_eq!(Format::Json.parse::<Cfg>(r#"{"port": 8080}"#).unwrap(), Cfg { port: 8080 });
//! assert!(Format::Json.parse::<Cfg>(r#"{"port": 80"#).is_err());
//! ```

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::BoxError;

/// A serde format for the config file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// JSON (`serde_json`).
    Json,
    /// YAML (`serde_yaml_ng`), feature `yaml`.
    #[cfg(feature = "yaml")]
    Yaml,
    /// TOML (`toml`), feature `toml`.
    #[cfg(feature = "toml")]
    Toml,
}

impl Format {
    /// The format named by the file extension (`json`, `yaml`/`yml`, `toml`), when enabled.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            #[cfg(feature = "yaml")]
            "yaml" | "yml" => Some(Format::Yaml),
            #[cfg(feature = "toml")]
            "toml" => Some(Format::Toml),
            _ => None,
        }
    }

    /// Deserialises `text`.
    ///
    /// # Errors
    /// The format's own error, which says where the text is wrong.
    pub fn parse<C: DeserializeOwned>(self, text: &str) -> Result<C, BoxError> {
        match self {
            Format::Json => Ok(serde_json::from_str(text)?),
            #[cfg(feature = "yaml")]
            Format::Yaml => Ok(serde_yaml_ng::from_str(text)?),
            #[cfg(feature = "toml")]
            Format::Toml => Ok(toml::from_str(text)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Cfg {
        name: String,
        port: u16,
    }

    #[test]
    fn formats_parse_and_reject() {
        let ok = Cfg {
            name: "a".into(),
            port: 1,
        };
        assert_eq!(
            Format::Json
                .parse::<Cfg>(r#"{"name":"a","port":1}"#)
                .unwrap(),
            ok
        );
        #[cfg(feature = "yaml")]
        {
            assert_eq!(Format::Yaml.parse::<Cfg>("name: a\nport: 1\n").unwrap(), ok);
            assert!(Format::Yaml.parse::<Cfg>("name: a\nport: [\n").is_err());
            assert_eq!(Format::from_path(Path::new("x.YML")), Some(Format::Yaml));
        }
        #[cfg(feature = "toml")]
        {
            assert_eq!(
                Format::Toml
                    .parse::<Cfg>("name = \"a\"\nport = 1\n")
                    .unwrap(),
                ok
            );
            assert!(Format::Toml.parse::<Cfg>("name = \n").is_err());
        }
        assert_eq!(Format::from_path(Path::new("x.ini")), None);
    }
}
