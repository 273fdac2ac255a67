//! Pushgateway exporter (feature `push`): pushes the registry as text 0.0.4 to
//! `/metrics/job/<job>/<label>/<value>...` with PUT (replace the group) or POST (replace the
//! pushed families only), optional basic auth, and an optional delete on shutdown.
//!
//! # Example
//!
//! ```
//! use vsanobs_core::export::pushgateway::{PushMethod, PushgatewayExporter};
//!
//! let exporter = PushgatewayExporter::builder("http://127.0.0.1:9091", "nightly-backup")
//!     .grouping_key("instance", "db-1")
//!     .grouping_key("path", "/var/lib/db") // has a '/': sent in the base64 form
//!     .method(PushMethod::Post)
//!     .build()?;
//! assert_eq!(
//!     exporter.group_url(),
//!     "http://127.0.0.1:9091/metrics/job/nightly-backup/instance/db-1/path@base64/L3Zhci9saWIvZGI"
//! );
//! // A bad configuration is a typed error at build time.
//! assert!(PushgatewayExporter::builder("http://127.0.0.1:9091", "").build().is_err());
//! assert!(PushgatewayExporter::builder("not a url", "job").build().is_err());
//! # Ok::<(), vsanobs_core::export::ConfigError>(())
//! ```
//!
//! ## Note
//! Grouping-key values (and the job) that are empty or contain anything but
//! `[A-Za-z0-9._~-]` are sent as `<name>@base64/<base64url>`, the form the Pushgateway
//! documents for values containing `/`. The Pushgateway keeps only the latest push of a
//! group, so the pipeline keeps only the newest waiting batch for this exporter.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::http::{ConfigError, LazyClient, check_header, parse_url, send};
use super::{Batch, ExportError, Exporter};
use crate::Registry;
use crate::encoding::Format;
use crate::labels::is_valid_label_name;

/// How a push replaces what the Pushgateway holds for the group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PushMethod {
    /// `PUT`: replaces every metric of the group.
    #[default]
    Put,
    /// `POST`: replaces only the metric families present in the push.
    Post,
}

/// Builds a [`PushgatewayExporter`].
#[derive(Clone, Debug)]
pub struct PushgatewayBuilder {
    url: String,
    job: String,
    grouping: Vec<(String, String)>,
    method: PushMethod,
    auth: Option<(String, Option<String>)>,
    headers: Vec<(String, String)>,
    delete_on_shutdown: bool,
    name: String,
}

impl PushgatewayBuilder {
    /// Adds a grouping-key label (after `job`).
    pub fn grouping_key(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.grouping.push((name.into(), value.into()));
        self
    }
    /// PUT (default) or POST.
    pub fn method(mut self, method: PushMethod) -> Self {
        self.method = method;
        self
    }
    /// HTTP basic authentication.
    pub fn basic_auth(mut self, user: impl Into<String>, password: Option<String>) -> Self {
        self.auth = Some((user.into(), password));
        self
    }
    /// An extra request header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Deletes the group when the pipeline shuts down (default: keep it).
    pub fn delete_on_shutdown(mut self, yes: bool) -> Self {
        self.delete_on_shutdown = yes;
        self
    }
    /// The exporter's name in the self-metrics (default `pushgateway`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Checks the configuration and builds the exporter.
    ///
    /// # Errors
    /// [`ConfigError`] for a bad URL, an empty job, an invalid or repeated grouping label
    /// name (including `job`), an invalid header or an empty exporter name.
    pub fn build(self) -> Result<PushgatewayExporter, ConfigError> {
        let base = parse_url(&self.url)?;
        if self.job.is_empty() {
            return Err(ConfigError::EmptyJob);
        }
        if self.name.is_empty() {
            return Err(ConfigError::EmptyName);
        }
        let mut seen = std::collections::HashSet::new();
        for (k, _) in &self.grouping {
            if !is_valid_label_name(k) || k == "job" || !seen.insert(k.as_str()) {
                return Err(ConfigError::InvalidLabelName(k.clone()));
            }
        }
        for (k, v) in &self.headers {
            check_header(k, v)?;
        }
        let mut url = base.as_str().trim_end_matches('/').to_owned();
        url.push_str("/metrics");
        push_segment(&mut url, "job", &self.job);
        for (k, v) in &self.grouping {
            push_segment(&mut url, k, v);
        }
        Ok(PushgatewayExporter {
            name: self.name,
            url,
            method: self.method,
            auth: self.auth,
            headers: self.headers,
            delete_on_shutdown: self.delete_on_shutdown,
            client: LazyClient::default(),
        })
    }
}

fn push_segment(url: &mut String, name: &str, value: &str) {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    url.push('/');
    url.push_str(name);
    if plain {
        url.push('/');
        url.push_str(value);
    } else if value.is_empty() {
        url.push_str("@base64/=");
    } else {
        url.push_str("@base64/");
        url.push_str(&URL_SAFE_NO_PAD.encode(value));
    }
}

