//! The property collector: `RetrieveProperties`, `RetrievePropertiesEx` (paged) and its
//! `ContinueRetrievePropertiesEx` / `CancelRetrievePropertiesEx`, and `Fetch`.
//!
//! Paging follows vCenter: without `maxObjects` a page holds at most
//! [`DEFAULT_PAGE_SIZE`] objects (100: what vCenter answers, as ManageIQ's fix for truncated
//! inventories, ManageIQ/manageiq#8211, and vsphere-automation-sdk-java#217 report); a
//! `maxObjects` is honoured. Tokens belong to the session that got them, are small numbers
//! like vCenter's (`"0"`, `"1"`), and expire when their page is fetched or cancelled; an
//! unknown token is `InvalidArgument` (the fault the vSphere API reference lists for both
//! calls), with `invalidProperty` = `token`.

use std::collections::HashMap;

use vsanobs_core::vsan::protocol::Fault;
use vsanobs_core::vsan::protocol::inventory::{ObjectSpec, RetrieveProperties, TraversalSpec};
use vsanobs_core::vsan::protocol::property::{MoRef, ObjectContent, PropertyValue, resolve};
use vsanobs_core::vsan::soap::FaultKind;

use crate::objects::Objects;

/// Objects per `RetrievePropertiesEx` page when the client sets no `maxObjects`.
pub const DEFAULT_PAGE_SIZE: usize = 100;

/// Retrievals a session may leave open (neither finished nor cancelled); opening one more
/// drops the oldest, whose token then reads as unknown.
pub const MAX_OPEN_RETRIEVALS: usize = 64;

/// Objects a single traversal may visit before it is refused (a cycle in a client's
/// selection specs ends here rather than hanging the server).
const MAX_VISITS: usize = 1_000_000;

/// A paging misbehaviour injected for clients' bad-input tests
/// ([`Simulator::set_paging_fault`](crate::Simulator::set_paging_fault)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PagingFault {
    /// Every page carries a token, the last one included (the objects start over).
    EndlessToken,
    /// Every `ContinueRetrievePropertiesEx` is refused with `InvalidArgument`, as if the
    /// server had forgotten the token.
    ForgetTokens,
    /// The first page holds no object, only a token; the objects follow on the next pages.
    EmptyFirstPage,
}

/// The rest of a retrieval, waiting for `ContinueRetrievePropertiesEx`.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// Objects not sent yet.
    pub(crate) rest: Vec<ObjectContent>,
    /// Page size.
    pub(crate) page: usize,
    /// Every object of the retrieval, kept for [`PagingFault::EndlessToken`].
    pub(crate) all: Option<Vec<ObjectContent>>,
}

/// The paged retrievals of one session.
#[derive(Debug, Default)]
pub(crate) struct Retrievals {
    pending: HashMap<String, Pending>,
    next_token: u64,
}

/// A page: objects and the token of the next one.
pub(crate) type Page = (Vec<ObjectContent>, Option<String>);

impl Retrievals {
    /// Cuts the first page of `objects` (page size `max_objects` or the default) and keeps
    /// the rest under a new token.
    pub(crate) fn first_page(
        &mut self,
        objects: Vec<ObjectContent>,
        max_objects: Option<u32>,
        fault: Option<PagingFault>,
    ) -> Page {
        let page = max_objects.map_or(DEFAULT_PAGE_SIZE, |n| n as usize).max(1);
        let all = (fault == Some(PagingFault::EndlessToken)).then(|| objects.clone());
        let pending = Pending {
            rest: objects,
            page,
            all,
        };
        if fault == Some(PagingFault::EmptyFirstPage) {
            let token = self.store(pending);
            return (Vec::new(), Some(token));
        }
        self.next_page(pending)
    }

    /// The page after `token`.
    ///
    /// # Errors
    /// `InvalidArgument` for a token this session does not hold.
    pub(crate) fn continue_with(&mut self, token: &str) -> Result<Page, Fault> {
        let pending = self
            .pending
            .remove(token)
            .ok_or_else(|| invalid_token(token))?;
        Ok(self.next_page(pending))
    }

