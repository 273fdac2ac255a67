//! Small command-line helpers shared by the example binaries (`vsan-exporter`, `vcsim`, the demos): `--flag value` /
//! `--flag=value` parsing, Prometheus-style listen addresses and logging setup.

use std::net::SocketAddr;

/// Parsed `--name value` / `--name=value` / `--flag` arguments.
#[derive(Debug, Default)]
pub struct Args {
    pairs: Vec<(String, Option<String>)>,
}

/// A command-line error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArgError {
    /// An argument that is not `--name`.
    #[error("unexpected argument {0:?}")]
    Unexpected(String),
    /// A flag that this binary does not know.
    #[error("unknown flag --{0}")]
    Unknown(String),
    /// A value that does not parse.
    #[error("invalid value for --{0}")]
    Invalid(&'static str),
    /// A password given on the command line.
    #[error(
        "passwords are never read from the command line: use VCENTER_PASSWORD or VCENTER_PASSWORD_FILE"
    )]
    PasswordOnCommandLine,
}

/// Whether the command line asks for the usage text (`--help` or `-h` anywhere).
///
/// ```
/// use example_cli::wants_help;
/// assert!(wants_help(["--clusters".to_owned(), "2".to_owned(), "--help".to_owned()]));
/// assert!(wants_help(["-h".to_owned()]));
/// assert!(!wants_help(["--hosts=4".to_owned()]));
/// ```
pub fn wants_help(args: impl IntoIterator<Item = String>) -> bool {
    args.into_iter().any(|a| a == "--help" || a == "-h")
}

impl Args {
    /// Parses `args` (without the program name); `flags` are the boolean flags, `known` all
    /// accepted names.
    ///
    /// # Errors
    /// Unknown or malformed arguments, or anything that looks like a password.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        flags: &[&str],
        known: &[&str],
    ) -> Result<Args, ArgError> {
        let mut it = args.into_iter().peekable();
        let mut pairs = Vec::new();
        while let Some(a) = it.next() {
            let Some(name) = a.strip_prefix("--") else {
                return Err(ArgError::Unexpected(a));
            };
            let (name, inline) = match name.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (name.to_owned(), None),
            };
            if name.contains("password") && !name.ends_with("password-file") {
                return Err(ArgError::PasswordOnCommandLine);
            }
            if !known.contains(&name.as_str()) && !flags.contains(&name.as_str()) {
                return Err(ArgError::Unknown(name));
            }
            let value = if flags.contains(&name.as_str()) {
                inline.or(Some("true".into()))
            } else {
                inline.or_else(|| it.next())
            };
            pairs.push((name, value));
        }
        Ok(Args { pairs })
    }

    /// The last value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// True when the boolean flag was given.
    pub fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v != "false")
    }

    /// Parses the value of `name`, or `default`.
    ///
    /// # Errors
    /// [`ArgError::Invalid`] when present but unparsable.
    pub fn num<T: std::str::FromStr>(&self, name: &'static str, default: T) -> Result<T, ArgError> {
        match self.get(name) {
            Some(v) => v.parse().map_err(|_| ArgError::Invalid(name)),
            None => Ok(default),
        }
    }
}

/// Parses a Prometheus-style listen address: `:9101` means all interfaces.
///
/// # Errors
/// [`ArgError::Invalid`] for anything that is not `[host]:port`.
pub fn listen_address(s: &str) -> Result<SocketAddr, ArgError> {
    let full = if s.starts_with(':') {
        format!("0.0.0.0{s}")
    } else {
        s.to_owned()
    };
    full.parse()
        .map_err(|_| ArgError::Invalid("web.listen-address"))
}

/// The listen address of a binary whose only flag is `--web.listen-address` (the demo
/// services), `default` when it is not given.
///
/// ```
/// use example_cli::only_listen_address;
/// let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
/// assert_eq!(only_listen_address(args(&[]), "127.0.0.1:9103").unwrap().port(), 9103);
/// assert_eq!(
///     only_listen_address(args(&["--web.listen-address=127.0.0.1:1234"]), "127.0.0.1:9103")
///         .unwrap()
///         .port(),
///     1234
/// );
/// assert!(only_listen_address(args(&["--web.listen-address"]), "127.0.0.1:9103").is_err());
/// assert!(only_listen_address(args(&["--other", "x"]), "127.0.0.1:9103").is_err());
/// ```
///
/// # Errors
/// Any other argument, a missing or unparsable address.
pub fn only_listen_address(
    args: impl IntoIterator<Item = String>,
    default: &str,
) -> Result<SocketAddr, ArgError> {
    const NAME: &str = "web.listen-address";
    let a = Args::parse(args, &[], &[NAME])?;
    if a.pairs.iter().any(|(n, v)| n == NAME && v.is_none()) {
        return Err(ArgError::Invalid(NAME));
    }
    listen_address(a.get(NAME).unwrap_or(default))
}

/// The web flags of a service: `--web.listen-address` (or `default`) and the optional
/// `--web.config.file` (exporter-toolkit web config, see `vsanobs_http::web_config`); any
/// other argument is an error.
///
/// ```
/// use example_cli::listen_address_and_web_config;
/// let args = ["--web.config.file".to_owned(), "web.yml".to_owned()];
/// let (addr, web) = listen_address_and_web_config(args, "127.0.0.1:9103").unwrap();
/// assert_eq!(addr.port(), 9103);
/// assert_eq!(web.unwrap().to_str(), Some("web.yml"));
/// assert!(listen_address_and_web_config(["--web.config.file".to_owned()], ":1").is_err());
/// ```
///
/// # Errors
/// Unknown arguments, a flag without its value, an invalid address.
pub fn listen_address_and_web_config(
    args: impl IntoIterator<Item = String>,
    default: &str,
) -> Result<(SocketAddr, Option<std::path::PathBuf>), ArgError> {
    const NAMES: &[&str] = &["web.listen-address", "web.config.file"];
    let a = Args::parse(args, &[], NAMES)?;
    for &name in NAMES {
        if a.pairs.iter().any(|(n, v)| n == name && v.is_none()) {
            return Err(ArgError::Invalid(name));
        }
    }
    let addr = listen_address(a.get("web.listen-address").unwrap_or(default))?;
    Ok((addr, a.get("web.config.file").map(std::path::PathBuf::from)))
}

/// Installs a plain-text `tracing` subscriber at INFO (or the level in `VSAN_LOG`).
pub fn init_logging() {
    let level = match std::env::var("VSAN_LOG").as_deref() {
        Ok("debug") => tracing::Level::DEBUG,
        Ok("warn") => tracing::Level::WARN,
        Ok("error") => tracing::Level::ERROR,
        _ => tracing::Level::INFO,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false)
        .try_init();
}