/// Pushes batches to one Pushgateway group; see the [module docs](self).
#[derive(Debug)]
pub struct PushgatewayExporter {
    name: String,
    url: String,
    method: PushMethod,
    auth: Option<(String, Option<String>)>,
    headers: Vec<(String, String)>,
    delete_on_shutdown: bool,
    client: LazyClient,
}

impl PushgatewayExporter {
    /// Starts a builder for the Pushgateway at `url` (for example `http://host:9091`) and
    /// the `job` grouping label.
    pub fn builder(url: impl Into<String>, job: impl Into<String>) -> PushgatewayBuilder {
        PushgatewayBuilder {
            url: url.into(),
            job: job.into(),
            grouping: Vec::new(),
            method: PushMethod::Put,
            auth: None,
            headers: Vec::new(),
            delete_on_shutdown: false,
            name: "pushgateway".to_owned(),
        }
    }

    /// The URL of the group this exporter pushes to.
    pub fn group_url(&self) -> &str {
        &self.url
    }

    fn request(
        &mut self,
        method: reqwest::Method,
    ) -> Result<reqwest::blocking::RequestBuilder, ExportError> {
        let url = self.url.clone();
        let auth = self.auth.clone();
        let headers = self.headers.clone();
        let mut req = self.client.get()?.request(method, url);
        if let Some((u, p)) = auth {
            req = req.basic_auth(u, p);
        }
        for (k, v) in headers {
            req = req.header(k, v);
        }
        Ok(req)
    }

    /// Pushes a registry once, outside any pipeline (for batch jobs).
    ///
    /// # Errors
    /// The [`ExportError`] of the attempt (no retry here).
    pub fn push_registry(
        &mut self,
        registry: &Registry,
        timeout: Duration,
    ) -> Result<(), ExportError> {
        let batch = Batch::new(registry.gather(), crate::clock::unix_millis());
        self.export(&batch, timeout)
    }

    /// Deletes the group from the Pushgateway.
    ///
    /// # Errors
    /// The [`ExportError`] of the request.
    pub fn delete(&mut self, timeout: Duration) -> Result<(), ExportError> {
        let req = self.request(reqwest::Method::DELETE)?;
        send(req, timeout).map(drop)
    }
}

impl Exporter for PushgatewayExporter {
    fn name(&self) -> &str {
        &self.name
    }

    fn export(&mut self, batch: &Batch, timeout: Duration) -> Result<(), ExportError> {
        let body = batch.encode_text(Format::PrometheusText);
        let method = match self.method {
            PushMethod::Put => reqwest::Method::PUT,
            PushMethod::Post => reqwest::Method::POST,
        };
        let req = self
            .request(method)?
            .header(
                reqwest::header::CONTENT_TYPE,
                Format::PrometheusText.content_type(),
            )
            .body(body);
        send(req, timeout).map(drop)
    }

    fn keeps_history(&self) -> bool {
        false
    }

    fn shutdown(&mut self, timeout: Duration) -> Result<(), ExportError> {
        if self.delete_on_shutdown {
            self.delete(timeout)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushgateway_url_segments() {
        let e = PushgatewayExporter::builder("https://pgw.example:9091/prefix/", "a/b")
            .grouping_key("empty", "")
            .grouping_key("space", "x y")
            .build()
            .unwrap();
        assert_eq!(
            e.group_url(),
            "https://pgw.example:9091/prefix/metrics/job@base64/YS9i/empty@base64/=/space@base64/eCB5"
        );
    }

    #[test]
    fn pushgateway_bad_config() {
        let b = || PushgatewayExporter::builder("http://127.0.0.1:9091", "j");
        assert!(matches!(
            b().grouping_key("job", "x").build(),
            Err(ConfigError::InvalidLabelName(_))
        ));
        assert!(matches!(
            b().grouping_key("a-b", "x").build(),
            Err(ConfigError::InvalidLabelName(_))
        ));
        assert!(matches!(
            b().grouping_key("a", "x").grouping_key("a", "y").build(),
            Err(ConfigError::InvalidLabelName(_))
        ));
        assert!(matches!(
            PushgatewayExporter::builder("ftp://h/", "j").build(),
            Err(ConfigError::UnsupportedUrl { .. })
        ));
        assert!(matches!(
            PushgatewayExporter::builder("http//nohost", "j").build(),
            Err(ConfigError::InvalidUrl { .. })
        ));
        assert!(matches!(b().name("").build(), Err(ConfigError::EmptyName)));
        assert!(matches!(
            b().header("bad header", "v").build(),
            Err(ConfigError::InvalidHeader(_))
        ));
    }
}
