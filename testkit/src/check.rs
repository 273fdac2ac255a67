//! Reference checkers: `promtool` and the Python `prometheus_client` OpenMetrics parser.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::server::find_binary;

/// Runs `program args`, feeding `stdin`, and returns its output, or a message naming what is
/// missing.
fn run(program: &str, args: &[&std::ffi::OsStr], stdin: &[u8]) -> Result<Output, String> {
    let binary = find_binary(program).map_err(|e| e.to_string())?;
    let mut child = Command::new(&binary)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let writer = child.stdin.take().map(|mut pipe| {
        let input = stdin.to_vec();
        // A separate thread, so a large input cannot deadlock against a full stdout pipe.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        })
    });
    let output = child
        .wait_with_output()
        .map_err(|e| format!("cannot wait for {}: {e}", binary.display()))?;
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    Ok(output)
}

fn combined(output: &Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text
}

fn result_of(what: &str, output: &Output) -> Result<String, String> {
    let text = combined(output);
    if output.status.success() {
        Ok(text)
    } else {
        Err(format!("{what} failed ({}):\n{text}", output.status))
    }
}

/// Pipes `text` to `promtool check metrics` (format and lint checks of Prometheus text
/// 0.0.4) and returns its output.
///
/// # Errors
/// promtool's stdout and stderr when it exits non-zero (any lint finding does), or a message
/// saying promtool is missing and `run scripts/test to install it`.
///
/// # Example
/// ```
/// let ok = "# HELP temp_celsius Temperature.\n# TYPE temp_celsius gauge\ntemp_celsius 21.5\n";
/// vsanobs_testkit::promtool_check_metrics(ok).unwrap();
/// let err = vsanobs_testkit::promtool_check_metrics("temp_celsius{ 1\n").unwrap_err();
/// assert!(err.contains("promtool check metrics failed"), "{err}");
/// ```
pub fn promtool_check_metrics(text: &str) -> Result<String, String> {
    let output = run(
        "promtool",
        &["check".as_ref(), "metrics".as_ref()],
        text.as_bytes(),
    )?;
    result_of("promtool check metrics", &output)
}

/// `promtool check rules <path>`, with `--lint-fatal` when `lint_fatal` (then lint findings
/// such as duplicate rules fail too). Returns promtool's output.
///
/// # Errors
/// promtool's output when it exits non-zero, or a message saying promtool is missing.
pub fn promtool_check_rules(path: &Path, lint_fatal: bool) -> Result<String, String> {
    let mut args: Vec<&std::ffi::OsStr> = vec!["check".as_ref(), "rules".as_ref()];
    if lint_fatal {
        args.push("--lint=all".as_ref());
        args.push("--lint-fatal".as_ref());
    }
    args.push(path.as_os_str());
    let output = run("promtool", &args, b"")?;
    result_of("promtool check rules", &output)
}

/// `promtool test rules <path>`: runs the unit tests of a rule test file. Returns its output.
///
/// # Errors
/// promtool's output when a test fails or the file is invalid, or a message saying promtool
/// is missing.
pub fn promtool_test_rules(path: &Path) -> Result<String, String> {
    let output = run(
        "promtool",
        &["test".as_ref(), "rules".as_ref(), path.as_os_str()],
        b"",
    )?;
    result_of("promtool test rules", &output)
}

/// Exit code of the checker script when `prometheus_client` cannot be imported.
const MISSING_PACKAGE: i32 = 3;

const OPENMETRICS_CHECK: &str = r#"
import sys
try:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
except ImportError as e:
    sys.stderr.write("python package prometheus_client not importable (%s)\n" % e)
    sys.exit(3)
text = sys.stdin.buffer.read().decode("utf-8")
try:
    samples = 0
    for family in text_string_to_metric_families(text):
        samples += len(family.samples)
except Exception as e:
    sys.stderr.write("%s: %s\n" % (type(e).__name__, e))
    sys.exit(1)
