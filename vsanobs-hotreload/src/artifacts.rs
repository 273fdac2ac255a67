//! Generated alert rules, promtool unit tests and Grafana dashboard, built from the crate's
//! own metric table ([`crate::metrics::METRICS`]) so they cannot drift from what is exported.
//!
//! `cargo run -p gen-docs` writes them to `docs/rules/` and
//! `docs/dashboards/` with the default [`RulesConfig`]; call the functions yourself for other
//! thresholds, windows, job selector or metric prefix.
//!
//! # Example
//!
//! ```
//! use vsanobs_hotreload::artifacts::{RulesConfig, rules_yaml};
//!
//! let rules = rules_yaml(&RulesConfig { selector: r#"job="billing""#.into(), ..RulesConfig::default() });
//! assert!(rules.contains("- alert: HotReloadFailureRatioHigh"));
//! assert!(rules.contains(r#"hot_reload_updates_total{result!="success",job="billing"}[5m]"#));
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

use std::fmt::Write as _;

use serde_json::{Value, json};

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

struct Rule {
    alert: &'static str,
    expr: String,
    for_: String,
    labels: Vec<(&'static str, String)>,
    summary: String,
    description: String,
}

fn rules(c: &RulesConfig) -> Vec<Rule> {
    let updates = c.name(&UPDATES_TOTAL);
    let failed = c.name(&FAILED_TOTAL);
    let total = c.name(&RELOAD_TOTAL);
    let hash = c.name(&CONFIG_HASH);
    let last_success = c.name(&LAST_SUCCESS_TIMESTAMP);
    let bucket = format!("{}_bucket", c.name(&DURATION_SECONDS));
    let pct = fmt_num(c.failure_ratio * 100.0);
    vec![
        Rule {
            alert: ALERTS[0],
            expr: format!(
                "(\n  sum by (job, instance) (increase({}[{w}]))\n/\n  sum by (job, instance) (increase({}[{w}]))\n) > {}",
                c.sel(&updates, r#"result!="success""#),
                c.sel(&updates, ""),
                fmt_num(c.failure_ratio),
                w = c.failure_window
            ),
            for_: c.failure_for.clone(),
            labels: vec![("severity", "warning".into())],
            summary: "Configuration reloads are failing.".into(),
            description: format!(
                "More than {pct}% of configuration reloads of {{{{ $labels.instance }}}} (job {{{{ $labels.job }}}}) failed in the last {}; the previous config is still serving.",
                c.failure_window
            ),
        },
        Rule {
            alert: ALERTS[1],
            expr: format!(
                "histogram_quantile(0.99,\n  sum by (job, instance, le) (rate({}[{}]))\n) > {}",
                c.sel(&bucket, ""),
                c.slow_window,
                fmt_num(c.slow_seconds)
            ),
            for_: c.slow_for.clone(),
            labels: vec![("severity", "warning".into())],
            summary: "Configuration reloads are slow.".into(),
            description: format!(
                "The P99 configuration reload time of {{{{ $labels.instance }}}} (job {{{{ $labels.job }}}}) is over {}s over the last {}.",
                fmt_num(c.slow_seconds),
                c.slow_window
            ),
        },
        Rule {
            alert: ALERTS[2],
            expr: format!(
                "sum by (job, instance) (increase({}[{}])) >= {}",
                c.sel(&failed, ""),
                c.repeated_window,
                c.repeated_failures
            ),
            for_: c.repeated_for.clone(),
            labels: vec![("severity", "critical".into())],
            summary: "Configuration reloads fail again and again.".into(),
            description: format!(
                "{{{{ $labels.instance }}}} (job {{{{ $labels.job }}}}) had {} or more failed configuration reloads within {}.",
                c.repeated_failures, c.repeated_window
            ),
        },
        Rule {
            alert: ALERTS[3],
            expr: format!(
                "(changes({}[{w}]) > 0)\nunless on (job, instance)\n(\n  increase({}[{w}]) > 0\n  or\n  changes({}[{w}]) > 0\n)",
                c.sel(&hash, ""),
                c.sel(&total, ""),
                c.sel(&last_success, ""),
                w = c.drift_window
            ),
            for_: c.drift_for.clone(),
            labels: vec![
                ("severity", "warning".into()),
                ("reason", "hash_changed_without_reload".into()),
            ],
            summary: "The live configuration changed without a reload.".into(),
            description: format!(
                "The configuration hash of {{{{ $labels.instance }}}} (job {{{{ $labels.job }}}}) changed in the last {} without a successful reload.",
                c.drift_window
            ),
        },
        Rule {
            alert: ALERTS[3],
            expr: format!(
                "count by (job) (count_values by (job) (\"hash\", {})) > 1",
                c.sel(&hash, "")
            ),
            for_: c.disagree_for.clone(),
            labels: vec![
                ("severity", "warning".into()),
                ("reason", "replicas_disagree".into()),
            ],
            summary: "Replicas run different configurations.".into(),
            description: format!(
                "Instances of job {{{{ $labels.job }}}} have reported different configuration hashes for {}.",
                c.disagree_for
            ),
        },
    ]
}

fn yaml_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The alert rules file (`docs/rules/hot-reload.rules.yml` for the default config).
pub fn rules_yaml(c: &RulesConfig) -> String {
    let mut out = String::new();
    out.push_str("# Generated by vsanobs_hotreload::artifacts::rules_yaml; do not edit.\n");
    out.push_str("# Regenerate: cargo run -p gen-docs\n");
    out.push_str("groups:\n");
    let _ = writeln!(out, "  - name: {}", yaml_quote(&c.group));
    out.push_str("    rules:\n");
    for r in rules(c) {
        let _ = writeln!(out, "      - alert: {}", r.alert);
        out.push_str("        expr: |\n");
        for line in r.expr.lines() {
            let _ = writeln!(out, "          {line}");
        }
        let _ = writeln!(out, "        for: {}", r.for_);
        out.push_str("        labels:\n");
        for (k, v) in &r.labels {
            let _ = writeln!(out, "          {k}: {}", yaml_quote(v));
        }
        out.push_str("        annotations:\n");
        let _ = writeln!(out, "          summary: {}", yaml_quote(&r.summary));
        let _ = writeln!(out, "          description: {}", yaml_quote(&r.description));
    }
    out
}

/// One test input series.
struct Series {
    name: String,
    labels: Vec<(&'static str, String)>,
    values: String,
}

struct AlertCase {
    name: String,
    series: Vec<Series>,
    eval_minutes: u64,
    alert: &'static str,
    /// Labels of each expected alert (empty: the alert must not fire).
    expect: Vec<Vec<(&'static str, String)>>,
}

const JOB: &str = "app";

fn inst(i: u8) -> String {
    format!("10.0.0.{i}:8080")
}

fn base_labels(i: u8) -> Vec<(&'static str, String)> {
    vec![("instance", inst(i)), ("job", JOB.to_owned())]
}

fn expand(template: &str, job: &str, instance: &str) -> String {
    template
        .replace("{{ $labels.job }}", job)
        .replace("{{ $labels.instance }}", instance)
}

/// The series of `hot_reload_updates_total` with `success` and `fail` increasing by the given
/// amounts per minute (the other results stay 0).
fn updates_series(
    c: &RulesConfig,
    success_per_min: u64,
    fail_per_min: u64,
    len: u64,
) -> Vec<Series> {
    let name = c.name(&UPDATES_TOTAL);
    [
        ("success", success_per_min),
        ("fail", fail_per_min),
        ("timeout", 0),
        ("rollback", 0),
    ]
    .into_iter()
    .map(|(result, step)| {
        let mut labels = base_labels(1);
        labels.push(("result", result.to_owned()));
        Series {
            name: name.clone(),
            labels,
            values: format!("0+{step}x{len}"),
        }
    })
    .collect()
}

fn bucket_series(c: &RulesConfig, fast: bool, len: u64) -> Vec<Series> {
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
            let mut labels = base_labels(1);
            labels.push(("le", le));
            let step = u64::from(i >= target);
            Series {
                name: name.clone(),
                labels,
                values: format!("0+{step}x{len}"),
            }
        })
        .collect()
}

fn cases(c: &RulesConfig) -> Vec<AlertCase> {
    let rules = rules(c);
    let fire = |i: usize| -> Vec<(&'static str, String)> {
        let mut l = base_labels(1);
        l.extend(rules[i].labels.iter().cloned());
        l
    };
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
    let g = |name: &str, i: u8, values: String| Series {
        name: name.to_owned(),
        labels: base_labels(i),
        values,
    };
    let before = change_at;
    let after = len - change_at;
    let mut drift_expect = base_labels(1);
    drift_expect.extend(rules[3].labels.iter().cloned());
    let mut disagree_expect = vec![("job", JOB.to_owned())];
    disagree_expect.extend(rules[4].labels.iter().cloned());

    vec![
        AlertCase {
            name: "failure ratio over the threshold fires".into(),
            series: updates_series(c, 1, fails_per_success, len),
            eval_minutes: fw,
            alert: ALERTS[0],
            expect: vec![fire(0)],
        },
        AlertCase {
            name: "failure ratio under the threshold is quiet".into(),
            series: updates_series(c, successes_per_fail, 1, len),
            eval_minutes: fw,
            alert: ALERTS[0],
            expect: vec![],
        },
        AlertCase {
            name: "slow reloads fire".into(),
            series: bucket_series(c, false, len),
            eval_minutes: sw,
            alert: ALERTS[1],
            expect: vec![fire(1)],
        },
        AlertCase {
            name: "fast reloads are quiet".into(),
            series: bucket_series(c, true, len),
            eval_minutes: sw,
            alert: ALERTS[1],
            expect: vec![],
        },
        AlertCase {
            name: "repeated failures fire".into(),
            series: vec![g(&failed, 1, format!("0+{repeated_step}x{len}"))],
            eval_minutes: rw,
            alert: ALERTS[2],
            expect: vec![fire(2)],
        },
        AlertCase {
            name: "a single failure is quiet".into(),
            series: vec![g(&failed, 1, format!("0x{before} 1x{after}"))],
            eval_minutes: change_at + 2,
            alert: ALERTS[2],
            expect: vec![],
        },
        AlertCase {
            name: "hash change without a reload is drift".into(),
            series: vec![
                g(&hash, 1, format!("1111x{before} 2222x{after}")),
                g(&total, 1, format!("1x{len}")),
                g(&last, 1, format!("1000x{len}")),
            ],
            eval_minutes: drift_eval,
            alert: ALERTS[3],
            expect: vec![drift_expect],
        },
        AlertCase {
            name: "a normal successful reload is not drift".into(),
            series: vec![
                g(&hash, 1, format!("1111x{before} 2222x{after}")),
                g(&total, 1, format!("1x{before} 2x{after}")),
                g(
                    &last,
                    1,
                    format!("1000x{before} {}x{after}", 1000 + 60 * before),
                ),
            ],
            eval_minutes: drift_eval,
            alert: ALERTS[3],
            expect: vec![],
        },
        AlertCase {
            name: "a restart with a new config is not drift".into(),
            series: vec![
                g(&hash, 1, format!("1111x{before} 2222x{after}")),
                g(&total, 1, format!("1x{len}")),
                g(
                    &last,
                    1,
                    format!("1000x{before} {}x{after}", 1000 + 60 * before),
                ),
            ],
            eval_minutes: drift_eval,
            alert: ALERTS[3],
            expect: vec![],
        },
        AlertCase {
            name: "replicas that disagree are drift".into(),
            series: vec![
                g(&hash, 1, format!("1111x{len}")),
                g(&hash, 2, format!("2222x{len}")),
            ],
            eval_minutes: disagree_eval,
            alert: ALERTS[3],
            expect: vec![disagree_expect],
        },
        AlertCase {
            name: "replicas that agree are quiet".into(),
            series: vec![
                g(&hash, 1, format!("1111x{len}")),
                g(&hash, 2, format!("1111x{len}")),
            ],
            eval_minutes: disagree_eval,
            alert: ALERTS[3],
            expect: vec![],
        },
    ]
}

fn labels_inline(labels: &[(&'static str, String)]) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}: {}", yaml_quote(v)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// The promtool unit tests of [`rules_yaml`]: a firing and a quiet case per alert.
/// `rules_file` is the rules file name as seen from the test file's directory.
pub fn rules_test_yaml(c: &RulesConfig, rules_file: &str) -> String {
    let rules = rules(c);
    let mut out = String::new();
    out.push_str("# Generated by vsanobs_hotreload::artifacts::rules_test_yaml; do not edit.\n");
    out.push_str("# Run: promtool test rules docs/rules/hot-reload.test.yml\n");
    let _ = writeln!(
        out,
        "rule_files:\n  - {rules_file}\nevaluation_interval: 1m\ntests:"
    );
    for case in cases(c) {
        let _ = writeln!(out, "  # {}", case.name);
        out.push_str("  - interval: 1m\n    input_series:\n");
        for s in &case.series {
            let mut sel = String::new();
            for (i, (k, v)) in s.labels.iter().enumerate() {
                if i > 0 {
                    sel.push(',');
                }
                let _ = write!(sel, "{k}=\"{v}\"");
            }
            let _ = writeln!(out, "      - series: '{}{{{sel}}}'", s.name);
            let _ = writeln!(out, "        values: '{}'", s.values);
        }
        out.push_str("    alert_rule_test:\n");
        let _ = writeln!(out, "      - eval_time: {}m", case.eval_minutes);
        let _ = writeln!(out, "        alertname: {}", case.alert);
        if case.expect.is_empty() {
            out.push_str("        exp_alerts: []\n");
            continue;
        }
        out.push_str("        exp_alerts:\n");
        for labels in &case.expect {
            let get = |k: &str| {
                labels
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or("")
            };
            let reason = get("reason");
            let rule = rules
                .iter()
                .find(|r| {
                    r.alert == case.alert
                        && r.labels.iter().all(|(k, v)| *k != "reason" || v == reason)
                })
                .unwrap_or(&rules[0]);
            let _ = writeln!(out, "          - exp_labels: {}", labels_inline(labels));
            let _ = writeln!(
                out,
                "            exp_annotations: {}",
                labels_inline(&[
                    ("summary", rule.summary.clone()),
                    (
                        "description",
                        expand(&rule.description, get("job"), get("instance"))
                    ),
                ])
            );
        }
    }
    out
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

/// The Grafana dashboard (`docs/dashboards/hot-reload.json` for the default config). The
/// data source is a template variable (`${datasource}`), so it imports without `__inputs`.
pub fn dashboard_json(c: &DashboardConfig) -> String {
    let n = |d: &MetricDesc| -> String {
        if c.metric_prefix.is_empty() {
            d.name.to_owned()
        } else {
            format!("{}_{}", c.metric_prefix, d.name)
        }
    };
    let sel = r#"job=~"$job",instance=~"$instance""#;
    let ds = json!({"type": "prometheus", "uid": "${datasource}"});
    let mut next_id = 0u32;
    let mut panel = |title: &str,
                     kind: &str,
                     unit: &str,
                     grid: [u32; 4],
                     targets: Vec<(String, &str)>,
                     description: &str|
     -> Value {
        next_id += 1;
        let targets: Vec<Value> = targets
            .into_iter()
            .enumerate()
            .map(|(i, (expr, legend))| {
                json!({
                    "datasource": ds,
                    "expr": expr,
                    "legendFormat": legend,
                    "refId": char::from(b'A' + i as u8).to_string(),
                })
            })
            .collect();
        json!({
            "id": next_id,
            "type": kind,
            "title": title,
            "description": description,
            "datasource": ds,
            "gridPos": {"x": grid[0], "y": grid[1], "w": grid[2], "h": grid[3]},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": true}},
            "targets": targets,
        })
    };
    let updates = n(&UPDATES_TOTAL);
    let bucket = format!("{}_bucket", n(&DURATION_SECONDS));
    let panels = vec![
        panel(
            "Reloads by result",
            "timeseries",
            "ops",
            [0, 0, 12, 8],
            vec![(
                format!("sum by (result) (rate({updates}{{{sel}}}[$__rate_interval]))"),
                "{{result}}",
            )],
            UPDATES_TOTAL.help,
        ),
        panel(
            "Failure ratio",
            "timeseries",
            "percentunit",
            [12, 0, 12, 8],
            vec![(
                format!(
                    "sum by (instance) (increase({updates}{{result!=\"success\",{sel}}}[$__range]))\n/\nsum by (instance) (increase({updates}{{{sel}}}[$__range]))"
                ),
                "{{instance}}",
            )],
            "Failed (fail, timeout, rollback) over attempted reloads in the selected range.",
        ),
        panel(
            "Reload duration P50 / P99",
            "timeseries",
            "s",
            [0, 8, 12, 8],
            vec![
                (
                    format!(
                        "histogram_quantile(0.5, sum by (le) (rate({bucket}{{{sel}}}[$__rate_interval])))"
                    ),
                    "P50",
                ),
                (
                    format!(
                        "histogram_quantile(0.99, sum by (le) (rate({bucket}{{{sel}}}[$__rate_interval])))"
                    ),
                    "P99",
                ),
            ],
            DURATION_SECONDS.help,
        ),
        panel(
            "Time since last successful reload",
            "stat",
            "s",
            [12, 8, 6, 8],
            vec![(
                format!("time() - {}{{{sel}}}", n(&LAST_SUCCESS_TIMESTAMP)),
                "{{instance}}",
            )],
            LAST_SUCCESS_TIMESTAMP.help,
        ),
        panel(
            "Last reload successful",
            "stat",
            "bool_yes_no",
            [18, 8, 6, 8],
            vec![(
                format!("{}{{{sel}}}", n(&LAST_RELOAD_SUCCESSFUL)),
                "{{instance}}",
            )],
            LAST_RELOAD_SUCCESSFUL.help,
        ),
        panel(
            "Config hash per instance",
            "table",
            "none",
            [0, 16, 12, 8],
            vec![(format!("{}{{{sel}}}", n(&CONFIG_HASH)), "{{instance}}")],
            "Instances of one job should agree; a change without a reload is drift.",
        ),
        panel(
            "Reload in progress / concurrent requests",
            "timeseries",
            "short",
            [12, 16, 12, 8],
            vec![
                (
                    format!("sum by (instance) ({}{{{sel}}})", n(&IN_PROGRESS)),
                    "in progress {{instance}}",
                ),
                (
                    format!("sum by (instance) ({}{{{sel}}})", n(&CONCURRENT_UPDATES)),
                    "requests {{instance}}",
                ),
            ],
            CONCURRENT_UPDATES.help,
        ),
        panel(
            "Active workers",
            "timeseries",
            "short",
            [0, 24, 12, 8],
            vec![(format!("{}{{{sel}}}", n(&ACTIVE_WORKERS)), "{{instance}}")],
            ACTIVE_WORKERS.help,
        ),
        panel(
            "Heap delta of the last reload",
            "timeseries",
            "bytes",
            [12, 24, 12, 8],
            vec![(format!("{}{{{sel}}}", n(&HEAP_DELTA_BYTES)), "{{instance}}")],
            HEAP_DELTA_BYTES.help,
        ),
        panel(
            "Failed reloads",
            "timeseries",
            "short",
            [0, 32, 24, 6],
            vec![(
                format!(
                    "sum by (instance) (increase({}{{{sel}}}[$__rate_interval]))",
                    n(&FAILED_TOTAL)
                ),
                "{{instance}}",
            )],
            FAILED_TOTAL.help,
        ),
    ];
    let var = |name: &str, query: String, label: &str| -> Value {
        json!({
            "type": "query",
            "name": name,
            "label": label,
            "datasource": ds,
            "definition": query,
            "query": {"query": query, "refId": name},
            "refresh": 2,
            "includeAll": true,
            "multi": true,
            "allValue": ".*",
            "current": {"selected": true, "text": ["All"], "value": ["$__all"]},
            "sort": 1,
        })
    };
    let total = n(&RELOAD_TOTAL);
    let dashboard = json!({
        "title": c.title,
        "uid": c.uid,
        "description": "Configuration hot reload (vsanobs-hotreload): attempts by result, failure ratio, duration, drift, workers and heap.",
        "tags": ["vsanobs", "hot-reload"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": true,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [
            {
                "type": "datasource",
                "name": "datasource",
                "label": "Data source",
                "query": "prometheus",
                "current": {},
                "hide": 0,
                "refresh": 1,
            },
            var("job", format!("label_values({total}, job)"), "Job"),
            var("instance", format!("label_values({total}{{job=~\"$job\"}}, instance)"), "Instance"),
        ]},
        "annotations": {"list": []},
        "panels": panels,
    });
    let mut s = serde_json::to_string_pretty(&dashboard).unwrap_or_default();
    s.push('\n');
    s
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
        let d = dashboard_json(&DashboardConfig::default());
        for m in METRICS {
            let series = if m.kind == vsanobs_core::model::MetricKind::Histogram {
                format!("{}_bucket", m.name)
            } else {
                m.name.to_owned()
            };
            assert!(d.contains(&series), "{} missing from the dashboard", m.name);
        }
        let v: Value = serde_json::from_str(&d).unwrap();
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
        let y = rules_yaml(&c);
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
