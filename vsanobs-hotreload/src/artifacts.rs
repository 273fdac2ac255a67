//! The alert rules ([`alert_rules`]), their promtool unit tests ([`rule_tests`]) and the
//! Grafana dashboard ([`dashboard`]) of hot reload, as data built from the crate's own metric
//! table ([`crate::metrics::METRICS`]) so they cannot drift from what is exported, and
//! rendered by [`vsanobs_core::artifacts`].
//!
//! `cargo run -p gen-docs` writes them to `docs/rules/` and
//! `docs/dashboards/` with the default [`RulesConfig`]; call the functions yourself for other
//! thresholds, windows, job selector or metric prefix.
//!
//! # Example
//!
//! ```
//! use vsanobs_hotreload::artifacts::{RulesConfig, alert_rules, rule_tests};
//!
//! let c = RulesConfig { selector: r#"job="billing""#.into(), ..RulesConfig::default() };
//! let rules = alert_rules(&c).to_yaml();
//! assert!(rules.contains("- alert: HotReloadFailureRatioHigh\n"));
//! assert!(rules.contains(r#"hot_reload_updates_total{result!="success",job="billing"}[5m]"#));
//! // Firing and quiet cases for each alert (drift: both reasons), for `promtool test rules`.
//! let tests = rule_tests(&c, "hot-reload.rules.yml");
//! assert_eq!(tests.tests.len(), 11);
//! assert!(tests.to_yaml().contains("rule_files:\n  - hot-reload.rules.yml\n"));
//! ```
//!
//! ## Note
//! The alerts (names and meaning as the design fixes them):
//!
//! | alert | fires when |
//! |---|---|
//! | `HotReloadFailureRatioHigh` | failed / attempted reloads over `failure_ratio` in `failure_window` |
//! | `HotReloadSlow` | P99 reload duration over `slow_seconds` in `slow_window` |
//! | `HotReloadRepeatedFailures` | `repeated_failures` or more failures within `repeated_window` |
//! | `HotReloadConfigDrift` | the hash changed without a successful reload (`reason="hash_changed_without_reload"`), or replicas of one job disagree on it (`reason="replicas_disagree"`) |

use vsanobs_core::artifacts::{
    AlertRule, AlertTest, Dashboard, ExpectedAlert, InputSeries, Panel, PanelKind, RuleGroup,
    RuleTest, RuleTestFile, Variable,
};

use crate::metrics::{
    ACTIVE_WORKERS, CONCURRENT_UPDATES, CONFIG_HASH, DEFAULT_DURATION_BUCKETS, DURATION_SECONDS,
    FAILED_TOTAL, HEAP_DELTA_BYTES, IN_PROGRESS, LAST_RELOAD_SUCCESSFUL, LAST_SUCCESS_TIMESTAMP,
    RELOAD_TOTAL, UPDATES_TOTAL,
};
use vsanobs_core::model::MetricDesc;

/// Names of the four alerts.
pub const ALERTS: [&str; 4] = [
    "HotReloadFailureRatioHigh",
    "HotReloadSlow",
    "HotReloadRepeatedFailures",
    "HotReloadConfigDrift",
];

