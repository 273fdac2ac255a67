//! [`global()`]: the optional process-wide registry.

use std::sync::OnceLock;

use super::Registry;

/// The optional process-wide registry. Libraries should take a `&Registry` instead; this is
/// for applications that want one without passing it around.
///
/// # Example
///
/// ```
/// use vsanobs_core::{Format, global};
///
/// global().counter("global_example_jobs", "Jobs done.")?.inc();
/// // Every call returns the same registry.
/// assert!(global().encode_to_string(Format::PrometheusText).contains("global_example_jobs_total 1\n"));
/// # Ok::<(), vsanobs_core::RegistryError>(())
/// ```
pub fn global() -> &'static Registry {
    static GLOBAL: OnceLock<Registry> = OnceLock::new();
    GLOBAL.get_or_init(Registry::new)
}
