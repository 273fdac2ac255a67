//! A reloaded config file changes the collected clusters without a new login, and the
//! binary's reload path (vsanobs-hotreload with the JSON config) accepts a valid file and
//! keeps the old one on an invalid file.

mod vsan_support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use vcsim::SimConfig;
use vsan_exporter::config::FileConfig;
use vsan_support::{Rig, engine_options, target};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_targets_apply_without_a_new_login() {
    let cfg = SimConfig {
        clusters: 3,
        hosts_per_cluster: 1,
        disk_groups_per_host: 1,
        ..SimConfig::default()
    };
    let rig = Rig::start(cfg.clone(), engine_options()).await;
    let sim = rig.sim.sim().clone();
    let mut only_one = target(&rig.sim.url(), &cfg.user, &cfg.password);
    only_one.clusters = Some(vec!["vsan-cluster-02".into()]);
    rig.exporter
        .set_targets(vec![only_one])
        .await
        .expect("targets");
    rig.exporter.collect_once().await;
    let text = rig.text();
    assert!(text.contains("cluster_name=\"vsan-cluster-02\""));
    // The others are not collected, and say why.
    for line in text
        .lines()
        .filter(|l| l.contains("cluster_name=\"vsan-cluster-01\""))
    {
        assert!(
            line.starts_with("vsan_exporter_cluster_state{")
                && line.contains("state=\"excluded\"} 1"),
            "excluded cluster collected: {line}"
        );
    }
    assert!(text.contains(
        "vsan_exporter_cluster_state{vcenter=\"vc-test\",cluster_name=\"vsan-cluster-01\",state=\"excluded\"} 1"
    ));

    rig.exporter
        .set_targets(vec![target(&rig.sim.url(), &cfg.user, &cfg.password)])
        .await
        .expect("targets");
    sim.advance(300);
    rig.exporter.collect_once().await;
    let text = rig.text();
    for c in sim.clusters() {
        assert!(
            text.contains(&format!(
                "vsan_exporter_collect_success{{vcenter=\"vc-test\",cluster_name=\"{}\"}} 1",
                c.name
            )),
            "{}",
            c.name
        );
    }
    assert_eq!(
        sim.stats().logins.load(Ordering::Relaxed),
        1,
        "the session is kept across reloads"
    );

    // Dropping the vCenter logs it out and drops its series.
    rig.exporter.set_targets(Vec::new()).await.expect("targets");
    assert_eq!(sim.open_sessions(), 0);
    assert!(!rig.text().contains("vsan_cluster_domclient"));
}

#[test]
fn config_file_reloads_through_vsanobs_hotreload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("vsan.json");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "secret\n").expect("write");
    let one = format!(
        r#"{{"vcenters":[{{"name":"a","url":"https://a","user":"u","password_file":{:?}}}]}}"#,
        pw
    );
    std::fs::write(&path, &one).expect("write");
    let registry = vsanobs_core::Registry::new();
    let manager = vsanobs_hotreload::ReloadManager::<FileConfig>::builder(&path)
        .format(vsanobs_hotreload::ConfigFormat::Json)
        .validate(|c: &FileConfig| c.targets(Duration::from_secs(1)).map(|_| ()))
        .watch(false)
        .signals(false)
        .register(&registry)
        .build()
        .expect("manager");
    assert_eq!(manager.load().vcenters.len(), 1);
    let two = format!(
        r#"{{"vcenters":[{{"name":"a","url":"https://a","user":"u","password_file":{pw:?}}},{{"name":"b","url":"https://b","user":"u","password_env":"VSAN_RELOAD_TEST_UNSET_VAR"}}]}}"#
    );
    std::fs::write(&path, two).expect("write");
    assert!(
        manager.reload().is_err(),
        "a target without a resolvable password is rejected"
    );
    assert_eq!(
        manager.load().vcenters.len(),
        1,
        "the old config keeps serving"
    );
    let two = format!(
        r#"{{"vcenters":[{{"name":"a","url":"https://a","user":"u","password_file":{pw:?}}},{{"name":"b","url":"https://b","user":"u","password_file":{pw:?}}}]}}"#
    );
    std::fs::write(&path, two).expect("write");
    manager.reload().expect("valid config reloads");
    let targets = manager
        .load()
        .targets(Duration::from_secs(1))
        .expect("targets");
    assert_eq!(targets.len(), 2);
    assert_eq!(targets[1].client.credentials.password.expose(), "secret");
    assert!(
        !format!("{targets:?}").contains("secret\""),
        "Debug hides the password"
    );
}