/// Thresholds, windows, `for:` durations, the series selector and the metric prefix of the
/// generated rules. Durations are Prometheus duration strings (`30s`, `5m`, `1h30m`).
#[derive(Clone, Debug, PartialEq)]
pub struct RulesConfig {
    /// Label matchers added to every selector, e.g. `job="billing"` or `job=~"api|worker"`
    /// (empty: none). Default `job!=""`.
    pub selector: String,
    /// Prefix of the metric names, as given to the registry (`myapp` gives
    /// `myapp_hot_reload_total`). Default none.
    pub metric_prefix: String,
    /// Rule group name. Default `vsanobs-hot-reload`.
    pub group: String,
    /// Failure ratio threshold (0..1). Default 0.2.
    pub failure_ratio: f64,
    /// Window of the failure ratio. Default `5m`.
    pub failure_window: String,
    /// `for:` of `HotReloadFailureRatioHigh`. Default `5m`.
    pub failure_for: String,
    /// P99 duration threshold, seconds. Default 3.
    pub slow_seconds: f64,
    /// Window of the P99. Default `10m`.
    pub slow_window: String,
    /// `for:` of `HotReloadSlow`. Default `1m`.
    pub slow_for: String,
    /// Failures that count as repeated. Default 5.
    pub repeated_failures: u32,
    /// Window of the repeated failures. Default `10m`.
    pub repeated_window: String,
    /// `for:` of `HotReloadRepeatedFailures`. Default `0s`.
    pub repeated_for: String,
    /// Window in which a hash change must come with a successful reload. Default `15m`.
    pub drift_window: String,
    /// `for:` of the hash-changed drift rule. Default `1m`.
    pub drift_for: String,
    /// `for:` of the replicas-disagree drift rule (covers rolling updates). Default `15m`.
    pub disagree_for: String,
    /// Bucket bounds of `hot_reload_duration_seconds` (the slow-alert unit test picks its
    /// observations from these). Default 0.01 0.1 1 5.
    pub duration_buckets: Vec<f64>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            selector: r#"job!="""#.to_owned(),
            metric_prefix: String::new(),
            group: "vsanobs-hot-reload".to_owned(),
            failure_ratio: 0.2,
            failure_window: "5m".to_owned(),
            failure_for: "5m".to_owned(),
            slow_seconds: 3.0,
            slow_window: "10m".to_owned(),
            slow_for: "1m".to_owned(),
            repeated_failures: 5,
            repeated_window: "10m".to_owned(),
            repeated_for: "0s".to_owned(),
            drift_window: "15m".to_owned(),
            drift_for: "1m".to_owned(),
            disagree_for: "15m".to_owned(),
            duration_buckets: DEFAULT_DURATION_BUCKETS.to_vec(),
        }
    }
}

impl RulesConfig {
    fn name(&self, desc: &MetricDesc) -> String {
        if self.metric_prefix.is_empty() {
            desc.name.to_owned()
        } else {
            format!("{}_{}", self.metric_prefix, desc.name)
        }
    }

    /// `name{extra,selector}`.
    fn sel(&self, name: &str, extra: &str) -> String {
        let parts: Vec<&str> = [extra, self.selector.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() {
            name.to_owned()
        } else {
            format!("{name}{{{}}}", parts.join(","))
        }
    }
}

/// Parses a Prometheus duration (`90s`, `5m`, `1h30m`, `0s`) into seconds.
fn seconds(d: &str) -> u64 {
    let mut total = 0u64;
    let mut num = 0u64;
    let mut chars = d.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(v) = c.to_digit(10) {
            num = num * 10 + u64::from(v);
            continue;
        }
        let mult = match c {
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                num = 0;
                continue;
            }
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            'y' => 31_536_000,
            _ => 0,
        };
        total += num * mult;
        num = 0;
    }
    total
}

fn minutes_ceil(d: &str) -> u64 {
    seconds(d).div_ceil(60)
}

fn fmt_num(v: f64) -> String {
    let mut s = format!("{v}");
    if s.contains('e') {
        s = format!("{v:.6}");
    }
    s
}

fn alert(
    name: &str,
    expr: String,
    for_: &str,
    labels: &[(&str, &str)],
    summary: &str,
    description: String,
) -> AlertRule {
    let mut rule = AlertRule::new(name, expr).for_(for_);
    for (k, v) in labels {
        rule = rule.label(*k, *v);
    }
    rule.annotation("summary", summary)
        .annotation("description", description)
}

