//! `POST /-/reload` for axum (feature `axum`) and actix-web (feature `actix`), answering like
//! Prometheus' own reload endpoint: 200 when the config is live, 500 with the reason when the
//! reload failed (the old config keeps serving).
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "axum")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use vsanobs_hotreload::{ConfigFormat, ReloadManager};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("app.json");
//! std::fs::write(&path, "{}")?;
//! let manager = ReloadManager::<serde_json::Value>::builder(&path)
//!     .format(ConfigFormat::Json)
//!     .watch(false)
//!     .build()?;
//! let app: axum::Router = axum::Router::new()
//!     .merge(vsanobs_hotreload::http::axum_router(manager.handle()));
//! # let _ = app;
//! # Ok(()) }
//! # #[cfg(not(feature = "axum"))]
//! # fn main() {}
//! ```
//!
//! ## Note
//! The reload runs on the runtime's blocking pool; the request waits for it (bounded by the
//! manager's timeout).

use crate::error::ReloadError;
use crate::handle::ConfigHandle;
use crate::outcome::{ReloadOutcome, ReloadStatus};
use crate::reloader::Reloader;
use crate::trigger::Trigger;

/// The path both frameworks serve.
pub const RELOAD_PATH: &str = "/-/reload";

/// Status code and plain-text body for a reload result.
fn answer(result: Result<ReloadOutcome, ReloadError>) -> (u16, String) {
    match result {
        Ok(o) => {
            let what = match o.status {
                ReloadStatus::Applied => "config reloaded",
                ReloadStatus::Unchanged => "config unchanged",
                ReloadStatus::Coalesced => "config reloaded by a concurrent request",
            };
            (
                200,
                format!(
                    "{what}: generation {} sha256 {}\n",
                    o.generation,
                    o.sha256_hex()
                ),
            )
        }
        Err(ReloadError::Closed) => (503, "reload manager is gone\n".to_owned()),
        Err(e) => (500, format!("failed to reload config: {}\n", e.chain())),
    }
}

/// Reloads for a `POST /-/reload` request; [`ReloadError::Closed`] once the manager is gone.
fn reload(reloader: &Reloader) -> Result<ReloadOutcome, ReloadError> {
    reloader
        .reload(Trigger::Http)
        .unwrap_or(Err(ReloadError::Closed))
}

/// A router with `POST /-/reload` that reloads through `handle`; merge it into your app.
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub fn axum_router<C, S>(handle: ConfigHandle<C>) -> axum::Router<S>
where
    C: Send + Sync + 'static,
    S: Clone + Send + Sync + 'static,
{
    use axum::http::StatusCode;
    use axum::routing::post;

    let reloader = handle.reloader();
    axum::Router::new().route(
        RELOAD_PATH,
        post(move || {
            let reloader = reloader.clone();
            async move {
                let joined = tokio::task::spawn_blocking(move || reload(&reloader)).await;
                let (code, body) = match joined {
                    Ok(result) => answer(result),
                    Err(e) => (500, format!("failed to reload config: {e}\n")),
                };
                (
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    body,
                )
            }
        }),
    )
}

/// An actix-web resource for `POST /-/reload` that reloads through `handle`; add it with
/// `App::service`.
#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub fn actix_service<C>(handle: ConfigHandle<C>) -> actix_web::Resource
where
    C: Send + Sync + 'static,
{
    use actix_web::http::StatusCode;
    use actix_web::{HttpResponse, web};

    let reloader = handle.reloader();
    web::resource(RELOAD_PATH).route(web::post().to(move || {
        let reloader = reloader.clone();
        async move {
            let (code, body) = match web::block(move || reload(&reloader)).await {
                Ok(result) => answer(result),
                Err(e) => (500, format!("failed to reload config: {e}\n")),
            };
            HttpResponse::build(
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            )
            .content_type("text/plain; charset=utf-8")
            .body(body)
        }
    }))
}
