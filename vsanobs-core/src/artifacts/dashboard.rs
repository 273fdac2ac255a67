//! A Grafana dashboard as data ([`Dashboard`], [`Panel`], [`Query`], [`Variable`]) and its
//! JSON (Grafana schema 39, Prometheus data source chosen by a `${datasource}` variable).

use serde_json::{Map, Value, json};

/// Grafana's grid is 24 columns wide.
const GRID_COLUMNS: u32 = 24;

/// A Grafana dashboard: every query runs against the data source picked in the
/// `datasource` variable, so the JSON imports without `__inputs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dashboard {
    /// Dashboard title.
    pub title: String,
    /// Dashboard uid (stable across imports).
    pub uid: String,
    /// What the dashboard shows (empty: none).
    pub description: String,
    /// Grafana tags.
    pub tags: Vec<String>,
    /// Start of the default time range, such as `now-6h`.
    pub time_from: String,
    /// Auto-refresh interval, such as `30s`.
    pub refresh: String,
    /// Query variables, after the `datasource` variable.
    pub variables: Vec<Variable>,
    /// Panels in reading order; [`to_json`](Self::to_json) lays them out left to right,
    /// starting a new row when a panel does not fit in the 24 columns.
    pub panels: Vec<Panel>,
}

/// A multi-value query variable over the dashboard's data source, with an `All` option that
/// matches everything (`.*`), so it can be used as `label=~"$name"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variable {
    /// Variable name (`job` is used as `$job`).
    pub name: String,
    /// Label shown above the drop-down.
    pub label: String,
    /// The query, such as `label_values(process_uptime_seconds, job)`.
    pub query: String,
}

/// One panel: what it shows and how big it is; its position is computed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Panel {
    /// Panel title.
    pub title: String,
    /// Visualisation.
    pub kind: PanelKind,
    /// Tooltip text of the title (empty: none).
    pub description: String,
    /// Grafana unit id of the values (`s`, `bytes`, `percentunit`, `reqps`, `short`, ...).
    pub unit: String,
    /// Width in grid columns (1 to 24).
    pub width: u32,
    /// Height in grid rows.
    pub height: u32,
    /// How the legend is shown.
    pub legend: Legend,
    /// The PromQL queries, one target each (`refId` A, B, ...).
    pub queries: Vec<Query>,
    /// Values shown as text in a colour (such as 2 as `red`), in order.
    pub value_texts: Vec<ValueText>,
}

/// A value a panel shows as a text in a colour (a Grafana value mapping).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueText {
    /// The exact value, as Grafana compares it (`2`).
    pub value: String,
    /// What is shown instead (`red`).
    pub text: String,
    /// A Grafana colour name (`red`, `green`, `yellow`, `orange`, `blue`, `purple`) or a
    /// `#rrggbb` code.
    pub color: String,
}

/// A panel's visualisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PanelKind {
    /// Lines over time.
    TimeSeries,
    /// One big number.
    Stat,
    /// A table of the series' labels and values.
    Table,
    /// A heat map with one row per series (such as one row per label value).
    Heatmap,
    /// A heat map of a histogram's `_bucket` series, one row per `le` (queries are sent
    /// with Grafana's `heatmap` format).
    BucketHeatmap,
}

/// How a panel shows its legend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Legend {
    /// A list under the graph.
    #[default]
    List,
    /// A table right of the graph.
    Table,
}

/// One PromQL query of a panel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// The PromQL expression; Grafana variables (`$job`, `$__rate_interval`) are allowed.
    pub expr: String,
    /// The legend format, such as `{{instance}}`.
    pub legend: String,
}

impl Dashboard {
    /// A dashboard without panels: no description or tags, the last 6 hours, refreshed
    /// every 30 s.
    pub fn new(title: impl Into<String>, uid: impl Into<String>) -> Self {
        Dashboard {
            title: title.into(),
            uid: uid.into(),
            description: String::new(),
            tags: Vec::new(),
            time_from: "now-6h".to_owned(),
            refresh: "30s".to_owned(),
            variables: Vec::new(),
            panels: Vec::new(),
        }
    }

