//! [`Registerable`]: what [`Registry::register`](super::Registry::register) accepts (a metric
//! or a [`Family`] of them), and the type-erased view the registry keeps of it.

use std::sync::Arc;

use crate::encoding::Visitor;
use crate::family::Family;
use crate::labels::{LabelSet, LabelsRef, OwnLabels};
use crate::metrics::Metric;
use crate::model::MetricKind;

/// A registered metric or family with its type erased: what the registry walks on a scrape.
#[doc(hidden)]
pub trait DynMetric: Send + Sync {
    fn visit(&self, consts: &[(String, String)], v: &mut dyn Visitor);
    fn label_names(&self) -> &'static [&'static str];
    fn overflowed(&self) -> Option<u64>;
}

struct Single<M>(M);

impl<M: Metric> DynMetric for Single<M> {
    fn visit(&self, consts: &[(String, String)], v: &mut dyn Visitor) {
        self.0.visit(
            LabelsRef {
                consts,
                own: OwnLabels::None,
            },
            v,
        );
    }
    fn label_names(&self) -> &'static [&'static str] {
        &[]
    }
    fn overflowed(&self) -> Option<u64> {
        None
    }
}

impl<L: LabelSet, M: Metric> DynMetric for Family<L, M> {
    fn visit(&self, consts: &[(String, String)], v: &mut dyn Visitor) {
        self.visit_series(consts, v);
    }
    fn label_names(&self) -> &'static [&'static str] {
        L::NAMES
    }
    fn overflowed(&self) -> Option<u64> {
        (!L::NAMES.is_empty()).then(|| Family::overflowed(self))
    }
}

mod sealed {
    pub trait Sealed {}
}

/// Something [`Registry::register`](super::Registry::register) accepts: a metric or a [`Family`] of them. Sealed.
pub trait Registerable: sealed::Sealed {
    /// The family type.
    const KIND: MetricKind;
    #[doc(hidden)]
    fn into_dyn(self) -> Arc<dyn DynMetric>;
}

impl<M: Metric> sealed::Sealed for M {}
impl<M: Metric> Registerable for M {
    const KIND: MetricKind = M::KIND;
    fn into_dyn(self) -> Arc<dyn DynMetric> {
        Arc::new(Single(self))
    }
}
impl<L: LabelSet, M: Metric> sealed::Sealed for Family<L, M> {}
impl<L: LabelSet, M: Metric> Registerable for Family<L, M> {
    const KIND: MetricKind = M::KIND;
    fn into_dyn(self) -> Arc<dyn DynMetric> {
        Arc::new(self)
    }
}
