//! Running collectors on a scrape: each one inside a unit of output the visitor can discard,
//! with its error or panic isolated so the rest of the scrape is served, and its success
//! recorded for `vsanobs_scrape_collector_success`.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::sink::FamilySink;
use super::{CollectorEntry, Registry};
use crate::encoding::Visitor;
use crate::gather::{Gatherer, visit_samples};
use crate::report::panic_message;

impl Registry {
    /// Runs every collector in order into `v`; returns each collector's name and whether
    /// it succeeded (returned `Ok` with only valid output).
    pub(super) fn run_collectors(
        &self,
        collectors: &[CollectorEntry],
        consts: &[(String, String)],
        taken: &mut HashSet<String>,
        v: &mut dyn Visitor,
        keep: &dyn Fn(&str) -> bool,
    ) -> Vec<(String, bool)> {
        let mut results: Vec<(String, bool)> = Vec::with_capacity(collectors.len());
        for c in collectors {
            let ok = self.run_collector(c, consts, taken, v, keep);
            results.push((c.name.clone(), ok));
        }
        results
    }

    fn run_collector(
        &self,
        c: &CollectorEntry,
        consts: &[(String, String)],
        taken: &mut HashSet<String>,
        v: &mut dyn Visitor,
        keep: &dyn Fn(&str) -> bool,
    ) -> bool {
        if v.begin() {
            return self.run_into(c, consts, taken, v, keep);
        }
        // A visitor that cannot discard output gets the collector's families only once the
        // collector has returned.
        let mut g = Gatherer::default();
        g.begin();
        let ok = self.run_into(c, &[], taken, &mut g, keep);
        for fam in &g.families {
            v.family(&fam.name, &fam.help, fam.unit.as_deref(), fam.kind);
            visit_samples(fam, consts, v);
        }
        ok
    }

    /// Runs one collector into `v`, inside a unit of output `v` has begun: kept on return
    /// (error or not), discarded on panic.
    fn run_into(
        &self,
        c: &CollectorEntry,
        consts: &[(String, String)],
        taken: &mut HashSet<String>,
        v: &mut dyn Visitor,
        keep: &dyn Fn(&str) -> bool,
    ) -> bool {
        let mut sink = FamilySink::new(&self.inner.ns, consts, keep, taken, v, &c.name);
        let result = catch_unwind(AssertUnwindSafe(|| c.collector.collect_into(&mut sink)));
        let (valid, claimed) = sink.finish();
        match result {
            Ok(Ok(())) => {
                v.commit();
                valid
            }
            Ok(Err(e)) => {
                v.commit();
                tracing::warn!(collector = %c.name, error = %e, source = ?std::error::Error::source(&e), "collector failed; serving what it produced");
                false
            }
            Err(panic) => {
                v.rollback();
                for n in &claimed {
                    taken.remove(n);
                }
                let msg = panic_message(&*panic);
                tracing::error!(collector = %c.name, panic = %msg, "collector panicked; its output is dropped");
                false
            }
        }
    }
}