    /// Drops the retrieval of `token`.
    ///
    /// # Errors
    /// `InvalidArgument` for a token this session does not hold.
    pub(crate) fn cancel(&mut self, token: &str) -> Result<(), Fault> {
        self.pending
            .remove(token)
            .map(|_| ())
            .ok_or_else(|| invalid_token(token))
    }

    /// Retrievals waiting for their next page.
    pub(crate) fn open(&self) -> usize {
        self.pending.len()
    }

    fn next_page(&mut self, mut pending: Pending) -> Page {
        let n = pending.page.min(pending.rest.len());
        let page: Vec<ObjectContent> = pending.rest.drain(..n).collect();
        if pending.rest.is_empty() {
            match &pending.all {
                // Endless: start over, with a token again.
                Some(all) => pending.rest = all.clone(),
                None => return (page, None),
            }
        }
        let token = self.store(pending);
        (page, Some(token))
    }

    fn store(&mut self, pending: Pending) -> String {
        if self.pending.len() >= MAX_OPEN_RETRIEVALS {
            // Tokens are issued in sequence: the smallest number is the oldest.
            let oldest = self
                .pending
                .keys()
                .min_by_key(|t| t.parse::<u64>().unwrap_or(u64::MAX))
                .cloned();
            if let Some(t) = oldest {
                self.pending.remove(&t);
            }
        }
        let token = self.next_token.to_string();
        self.next_token += 1;
        self.pending.insert(token.clone(), pending);
        token
    }
}

/// `InvalidArgument` naming the `token` argument.
pub(crate) fn invalid_token(token: &str) -> Fault {
    let mut f = Fault::new(
        FaultKind::InvalidArgument,
        format!("A specified parameter was not correct: token ({token})"),
    );
    f.detail = vsanobs_core::vsan::protocol::fault::FaultDetail::InvalidArgument {
        invalid_property: Some("token".into()),
    };
    f
}

/// `ManagedObjectNotFound` for `obj`.
pub(crate) fn not_found(obj: &MoRef) -> Fault {
    Fault::new(
        FaultKind::ManagedObjectNotFound,
        format!(
            "The object 'vim.{}:{}' has already been deleted or has not been completely created",
            obj.kind, obj.value
        ),
    )
}

/// Every object `req` selects, with the properties asked for, in traversal order.
///
/// # Errors
/// `ManagedObjectNotFound` for a starting object that does not exist, `InvalidProperty` for
/// a path a selected object's type does not have, `InvalidArgument` for a selection spec
/// naming no traversal or a traversal that visits too many objects.
pub(crate) fn retrieve(
    objects: &Objects<'_>,
    req: &RetrieveProperties,
) -> Result<Vec<ObjectContent>, Fault> {
    let mut named: HashMap<&str, &TraversalSpec> = HashMap::new();
    for o in &req.objects {
        collect_named(&o.select, &mut named);
    }
    let mut reached: Vec<MoRef> = Vec::new();
    let mut seen: std::collections::HashSet<MoRef> = std::collections::HashSet::new();
    let mut visits = 0usize;
    for o in &req.objects {
        let start = objects
            .get(&o.obj.kind, &o.obj.value)
            .ok_or_else(|| not_found(&o.obj))?;
        visit(
            objects,
            &named,
            &start,
            o,
            &mut reached,
            &mut seen,
            &mut visits,
        )?;
    }
    let mut out = Vec::with_capacity(reached.len());
    for obj in reached {
        let specs: Vec<_> = req
            .specs
            .iter()
            .filter(|s| Objects::is_a(&obj, &s.kind))
            .collect();
        if specs.is_empty() {
            continue;
        }
        let all = objects.properties(&obj);
        let content = if specs.iter().any(|s| s.all) {
            ObjectContent { obj, props: all }
        } else {
            let mut paths: Vec<String> = Vec::new();
            for p in specs.iter().flat_map(|s| &s.paths) {
                if !paths.contains(p) {
                    paths.push(p.clone());
                }
            }
            ObjectContent::select(&obj, &all, &paths).map_err(Fault::invalid_property)?
        };
        out.push(content);
    }
    Ok(out)
}

