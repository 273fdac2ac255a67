//! [`Info`]: constant information about the target, exported as `<name>_info{...} 1`.

use std::sync::Arc;

use super::{Metric, sealed};
use crate::encoding::Visitor;
use crate::labels::{LabelSet, LabelsRef, OwnLabels};
use crate::model::MetricKind;

/// Constant information about the target, exported as `<name>_info{labels...} 1`.
///
/// Register it as a plain metric: its label set lives in the value. In a
/// [`Family`](crate::Family) use `Info<()>`.
#[derive(Clone, Debug)]
pub struct Info<L: LabelSet> {
    labels: Arc<L>,
}

impl<L: LabelSet> Info<L> {
    /// An info metric carrying `labels`.
    pub fn new(labels: L) -> Self {
        Info {
            labels: Arc::new(labels),
        }
    }
    /// The labels it carries.
    pub fn labels(&self) -> &L {
        &self.labels
    }
}

impl<L: LabelSet> sealed::Sealed for Info<L> {}
impl<L: LabelSet> Metric for Info<L> {
    const KIND: MetricKind = MetricKind::Info;
    fn visit(&self, labels: LabelsRef<'_>, v: &mut dyn Visitor) {
        let own = match labels.own {
            OwnLabels::None => OwnLabels::Typed(L::NAMES, &*self.labels),
            other => other,
        };
        v.info(LabelsRef {
            consts: labels.consts,
            own,
        });
    }
}