/// The alert rules (`docs/rules/hot-reload.rules.yml` for the default config): five rules
/// for the four [`ALERTS`] (`HotReloadConfigDrift` has one per `reason`), in the group
/// [`RulesConfig::group`].
pub fn alert_rules(c: &RulesConfig) -> RuleGroup {
    let updates = c.name(&UPDATES_TOTAL);
    let failed = c.name(&FAILED_TOTAL);
    let total = c.name(&RELOAD_TOTAL);
    let hash = c.name(&CONFIG_HASH);
    let last_success = c.name(&LAST_SUCCESS_TIMESTAMP);
    let bucket = format!("{}_bucket", c.name(&DURATION_SECONDS));
    let pct = fmt_num(c.failure_ratio * 100.0);
    RuleGroup::new(c.group.clone())
        .alert(alert(
            ALERTS[0],
            format!(
                "(\n  sum by (job, instance) (increase({}[{w}]))\n/\n  sum by (job, instance) (increase({}[{w}]))\n) > {}",
                c.sel(&updates, r#"result!="success""#),
                c.sel(&updates, ""),
                fmt_num(c.failure_ratio),
                w = c.failure_window
            ),
            &c.failure_for,
            &[("severity", "warning")],
            "Configuration reloads are failing.",
            format!(
                "More than {pct}% of configuration reloads of {{{{ $labels.instance }}}} (job {{{{ $labels.job }}}}) failed in the last {}; the previous config is still serving.",
                c.failure_window
            ),
        ))
        .alert(alert(
            ALERTS[1],
            format!(
                "histogram_quantile(0.99,\n  sum by (job, instance, le) (rate({}[{}]))\n) > {}",
                c.sel(&bucket, ""),
                c.slow_window,
                fmt_num(c.slow_seconds)
            ),
            &c.slow_for,
            &[("severity", "warning")],
            "Configuration reloads are slow.",
            format!(
                "The P99 configuration reload time of {{{{ $labels.instance }}}} (job {{{{ $labels.job }}}}) is over {}s over the last {}.",
                fmt_num(c.slow_seconds),
                c.slow_window
            ),
        ))
        .alert(alert(
            ALERTS[2],
            format!(
                "sum by (job, instance) (increase({}[{}])) >= {}",
                c.sel(&failed, ""),
                c.repeated_window,
                c.repeated_failures
            ),
            &c.repeated_for,
            &[("severity", "critical")],
            "Configuration reloads fail again and again.",
            format!(
                "{{{{ $labels.instance }}}} (job {{{{ $labels.job }}}}) had {} or more failed configuration reloads within {}.",
                c.repeated_failures, c.repeated_window
            ),
        ))
        .alert(alert(
            ALERTS[3],
            format!(
                "(changes({}[{w}]) > 0)\nunless on (job, instance)\n(\n  increase({}[{w}]) > 0\n  or\n  changes({}[{w}]) > 0\n)",
                c.sel(&hash, ""),
                c.sel(&total, ""),
                c.sel(&last_success, ""),
                w = c.drift_window
            ),
            &c.drift_for,
            &[("severity", "warning"), ("reason", "hash_changed_without_reload")],
            "The live configuration changed without a reload.",
            format!(
                "The configuration hash of {{{{ $labels.instance }}}} (job {{{{ $labels.job }}}}) changed in the last {} without a successful reload.",
                c.drift_window
            ),
        ))
        .alert(alert(
            ALERTS[3],
            format!(
                "count by (job) (count_values by (job) (\"hash\", {})) > 1",
                c.sel(&hash, "")
            ),
            &c.disagree_for,
            &[("severity", "warning"), ("reason", "replicas_disagree")],
            "Replicas run different configurations.",
            format!(
                "Instances of job {{{{ $labels.job }}}} have reported different configuration hashes for {}.",
                c.disagree_for
            ),
        ))
}

const JOB: &str = "app";

fn inst(i: u8) -> String {
    format!("10.0.0.{i}:8080")
}

/// Series `name` of instance `i` of the test job.
fn series(name: &str, i: u8, values: String) -> InputSeries {
    InputSeries::new(name, values)
        .label("instance", inst(i))
        .label("job", JOB)
}

fn expand(template: &str, job: &str, instance: &str) -> String {
    template
        .replace("{{ $labels.job }}", job)
        .replace("{{ $labels.instance }}", instance)
}

/// The alert `rule` raises for the test job (and instance 1, unless the rule aggregates
/// instances away): the series' labels, then the rule's; annotations expanded.
fn expected(rule: &AlertRule, with_instance: bool) -> ExpectedAlert {
    let instance = if with_instance {
        inst(1)
    } else {
        String::new()
    };
    let mut labels = Vec::new();
    if with_instance {
        labels.push(("instance".to_owned(), instance.clone()));
    }
    labels.push(("job".to_owned(), JOB.to_owned()));
    labels.extend(rule.labels.iter().cloned());
    let annotations = rule
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), expand(v, JOB, &instance)))
        .collect();
    ExpectedAlert::new(labels, annotations)
}

/// One case: `series` evaluated at `eval_minutes`, expecting `expect` for alert `alert`.
fn case(
    name: &str,
    series: Vec<InputSeries>,
    eval_minutes: u64,
    alert: &str,
    expect: Option<ExpectedAlert>,
) -> RuleTest {
    let mut check = AlertTest::new(alert, format!("{eval_minutes}m"));
    if let Some(e) = expect {
        check = check.expect(e);
    }
    let mut test = RuleTest::new(name).alert_test(check);
    test.input_series = series;
    test
}

