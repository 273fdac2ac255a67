//! The promtool unit tests of the vSAN alert rules ([`rule_tests`]).

use vsanobs_core::artifacts::{
    AlertRule, AlertTest, ExpectedAlert, InputSeries, RuleTest, RuleTestFile,
};
use vsanobs_core::vsan::catalogue as cat;

use super::{MIN, RulesConfig, alert_rules, duration, fmt_num, name, names};
use crate::engine::self_metrics as sm;

const JOB: &str = "vsan";
const INSTANCE: &str = "vsan-exporter:9842";
const VCENTER: &str = "vc-1.example.com";
const CLUSTER_NAME: &str = "prod-a";
const CLUSTER_UUID: &str = "52a1b2c3-d4e5-f607-1829-3a4b5c6d7e8f";

/// The series labels of the test cluster: job and instance, then the cluster's (`uuid`:
/// with `cluster_uuid`, as the cluster families have it).
fn test_labels(uuid: bool) -> Vec<(String, String)> {
    let mut l = vec![
        ("instance".to_owned(), INSTANCE.to_owned()),
        ("job".to_owned(), JOB.to_owned()),
        ("vcenter".to_owned(), VCENTER.to_owned()),
        ("cluster_name".to_owned(), CLUSTER_NAME.to_owned()),
    ];
    if uuid {
        l.push(("cluster_uuid".to_owned(), CLUSTER_UUID.to_owned()));
    }
    l
}

fn cluster_series(metric: &str, values: String) -> InputSeries {
    let mut s = InputSeries::new(metric, values);
    s.labels = test_labels(true);
    s
}

fn self_series(metric: &str, values: String) -> InputSeries {
    let mut s = InputSeries::new(metric, values);
    s.labels = test_labels(false);
    s
}

/// The alert `rule` raises from a series with labels `labels`: those, then the rule's, in
/// promtool's order (it compares sets); annotations expanded.
fn expected(rule: &AlertRule, labels: &[(String, String)]) -> ExpectedAlert {
    let mut all: Vec<(String, String)> = labels.to_vec();
    all.extend(rule.labels.iter().cloned());
    let annotations = rule
        .annotations
        .iter()
        .map(|(k, v)| {
            let mut text = v.clone();
            for (name, value) in &all {
                text = text.replace(&format!("{{{{ $labels.{name} }}}}"), value);
            }
            (k.clone(), text)
        })
        .collect();
    ExpectedAlert::new(all, annotations)
}

fn with(labels: &[(String, String)], extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut l = labels.to_vec();
    l.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    l
}

