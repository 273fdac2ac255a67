//! axum 0.8 integration (feature `axum`): routes come from `MatchedPath`, and the /metrics
//! endpoint mounts as a router.
//!
//! # Example
//!
//! ```
//! use axum::{Router, routing::get};
//! use vsanobs_core::Registry;
//! use vsanobs_http::{HttpMetricsLayer, MetricsEndpoint};
//!
//! let registry = Registry::new();
//! let app: Router = Router::new()
//!     .route("/users/{id}", get(|| async { "user" }))
//!     .layer(HttpMetricsLayer::new(&registry)?);
//! let app = MetricsEndpoint::new(registry).mount(app);
//! # let _ = app;
//! # Ok::<(), vsanobs_core::RegistryError>(())
//! ```
//!
//! ## Note
//! [`mount`](MetricsEndpoint::mount) after `.layer(...)` keeps scrapes out of the route
//! matrix. Prefer it to `.merge(endpoint.into_router())` there: axum's `merge` of two
//! routers that both have the default fallback keeps the *other* router's fallback, so the
//! layered "not found" handler would be replaced by an unlayered one and unmatched requests
//! would go unrecorded (an explicit `.fallback(...)` before `.layer(...)` avoids that too).

use axum::Router;
use axum::routing::get_service;

use crate::endpoint::MetricsEndpoint;

#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl MetricsEndpoint {
    /// Adds `GET /metrics` (and `HEAD`) to `router`, leaving its fallback alone.
    pub fn mount<S: Clone + Send + Sync + 'static>(self, router: Router<S>) -> Router<S> {
        router.route_service("/metrics", get_service(self.into_service()))
    }

    /// A router serving this endpoint on `GET /metrics` (and `HEAD`). See the module note
    /// before merging it into a layered router.
    pub fn into_router<S: Clone + Send + Sync + 'static>(self) -> Router<S> {
        self.into_router_at("/metrics")
    }

    /// A router serving this endpoint on `GET <path>`.
    ///
    /// # Panics
    /// When `path` is not a valid axum route path (it must start with `/`), as
    /// `Router::route_service` does.
    pub fn into_router_at<S: Clone + Send + Sync + 'static>(self, path: &str) -> Router<S> {
        Router::new().route_service(path, get_service(self.into_service()))
    }
}