/// The series of `hot_reload_updates_total` with `success` and `fail` increasing by the given
/// amounts per minute (the other results stay 0).
fn updates_series(
    c: &RulesConfig,
    success_per_min: u64,
    fail_per_min: u64,
    len: u64,
) -> Vec<InputSeries> {
    let name = c.name(&UPDATES_TOTAL);
    [
        ("success", success_per_min),
        ("fail", fail_per_min),
        ("timeout", 0),
        ("rollback", 0),
    ]
    .into_iter()
    .map(|(result, step)| series(&name, 1, format!("0+{step}x{len}")).label("result", result))
    .collect()
}

fn bucket_series(c: &RulesConfig, fast: bool, len: u64) -> Vec<InputSeries> {
    // Observations all land in one bucket: the first one (fast) or the first whose upper
    // bound is above the threshold (slow), so the P99 sits inside that bucket.
    let bounds = &c.duration_buckets;
    let target = if fast {
        0
    } else {
        bounds
            .iter()
            .position(|b| *b > c.slow_seconds)
            .unwrap_or(bounds.len())
    };
    let name = format!("{}_bucket", c.name(&DURATION_SECONDS));
    let mut les: Vec<String> = bounds.iter().map(|b| fmt_num(*b)).collect();
    les.push("+Inf".to_owned());
    les.into_iter()
        .enumerate()
        .map(|(i, le)| {
            let step = u64::from(i >= target);
            series(&name, 1, format!("0+{step}x{len}")).label("le", le)
        })
        .collect()
}

/// The promtool unit tests of [`alert_rules`] (`docs/rules/hot-reload.test.yml` for the
/// default config): a firing and a quiet case per alert, with series shaped from the
/// thresholds and windows of `c`. `rules_file` is the rules file name as seen from the test
/// file's directory.
pub fn rule_tests(c: &RulesConfig, rules_file: &str) -> RuleTestFile {
    let group = alert_rules(c);
    let rules: Vec<&AlertRule> = group.alerts().collect();
    let fire = |i: usize| Some(expected(rules[i], true));
    let fw = minutes_ceil(&c.failure_window) + minutes_ceil(&c.failure_for) + 2;
    let sw = minutes_ceil(&c.slow_window) + minutes_ceil(&c.slow_for) + 2;
    let rw = minutes_ceil(&c.repeated_window) + minutes_ceil(&c.repeated_for) + 2;
    let dw = minutes_ceil(&c.drift_window).max(2);
    let change_at = 30;
    let drift_eval = change_at + minutes_ceil(&c.drift_for) + 3;
    let disagree_eval = minutes_ceil(&c.disagree_for) + 5;
    let len = [fw, sw, rw, drift_eval + dw, disagree_eval, change_at + 10]
        .into_iter()
        .max()
        .unwrap_or(60)
        + 10;
    // Failure ratio: f fails per success makes f / (f + 1); 2/t successes per fail make
    // about t/2.
    let t = c.failure_ratio.clamp(0.01, 0.99);
    let fails_per_success = ((t / (1.0 - t)) * 4.0).ceil().max(1.0) as u64;
    let successes_per_fail = (2.0 / t).ceil() as u64;
    let repeated_step = (u64::from(c.repeated_failures) * 2)
        .div_ceil(minutes_ceil(&c.repeated_window).max(1))
        .max(1);

    let hash = c.name(&CONFIG_HASH);
    let total = c.name(&RELOAD_TOTAL);
    let last = c.name(&LAST_SUCCESS_TIMESTAMP);
    let failed = c.name(&FAILED_TOTAL);
    let before = change_at;
    let after = len - change_at;

    let cases = [
        case(
            "failure ratio over the threshold fires",
            updates_series(c, 1, fails_per_success, len),
            fw,
            ALERTS[0],
            fire(0),
        ),
        case(
            "failure ratio under the threshold is quiet",
            updates_series(c, successes_per_fail, 1, len),
            fw,
            ALERTS[0],
            None,
        ),
        case(
            "slow reloads fire",
            bucket_series(c, false, len),
            sw,
            ALERTS[1],
            fire(1),
        ),
        case(
            "fast reloads are quiet",
            bucket_series(c, true, len),
            sw,
            ALERTS[1],
            None,
        ),
        case(
            "repeated failures fire",
            vec![series(&failed, 1, format!("0+{repeated_step}x{len}"))],
            rw,
            ALERTS[2],
            fire(2),
        ),
        case(
            "a single failure is quiet",
            vec![series(&failed, 1, format!("0x{before} 1x{after}"))],
            change_at + 2,
            ALERTS[2],
            None,
        ),
        case(
            "hash change without a reload is drift",
            vec![
                series(&hash, 1, format!("1111x{before} 2222x{after}")),
                series(&total, 1, format!("1x{len}")),
                series(&last, 1, format!("1000x{len}")),
            ],
            drift_eval,
            ALERTS[3],
            fire(3),
        ),
        case(
            "a normal successful reload is not drift",
            vec![
                series(&hash, 1, format!("1111x{before} 2222x{after}")),
                series(&total, 1, format!("1x{before} 2x{after}")),
                series(
                    &last,
                    1,
                    format!("1000x{before} {}x{after}", 1000 + 60 * before),
                ),
            ],
            drift_eval,
            ALERTS[3],
            None,
        ),
        case(
            "a restart with a new config is not drift",
            vec![
                series(&hash, 1, format!("1111x{before} 2222x{after}")),
                series(&total, 1, format!("1x{len}")),
                series(
                    &last,
                    1,
                    format!("1000x{before} {}x{after}", 1000 + 60 * before),
                ),
            ],
            drift_eval,
            ALERTS[3],
            None,
        ),
        case(
            "replicas that disagree are drift",
            vec![
                series(&hash, 1, format!("1111x{len}")),
                series(&hash, 2, format!("2222x{len}")),
            ],
            disagree_eval,
            ALERTS[3],
            Some(expected(rules[4], false)),
        ),
        case(
            "replicas that agree are quiet",
            vec![
                series(&hash, 1, format!("1111x{len}")),
                series(&hash, 2, format!("1111x{len}")),
            ],
            disagree_eval,
            ALERTS[3],
            None,
        ),
    ];
    let mut file = RuleTestFile::new(rules_file);
    file.tests.extend(cases);
    file
}

