//! The simulator's `/sdk` as a client sees it on the wire: service-versions documents and
//! `SOAPAction` refusal per emulated release, the property collector's WSDL shapes and
//! paging, `Fetch`, `InvalidProperty`, the paging fault knobs and the session cookie.

use vcsim::{DEFAULT_PAGE_SIZE, PagingFault, SimConfig, SimServer, Simulator, VcenterVersion};
use vsanobs_core::vsan::VsanError;
use vsanobs_core::vsan::protocol::fault::FaultDetail;
use vsanobs_core::vsan::protocol::fetch::Fetch;
use vsanobs_core::vsan::protocol::inventory::{
    CancelRetrieveProperties, ContinueRetrieveProperties, CreateContainerView, ObjectSpec,
    PropertySpec, RetrievePage, RetrieveProperties, TraversalSpec,
};
use vsanobs_core::vsan::protocol::property::{MoRef, PropertyValue};
use vsanobs_core::vsan::protocol::session::{Login, RetrieveServiceContent, ServiceContent};
use vsanobs_core::vsan::protocol::versions::{
    KNOWN_VIM25_VERSIONS, KNOWN_VSAN_VERSIONS, negotiate_document, soap_action,
};
use vsanobs_core::vsan::protocol::{Fault, VIM25_SOAP_ACTION};
use vsanobs_core::vsan::soap::FaultKind;
use vsanobs_testkit::http;

/// A raw SOAP client: the session cookie and the `SOAPAction` of its calls.
struct Client {
    base: String,
    action: String,
    cookie: Option<String>,
}

impl Client {
    fn new(server: &SimServer, action: &str) -> Client {
        Client {
            base: server.url(),
            action: action.to_owned(),
            cookie: None,
        }
    }

    async fn post(&self, path: &str, body: String) -> http::Response {
        let url = format!("{}{path}", self.base);
        let action = format!("\"{}\"", self.action);
        let cookie = self.cookie.clone();
        tokio::task::spawn_blocking(move || {
            let mut headers = vec![
                ("Content-Type", "text/xml; charset=utf-8"),
                ("SOAPAction", action.as_str()),
            ];
            if let Some(c) = &cookie {
                headers.push(("Cookie", c.as_str()));
            }
            http::request("POST", &url, &headers, body.as_bytes()).expect("post")
        })
        .await
        .expect("join")
    }

    async fn sdk(&self, body: String) -> http::Response {
        self.post("/sdk", body).await
    }

    async fn health(&self, body: String) -> http::Response {
        self.post("/vsanHealth", body).await
    }

