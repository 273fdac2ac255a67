//! Reading a rendered Grafana dashboard back in tests.

/// The PromQL expressions of every panel of a dashboard JSON, after checking that it parses
/// and that panel ids are unique.
///
/// # Panics
/// When the text is not a dashboard with `panels[].id` and `panels[].targets[].expr`, or when
/// two panels share an id.
pub fn panel_exprs(json: &str) -> Vec<String> {
    let d: serde_json::Value = serde_json::from_str(json).expect("dashboard is JSON");
    let panels = d["panels"].as_array().expect("dashboard has panels");
    let mut ids: Vec<i64> = panels
        .iter()
        .map(|p| p["id"].as_i64().expect("panel id"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    panels
        .iter()
        .flat_map(|p| p["targets"].as_array().expect("panel targets"))
        .map(|t| t["expr"].as_str().expect("target expr").to_owned())
        .collect()
}

/// Asserts that some panel of the dashboard JSON queries each of `needles` (a substring of
/// a PromQL expression), naming the first one no panel queries.
///
/// # Panics
/// As [`panel_exprs`], and when a needle is not found.
pub fn assert_panels_query(json: &str, needles: &[&str]) {
    let exprs = panel_exprs(json);
    for needle in needles {
        assert!(
            exprs.iter().any(|e| e.contains(needle)),
            "no panel queries {needle}"
        );
    }
}