fn collect_named<'r>(select: &'r [TraversalSpec], named: &mut HashMap<&'r str, &'r TraversalSpec>) {
    for s in select {
        if !s.is_reference() && !s.name.is_empty() {
            named.insert(&s.name, s);
        }
        collect_named(&s.select, named);
    }
}

fn visit(
    objects: &Objects<'_>,
    named: &HashMap<&str, &TraversalSpec>,
    start: &MoRef,
    spec: &ObjectSpec,
    reached: &mut Vec<MoRef>,
    seen: &mut std::collections::HashSet<MoRef>,
    visits: &mut usize,
) -> Result<(), Fault> {
    // (object, its selections, skipped?)
    let mut stack: Vec<(MoRef, Vec<&TraversalSpec>, bool)> =
        vec![(start.clone(), spec.select.iter().collect(), spec.skip)];
    let mut expanded: std::collections::HashSet<(MoRef, String)> = std::collections::HashSet::new();
    while let Some((obj, select, skip)) = stack.pop() {
        *visits += 1;
        if *visits > MAX_VISITS {
            return Err(Fault::new(
                FaultKind::InvalidArgument,
                "A specified parameter was not correct: selectSet (traversal too large)",
            ));
        }
        if !skip && seen.insert(obj.clone()) {
            reached.push(obj.clone());
        }
        let mut next = Vec::new();
        for sel in select {
            let t = if sel.is_reference() {
                *named.get(sel.name.as_str()).ok_or_else(|| {
                    Fault::new(
                        FaultKind::InvalidArgument,
                        format!(
                            "A specified parameter was not correct: selectSet ({})",
                            sel.name
                        ),
                    )
                })?
            } else {
                sel
            };
            if !Objects::is_a(&obj, &t.kind) {
                continue;
            }
            // Each (object, traversal) is expanded once: cycles end here.
            if !expanded.insert((obj.clone(), format!("{}/{}/{}", t.name, t.kind, t.path))) {
                continue;
            }
            for child in objects.follow(&obj, &t.path) {
                next.push((child, t.select.iter().collect::<Vec<_>>(), t.skip));
            }
        }
        stack.extend(next.into_iter().rev());
    }
    Ok(())
}

/// `Fetch` of `prop` of `obj`: the value, None when unset.
///
/// # Errors
/// `ManagedObjectNotFound` for an object that does not exist, `InvalidProperty` for a
/// property its type does not have.
pub(crate) fn fetch(
    objects: &Objects<'_>,
    obj: &MoRef,
    prop: &str,
) -> Result<Option<PropertyValue>, Fault> {
    let found = objects
        .get(&obj.kind, &obj.value)
        .ok_or_else(|| not_found(obj))?;
    let all = objects.properties(&found);
    resolve(&all, prop)
        .cloned()
        .map(Some)
        .ok_or_else(|| Fault::invalid_property(prop))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(n: usize) -> Vec<ObjectContent> {
        (0..n)
            .map(|i| ObjectContent {
                obj: MoRef::new("VirtualMachine", format!("vm-{i}")),
                props: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn pages_tokens_and_the_open_retrievals_bound() {
        let mut r = Retrievals::default();
        let (page, token) = r.first_page(objects(5), Some(2), None);
        assert_eq!(page.len(), 2);
        let token = token.expect("more");
        let (page, next) = r.continue_with(&token).expect("second");
        assert_eq!(page[0].obj.value, "vm-2");
        assert!(r.continue_with(&token).is_err(), "a token is good once");
        let (last, end) = r.continue_with(&next.expect("third")).expect("last");
        assert_eq!((last.len(), end), (1, None));
        assert_eq!(r.open(), 0);
        // Abandoned retrievals are bounded; the oldest goes first.
        let tokens: Vec<String> = (0..MAX_OPEN_RETRIEVALS + 3)
            .map(|_| r.first_page(objects(3), Some(1), None).1.expect("token"))
            .collect();
        assert_eq!(r.open(), MAX_OPEN_RETRIEVALS);
        assert!(r.cancel(&tokens[0]).is_err());
        assert!(r.cancel(&tokens[tokens.len() - 1]).is_ok());
        // A zero page size still makes progress.
        let (page, _) = r.first_page(objects(3), Some(0), None);
        assert_eq!(page.len(), 1);
    }
}