    /// Sets the description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Adds tags.
    pub fn tags<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tags: I) -> Self {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Sets the start of the default time range (`now-1h`).
    pub fn time_from(mut self, from: impl Into<String>) -> Self {
        self.time_from = from.into();
        self
    }

    /// Adds a query variable.
    pub fn variable(mut self, v: Variable) -> Self {
        self.variables.push(v);
        self
    }

    /// Adds a panel.
    pub fn panel(mut self, p: Panel) -> Self {
        self.panels.push(p);
        self
    }

    /// Adds panels.
    pub fn panels(mut self, panels: impl IntoIterator<Item = Panel>) -> Self {
        self.panels.extend(panels);
        self
    }

    /// Every query expression of every panel, in panel order.
    pub fn queries(&self) -> impl Iterator<Item = &str> {
        self.panels
            .iter()
            .flat_map(|p| p.queries.iter().map(|q| q.expr.as_str()))
    }

    /// The dashboard as Grafana JSON (pretty-printed, keys sorted, a final newline).
    pub fn to_json(&self) -> String {
        let ds = datasource();
        let panels: Vec<Value> = self
            .panels
            .iter()
            .zip(layout(&self.panels))
            .enumerate()
            .map(|(i, (p, grid))| p.to_value(i + 1, grid))
            .collect();
        let mut templating = vec![json!({
            "type": "datasource",
            "name": "datasource",
            "label": "Data source",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "refresh": 1,
        })];
        templating.extend(self.variables.iter().map(|v| {
            json!({
                "type": "query",
                "name": v.name,
                "label": v.label,
                "datasource": ds,
                "definition": v.query,
                "query": {"query": v.query, "refId": v.name},
                "refresh": 2,
                "includeAll": true,
                "multi": true,
                "allValue": ".*",
                "current": {"selected": true, "text": ["All"], "value": ["$__all"]},
                "sort": 1,
            })
        }));
        let mut d = json!({
            "title": self.title,
            "uid": self.uid,
            "tags": self.tags,
            "timezone": "browser",
            "schemaVersion": 39,
            "version": 1,
            "editable": true,
            "refresh": self.refresh,
            "time": {"from": self.time_from, "to": "now"},
            "templating": {"list": templating},
            "annotations": {"list": []},
            "panels": panels,
        });
        if !self.description.is_empty() {
            d["description"] = json!(self.description);
        }
        // Writing a `Value` cannot fail: every key is a string.
        let mut out = serde_json::to_string_pretty(&sorted(d)).unwrap_or_default();
        out.push('\n');
        out
    }
}

impl Variable {
    /// A variable `name` labelled `label`, its values from `query`.
    pub fn new(
        name: impl Into<String>,
        label: impl Into<String>,
        query: impl Into<String>,
    ) -> Self {
        Variable {
            name: name.into(),
            label: label.into(),
            query: query.into(),
        }
    }
}

impl Panel {
    /// A panel `width` columns by `height` rows, unit `short`, a list legend, no
    /// description and no queries.
    pub fn new(kind: PanelKind, title: impl Into<String>, width: u32, height: u32) -> Self {
        Panel {
            title: title.into(),
            kind,
            description: String::new(),
            unit: "short".to_owned(),
            width,
            height,
            legend: Legend::List,
            queries: Vec::new(),
            value_texts: Vec::new(),
        }
    }

    /// Shows `value` as `text` in `color` (a Grafana value mapping), such as a status code
    /// as its name.
    ///
    /// # Example
    ///
    /// ```
    /// use vsanobs_core::artifacts::{Dashboard, Panel, PanelKind};
    ///
    /// let d = Dashboard::new("Health", "health").panel(
    ///     Panel::new(PanelKind::Stat, "Status", 6, 4)
    ///         .query("max(status_code)", "")
    ///         .value_text(0, "green", "green")
    ///         .value_text(2, "red", "red"),
    /// );
    /// let json: serde_json::Value = serde_json::from_str(&d.to_json()).unwrap();
    /// let mapping = &json["panels"][0]["fieldConfig"]["defaults"]["mappings"][0];
    /// assert_eq!(mapping["type"], "value");
    /// assert_eq!(mapping["options"]["2"]["text"], "red");
    /// assert_eq!(mapping["options"]["2"]["index"], 1);
    /// ```
    pub fn value_text(
        mut self,
        value: impl std::fmt::Display,
        text: impl Into<String>,
        color: impl Into<String>,
    ) -> Self {
        self.value_texts.push(ValueText {
            value: value.to_string(),
            text: text.into(),
            color: color.into(),
        });
        self
    }

