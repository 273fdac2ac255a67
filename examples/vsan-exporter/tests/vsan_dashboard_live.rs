//! Live: the exporter on its simulator, scraped by a real Prometheus that evaluates the
//! shipped vSAN alert rules (rendered at time scale 60, so `for: 5m` is 5 s). Every query of
//! every dashboard panel returns data at some point of the scenario, and with a host failed
//! then recovered and the simulator's clock advanced, `VsanClusterHealthRed` and
//! `VsanClusterResyncNotDraining` fire and then clear.

mod vsan_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use vcsim::{Fault, SimConfig, Simulator};
use vsan_exporter::artifacts::{self, RulesConfig};
use vsan_exporter::engine::EngineOptions;
use vsan_exporter::summary::SummaryOptions;
use vsan_support::{Rig, engine_options};
use vsanobs_testkit::{Prometheus, PrometheusConfig, vector_samples};

/// The options with the health query due at every collection (one second apart).
fn fast_health(opts: EngineOptions) -> EngineOptions {
    EngineOptions {
        summary: SummaryOptions {
            health_interval: Duration::from_secs(1),
            ..SummaryOptions::default()
        },
        ..opts
    }
}

/// The families of the health, capacity and resync collection the dashboard and the rules
/// query, as the exporter must serve them once it has collected (the resync by reason only
/// while a resync runs).
const COLLECTED: &[&str] = &[
    artifacts::names::HEALTH_STATUS,
    artifacts::names::HEALTH_GROUP_STATUS,
    artifacts::names::HEALTH_TEST_STATUS,
    artifacts::names::HEALTH_SUCCESS,
    artifacts::names::HEALTH_AGE,
    artifacts::names::HEALTH_DURATION,
    artifacts::names::CAPACITY_TOTAL,
    artifacts::names::CAPACITY_FREE,
    artifacts::names::CAPACITY_USED,
    artifacts::names::CAPACITY_USED_BY_TYPE,
    artifacts::names::CAPACITY_SAVINGS,
    artifacts::names::CAPACITY_SAVINGS_RATIO,
    artifacts::names::RESYNC_BYTES,
    artifacts::names::RESYNC_OBJECTS,
    artifacts::names::RESYNC_ETA,
];

const DEADLINE: Duration = Duration::from_secs(90);

/// A dashboard expression with its template variables set to "All" and Grafana's interval
/// variables to what the scrape interval allows.
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "5s")
        .replace("$vcenter", ".*")
        .replace("$cluster", ".*")
        .replace("$host", ".*")
        .replace("$vm", ".*")
}

/// Runs every expression once; adds those that returned data to `seen`.
fn sweep(prom: &Prometheus, exprs: &[String], seen: &mut BTreeSet<String>) {
    for e in exprs {
        if seen.contains(e) {
            continue;
        }
        let r = prom
            .query(&substitute(e))
            .unwrap_or_else(|err| panic!("dashboard query does not run: {e}\n{err}"));
        if r.as_array().is_some_and(|a| !a.is_empty()) {
            seen.insert(e.clone());
        }
    }
}

/// The state (`pending`, `firing`) of alert `name` for cluster `cluster`, if it is active.
fn alert_state(prom: &Prometheus, name: &str, cluster: &str) -> Option<String> {
    let alerts = prom
        .alerts()
        .unwrap_or_else(|e| panic!("/api/v1/alerts: {e}"));
    alerts.as_array()?.iter().find_map(|a| {
        (a["labels"]["alertname"] == name && a["labels"]["cluster_name"] == cluster)
            .then(|| a["state"].as_str().unwrap_or_default().to_owned())
    })
}