    /// `prop` of `kind:id` read with `Fetch`; a fault or an unset property fails the test.
    async fn fetch(&self, kind: &str, id: &str, prop: &str) -> PropertyValue {
        let r = self.sdk(fetch(kind, id, prop)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        Fetch::decode_response(&r.text())
            .expect("fetch")
            .expect("set")
    }

    /// The first page of `q`; a fault fails the test.
    async fn retrieve(&self, q: RetrieveProperties) -> RetrievePage {
        let r = self.sdk(q.encode()).await;
        assert_eq!(r.status, 200, "{}", r.text());
        RetrievePage::decode(&r.text()).expect("first page")
    }

    /// `ContinueRetrievePropertiesEx` with `token`, answered as it comes (page or fault).
    async fn continue_retrieve(&self, sc: &ServiceContent, token: String) -> http::Response {
        self.sdk(
            ContinueRetrieveProperties {
                collector: sc.property_collector.clone(),
                token,
            }
            .encode(),
        )
        .await
    }

    /// The page after `token`; a fault fails the test.
    async fn next_page(&self, sc: &ServiceContent, token: String) -> RetrievePage {
        let r = self.continue_retrieve(sc, token).await;
        assert_eq!(r.status, 200, "{}", r.text());
        RetrievePage::decode(&r.text()).expect("next page")
    }

    async fn login(&mut self) -> ServiceContent {
        let sc = self.sdk(RetrieveServiceContent.encode()).await;
        assert_eq!(sc.status, 200, "{}", sc.text());
        let sc = ServiceContent::decode(&sc.text()).expect("service content");
        let r = self
            .sdk(Login::new("administrator@vsphere.local", "VMware1!").encode())
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let set = r.header("set-cookie").expect("cookie").to_owned();
        self.cookie = Some(set.split(';').next().expect("pair").to_owned());
        sc
    }

    /// A recursive view of `types` under the root folder.
    async fn view(&self, sc: &ServiceContent, types: &[&str]) -> String {
        let r = self
            .sdk(
                CreateContainerView {
                    view_manager: sc.view_manager.clone(),
                    container: sc.root_folder.clone(),
                    types: types.iter().map(|t| (*t).to_owned()).collect(),
                    recursive: true,
                }
                .encode(),
            )
            .await;
        CreateContainerView::decode_response(&r.text()).expect("view")
    }
}

fn fault_of(r: &http::Response) -> Fault {
    assert_eq!(r.status, 500, "{}", r.text());
    Fault::decode(&r.text()).unwrap_or_else(|| panic!("not a fault: {}", r.text()))
}

async fn start(cfg: SimConfig) -> SimServer {
    Simulator::new(cfg)
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("serve")
}

/// A simulator for `cfg` and a client logged in to it, speaking the emulated release's
/// vim25 version.
async fn session(cfg: SimConfig) -> (SimServer, Client, ServiceContent) {
    let action = soap_action("urn:vim25", cfg.vcenter_version.api_version());
    let server = start(cfg).await;
    let mut c = Client::new(&server, &action);
    let sc = c.login().await;
    (server, c, sc)
}

/// Every inventory type a root view holds in these tests.
const INVENTORY: &[&str] = &["ClusterComputeResource", "HostSystem", "VirtualMachine"];

/// The text at `path` inside `v`.
fn text_at(v: &PropertyValue, path: &str) -> Option<String> {
    v.get(path).and_then(PropertyValue::text)
}

/// A `Fetch` of `prop` on `kind:id`.
fn fetch(kind: &str, id: &str, prop: &str) -> String {
    Fetch {
        obj: MoRef::new(kind, id),
        prop: prop.into(),
    }
    .encode()
}

fn small(version: VcenterVersion) -> SimConfig {
    SimConfig {
        clusters: 2,
        hosts_per_cluster: 3,
        vms_per_host: 2,
        vcenter_version: version,
        ..SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_documents_and_about_follow_the_emulated_release() {
    for version in VcenterVersion::ALL {
        let server = start(small(version)).await;
        let base = server.url();
        let (vim, vsan) = tokio::task::spawn_blocking(move || {
            (
                http::get(&format!("{base}/sdk/vimServiceVersions.xml")).expect("vim"),
                http::get(&format!("{base}/sdk/vsanServiceVersions.xml")).expect("vsan"),
            )
        })
        .await
        .expect("join");
        let api = negotiate_document(vim.status, &vim.text(), "urn:vim25", KNOWN_VIM25_VERSIONS)
            .expect("vim25 negotiated");
        assert_eq!(api, version.api_version());
        let vsan_v = negotiate_document(vsan.status, &vsan.text(), "urn:vsan", KNOWN_VSAN_VERSIONS)
            .expect("vsan negotiated");
        assert_eq!(vsan_v, version.vsan_version());
        // The negotiated version is accepted and about says the same release.
        let client = Client::new(&server, &soap_action("urn:vim25", &api));
        let sc = client.sdk(RetrieveServiceContent.encode()).await;
        assert_eq!(sc.status, 200, "{}", sc.text());
        let about = ServiceContent::decode(&sc.text()).expect("sc").about;
        assert_eq!(about.api_version, api);
        assert_eq!(about.version, version.product().0);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_soap_action_is_refused_and_an_unversioned_one_accepted() {
    let server = start(small(VcenterVersion::V7_0U3)).await;
    // The fixed 8.0U2 action of a client that does not negotiate.
    let newer = Client::new(&server, VIM25_SOAP_ACTION);
    let f = fault_of(&newer.sdk(RetrieveServiceContent.encode()).await);
    assert_eq!(f.kind, FaultKind::UnsupportedVersion);
    assert_eq!(
        f.message,
        "Request version 'urn:vim25/8.0.2.0' and namespace 'urn:vim25' are not supported"
    );
    // Read as a client reads it: a typed error.
    let err: VsanError = f.into();
    assert!(err.to_string().contains("UnsupportedVersion"), "{err}");
    for ok_action in [
        "urn:vim25/7.0.3.0",
        "urn:vim25/6.7.3",
        "urn:vim25/",
        "urn:vim25",
    ] {
        let c = Client::new(&server, ok_action);
        assert_eq!(
            c.sdk(RetrieveServiceContent.encode()).await.status,
            200,
            "{ok_action}"
        );
    }
    // /vsanHealth: a vSAN version newer than 7.0U3's is refused; govmomi's `urn:vsan/` goes
    // through (to the session check).
    for (action, kind) in [
        ("urn:vsan/8.0.0.4", FaultKind::UnsupportedVersion),
        ("urn:vsan/", FaultKind::NotAuthenticated),
    ] {
        let c = Client::new(&server, action);
        let f = fault_of(&c.health(RetrieveServiceContent.encode()).await);
        assert_eq!(f.kind, kind, "{action}");
    }
    let other_ns = Client::new(&server, "urn:pbm/7.0.3.0");
    assert_eq!(
        fault_of(&other_ns.sdk(RetrieveServiceContent.encode()).await).kind,
        FaultKind::UnsupportedVersion
    );
    server.stop().await;
}

/// Every object of a recursive root view: clusters, hosts, VMs.
fn inventory_query(
    sc: &ServiceContent,
    view: &str,
    max_objects: Option<u32>,
) -> RetrieveProperties {
    let mut q = RetrieveProperties::over_view(
        &sc.property_collector,
        view,
        vec![
            PropertySpec::new(
                "ClusterComputeResource",
                &["name", "host", "configurationEx"],
            ),
            PropertySpec::new(
                "HostSystem",
                &[
                    "name",
                    "parent",
                    "runtime.connectionState",
                    "config.vsanHostConfig",
                ],
            ),
            PropertySpec::new(
                "VirtualMachine",
                &["name", "config.instanceUuid", "runtime.host"],
            ),
        ],
    );
    q.max_objects = max_objects;
    q
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrieve_properties_ex_pages_by_default_and_by_max_objects() {
    // 3 clusters x 10 hosts x 4 VMs: 153 objects, more than one default page.
    let cfg = SimConfig {
        clusters: 3,
        hosts_per_cluster: 10,
        vms_per_host: 4,
        ..SimConfig::default()
    };
    let total = 3 + 30 + 120;
    let (server, c, sc) = session(cfg).await;
    let view = c.view(&sc, INVENTORY).await;
    for (max, page) in [(None, DEFAULT_PAGE_SIZE), (Some(7), 7), (Some(1000), total)] {
        let mut page_of = c.retrieve(inventory_query(&sc, &view, max)).await;
        let mut seen = page_of.objects.len();
        assert_eq!(seen, page.min(total), "{max:?}");
        let mut pages = 1;
        while let Some(token) = page_of.token.clone() {
            page_of = c.next_page(&sc, token.clone()).await;
            assert!(page_of.objects.len() <= page);
            seen += page_of.objects.len();
            pages += 1;
            assert!(pages <= total, "paging does not end");
            // A token is good once.
            let f = fault_of(&c.continue_retrieve(&sc, token).await);
            assert_eq!(f.kind, FaultKind::InvalidArgument);
            assert_eq!(
                f.detail,
                FaultDetail::InvalidArgument {
                    invalid_property: Some("token".into())
                }
            );
        }
        assert_eq!(seen, total, "{max:?}");
        assert_eq!(pages, total.div_ceil(page), "{max:?}");
    }
    // Cancel drops the rest: the token is gone afterwards.
    let token = c
        .retrieve(inventory_query(&sc, &view, Some(10)))
        .await
        .token
        .expect("more pages");
    assert_eq!(server.sim().open_retrievals(), 1);
    let cancel = CancelRetrieveProperties {
        collector: sc.property_collector.clone(),
        token: token.clone(),
    };
    let r = c.sdk(cancel.encode()).await;
    CancelRetrieveProperties::decode_response(&r.text()).expect("cancelled");
    assert_eq!(server.sim().open_retrievals(), 0);
    assert_eq!(
        fault_of(&c.sdk(cancel.encode()).await).kind,
        FaultKind::InvalidArgument
    );
    // Tokens belong to their session.
    let token = c
        .retrieve(inventory_query(&sc, &view, Some(10)))
        .await
        .token
        .expect("token");
    let mut other = Client::new(&server, &c.action);
    other.login().await;
    let f = fault_of(&other.continue_retrieve(&sc, token).await);
    assert_eq!(f.kind, FaultKind::InvalidArgument);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrieve_properties_answers_the_wsdl_returnval_list() {
    let (server, c, sc) = session(small(VcenterVersion::V8_0U2)).await;
    let view = c.view(&sc, &["ClusterComputeResource"]).await;
    let mut q = inventory_query(&sc, &view, None);
    q.extended = false;
    let r = c.sdk(q.encode()).await;
    let text = r.text();
    assert!(
        text.contains("<RetrievePropertiesResponse xmlns=\"urn:vim25\"><returnval><obj type=\"ClusterComputeResource\">"),
        "{text}"
    );
    assert!(
        !text.contains("<objects>") && !text.contains("<token>"),
        "{text}"
    );
    let page = RetrievePage::decode(&text).expect("answer");
    assert_eq!(page.objects.len(), 2);
    let hosts = page.objects[0].prop("host").expect("host property");
    match hosts {
        PropertyValue::MoRefs(h) => assert_eq!(h.len(), 3),
        v => panic!("host is {v:?}"),
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_property_paths_raise_invalid_property() {
    let (server, c, sc) = session(small(VcenterVersion::V8_0U3)).await;
    let view = c.view(&sc, &["ClusterComputeResource"]).await;
    for (extended, path) in [
        (true, "hosts"),
        (false, "summary.nonsense"),
        (true, "name."),
    ] {
        let mut q = RetrieveProperties::over_view(
            &sc.property_collector,
            &view,
            vec![PropertySpec::new("ClusterComputeResource", &["name", path])],
        );
        q.extended = extended;
        let f = fault_of(&c.sdk(q.encode()).await);
        assert_eq!(f.kind, FaultKind::InvalidProperty);
        assert_eq!(f.detail, FaultDetail::InvalidProperty { name: path.into() });
    }
    let cluster = server.sim().clusters()[0].moref.clone();
    let f = fault_of(
        &c.sdk(fetch("ClusterComputeResource", &cluster, "vsanConfig"))
            .await,
    );
    assert_eq!(
        f.detail,
        FaultDetail::InvalidProperty {
            name: "vsanConfig".into()
        }
    );
    // An object that does not exist.
    let f = fault_of(&c.sdk(fetch("HostSystem", "host-999999", "name")).await);
    assert_eq!(f.kind, FaultKind::ManagedObjectNotFound);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_reads_what_pyvmomi_reads() {
    let (server, c, sc) = session(small(VcenterVersion::V8_0U3)).await;
    let sim = server.sim().clone();
    let cluster = &sim.clusters()[1];
    let name = c
        .fetch("ClusterComputeResource", &cluster.moref, "name")
        .await;
    assert_eq!(name, PropertyValue::String(cluster.name.clone()));
    let hosts = c
        .fetch("ClusterComputeResource", &cluster.moref, "host")
        .await;
    assert_eq!(
        hosts,
        PropertyValue::MoRefs(
            cluster
                .hosts
                .iter()
                .map(|h| MoRef::new("HostSystem", &h.moref))
                .collect()
        )
    );
    let host = &cluster.hosts[0];
    let runtime = c.fetch("HostSystem", &host.moref, "runtime").await;
    assert_eq!(
        text_at(&runtime, "connectionState").as_deref(),
        Some("connected")
    );
    let state = c
        .fetch("HostSystem", &host.moref, "runtime.inMaintenanceMode")
        .await;
    assert_eq!(state, PropertyValue::Bool(false));
    let memory = c
        .fetch("HostSystem", &host.moref, "hardware.memorySize")
        .await;
    assert_eq!(memory, PropertyValue::Long(512 << 30));
    let vm = &host.vms[0];
    let vm_name = c
        .fetch("VirtualMachine", &vm.0, "summary.config.name")
        .await;
    assert_eq!(vm_name, PropertyValue::String(vm.1.clone()));
    let parent = c.fetch("HostSystem", &host.moref, "parent").await;
    assert_eq!(
        parent,
        PropertyValue::MoRef(MoRef::new("ClusterComputeResource", &cluster.moref))
    );
    // The walk pyVmomi scripts do: root folder -> datacenter -> host folder -> clusters.
    let dcs = c.fetch("Folder", &sc.root_folder, "childEntity").await;
    let PropertyValue::MoRefs(dcs) = dcs else {
        panic!("{dcs:?}")
    };
    let host_folder = c.fetch("Datacenter", &dcs[0].value, "hostFolder").await;
    let PropertyValue::MoRef(hf) = host_folder else {
        panic!("{host_folder:?}")
    };
    let clusters = c.fetch("Folder", &hf.value, "childEntity").await;
    assert_eq!(
        clusters,
        PropertyValue::MoRefs(
            sim.clusters()
                .iter()
                .map(|c| MoRef::new("ClusterComputeResource", &c.moref))
                .collect()
        )
    );
    // The singletons pyVmomi scripts read: si.content, sessionManager.currentSession.
    let content = c
        .fetch("ServiceInstance", "ServiceInstance", "content")
        .await;
    assert_eq!(
        text_at(&content, "about.apiVersion").as_deref(),
        Some("8.0.3.0")
    );
    let current = c
        .fetch("SessionManager", &sc.session_manager, "currentSession")
        .await;
    assert_eq!(
        text_at(&current, "userName").as_deref(),
        Some("administrator@vsphere.local")
    );
    // A container view's contents.
    let view = c.view(&sc, &["HostSystem"]).await;
    let in_view = c.fetch("ContainerView", &view, "view").await;
    let PropertyValue::MoRefs(in_view) = in_view else {
        panic!("{in_view:?}")
    };
    assert_eq!(in_view.len(), 6);
    // Without a session: NotAuthenticated.
    let anonymous = Client::new(&server, &c.action);
    assert_eq!(
        fault_of(
            &anonymous
                .sdk(fetch("ClusterComputeResource", &cluster.moref, "name"))
                .await
        )
        .kind,
        FaultKind::NotAuthenticated
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_specs_from_the_root_folder_reach_every_host() {
    let (server, c, sc) = session(small(VcenterVersion::V8_0U3)).await;
    let t = |name: &str, kind: &str, path: &str, select: &[&str]| TraversalSpec {
        name: name.into(),
        kind: kind.into(),
        path: path.into(),
        skip: false,
        select: select
            .iter()
            .map(|s| TraversalSpec {
                name: (*s).into(),
                ..TraversalSpec::default()
            })
            .collect(),
    };
    let q = RetrieveProperties {
        collector: sc.property_collector.clone(),
        objects: vec![ObjectSpec {
            obj: MoRef::new("Folder", &sc.root_folder),
            skip: true,
            select: vec![
                t("folder", "Folder", "childEntity", &["folder", "dc", "cr"]),
                t("dc", "Datacenter", "hostFolder", &["folder"]),
                t("cr", "ComputeResource", "host", &[]),
            ],
        }],
        specs: vec![PropertySpec::new("HostSystem", &["name"])],
        extended: true,
        max_objects: None,
    };
    let page = c.retrieve(q.clone()).await;
    assert_eq!(page.objects.len(), 6);
    assert!(page.objects.iter().all(|o| o.obj.kind == "HostSystem"));
    // A selection naming no traversal.
    let mut bad = q.clone();
    bad.objects[0].select[0].select.push(TraversalSpec {
        name: "nowhere".into(),
        ..TraversalSpec::default()
    });
    assert_eq!(
        fault_of(&c.sdk(bad.encode()).await).kind,
        FaultKind::InvalidArgument
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_fault_knobs_misbehave_as_documented() {
    let (server, c, sc) = session(small(VcenterVersion::V8_0U3)).await;
    let total = 2 + 6 + 12;
    let view = c.view(&sc, INVENTORY).await;
    // Endless: still a token after far more objects than exist.
    server
        .sim()
        .set_paging_fault(Some(PagingFault::EndlessToken));
    let mut page = c.retrieve(inventory_query(&sc, &view, Some(5))).await;
    let mut seen = page.objects.len();
    for _ in 0..20 {
        let token = page.token.clone().expect("a token every time");
        page = c.next_page(&sc, token).await;
        seen += page.objects.len();
    }
    assert!(seen > 3 * total && page.token.is_some());
    // Forgotten tokens: the first page is fine, any continuation is InvalidArgument.
    server
        .sim()
        .set_paging_fault(Some(PagingFault::ForgetTokens));
    let page = c.retrieve(inventory_query(&sc, &view, Some(5))).await;
    assert_eq!(page.objects.len(), 5);
    let f = fault_of(&c.continue_retrieve(&sc, page.token.expect("token")).await);
    assert_eq!(f.kind, FaultKind::InvalidArgument);
    // Empty first page: no object, a token, then every object.
    server
        .sim()
        .set_paging_fault(Some(PagingFault::EmptyFirstPage));
    let mut page = c.retrieve(inventory_query(&sc, &view, None)).await;
    assert!(page.objects.is_empty() && page.token.is_some());
    let mut seen = 0;
    while let Some(token) = page.token.clone() {
        page = c.next_page(&sc, token).await;
        seen += page.objects.len();
    }
    assert_eq!(seen, total);
    server.sim().set_paging_fault(None);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cookie_is_secure_only_over_https() {
    let sim = Simulator::new(small(VcenterVersion::V8_0U3));
    let plain = sim
        .clone()
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("http");
    let tls = vcsim::SimTls::localhost().expect("tls");
    let secure = sim
        .serve_tls("127.0.0.1:0".parse().expect("addr"), &tls)
        .await
        .expect("https");
    let login = Login::new("administrator@vsphere.local", "VMware1!").encode();
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client");
    let mut cookies = Vec::new();
    for server in [&plain, &secure] {
        let r = client
            .post(format!("{}/sdk", server.url()))
            .header("SOAPAction", "urn:vim25/8.0.3.0")
            .body(login.clone())
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 200);
        let set = r
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .expect("set-cookie")
            .to_owned();
        assert!(set.starts_with("vmware_soap_session=\""), "{set}");
        assert!(set.contains("HttpOnly"), "{set}");
        cookies.push(set);
    }
    assert!(!cookies[0].contains("Secure"), "plain http: {}", cookies[0]);
    assert!(cookies[1].contains("Secure"), "https: {}", cookies[1]);
    plain.stop().await;
    secure.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_vcenter_pages_its_whole_inventory() {
    // 1 cluster x 64 hosts x 78 VMs (4,992 VMs), pages of 100.
    let cfg = SimConfig {
        clusters: 1,
        hosts_per_cluster: 64,
        vms_per_host: 78,
        disk_groups_per_host: 1,
        capacity_disks_per_group: 1,
        ..SimConfig::default()
    };
    let (server, c, sc) = session(cfg).await;
    let view = c.view(&sc, INVENTORY).await;
    let mut page = c.retrieve(inventory_query(&sc, &view, Some(100))).await;
    let mut vm_names = std::collections::HashSet::new();
    let mut pages = 1;
    loop {
        assert!(page.objects.len() <= 100);
        for o in &page.objects {
            if o.obj.kind == "VirtualMachine" {
                let name = o.prop("name").and_then(PropertyValue::text).expect("name");
                vm_names.insert(name);
            }
        }
        let Some(token) = page.token.clone() else {
            break;
        };
        page = c.next_page(&sc, token).await;
        pages += 1;
        assert!(pages <= 60, "more pages than objects allow");
    }
    assert_eq!(vm_names.len(), 64 * 78);
    assert_eq!(pages, (1 + 64 + 64 * 78usize).div_ceil(100));
    server.stop().await;
}