    /// Sets the unit.
    pub fn unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = unit.into();
        self
    }

    /// Sets the description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Sets the legend.
    pub fn legend(mut self, legend: Legend) -> Self {
        self.legend = legend;
        self
    }

    /// Adds a query.
    pub fn query(mut self, expr: impl Into<String>, legend: impl Into<String>) -> Self {
        self.queries.push(Query {
            expr: expr.into(),
            legend: legend.into(),
        });
        self
    }

    fn to_value(&self, id: usize, [x, y, w, h]: [u32; 4]) -> Value {
        let ds = datasource();
        let bucket_heatmap = self.kind == PanelKind::BucketHeatmap;
        let targets: Vec<Value> = self
            .queries
            .iter()
            .enumerate()
            .map(|(i, q)| {
                let mut t = json!({
                    "datasource": ds,
                    "expr": q.expr,
                    "legendFormat": q.legend,
                    "refId": ref_id(i),
                });
                if bucket_heatmap {
                    t["format"] = json!("heatmap");
                }
                t
            })
            .collect();
        let (display, placement) = match self.legend {
            Legend::List => ("list", "bottom"),
            Legend::Table => ("table", "right"),
        };
        let mut options = json!({
            "legend": {"displayMode": display, "placement": placement, "showLegend": true},
        });
        let kind = match self.kind {
            PanelKind::TimeSeries => "timeseries",
            PanelKind::Stat => "stat",
            PanelKind::Table => "table",
            PanelKind::Heatmap | PanelKind::BucketHeatmap => {
                options["calculate"] = json!(false);
                options["cellGap"] = json!(1);
                options["color"] = json!({"mode": "scheme", "scheme": "Oranges", "steps": 64});
                options["rowsFrame"] = json!({"layout": "auto"});
                options["yAxis"] = if bucket_heatmap {
                    json!({"axisPlacement": "left", "unit": self.unit})
                } else {
                    json!({"axisPlacement": "left"})
                };
                "heatmap"
            }
        };
        let mut defaults = json!({"unit": self.unit});
        if !self.value_texts.is_empty() {
            let options: Map<String, Value> = self
                .value_texts
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    (
                        v.value.clone(),
                        json!({"text": v.text, "color": v.color, "index": i}),
                    )
                })
                .collect();
            defaults["mappings"] = json!([{"type": "value", "options": options}]);
        }
        let mut p = json!({
            "id": id,
            "type": kind,
            "title": self.title,
            "datasource": ds,
            "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": options,
            "targets": targets,
        });
        if !self.description.is_empty() {
            p["description"] = json!(self.description);
        }
        p
    }
}

fn datasource() -> Value {
    json!({"type": "prometheus", "uid": "${datasource}"})
}

/// Grafana's target ids: `A` to `Z`, then `AA`, `AB`, ...
fn ref_id(mut i: usize) -> String {
    let mut id = Vec::new();
    loop {
        id.push(b'A' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    id.reverse();
    String::from_utf8(id).unwrap_or_default()
}

/// `[x, y, w, h]` of each panel: left to right, a new row when a panel does not fit; a row is
/// as high as its highest panel.
fn layout(panels: &[Panel]) -> Vec<[u32; 4]> {
    let (mut x, mut y, mut row_height) = (0, 0, 0);
    panels
        .iter()
        .map(|p| {
            let (w, h) = (p.width.clamp(1, GRID_COLUMNS), p.height.max(1));
            if x + w > GRID_COLUMNS {
                (x, y, row_height) = (0, y + row_height, 0);
            }
            let grid = [x, y, w, h];
            x += w;
            row_height = row_height.max(h);
            grid
        })
        .collect()
}

/// `v` with every object's keys inserted in sorted order: the same text whether
/// `serde_json`'s map keeps insertion order (`preserve_order`) or sorts.
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_flow_into_rows() {
        let p = |w, h| Panel::new(PanelKind::Stat, "p", w, h);
        let grid = layout(&[p(6, 6), p(6, 6), p(12, 6), p(24, 9), p(12, 8), p(30, 2)]);
        assert_eq!(
            grid,
            [
                [0, 0, 6, 6],
                [6, 0, 6, 6],
                [12, 0, 12, 6],
                [0, 6, 24, 9],
                [0, 15, 12, 8],
                [0, 23, 24, 2]
            ]
        );
    }

    #[test]
    fn ref_ids_continue_past_z() {
        let ids: Vec<String> = [0, 1, 25, 26, 27, 51, 52].into_iter().map(ref_id).collect();
        assert_eq!(ids, ["A", "B", "Z", "AA", "AB", "AZ", "BA"]);
    }

    #[test]
    fn json_is_valid_and_escaped() {
        let d = Dashboard::new("a \"b\"\n", "u").panel(
            Panel::new(PanelKind::BucketHeatmap, "h", 12, 8)
                .unit("s")
                .query(r#"sum by (le) (x_bucket{a="\\"})"#, "{{le}}"),
        );
        let v: Value = serde_json::from_str(&d.to_json()).unwrap();
        assert_eq!(v["title"], "a \"b\"\n");
        assert!(v.get("__inputs").is_none());
        assert!(v.get("description").is_none());
        let t = &v["panels"][0]["targets"][0];
        assert_eq!(t["expr"], r#"sum by (le) (x_bucket{a="\\"})"#);
        assert_eq!(t["format"], "heatmap");
        assert_eq!(v["panels"][0]["options"]["yAxis"]["unit"], "s");
    }
}
