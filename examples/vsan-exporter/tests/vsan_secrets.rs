//! A canary password and every session token the simulator issued never appear in logs,
//! /metrics, error messages or Debug output; passwords are refused on the command line.

mod vsan_support;

use example_cli::{ArgError, Args};
use vcsim::{Fault, SimConfig};
use vsan_exporter::client::VcenterClient;
use vsan_exporter::engine::Engine;
use vsan_support::{LogBuf, Rig, engine_options, target};

const CANARY: &str = "canary-Pa55w0rd-7f3a9e";
const WRONG: &str = "canary-WRONG-91b2c4";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_password_and_session_tokens_never_leak() {
    let logs = LogBuf::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let cfg = SimConfig {
        clusters: 2,
        hosts_per_cluster: 2,
        disk_groups_per_host: 1,
        password: CANARY.into(),
        ..SimConfig::default()
    };
    let rig = Rig::start(cfg.clone(), engine_options()).await;
    let sim = rig.sim.sim().clone();
    let mut outputs: Vec<String> = Vec::new();

    rig.exporter.collect_once().await;
    sim.expire_sessions();
    sim.advance(300);
    rig.exporter.collect_once().await;
    for fault in [
        Fault::Status(500),
        Fault::ExpiredSession,
        Fault::Malformed,
        Fault::NotFound,
    ] {
        sim.set_fault("vsan-cluster-01", fault);
        sim.advance(300);
        rig.exporter.collect_once().await;
    }
    outputs.push(rig.scrape().await);

    // Wrong password: InvalidLogin, logged and counted.
    let bad = Engine::new(
        vec![target(&rig.sim.url(), &cfg.user, WRONG)],
        engine_options(),
    )
    .expect("exporter");
    bad.collect_once().await;
    let client =
        VcenterClient::new(target(&rig.sim.url(), &cfg.user, WRONG).client).expect("client");
    let err = client
        .ensure_session()
        .await
        .expect_err("wrong password is rejected");
    assert_eq!(err.reason(), "invalid_login");
    let mut chain = format!("{err} {err:?}");
    let mut src = std::error::Error::source(&err);
    while let Some(s) = src {
        chain.push_str(&format!(" {s} {s:?}"));
        src = s.source();
    }
    outputs.push(chain);
    let good =
        VcenterClient::new(target(&rig.sim.url(), &cfg.user, CANARY).client).expect("client");
    good.ensure_session().await.expect("login");
    outputs.push(format!(
        "{good:?} {:?} {:?}",
        target(&rig.sim.url(), &cfg.user, CANARY),
        rig.exporter
    ));
    let err = good
        .query_perf("domain-c999", "host-domclient", 0, 300)
        .await
        .expect_err("unknown cluster");
    outputs.push(format!("{err} {err:?}"));
    good.logout().await;
    rig.exporter.shutdown().await;
    bad.shutdown().await;

    outputs.push(logs.text());
    let tokens = sim.issued_tokens();
    assert!(
        tokens.len() >= 4,
        "the test must have seen several sessions"
    );
    assert!(
        outputs
            .last()
            .is_some_and(|l| l.contains("vSAN query failed") && l.contains("logged in")),
        "logs were captured"
    );
    for out in &outputs {
        assert!(!out.contains(CANARY), "password leaked into: {out}");
        assert!(!out.contains(WRONG), "wrong password leaked into: {out}");
        for t in &tokens {
            assert!(
                !out.contains(t.as_str()),
                "session token leaked into: {out}"
            );
        }
    }

    // Never from argv.
    let argv = |v: &[&str]| {
        Args::parse(
            v.iter().map(|s| s.to_string()),
            &[],
            &["web.listen-address"],
        )
    };
    assert!(matches!(
        argv(&["--vcenter.password", CANARY]),
        Err(ArgError::PasswordOnCommandLine)
    ));
    assert!(matches!(
        argv(&["--password=x"]),
        Err(ArgError::PasswordOnCommandLine)
    ));
}
