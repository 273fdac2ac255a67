//! The inventory as a real vCenter serves it: paged (`maxObjects`, `token`,
//! `ContinueRetrievePropertiesEx`), API versions negotiated from the service-versions
//! documents and named in every `SOAPAction`, and every way those can go wrong (endless or
//! forgotten tokens, empty pages, missing or broken documents): a typed error with a reason
//! label, the previous inventory kept, no hang, no panic.

mod vsan_support;

use std::time::Duration;

use vcsim::{PagingFault, SimConfig, SimServer, Simulator, VcenterVersion};
use vsan_exporter::client::InventoryPaging;
use vsan_exporter::engine::{Engine, EngineOptions};
use vsan_support::{
    T0, engine_options, engine_with_registry, samples, serve_router, target, value,
};
use vsanobs_core::testutil::{ParsedFamily, parse};
use vsanobs_core::{Format, Registry};

struct Setup {
    sim: Simulator,
    engine: Engine,
    registry: Registry,
}

impl Setup {
    fn families(&self) -> Vec<ParsedFamily> {
        parse(&self.registry.encode_to_string(Format::PrometheusText)).expect("output parses")
    }

    fn text(&self) -> String {
        self.registry.encode_to_string(Format::PrometheusText)
    }

    fn success(&self, cluster: &str) -> Option<f64> {
        value(
            &self.families(),
            "vsan_exporter_collect_success",
            &[("vcenter", "vc-test"), ("cluster_name", cluster)],
        )
    }

    fn inventory_errors(&self, reason: &str) -> f64 {
        value(
            &self.families(),
            "vsan_exporter_inventory_errors_total",
            &[("vcenter", "vc-test"), ("reason", reason)],
        )
        .unwrap_or(0.0)
    }

    fn api(&self, api: &str) -> (String, String) {
        let fams = self.families();
        let want = [("vcenter", "vc-test"), ("api", api)];
        let s = samples(&fams, "vsan_exporter_api_version_info", &want)
            .next()
            .expect("api version info");
        (
            s.label("version").unwrap_or_default().to_owned(),
            s.label("source").unwrap_or_default().to_owned(),
        )
    }

    /// Asserts that the last collection of every cluster succeeded; `why` heads the message.
    fn assert_every_cluster_collected(&self, why: &str) {
        for c in self.sim.clusters() {
            assert_eq!(
                self.success(&c.name),
                Some(1.0),
                "{why}: {}:\n{}",
                c.name,
                self.text()
            );
        }
    }

    /// Stops the engine, then `server`.
    async fn shutdown(self, server: SimServer) {
        self.engine.shutdown().await;
        server.stop().await;
    }
}

/// An engine with `paging` against `server`.
fn setup(server: &SimServer, url: &str, paging: InventoryPaging, opts: EngineOptions) -> Setup {
    let cfg = server.sim().config();
    let mut t = target(url, &cfg.user, &cfg.password);
    t.client.paging = paging;
    let (engine, registry) = engine_with_registry(t, opts);
    Setup {
        sim: server.sim().clone(),
        engine,
        registry,
    }
}

async fn serve(cfg: SimConfig) -> SimServer {
    let sim = Simulator::new(cfg);
    sim.freeze_at(T0);
    sim.serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("simulator")
}

/// A simulator for `cfg` and an engine against it, paging by 5.
async fn start(cfg: SimConfig) -> (SimServer, Setup) {
    let server = serve(cfg).await;
    let s = setup(&server, &server.url(), PAGES_OF_5, engine_options());
    (server, s)
}

fn small() -> SimConfig {
    SimConfig {
        clusters: 2,
        esa_clusters: 1,
        hosts_per_cluster: 3,
        disk_groups_per_host: 1,
        vms_per_host: 4,
        pnics_per_host: 1,
        ..SimConfig::default()
    }
}

