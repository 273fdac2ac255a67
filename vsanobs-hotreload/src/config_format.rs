//! Config file formats: JSON always, YAML and TOML behind the `yaml` and `toml` features.
//!
//! # Example
//!
//! ```
//! use vsanobs_hotreload::ConfigFormat;
//!
//! #[derive(serde::Deserialize, Debug, PartialEq)]
//! struct Cfg { port: u16 }
//!
//! assert_eq!(ConfigFormat::from_path("app.json".as_ref()), Some(ConfigFormat::Json));
//! assert_eq!(ConfigFormat::Json.parse::<Cfg>(r#"{"port": 8080}"#).unwrap(), Cfg { port: 8080 });
//! assert!(ConfigFormat::Json.parse::<Cfg>(r#"{"port": 80"#).is_err());
//! ```

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::BoxError;

/// A serde format for the config file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigFormat {
    /// JSON (`serde_json`).
    Json,
    /// YAML (`serde_yaml_ng`), feature `yaml`.
    #[cfg(feature = "yaml")]
    #[cfg_attr(docsrs, doc(cfg(feature = "yaml")))]
    Yaml,
    /// TOML (`toml`), feature `toml`.
    #[cfg(feature = "toml")]
    #[cfg_attr(docsrs, doc(cfg(feature = "toml")))]
    Toml,
}

impl ConfigFormat {
    /// The format named by the file extension (`json`, `yaml`/`yml`, `toml`), when enabled.
    pub fn from_path(path: &Path) -> Option<ConfigFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "json" => Some(ConfigFormat::Json),
            #[cfg(feature = "yaml")]
            "yaml" | "yml" => Some(ConfigFormat::Yaml),
            #[cfg(feature = "toml")]
            "toml" => Some(ConfigFormat::Toml),
            _ => None,
        }
    }

    /// Deserialises `text`.
    ///
    /// # Errors
    /// The format's own error, which says where the text is wrong.
    pub fn parse<C: DeserializeOwned>(self, text: &str) -> Result<C, BoxError> {
        match self {
            ConfigFormat::Json => Ok(serde_json::from_str(text)?),
            #[cfg(feature = "yaml")]
            ConfigFormat::Yaml => Ok(serde_yaml_ng::from_str(text)?),
            #[cfg(feature = "toml")]
            ConfigFormat::Toml => Ok(toml::from_str(text)?),
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
            ConfigFormat::Json
                .parse::<Cfg>(r#"{"name":"a","port":1}"#)
                .unwrap(),
            ok
        );
        #[cfg(feature = "yaml")]
        {
            assert_eq!(
                ConfigFormat::Yaml
                    .parse::<Cfg>("name: a\nport: 1\n")
                    .unwrap(),
                ok
            );
            assert!(
                ConfigFormat::Yaml
                    .parse::<Cfg>("name: a\nport: [\n")
                    .is_err()
            );
            assert_eq!(
                ConfigFormat::from_path(Path::new("x.YML")),
                Some(ConfigFormat::Yaml)
            );
        }
        #[cfg(feature = "toml")]
        {
            assert_eq!(
                ConfigFormat::Toml
                    .parse::<Cfg>("name = \"a\"\nport = 1\n")
                    .unwrap(),
                ok
            );
            assert!(ConfigFormat::Toml.parse::<Cfg>("name = \n").is_err());
        }
        assert_eq!(ConfigFormat::from_path(Path::new("x.ini")), None);
    }
}