print(samples)
"#;

/// Parses `text` with the reference OpenMetrics parser (Python `prometheus_client`'s
/// `openmetrics.parser.text_string_to_metric_families`, every family consumed).
///
/// # Errors
/// The parser's exception message when it rejects the text, or a message saying `python3`
/// or the `prometheus_client` package is missing and `run scripts/test to install it`.
///
/// # Example
/// ```
/// vsanobs_testkit::python_openmetrics_check("# TYPE a counter\na_total 1\n# EOF\n").unwrap();
/// // OpenMetrics requires the `# EOF` terminator.
/// let err = vsanobs_testkit::python_openmetrics_check("# TYPE a counter\na_total 1\n").unwrap_err();
/// assert!(err.contains("EOF"), "{err}");
/// ```
pub fn python_openmetrics_check(text: &str) -> Result<(), String> {
    let output = run(
        "python3",
        &["-c".as_ref(), OPENMETRICS_CHECK.as_ref()],
        text.as_bytes(),
    )?;
    if output.status.success() {
        return Ok(());
    }
    if output.status.code() == Some(MISSING_PACKAGE) {
        return Err(format!(
            "{}python package `prometheus_client` not found: run scripts/test to install it",
            combined(&output)
        ));
    }
    Err(format!(
        "OpenMetrics parser (prometheus_client) rejected the text: {}",
        combined(&output).trim()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promtool_check_rules_reports_invalid_files() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.yml");
        std::fs::write(
            &good,
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n",
        )
        .unwrap();
        promtool_check_rules(&good, true).unwrap();
        let bad = dir.path().join("bad.yml");
        std::fs::write(
            &bad,
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up ==\n",
        )
        .unwrap();
        let err = promtool_check_rules(&bad, false).unwrap_err();
        assert!(err.contains("promtool check rules failed"), "{err}");
    }

    #[test]
    fn promtool_check_rules_lint_fatal_catches_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let dup = dir.path().join("dup.yml");
        let rule = "  - record: job:up:sum\n    expr: sum by (job) (up)\n";
        std::fs::write(&dup, format!("groups:\n- name: g\n  rules:\n{rule}{rule}")).unwrap();
        promtool_check_rules(&dup, false).unwrap();
        let err = promtool_check_rules(&dup, true).unwrap_err();
        assert!(err.contains("duplicate"), "{err}");
    }

    #[test]
    fn promtool_test_rules_runs_unit_tests() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("rules.yml"),
            "groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n",
        )
        .unwrap();
        let test = |expected: &str| {
            format!(
                "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n\
                 - interval: 1m\n  input_series:\n  - series: 'up{{job=\"a\"}}'\n    values: '0 0'\n\
                 \x20 alert_rule_test:\n  - eval_time: 1m\n    alertname: Down\n    exp_alerts:{expected}\n"
            )
        };
        let passing = dir.path().join("pass.yml");
        std::fs::write(&passing, test("\n    - exp_labels: {job: a}")).unwrap();
        promtool_test_rules(&passing).unwrap();
        let failing = dir.path().join("fail.yml");
        std::fs::write(&failing, test(" []")).unwrap();
        let err = promtool_test_rules(&failing).unwrap_err();
        assert!(err.contains("FAILED"), "{err}");
    }

    #[test]
    fn python_check_reports_the_parser_message() {
        let err =
            python_openmetrics_check("# TYPE a counter\na_total{x=\"1\" 1\n# EOF\n").unwrap_err();
        assert!(err.contains("rejected the text"), "{err}");
    }

    #[test]
    fn python_check_accepts_exemplars_and_utf8() {
        python_openmetrics_check(
            "# TYPE req counter\n# HELP req Requests \\\\ \\n 中.\nreq_total{l=\"\\\"中 😀\"} 1 # {trace_id=\"ab\"} 1 1.5\n# EOF\n",
        )
        .unwrap();
    }
}