/// Waits until alert `name` of `cluster` is in state `want` (None: not active).
fn wait_alert(prom: &Prometheus, name: &str, cluster: &str, want: Option<&str>) {
    let start = Instant::now();
    loop {
        let state = alert_state(prom, name, cluster);
        if state.as_deref() == want {
            return;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{name} of {cluster}: still {state:?}, waited for {want:?}; active alerts: {}",
            prom.alerts().map(|a| a.to_string()).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn value_of(prom: &Prometheus, promql: &str) -> f64 {
    let r = prom
        .wait_for_series(promql, DEADLINE)
        .unwrap_or_else(|e| panic!("{e}"));
    vector_samples(&r)[0].value.parse().expect("number")
}

fn wait_true(prom: &Prometheus, promql: &str) {
    prom.wait_for_series(promql, DEADLINE)
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The scenario, on a blocking thread while the exporter collects every second.
fn scenario(prom: &Prometheus, sim: &Simulator, exprs: &[String], variables: &[(String, String)]) {
    let failed_cluster = sim.clusters()[0].clone();
    let cl = failed_cluster.name.as_str();
    let host = failed_cluster.hosts[0].moref.clone();
    let clusters = sim.clusters().iter().filter(|c| c.vsan_enabled()).count();
    let mut seen = BTreeSet::new();

    // Healthy: every cluster green, neither alert active.
    wait_true(
        prom,
        &format!(
            "count({}{{status=\"green\"}} == 1) == {clusters}",
            artifacts::names::HEALTH_STATUS
        ),
    );
    for (name, query) in variables {
        let r = prom.query(query).unwrap_or_else(|e| panic!("{query}: {e}"));
        assert!(
            r.as_array().is_some_and(|a| !a.is_empty()),
            "variable {name} has no value: {query}"
        );
    }
    sweep(prom, exprs, &mut seen);
    assert_eq!(alert_state(prom, "VsanClusterHealthRed", cl), None);
    assert_eq!(alert_state(prom, "VsanClusterResyncNotDraining", cl), None);

    // A few failed performance queries, for the fetch-error panel.
    // (The exporter queries a cluster again once a new 5-minute sample is due.)
    sim.set_fault(cl, Fault::Status(503));
    sim.advance(300);
    wait_true(prom, "vsan_exporter_fetch_errors_total");
    sim.clear_fault(cl);
    wait_true(
        prom,
        &format!("vsan_exporter_collect_success{{cluster_name=\"{cl}\"}} == 1"),
    );

    // A host fails: health red, the alert fires; the dashboard's health stat says 2.
    assert!(sim.fail_host(&host), "fail_host({host})");
    wait_alert(prom, "VsanClusterHealthRed", cl, Some("firing"));
    let alerts = prom.alerts().unwrap_or_else(|e| panic!("{e}"));
    let red = alerts
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|a| a["labels"]["alertname"] == "VsanClusterHealthRed")
        })
        .expect("the firing alert");
    assert_eq!(red["labels"]["severity"], "critical", "{red}");
    let description = red["annotations"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        description.contains(&format!("cluster {cl} (vCenter vc-test)")),
        "the description names the cluster and vCenter: {red}"
    );
    let health_stat = exprs
        .iter()
        .find(|e| e.starts_with("max by (vcenter, cluster_name) ("))
        .expect("the cluster health stat");
    let code = value_of(
        prom,
        &format!(
            "({}) and on (cluster_name) vsan_exporter_collect_success{{cluster_name=\"{cl}\"}}",
            substitute(health_stat)
        ),
    );
    assert_eq!(code, 2.0, "the health stat shows red as 2");
    sweep(prom, exprs, &mut seen);

    // It comes back: a resync starts; with the simulator's clock stopped it does not drain,
    // so the resync alert fires; health is no longer red, so that alert clears.
    assert!(sim.recover_host(&host), "recover_host({host})");
    let resync = artifacts::names::RESYNC_BYTES;
    wait_true(prom, &format!("{resync}{{cluster_name=\"{cl}\"}} > 0"));
    wait_alert(prom, "VsanClusterResyncNotDraining", cl, Some("firing"));
    wait_alert(prom, "VsanClusterHealthRed", cl, None);
    sweep(prom, exprs, &mut seen);

    // The clock moves: the backlog drains in four steps, then is gone; the alert clears.
    let eta = value_of(
        prom,
        &format!("{}{{cluster_name=\"{cl}\"}}", artifacts::names::RESYNC_ETA),
    );
    assert!(eta > 0.0, "a resync with bytes left has an ETA");
    let step = (eta / 4.0).ceil() as i64 + 1;
    let mut left = value_of(prom, &format!("{resync}{{cluster_name=\"{cl}\"}}"));
    for _ in 0..4 {
        sim.advance(step);
        wait_true(prom, &format!("{resync}{{cluster_name=\"{cl}\"}} < {left}"));
        left = value_of(prom, &format!("{resync}{{cluster_name=\"{cl}\"}}"));
    }
    assert_eq!(left, 0.0, "the resync drained");
    wait_alert(prom, "VsanClusterResyncNotDraining", cl, None);
    wait_true(
        prom,
        &format!(
            "{}{{status=\"green\",cluster_name=\"{cl}\"}} == 1",
            artifacts::names::HEALTH_STATUS
        ),
    );
    sweep(prom, exprs, &mut seen);

    let never: Vec<&String> = exprs.iter().filter(|e| !seen.contains(*e)).collect();
    assert!(
        never.is_empty(),
        "dashboard queries that returned no data in any phase (healthy, host failed, \
         resyncing, recovered):\n{}",
        never
            .iter()
            .map(|e| substitute(e))
            .collect::<Vec<_>>()
            .join("\n---\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_queries_return_data_and_vsan_alerts_fire_and_clear() {
    let cfg = SimConfig {
        clusters: 2,
        esa_clusters: 1,
        hosts_per_cluster: 3,
        disk_groups_per_host: 1,
        capacity_disks_per_group: 2,
        esa_disks_per_host: 2,
        vms_per_host: 2,
        pnics_per_host: 1,
        ..SimConfig::default()
    };
    let opts = fast_health(EngineOptions {
        interval: Duration::from_secs(1),
        ..engine_options()
    });
    let rig = Rig::start(cfg, opts).await;
    rig.exporter.collect_once().await;
    let text = rig.scrape().await;
    let missing: Vec<&str> = COLLECTED
        .iter()
        .filter(|f| !text.contains(&format!("\n{f}{{")))
        .copied()
        .collect();
    assert!(
        missing.is_empty(),
        "the exporter serves none of {missing:?}: the health, capacity and resync collection \
         (branch hcr) is not merged, or names its families otherwise than the dashboard and \
         the rules"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("vsan.rules.yml");
    let scaled = RulesConfig {
        time_scale: 60,
        ..RulesConfig::default()
    };
    std::fs::write(&rules, artifacts::alert_rules(&scaled).to_yaml()).expect("write rules");
    let dashboard = artifacts::dashboard();
    let exprs = vsanobs_testkit::dashboard::panel_exprs(&dashboard.to_json());
    // `label_values(<selector>, <label>)` as the query Grafana runs for it.
    let variables: Vec<(String, String)> = dashboard
        .variables
        .iter()
        .map(|v| {
            let inner = v
                .query
                .strip_prefix("label_values(")
                .and_then(|q| q.strip_suffix(')'))
                .and_then(|q| q.rsplit_once(", "))
                .unwrap_or_else(|| panic!("variable {}: {}", v.name, v.query));
            (
                v.name.clone(),
                substitute(&format!("count by ({}) ({})", inner.1, inner.0)),
            )
        })
        .collect();

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = tokio::spawn(rig.exporter.clone().run(async {
        let _ = stopped.await;
    }));
    let target = rig.metrics_addr.to_string();
    let sim = rig.sim.sim().clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let prom = Prometheus::start(PrometheusConfig {
            scrape_targets: vec![target],
            scrape_interval: Duration::from_millis(500),
            evaluation_interval: Duration::from_millis(500),
            rule_files: vec![rules],
            ..PrometheusConfig::default()
        })
        .unwrap_or_else(|e| {
            panic!("cannot start a real Prometheus (run scripts/test to install it): {e}")
        });
        let groups = prom.rules().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            groups[0]["rules"].as_array().map(Vec::len),
            Some(13),
            "Prometheus loaded the vSAN rules: {groups}"
        );
        scenario(&prom, &sim, &exprs, &variables);
        drop(dir);
    })
    .await;
    let _ = stop.send(());
    let _ = runner.await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