/// Options of the generated dashboard.
#[derive(Clone, Debug, PartialEq)]
pub struct DashboardConfig {
    /// Dashboard title. Default `Hot reload`.
    pub title: String,
    /// Dashboard uid. Default `vsanobs-hot-reload`.
    pub uid: String,
    /// Metric prefix, as in [`RulesConfig::metric_prefix`].
    pub metric_prefix: String,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            title: "Hot reload".to_owned(),
            uid: "vsanobs-hot-reload".to_owned(),
            metric_prefix: String::new(),
        }
    }
}

/// The Grafana dashboard (`docs/dashboards/hot-reload.json` for the default config):
/// reloads by result, failure ratio, P50 / P99 duration, time since the last success, config
/// hash per instance, reloads in progress, workers, heap delta and failed reloads; variables
/// `datasource`, `job` and `instance`.
pub fn dashboard(c: &DashboardConfig) -> Dashboard {
    let n = |d: &MetricDesc| vsanobs_core::artifacts::metric_name(&c.metric_prefix, d);
    let sel = r#"job=~"$job",instance=~"$instance""#;
    let updates = n(&UPDATES_TOTAL);
    let bucket = format!("{}_bucket", n(&DURATION_SECONDS));
    let total = n(&RELOAD_TOTAL);
    let ts = PanelKind::TimeSeries;
    Dashboard::new(c.title.clone(), c.uid.clone())
        .description("Configuration hot reload (vsanobs-hotreload): attempts by result, failure ratio, duration, drift, workers and heap.")
        .tags(["vsanobs", "hot-reload"])
        .variable(Variable::new("job", "Job", format!("label_values({total}, job)")))
        .variable(Variable::new(
            "instance",
            "Instance",
            format!("label_values({total}{{job=~\"$job\"}}, instance)"),
        ))
        .panel(
            Panel::new(ts, "Reloads by result", 12, 8)
                .unit("ops")
                .description(UPDATES_TOTAL.help)
                .query(
                    format!("sum by (result) (rate({updates}{{{sel}}}[$__rate_interval]))"),
                    "{{result}}",
                ),
        )
        .panel(
            Panel::new(ts, "Failure ratio", 12, 8)
                .unit("percentunit")
                .description("Failed (fail, timeout, rollback) over attempted reloads in the selected range.")
                .query(
                    format!(
                        "sum by (instance) (increase({updates}{{result!=\"success\",{sel}}}[$__range]))\n/\nsum by (instance) (increase({updates}{{{sel}}}[$__range]))"
                    ),
                    "{{instance}}",
                ),
        )
        .panel(
            Panel::new(ts, "Reload duration P50 / P99", 12, 8)
                .unit("s")
                .description(DURATION_SECONDS.help)
                .query(
                    format!(
                        "histogram_quantile(0.5, sum by (le) (rate({bucket}{{{sel}}}[$__rate_interval])))"
                    ),
                    "P50",
                )
                .query(
                    format!(
                        "histogram_quantile(0.99, sum by (le) (rate({bucket}{{{sel}}}[$__rate_interval])))"
                    ),
                    "P99",
                ),
        )
        .panel(
            Panel::new(PanelKind::Stat, "Time since last successful reload", 6, 8)
                .unit("s")
                .description(LAST_SUCCESS_TIMESTAMP.help)
                .query(
                    format!("time() - {}{{{sel}}}", n(&LAST_SUCCESS_TIMESTAMP)),
                    "{{instance}}",
                ),
        )
        .panel(
            Panel::new(PanelKind::Stat, "Last reload successful", 6, 8)
                .unit("bool_yes_no")
                .description(LAST_RELOAD_SUCCESSFUL.help)
                .query(
                    format!("{}{{{sel}}}", n(&LAST_RELOAD_SUCCESSFUL)),
                    "{{instance}}",
                ),
        )
        .panel(
            Panel::new(PanelKind::Table, "Config hash per instance", 12, 8)
                .unit("none")
                .description("Instances of one job should agree; a change without a reload is drift.")
                .query(format!("{}{{{sel}}}", n(&CONFIG_HASH)), "{{instance}}"),
        )
        .panel(
            Panel::new(ts, "Reload in progress / concurrent requests", 12, 8)
                .description(CONCURRENT_UPDATES.help)
                .query(
                    format!("sum by (instance) ({}{{{sel}}})", n(&IN_PROGRESS)),
                    "in progress {{instance}}",
                )
                .query(
                    format!("sum by (instance) ({}{{{sel}}})", n(&CONCURRENT_UPDATES)),
                    "requests {{instance}}",
                ),
        )
        .panel(
            Panel::new(ts, "Active workers", 12, 8)
                .description(ACTIVE_WORKERS.help)
                .query(format!("{}{{{sel}}}", n(&ACTIVE_WORKERS)), "{{instance}}"),
        )
        .panel(
            Panel::new(ts, "Heap delta of the last reload", 12, 8)
                .unit("bytes")
                .description(HEAP_DELTA_BYTES.help)
                .query(format!("{}{{{sel}}}", n(&HEAP_DELTA_BYTES)), "{{instance}}"),
        )
        .panel(
            Panel::new(ts, "Failed reloads", 24, 6)
                .description(FAILED_TOTAL.help)
                .query(
                    format!(
                        "sum by (instance) (increase({}{{{sel}}}[$__rate_interval]))",
                        n(&FAILED_TOTAL)
                    ),
                    "{{instance}}",
                ),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::METRICS;

    #[test]
    fn durations_parse() {
        assert_eq!(seconds("5m"), 300);
        assert_eq!(seconds("1h30m"), 5400);
        assert_eq!(seconds("0s"), 0);
        assert_eq!(seconds("90s"), 90);
        assert_eq!(seconds("500ms"), 0);
    }

    #[test]
    fn every_metric_is_on_the_dashboard() {
        let d = dashboard(&DashboardConfig::default()).to_json();
        for m in METRICS {
            let series = if m.kind == vsanobs_core::model::MetricKind::Histogram {
                format!("{}_bucket", m.name)
            } else {
                m.name.to_owned()
            };
            assert!(d.contains(&series), "{} missing from the dashboard", m.name);
        }
        let v: serde_json::Value = serde_json::from_str(&d).unwrap();
        assert!(v.get("__inputs").is_none());
        assert_eq!(v["templating"]["list"][0]["type"], "datasource");
    }

    #[test]
    fn prefix_and_selector_reach_every_expression() {
        let c = RulesConfig {
            metric_prefix: "shop".into(),
            selector: r#"job="shop""#.into(),
            ..RulesConfig::default()
        };
        let y = alert_rules(&c).to_yaml();
        assert!(
            !y.contains(" hot_reload") && !y.contains("(hot_reload"),
            "{y}"
        );
        assert_eq!(
            y.matches("shop_hot_reload_").count(),
            y.matches(r#"job="shop""#).count()
        );
        for a in ALERTS {
            assert!(y.contains(&format!("- alert: {a}\n")));
        }
    }
}
