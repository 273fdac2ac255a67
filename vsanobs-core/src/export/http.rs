//! The HTTP plumbing the push exporters share: configuration errors, the blocking client
//! and the mapping of responses and transport errors to [`ExportError`]s.
//!
//! The exporters use reqwest's blocking client: each exporter already runs on its own
//! worker thread, so a blocking call costs nothing extra and keeps any async runtime out of
//! the library's API (the client drives one small current-thread runtime internally). The
//! client is built lazily on that worker thread, so an exporter may be configured from
//! inside an async context without tripping reqwest's "blocking inside a runtime" check.

use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};

use super::ExportError;

/// A push exporter's configuration was rejected at build time.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The URL does not parse.
    #[error("invalid url {url:?}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why it does not parse.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Only `http` and `https` URLs are supported.
    #[error("unsupported url {url:?}: expected an http or https url with a host")]
    UnsupportedUrl {
        /// The URL as given.
        url: String,
    },
    /// The Pushgateway job name is empty.
    #[error("job name must not be empty")]
    EmptyJob,
    /// A grouping-key or resource label name is not a valid label name, or repeats.
    #[error("invalid label name {0:?}")]
    InvalidLabelName(String),
    /// A header name or value is not valid HTTP.
    #[error("invalid header {0:?}")]
    InvalidHeader(String),
    /// The exporter name (its `exporter` label value) is empty.
    #[error("exporter name must not be empty")]
    EmptyName,
}

/// Parses and checks an http(s) URL.
pub(crate) fn parse_url(url: &str) -> Result<reqwest::Url, ConfigError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| ConfigError::InvalidUrl {
        url: url.to_owned(),
        source: Box::new(e),
    })?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host_str().is_none_or(str::is_empty)
        || parsed.cannot_be_a_base()
    {
        return Err(ConfigError::UnsupportedUrl {
            url: url.to_owned(),
        });
    }
    Ok(parsed)
}

/// Checks a header pair at build time.
pub(crate) fn check_header(name: &str, value: &str) -> Result<(), ConfigError> {
    let ok = reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
        && reqwest::header::HeaderValue::from_str(value).is_ok();
    if ok {
        Ok(())
    } else {
        Err(ConfigError::InvalidHeader(name.to_owned()))
    }
}

/// A blocking client built on first use (on the exporter's worker thread).
#[derive(Debug, Default)]
pub(crate) struct LazyClient {
    client: Option<Client>,
}

impl LazyClient {
    pub(crate) fn get(&mut self) -> Result<&Client, ExportError> {
        if self.client.is_none() {
            let c = Client::builder()
                .user_agent(concat!("vsanobs/", env!("CARGO_PKG_VERSION")))
                .timeout(None)
                .build()
                .map_err(|e| ExportError::Other(Box::new(e)))?;
            self.client = Some(c);
        }
        self.client
            .as_ref()
            .ok_or_else(|| ExportError::Other("http client unavailable".into()))
    }
}

/// Sends a request and maps the outcome: 2xx is success; 429 and 5xx are retryable
/// (with `Retry-After` in seconds); other statuses are rejections carrying the body.
pub(crate) fn send(req: RequestBuilder, timeout: Duration) -> Result<Response, ExportError> {
    let resp = req.timeout(timeout).send().map_err(transport_error)?;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = body_snippet(resp);
    let code = status.as_u16();
    if code == 429 || status.is_server_error() {
        Err(ExportError::Unavailable {
            status: code,
            retry_after,
            body,
        })
    } else {
        Err(ExportError::Rejected { status: code, body })
    }
}

fn body_snippet(resp: Response) -> String {
    let mut body = resp.text().unwrap_or_default();
    if body.len() > 1024 {
        let mut cut = 1024;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
        body.push('…');
    }
    body.trim_end().to_owned()
}

fn transport_error(e: reqwest::Error) -> ExportError {
    if e.is_timeout() {
        ExportError::Timeout(Box::new(e))
    } else if e.is_connect() || e.is_request() || e.is_body() {
        ExportError::Connect(Box::new(e))
    } else {
        ExportError::Other(Box::new(e))
    }
}
