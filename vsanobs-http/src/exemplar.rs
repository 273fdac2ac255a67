//! Exemplars: the trace and span ids of the current `tracing` span, read through
//! tracing-opentelemetry (feature `exemplars`; without it no trace is ever attached).
//!
//! # Example
//!
//! ```
//! // Outside any span there is no trace to attach.
//! assert_eq!(vsanobs_http::current_trace(), None);
//! ```
//!
//! ## Note
//! Reading the span's OpenTelemetry context clones it (a few reference-count increments);
//! it happens once per request and only when exemplars are enabled.

use vsanobs_core::TraceContext;

/// The trace context of the current `tracing` span, if it has a valid OpenTelemetry one.
#[cfg(feature = "exemplars")]
pub fn current_trace() -> Option<TraceContext> {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    let span = tracing::Span::current();
    if span.is_disabled() {
        return None;
    }
    let cx = span.context();
    let otel = cx.span();
    let sc = otel.span_context();
    if !sc.is_valid() {
        return None;
    }
    let ctx = TraceContext {
        trace_id: sc.trace_id().to_bytes(),
        span_id: sc.span_id().to_bytes(),
    };
    ctx.is_valid().then_some(ctx)
}

/// The trace context of the current `tracing` span; always `None` without the `exemplars`
/// feature.
#[cfg(not(feature = "exemplars"))]
#[inline]
pub fn current_trace() -> Option<TraceContext> {
    None
}
