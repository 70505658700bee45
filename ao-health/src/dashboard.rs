//! A Grafana dashboard (classic JSON model) generated from a registry's families.

use serde_json::{Value as Json, json};

use crate::registry::{Descriptor, MetricType, Registry};

/// The Grafana dashboard schema version written (Grafana 10.4 and later read it).
pub const SCHEMA_VERSION: u64 = 39;

const WIDTH: u64 = 12;
const HEIGHT: u64 = 8;

/// Options of the generated dashboard.
#[derive(Debug, Clone)]
pub struct DashboardOptions {
    /// Its title.
    pub title: String,
    /// Its uid (stable, so re-importing replaces it).
    pub uid: String,
    /// Default time range, e.g. `now-6h`.
    pub from: String,
    /// Refresh interval, e.g. `30s`.
    pub refresh: String,
}

impl Default for DashboardOptions {
    fn default() -> Self {
        Self {
            title: "AO processes".into(),
            uid: "ao-health".into(),
            from: "now-6h".into(),
            refresh: "30s".into(),
        }
    }
}

/// The `PromQL` queries of a family's panel, with their legends.
pub fn panel_queries(d: &Descriptor) -> Vec<(String, String)> {
    let process = d.label_names().iter().any(|l| l == "process");
    let filter = if process { "{process=~\"$process\"}" } else { "" };
    let by: Vec<&str> = d.label_names().iter().map(String::as_str).collect();
    let legend = if by.is_empty() {
        d.name().to_owned()
    } else {
        by.iter().map(|l| format!("{{{{{l}}}}}")).collect::<Vec<_>>().join(" ")
    };
    let sum_by = |extra: &str| {
        let mut labels: Vec<&str> = by.clone();
        if !extra.is_empty() {
            labels.insert(0, extra);
        }
        if labels.is_empty() { "sum".to_owned() } else { format!("sum by ({})", labels.join(", ")) }
    };
    match d.kind() {
        MetricType::Counter => {
            vec![(format!("{} (rate({}_total{filter}[$__rate_interval]))", sum_by(""), d.name()), legend)]
        }
        MetricType::Gauge => vec![(format!("{} ({}{filter})", sum_by(""), d.name()), legend)],
        MetricType::Histogram => ["0.5", "0.9", "0.99"]
            .iter()
            .map(|q| {
                (
                    format!(
                        "histogram_quantile({q}, {} (rate({}_bucket{filter}[$__rate_interval])))",
                        sum_by("le"),
                        d.name()
                    ),
                    format!("p{} {legend}", &q[2..]),
                )
            })
            .collect(),
    }
}

fn unit(d: &Descriptor) -> &'static str {
    match (d.kind(), d.unit()) {
        (MetricType::Counter, _) => "ops",
        (_, Some("seconds")) => "s",
        (_, Some("bytes")) => "bytes",
        (_, Some("ratio")) => "percentunit",
        _ => "short",
    }
}

fn title(d: &Descriptor) -> String {
    let help = d.help().trim_end_matches('.');
    let t = if help.is_empty() { d.name() } else { help };
    match d.kind() {
        MetricType::Counter => format!("{t} (per second)"),
        MetricType::Histogram => format!("{t} (p50, p90, p99)"),
        MetricType::Gauge => t.to_owned(),
    }
}

/// A dashboard with one time-series panel per family of `registry`, two
/// panels to a row, a `datasource` variable (any Prometheus data source, picked
/// on the dashboard) and a `process` variable when a family has that label.
pub fn dashboard(registry: &Registry, options: &DashboardOptions) -> Json {
    dashboard_for(&registry.descriptors(), options)
}

/// [`dashboard`] for a list of descriptors.
pub fn dashboard_for(families: &[Descriptor], options: &DashboardOptions) -> Json {
    let ds = json!({ "type": "prometheus", "uid": "${datasource}" });
    let mut panels = Vec::new();
    for (i, d) in families.iter().enumerate() {
        let targets: Vec<Json> = panel_queries(d)
            .into_iter()
            .enumerate()
            .map(|(j, (expr, legend))| {
                json!({
                    "refId": char::from(b'A' + (j as u8 % 26)).to_string(),
                    "datasource": ds,
                    "expr": expr,
                    "legendFormat": legend,
                    "range": true,
                })
            })
            .collect();
        let i = i as u64;
        panels.push(json!({
            "id": i + 1,
            "type": "timeseries",
            "title": title(d),
            "description": format!("{} ({})", d.name(), d.kind().as_str()),
            "datasource": ds,
            "gridPos": { "h": HEIGHT, "w": WIDTH, "x": (i % 2) * WIDTH, "y": (i / 2) * HEIGHT },
            "fieldConfig": { "defaults": { "unit": unit(d) }, "overrides": [] },
            "options": {
                "legend": { "displayMode": "list", "placement": "bottom", "showLegend": true },
                "tooltip": { "mode": "multi", "sort": "none" }
            },
            "targets": targets,
        }));
    }
    let mut variables = vec![json!({
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "options": [],
    })];
    if let Some(d) = families.iter().find(|d| d.label_names().iter().any(|l| l == "process")) {
        let series = d.sample_names().into_iter().next().unwrap_or_default();
        variables.push(json!({
            "name": "process",
            "label": "Process",
            "type": "query",
            "datasource": ds,
            "definition": format!("label_values({series}, process)"),
            "query": { "query": format!("label_values({series}, process)"), "refId": "process" },
            "includeAll": true,
            "allValue": ".*",
            "multi": true,
            "current": {},
            "hide": 0,
            "refresh": 2,
            "sort": 1,
            "options": [],
        }));
    }
    json!({
        "__requires": [
            { "type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.4.0" },
            { "type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0" },
            { "type": "panel", "id": "timeseries", "name": "Time series", "version": "" },
        ],
        "id": null,
        "uid": options.uid,
        "title": options.title,
        "tags": ["ao", "ecs"],
        "timezone": "browser",
        "editable": true,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": options.refresh,
        "time": { "from": options.from, "to": "now" },
        "timepicker": {},
        "links": [],
        "annotations": { "list": [{
            "builtIn": 1,
            "datasource": { "type": "grafana", "uid": "-- Grafana --" },
            "enable": true,
            "hide": true,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        }]},
        "templating": { "list": variables },
        "panels": panels,
    })
}