const PAGES_OF_5: InventoryPaging = InventoryPaging {
    page_size: 5,
    max_pages: 25,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_emulated_release_is_collected_with_its_own_api_version() {
    for version in VcenterVersion::ALL {
        let (server, s) = start(SimConfig {
            vcenter_version: version,
            ..small()
        })
        .await;
        s.engine.collect_once().await;
        s.assert_every_cluster_collected(&version.to_string());
        // The versions the documents offer, not a fixed one: a newer one would be refused.
        assert_eq!(
            s.api("vim25"),
            (version.api_version().to_owned(), "document".to_owned()),
            "{version}"
        );
        assert_eq!(
            s.api("vsan"),
            (version.vsan_version().to_owned(), "document".to_owned()),
            "{version}"
        );
        // Every VM of the paged inventory is named.
        let fams = s.families();
        let vms: Vec<&str> = samples(&fams, "vsan_vm_io_operations_per_second", &[("op", "read")])
            .filter_map(|x| x.label("vm_name"))
            .collect();
        assert_eq!(vms.len(), 3 * 3 * 4, "{version}");
        assert!(vms.iter().all(|n| n.starts_with("app-")), "{vms:?}");
        // ESA came with 8.0: a 7.0U3 neither lists its entity types nor is asked for them.
        let esa = samples(&fams, "vsan_esa_disk_device_io_operations_per_second", &[]).count();
        if version == VcenterVersion::V7_0U3 {
            assert_eq!(esa, 0, "{version}");
        } else {
            assert!(esa > 0, "{version}");
        }
        s.shutdown(server).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulated_7_0u3_refuses_a_newer_soap_action() {
    // The check that makes the test above meaningful: a client that sent 8.0.3.0 to a
    // 7.0U3 would fail.
    let server = serve(SimConfig {
        vcenter_version: VcenterVersion::V7_0U3,
        ..small()
    })
    .await;
    let body = vsanobs_core::vsan::protocol::session::RetrieveServiceContent.encode();
    let resp = reqwest::Client::new()
        .post(format!("{}/sdk", server.url()))
        .header("SOAPAction", "urn:vim25/8.0.3.0")
        .header("Content-Type", "text/xml; charset=utf-8")
        .body(body)
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 500);
    let text = resp.text().await.expect("body");
    assert!(text.contains("not supported"), "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_cluster_of_64_hosts_and_5000_vms_in_pages_of_100() {
    let server = serve(SimConfig {
        clusters: 1,
        hosts_per_cluster: 64,
        disk_groups_per_host: 2,
        capacity_disks_per_group: 2,
        vms_total: Some(5_000),
        pnics_per_host: 2,
        ..SimConfig::default()
    })
    .await;
    let opts = EngineOptions {
        cluster_timeout: Duration::from_secs(60),
        ..engine_options()
    };
    let paging = InventoryPaging {
        page_size: 100,
        ..InventoryPaging::default()
    };
    let s = setup(&server, &server.url(), paging, opts);
    s.engine.collect_once().await;
    let c = &s.sim.clusters()[0];
    assert_eq!(s.success(&c.name), Some(1.0), "{}", s.text());
    let fams = s.families();
    let mut vms: Vec<&str> = samples(&fams, "vsan_vm_io_operations_per_second", &[("op", "read")])
        .filter_map(|x| x.label("vm_name"))
        .collect();
    vms.sort_unstable();
    vms.dedup();
    let mut want: Vec<&str> = c
        .hosts
        .iter()
        .flat_map(|h| h.vms.iter().map(|v| v.1.as_str()))
        .collect();
    want.sort_unstable();
    assert_eq!(want.len(), 5_000);
    assert_eq!(vms, want, "every VM named by the paged inventory");
    let hosts = samples(
        &fams,
        "vsan_host_domclient_io_operations_per_second",
        &[("op", "read")],
    )
    .filter(|x| x.label("host_name").is_some_and(|n| n.starts_with("esx-")))
    .count();
    assert_eq!(hosts, 64);
    assert_eq!(s.inventory_errors("inventory_too_many_pages"), 0.0);
    assert_eq!(
        s.sim.open_retrievals(),
        0,
        "every retrieval read to its end"
    );
    s.shutdown(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_token_is_cancelled_and_the_previous_inventory_kept() {
    let (server, s) = start(small()).await;
    s.engine.collect_once().await;
    s.sim.set_paging_fault(Some(PagingFault::EndlessToken));
    s.sim.advance(300);
    s.engine.refresh_inventory();
    tokio::time::timeout(Duration::from_secs(60), s.engine.collect_once())
        .await
        .expect("no hang");
    assert_eq!(
        s.inventory_errors("inventory_too_many_pages"),
        1.0,
        "{}",
        s.text()
    );
    assert_eq!(
        s.sim.open_retrievals(),
        0,
        "the endless retrieval was cancelled"
    );
    s.assert_every_cluster_collected("previous inventory kept");
    // Recovery.
    s.sim.set_paging_fault(None);
    s.engine.refresh_inventory();
    s.sim.advance(300);
    s.engine.collect_once().await;
    assert_eq!(s.inventory_errors("inventory_too_many_pages"), 1.0);
    s.shutdown(server).await;
}

/// A retrieval the deadline cuts off still cancels its retrieval and destroys its view: a
/// slow vCenter does not collect one leftover of each per cycle in the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inventory_cut_off_by_its_deadline_leaves_nothing_open() {
    let server = serve(small()).await;
    let opts = EngineOptions {
        cluster_timeout: Duration::from_secs(2),
        ..engine_options()
    };
    // No page bound worth the name: only the deadline ends the endless retrieval.
    let endless = InventoryPaging {
        page_size: 5,
        max_pages: u32::MAX,
    };
    let s = setup(&server, &server.url(), endless, opts);
    s.sim.set_paging_fault(Some(PagingFault::EndlessToken));
    for _ in 0..2 {
        s.engine.refresh_inventory();
        tokio::time::timeout(Duration::from_secs(60), s.engine.collect_once())
            .await
            .expect("no hang");
    }
    assert_eq!(s.inventory_errors("timeout"), 2.0, "{}", s.text());
    assert_eq!(
        s.sim.open_retrievals(),
        0,
        "the cut-off retrieval was cancelled"
    );
    assert_eq!(s.sim.open_views(), 0, "the view was destroyed");
    s.shutdown(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_token_on_the_first_inventory_fails_with_its_reason() {
    let (server, s) = start(small()).await;
    s.sim.set_paging_fault(Some(PagingFault::EndlessToken));
    tokio::time::timeout(Duration::from_secs(60), s.engine.collect_once())
        .await
        .expect("no hang");
    assert_eq!(s.inventory_errors("inventory_too_many_pages"), 1.0);
    // Nothing known yet: the vCenter's placeholder fails with the reason.
    assert_eq!(s.success(""), Some(0.0));
    assert_eq!(
        value(
            &s.families(),
            "vsan_exporter_fetch_errors_total",
            &[
                ("vcenter", "vc-test"),
                ("cluster_name", ""),
                ("reason", "inventory_too_many_pages")
            ]
        ),
        Some(1.0),
        "{}",
        s.text()
    );
    s.shutdown(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_token_is_a_typed_error_and_the_previous_inventory_kept() {
    let (server, s) = start(small()).await;
    s.engine.collect_once().await;
    s.sim.set_paging_fault(Some(PagingFault::ForgetTokens));
    s.engine.refresh_inventory();
    s.sim.advance(300);
    s.engine.collect_once().await;
    assert_eq!(
        s.inventory_errors("inventory_token_rejected"),
        1.0,
        "{}",
        s.text()
    );
    s.assert_every_cluster_collected("previous inventory kept");
    s.shutdown(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_without_objects_but_with_a_token_is_followed() {
    let (server, s) = start(small()).await;
    s.sim.set_paging_fault(Some(PagingFault::EmptyFirstPage));
    s.engine.collect_once().await;
    s.assert_every_cluster_collected("the empty first page was followed");
    let fams = s.families();
    assert!(
        samples(&fams, "vsan_exporter_inventory_errors_total", &[])
            .next()
            .is_none()
    );
    let vms = samples(&fams, "vsan_vm_io_operations_per_second", &[("op", "read")])
        .filter(|x| x.label("vm_name").is_some_and(|n| n.starts_with("app-")))
        .count();
    assert_eq!(vms, 3 * 3 * 4);
    s.shutdown(server).await;
}

/// The simulator behind a front that serves `vim` and `vsan` (status, body) for the two
/// versions documents instead of the simulator's.
async fn with_documents(
    server: &SimServer,
    vim: (u16, &'static str),
    vsan: (u16, &'static str),
) -> (String, tokio::sync::oneshot::Sender<()>) {
    use axum::http::StatusCode;
    use axum::routing::get;
    let doc = |(status, body): (u16, &'static str)| {
        get(move || async move { (StatusCode::from_u16(status).expect("status"), body) })
    };
    let app = axum::Router::new()
        .route("/sdk/vimServiceVersions.xml", doc(vim))
        .route("/sdk/vsanServiceVersions.xml", doc(vsan))
        .fallback_service(server.sim().clone().router());
    let (addr, stop) = serve_router(app).await;
    (format!("http://{addr}"), stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_versions_documents_fall_back_with_their_reason() {
    let unknown = r#"<?xml version="1.0" encoding="UTF-8"?>
<namespaces version="1.0"><namespace><name>urn:vim25</name><version>9.9.9.9</version><priorVersions><version>1.0</version></priorVersions></namespace><namespace><name>urn:vsan</name><version>99.0</version></namespace></namespaces>"#;
    // A document that would be good but for its size: read up to the client's bound, it is
    // cut there and reads as malformed.
    let huge: &'static str = Box::leak(
        format!(
            r#"<namespaces version="1.0"><!-- {} --><namespace><name>urn:vim25</name><version>8.0.3.0</version></namespace><namespace><name>urn:vsan</name><version>8.0.0.4</version></namespace></namespaces>"#,
            "x".repeat(vsan_exporter::client::MAX_VERSIONS_DOCUMENT)
        )
        .into_boxed_str(),
    );
    let cases: [((u16, &'static str), &str); 5] = [
        ((404, "not here"), "missing"),
        ((200, huge), "malformed"),
        ((200, ""), "empty"),
        (
            (
                200,
                "<namespaces version=\"1.0\"><namespace><name>urn:vim25",
            ),
            "malformed",
        ),
        ((200, unknown), "no_known_version"),
    ];
    for version in [VcenterVersion::V7_0U3, VcenterVersion::V8_0U3] {
        let server = serve(SimConfig {
            vcenter_version: version,
            ..small()
        })
        .await;
        for (doc, reason) in cases {
            let (url, stop) = with_documents(&server, doc, doc).await;
            let s = setup(&server, &url, PAGES_OF_5, engine_options());
            s.engine.collect_once().await;
            assert_eq!(
                s.api("vim25"),
                ("7.0.3.0".to_owned(), reason.to_owned()),
                "{version} {reason}"
            );
            assert_eq!(
                s.api("vsan"),
                ("unversioned".to_owned(), reason.to_owned()),
                "{version} {reason}"
            );
            s.assert_every_cluster_collected(&format!(
                "{version} {reason}: the fallback is accepted"
            ));
            s.engine.shutdown().await;
            let _ = stop.send(());
        }
        server.stop().await;
    }
}