/// The promtool unit tests of [`alert_rules`] (`docs/rules/vsan.test.yml` for the default
/// config): for every alert (and every `source` of the two that have several) a case that
/// fires and one that stays quiet, with series shaped from the thresholds and durations of
/// `c`, one sample per minute at time scale 1 (per second at scale 60). `rules_file` is the
/// rules file name as seen from the test file's directory.
pub fn rule_tests(c: &RulesConfig, rules_file: &str) -> RuleTestFile {
    let group = alert_rules(c);
    let rules: Vec<&AlertRule> = group.alerts().collect();
    // One tick is a minute at scale 1; every time below counts ticks.
    let tick = c.scaled_ms(MIN);
    let ticks = |secs: u64| secs.div_ceil(MIN);
    let at = |n: u64| duration(n * tick);
    let tick_secs = tick as f64 / 1000.0;
    let len = ticks(c.trend_window) + ticks(c.full_for) + ticks(c.health_yellow_for) + 30;
    let flat = |v: f64| format!("{}x{len}", fmt_num(v));
    let cl = test_labels(true);
    let own = test_labels(false);

    let mut cases: Vec<RuleTest> = Vec::new();
    let mut case = |name: &str,
                    series: Vec<InputSeries>,
                    eval: u64,
                    rule: usize,
                    fire: Option<Vec<(String, String)>>| {
        let mut check = AlertTest::new(rules[rule].name.clone(), at(eval));
        if let Some(labels) = fire {
            check = check.expect(expected(rules[rule], &labels));
        }
        let mut t = RuleTest::new(name).alert_test(check);
        t.interval = at(1);
        t.input_series = series;
        cases.push(t);
    };

    // Health: the stateset with one status at 1.
    let health = |status: &str| -> Vec<InputSeries> {
        ["green", "yellow", "red", "unknown"]
            .into_iter()
            .map(|s| {
                cluster_series(names::HEALTH_STATUS, flat(f64::from(u8::from(s == status))))
                    .label("status", s)
            })
            .collect()
    };
    let eval = ticks(c.health_red_for) + 5;
    case(
        "health red fires",
        health("red"),
        eval,
        0,
        Some(with(&cl, &[("status", "red")])),
    );
    case("health yellow is not red", health("yellow"), eval, 0, None);
    let eval = ticks(c.health_yellow_for) + 5;
    case(
        "health yellow fires",
        health("yellow"),
        eval,
        1,
        Some(with(&cl, &[("status", "yellow")])),
    );
    case("health green is quiet", health("green"), eval, 1, None);

    // Latency: read over the threshold, write under it.
    let latency = name(&cat::CLUSTER_DOMCLIENT_LATENCY);
    let lat = |read: f64| {
        vec![
            cluster_series(latency, flat(read)).label("op", "read"),
            cluster_series(latency, flat(c.latency_seconds / 2.0)).label("op", "write"),
            cluster_series(latency, flat(c.latency_seconds * 10.0)).label("op", "unmap"),
        ]
    };
    let eval = ticks(c.latency_for) + 5;
    case(
        "read latency over the threshold fires",
        lat(c.latency_seconds * 2.0),
        eval,
        2,
        Some(with(&cl, &[("op", "read")])),
    );
    case(
        "latency under the threshold is quiet (unmap latency does not count)",
        lat(c.latency_seconds / 2.0),
        eval,
        2,
        None,
    );

    let congestion = name(&cat::CLUSTER_DOMCLIENT_CONGESTION);
    let eval = ticks(c.congestion_for) + 5;
    case(
        "congestion over the threshold fires",
        vec![cluster_series(congestion, flat(c.congestion * 2.0))],
        eval,
        3,
        Some(cl.clone()),
    );
    case(
        "congestion under the threshold is quiet",
        vec![cluster_series(congestion, flat(c.congestion / 2.0))],
        eval,
        3,
        None,
    );

    // Capacity: used over total.
    let total = 100e12;
    let capacity = |used_ratio: f64| {
        let used = total * used_ratio;
        vec![
            cluster_series(names::CAPACITY_TOTAL, flat(total)),
            cluster_series(names::CAPACITY_USED, flat(used)),
            cluster_series(names::CAPACITY_FREE, flat(total - used)),
        ]
    };
    let between = (c.capacity_warning_ratio + c.capacity_critical_ratio) / 2.0;
    let above = (c.capacity_critical_ratio + 1.0) / 2.0;
    let eval = ticks(c.capacity_for) + 5;
    case(
        "used over the warning ratio fires",
        capacity(between),
        eval,
        4,
        Some(cl.clone()),
    );
    case(
        "used under the warning ratio is quiet",
        capacity(c.capacity_warning_ratio / 2.0),
        eval,
        4,
        None,
    );
    case(
        "used over the critical ratio fires",
        capacity(above),
        eval,
        5,
        Some(cl.clone()),
    );
    case(
        "used between the ratios is not critical",
        capacity(between),
        eval,
        5,
        None,
    );

    // Days until full: free space falling so that it runs out in a quarter of `full_in`
    // (fires) or in four times `full_in` (quiet); both stay positive over the test.
    let free0 = 50e12;
    let full_ticks = ticks(c.full_in);
    let eval = ticks(c.trend_window) + ticks(c.full_for) + 5;
    let falling = |runs_out_in_ticks: f64| {
        vec![cluster_series(
            names::CAPACITY_FREE,
            format!(
                "{}-{}x{len}",
                fmt_num(free0),
                fmt_num((free0 / runs_out_in_ticks).ceil())
            ),
        )]
    };
    case(
        "free space running out within the horizon fires",
        falling(full_ticks as f64 / 4.0),
        eval,
        6,
        Some(cl.clone()),
    );
    case(
        "free space running out after the horizon is quiet",
        falling(full_ticks as f64 * 4.0),
        eval,
        6,
        None,
    );

    // Resync: a backlog that stays, one that drains, none at all.
    let backlog = 500e9;
    let eval = ticks(c.resync_window) + ticks(c.resync_for) + 5;
    let drain_step = (backlog / (eval as f64 * 2.0)).ceil();
    case(
        "a resync backlog that does not go down fires",
        vec![cluster_series(names::RESYNC_BYTES, flat(backlog))],
        eval,
        7,
        Some(cl.clone()),
    );
    case(
        "a resync backlog that drains is quiet",
        vec![cluster_series(
            names::RESYNC_BYTES,
            format!("{}-{}x{len}", fmt_num(backlog), fmt_num(drain_step)),
        )],
        eval,
        7,
        None,
    );
    case(
        "no resync is quiet",
        vec![cluster_series(names::RESYNC_BYTES, flat(0.0))],
        eval,
        7,
        None,
    );

    // Collection failing: performance and health queries.
    let eval = ticks(c.collect_failing_for) + 5;
    let success = name(&sm::COLLECT_SUCCESS);
    case(
        "failing performance collection fires",
        vec![self_series(success, flat(0.0))],
        eval,
        8,
        Some(own.clone()),
    );
    case(
        "successful performance collection is quiet",
        vec![self_series(success, flat(1.0))],
        eval,
        8,
        None,
    );
    let eval = ticks(c.health_failing_for) + 5;
    case(
        "failing health collection fires",
        vec![self_series(names::HEALTH_SUCCESS, flat(0.0))],
        eval,
        9,
        Some(own.clone()),
    );
    case(
        "successful health collection is quiet",
        vec![self_series(names::HEALTH_SUCCESS, flat(1.0))],
        eval,
        9,
        None,
    );

    // Stale data: promtool's clock starts at 0, so a timestamp that keeps up is `0+tick`
    // and one that stopped is constant.
    let last = name(&sm::LAST_SAMPLE);
    let eval = ticks(c.stale_after) + ticks(c.stale_for) + 5;
    let stamps = |step: f64| {
        ["host-domclient", "cluster-domclient"]
            .into_iter()
            .map(|et| {
                self_series(last, format!("0+{}x{len}", fmt_num(step))).label("entity_type", et)
            })
            .collect::<Vec<_>>()
    };
    case(
        "samples that stopped coming are stale",
        stamps(0.0),
        eval,
        10,
        Some(own.clone()),
    );
    case(
        "samples that keep coming are fresh",
        stamps(tick_secs),
        eval,
        10,
        None,
    );
    let eval = ticks(c.health_stale_after) + ticks(c.stale_for) + 5;
    let age = names::HEALTH_AGE;
    case(
        "a health answer that keeps ageing is stale",
        vec![self_series(age, format!("0+{}x{len}", fmt_num(tick_secs)))],
        eval,
        11,
        Some(own.clone()),
    );
    // Renewed every 5 ticks: 0, 1, 2, 3, 4 ticks old, then new again.
    let sawtooth = vec![format!("0+{}x4", fmt_num(tick_secs)); (len / 5 + 1) as usize].join(" ");
    case(
        "a health answer renewed every 5 minutes is fresh",
        vec![self_series(age, sawtooth)],
        eval,
        11,
        None,
    );

    let insecure = name(&sm::INSECURE_TLS);
    let vc = vec![
        ("instance".to_owned(), INSTANCE.to_owned()),
        ("job".to_owned(), JOB.to_owned()),
        ("vcenter".to_owned(), VCENTER.to_owned()),
    ];
    let vc_series = |v: f64| {
        let mut s = InputSeries::new(insecure, flat(v));
        s.labels = vc.clone();
        vec![s]
    };
    let eval = ticks(c.insecure_for) + 5;
    case(
        "certificate verification off fires",
        vc_series(1.0),
        eval,
        12,
        Some(vc.clone()),
    );
    case(
        "certificate verification on is quiet",
        vc_series(0.0),
        eval,
        12,
        None,
    );

    let mut file = RuleTestFile::new(rules_file);
    file.evaluation_interval = at(1);
    file.tests = cases;
    file
}
