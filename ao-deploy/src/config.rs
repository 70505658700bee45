//! `ao-deploy.toml`: how each process of a game is deployed (strategy, smoke
//! tests, health window, canary steps and analyses) and how releases are
//! promoted between environments. It sits beside ao-env's files; ao-env says
//! *what* runs where, this file says *how* it changes.
//!
//! ```toml
//! [promotion]
//! order = ["dev", "staging", "prod"]
//! soak = { staging = "10m", prod = "1h" }
//!
//! [defaults]
//! strategy = "blue-green"          # in-place | blue-green | rolling | canary
//! scale_down_delay = "30s"
//! drain_timeout = "30s"            # wait this long at a hold for messages still in flight
//! globals = ["Arena"]              # the Lua globals that hold the game state
//! health = { duration = "30s", interval = "5s", max_failures = 0 }
//! [[defaults.smoke]]
//! name = "ping"
//! tags = { Action = "Ping" }
//! expect = { tags = { Action = "Pong" }, data = "pong" }
//!
//! [processes.world]
//! strategy = "canary"
//! depends_on = ["rules"]
//! canary.steps = [{ set_weight = 20 }, { analysis = "errors" }, { pause = "forever" }]
//!
//! [analysis.errors]
//! interval = "10s"
//! count = 3
//! checks = [{ metric = "canary_error_ratio", cmp = "<=", threshold = 0.01 }]
//! ```
//!
//! Unknown keys are errors; every error names the file, line, column and field.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::analysis::MEASURED;
use crate::error::{Error, ErrorKind};
use crate::promotion::PromotionPolicy;
use crate::spec::{AnalysisSpec, CanaryStep, Cmp, Expectation, HealthWindow, MetricCheck, SmokeTest};

/// The strategy a process is deployed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrategyKind {
    /// Eval into the running process.
    InPlace,
    /// Spawn green, switch the router.
    BlueGreen,
    /// Shards in place, in batches.
    Rolling,
    /// A mirrored canary judged by analyses.
    Canary,
}

/// How one process is deployed (defaults merged in).
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessDeploy {
    /// The strategy.
    pub strategy: StrategyKind,
    /// Whether clients reach it through a router (required by blue-green and canary).
    pub router: bool,
    /// How long the previous process stays after a switch, ms.
    pub scale_down_delay_ms: u64,
    /// Rolling: shards updated at once.
    pub max_unavailable: u32,
    /// Rolling: failed shards tolerated.
    pub max_failures: u32,
    /// Canary steps.
    pub canary_steps: Vec<CanaryStep>,
    /// Smoke tests.
    pub smoke: Vec<SmokeTest>,
    /// The health window.
    pub health: HealthWindow,
    /// Lua globals holding the state.
    pub globals: Vec<String>,
    /// State chunk size.
    pub chunk_bytes: usize,
    /// How long a hold waits for messages forwarded before it and still in
    /// flight to the process before the rollout rolls back, ms.
    pub drain_timeout_ms: u64,
    /// Processes deployed (verified) before this one in a plan.
    pub depends_on: Vec<String>,
}

impl Default for ProcessDeploy {
    fn default() -> Self {
        Self {
            strategy: StrategyKind::BlueGreen,
            router: true,
            scale_down_delay_ms: 30_000,
            max_unavailable: 1,
            max_failures: 0,
            canary_steps: Vec::new(),
            smoke: Vec::new(),
            health: HealthWindow { duration_ms: 30_000, interval_ms: 5_000, max_failures: 0 },
            globals: Vec::new(),
            chunk_bytes: 64 * 1024,
            drain_timeout_ms: crate::spec::StateOptions::default().drain_timeout_ms,
            depends_on: Vec::new(),
        }
    }
}

/// A loaded `ao-deploy.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployConfig {
    /// The file, as named in messages.
    pub file: String,
    /// Promotion order and soak times.
    pub promotion: PromotionPolicy,
    /// Per process (defaults merged); processes not listed use the defaults.
    pub processes: BTreeMap<String, ProcessDeploy>,
    defaults: ProcessDeploy,
    /// Lease time to live, ms.
    pub lease_ttl_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    promotion: Option<RawPromotion>,
    #[serde(default)]
    defaults: Option<RawProcess>,
    #[serde(default)]
    processes: BTreeMap<String, RawProcess>,
    #[serde(default)]
    analysis: BTreeMap<String, RawAnalysis>,
    #[serde(default)]
    lease_ttl: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPromotion {
    order: Vec<String>,
    #[serde(default)]
    soak: BTreeMap<String, Spanned<String>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawProcess {
    strategy: Option<Spanned<String>>,
    router: Option<bool>,
    scale_down_delay: Option<Spanned<String>>,
    globals: Option<Vec<String>>,
    chunk_bytes: Option<Spanned<usize>>,
    drain_timeout: Option<Spanned<String>>,
    depends_on: Option<Vec<String>>,
    health: Option<RawHealth>,
    smoke: Option<Vec<RawSmoke>>,
    rolling: Option<RawRolling>,
    canary: Option<RawCanary>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    duration: Spanned<String>,
    interval: Spanned<String>,
    #[serde(default)]
    max_failures: u32,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawSmoke {
    name: String,
    tags: BTreeMap<String, String>,
    #[serde(default)]
    data: String,
    #[serde(default)]
    expect: Option<RawExpect>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    #[serde(default)]
    tags: BTreeMap<String, String>,
    data: Option<String>,
    data_contains: Option<String>,
    output_contains: Option<String>,
    #[serde(default)]
    error: bool,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawRolling {
    max_unavailable: Option<u32>,
    max_failures: Option<u32>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawCanary {
    steps: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawStep {
    set_weight: Option<i64>,
    pause: Option<String>,
    analysis: Option<String>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawAnalysis {
    interval: Spanned<String>,
    count: u32,
    #[serde(default)]
    failure_limit: u32,
    #[serde(default)]
    inconclusive_limit: u32,
    checks: Vec<RawCheck>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    metric: Spanned<String>,
    cmp: Spanned<String>,
    threshold: f64,
}

/// Parses `250ms`, `30s`, `5m`, `1h`, `1d`; `None` says why not.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("{s:?} is not a duration (a number and ms, s, m, h or d)"))?;
    let scale = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{s:?} is not a duration (a number and ms, s, m, h or d)")),
    };
    n.checked_mul(scale).ok_or_else(|| format!("{s:?} is too long"))
}

struct Ctx<'t> {
    file: &'t str,
    text: &'t str,
}

impl Ctx<'_> {
    fn err(&self, at: Option<std::ops::Range<usize>>, path: &str, message: impl Into<String>) -> Error {
        let (line, column) = at.map_or((0, 0), |r| line_col(self.text, r.start));
        Error::new(ErrorKind::Config {
            file: self.file.into(),
            line,
            column,
            path: path.into(),
            message: message.into(),
        })
    }

    fn duration(&self, v: &Spanned<String>, path: &str) -> Result<u64, Error> {
        parse_duration(v.get_ref()).map_err(|m| self.err(Some(v.span()), path, m))
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn tags(m: &BTreeMap<String, String>) -> Vec<(String, String)> {
    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

impl DeployConfig {
    /// Reads a config file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses config text; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Self, Error> {
        let ctx = Ctx { file, text };
        let raw: Raw =
            toml::from_str(text).map_err(|e| ctx.err(e.span(), "", e.message().trim_end().to_owned()))?;
        let mut analyses = BTreeMap::new();
        for (name, a) in &raw.analysis {
            let path = format!("analysis.{name}");
            let interval_ms = ctx.duration(&a.interval, &format!("{path}.interval"))?;
            if a.count == 0 || interval_ms == 0 {
                return Err(ctx.err(Some(a.interval.span()), &path, "count and interval must be above 0"));
            }
            if a.checks.is_empty() {
                return Err(ctx.err(Some(a.interval.span()), &path, "an analysis needs at least one check"));
            }
            let mut checks = Vec::new();
            for (i, c) in a.checks.iter().enumerate() {
                let cpath = format!("{path}.checks[{i}]");
                if !MEASURED.contains(&c.metric.get_ref().as_str()) {
                    return Err(ctx.err(
                        Some(c.metric.span()),
                        &format!("{cpath}.metric"),
                        format!(
                            "unknown metric {:?} (measured: {})",
                            c.metric.get_ref(),
                            MEASURED.join(", ")
                        ),
                    ));
                }
                let cmp = match c.cmp.get_ref().as_str() {
                    "<" => Cmp::Lt,
                    "<=" => Cmp::Le,
                    ">" => Cmp::Gt,
                    ">=" => Cmp::Ge,
                    other => {
                        return Err(ctx.err(
                            Some(c.cmp.span()),
                            &format!("{cpath}.cmp"),
                            format!("{other:?} is not one of <, <=, >, >="),
                        ));
                    }
                };
                checks.push(MetricCheck { metric: c.metric.get_ref().clone(), cmp, threshold: c.threshold });
            }
            analyses.insert(
                name.clone(),
                AnalysisSpec {
                    name: name.clone(),
                    interval_ms,
                    count: a.count,
                    checks,
                    failure_limit: a.failure_limit,
                    inconclusive_limit: a.inconclusive_limit,
                },
            );
        }
        let defaults =
            Self::merge(&ctx, "defaults", raw.defaults.as_ref(), &ProcessDeploy::default(), &analyses)?;
        let mut processes = BTreeMap::new();
        for (name, p) in &raw.processes {
            let merged = Self::merge(&ctx, &format!("processes.{name}"), Some(p), &defaults, &analyses)?;
            processes.insert(name.clone(), merged);
        }
        for (name, p) in &processes {
            for d in &p.depends_on {
                if d == name {
                    return Err(ctx.err(
                        None,
                        &format!("processes.{name}.depends_on"),
                        format!("{name} depends on itself"),
                    ));
                }
            }
        }
        let promotion = match &raw.promotion {
            None => PromotionPolicy::default(),
            Some(p) => {
                let mut soak_ms = BTreeMap::new();
                for (env, d) in &p.soak {
                    let path = format!("promotion.soak.{env}");
                    if !p.order.contains(env) {
                        return Err(ctx.err(
                            Some(d.span()),
                            &path,
                            format!("{env} is not in promotion.order"),
                        ));
                    }
                    soak_ms.insert(env.clone(), ctx.duration(d, &path)?);
                }
                let mut seen = std::collections::BTreeSet::new();
                if let Some(dup) = p.order.iter().find(|e| !seen.insert(*e)) {
                    return Err(ctx.err(None, "promotion.order", format!("{dup} appears twice")));
                }
                PromotionPolicy { order: p.order.clone(), soak_ms }
            }
        };
        let lease_ttl_ms = match &raw.lease_ttl {
            Some(d) => ctx.duration(d, "lease_ttl")?,
            None => 300_000,
        };
        Ok(Self { file: file.into(), promotion, processes, defaults, lease_ttl_ms })
    }

    fn merge(
        ctx: &Ctx<'_>,
        path: &str,
        raw: Option<&RawProcess>,
        base: &ProcessDeploy,
        analyses: &BTreeMap<String, AnalysisSpec>,
    ) -> Result<ProcessDeploy, Error> {
        let mut p = base.clone();
        let Some(raw) = raw else { return Ok(p) };
        if let Some(s) = &raw.strategy {
            p.strategy = match s.get_ref().as_str() {
                "in-place" => StrategyKind::InPlace,
                "blue-green" => StrategyKind::BlueGreen,
                "rolling" => StrategyKind::Rolling,
                "canary" => StrategyKind::Canary,
                other => {
                    return Err(ctx.err(
                        Some(s.span()),
                        &format!("{path}.strategy"),
                        format!("unknown strategy {other:?} (in-place, blue-green, rolling, canary)"),
                    ));
                }
            };
        }
        if let Some(r) = raw.router {
            p.router = r;
        }
        if let Some(d) = &raw.scale_down_delay {
            p.scale_down_delay_ms = ctx.duration(d, &format!("{path}.scale_down_delay"))?;
        }
        if let Some(d) = &raw.drain_timeout {
            p.drain_timeout_ms = ctx.duration(d, &format!("{path}.drain_timeout"))?;
        }
        if let Some(g) = &raw.globals {
            p.globals.clone_from(g);
        }
        if let Some(c) = &raw.chunk_bytes {
            if *c.get_ref() < 16 {
                return Err(ctx.err(Some(c.span()), &format!("{path}.chunk_bytes"), "must be at least 16"));
            }
            p.chunk_bytes = *c.get_ref();
        }
        if let Some(d) = &raw.depends_on {
            p.depends_on.clone_from(d);
        }
        if let Some(h) = &raw.health {
            p.health = HealthWindow {
                duration_ms: ctx.duration(&h.duration, &format!("{path}.health.duration"))?,
                interval_ms: ctx.duration(&h.interval, &format!("{path}.health.interval"))?,
                max_failures: h.max_failures,
            };
            if p.health.interval_ms == 0 {
                return Err(ctx.err(
                    Some(h.interval.span()),
                    &format!("{path}.health.interval"),
                    "must be above 0",
                ));
            }
        }
        if let Some(smoke) = &raw.smoke {
            p.smoke = smoke
                .iter()
                .map(|s| SmokeTest {
                    name: s.name.clone(),
                    tags: tags(&s.tags),
                    data: s.data.clone(),
                    expect: s.expect.as_ref().map_or_else(Expectation::default, |e| Expectation {
                        tags: tags(&e.tags),
                        data: e.data.clone(),
                        data_contains: e.data_contains.clone(),
                        output_contains: e.output_contains.clone(),
                        error: e.error,
                    }),
                })
                .collect();
        }
        if let Some(r) = &raw.rolling {
            if let Some(m) = r.max_unavailable {
                if m == 0 {
                    return Err(ctx.err(
                        None,
                        &format!("{path}.rolling.max_unavailable"),
                        "must be at least 1",
                    ));
                }
                p.max_unavailable = m;
            }
            if let Some(m) = r.max_failures {
                p.max_failures = m;
            }
        }
        if let Some(c) = &raw.canary {
            let mut steps = Vec::new();
            for (i, s) in c.steps.iter().enumerate() {
                let spath = format!("{path}.canary.steps[{i}]");
                let step = s.get_ref();
                let set = [step.set_weight.is_some(), step.pause.is_some(), step.analysis.is_some()];
                if set.iter().filter(|b| **b).count() != 1 {
                    return Err(ctx.err(
                        Some(s.span()),
                        &spath,
                        "a step is exactly one of set_weight, pause, analysis",
                    ));
                }
                steps.push(if let Some(w) = step.set_weight {
                    let w = u8::try_from(w).ok().filter(|w| *w <= 100);
                    CanaryStep::SetWeight(
                        w.ok_or_else(|| ctx.err(Some(s.span()), &spath, "set_weight must be 0 to 100"))?,
                    )
                } else if let Some(d) = &step.pause {
                    if d == "forever" {
                        CanaryStep::Pause(None)
                    } else {
                        CanaryStep::Pause(Some(
                            parse_duration(d).map_err(|m| ctx.err(Some(s.span()), &spath, m))?,
                        ))
                    }
                } else {
                    let name = step.analysis.clone().unwrap_or_default();
                    let a = analyses.get(&name).ok_or_else(|| {
                        let known: Vec<&str> = analyses.keys().map(String::as_str).collect();
                        ctx.err(
                            Some(s.span()),
                            &spath,
                            format!(
                                "no [analysis.{name}] (defined: {})",
                                if known.is_empty() { "none".into() } else { known.join(", ") }
                            ),
                        )
                    })?;
                    CanaryStep::Analysis(a.clone())
                });
            }
            p.canary_steps = steps;
        }
        if matches!(p.strategy, StrategyKind::BlueGreen | StrategyKind::Canary) && !p.router {
            return Err(ctx.err(
                raw.strategy.as_ref().map(Spanned::span),
                path,
                "blue-green and canary need a router (router = true)",
            ));
        }
        Ok(p)
    }

    /// How `process` is deployed (the defaults when it is not listed).
    pub fn process(&self, name: &str) -> &ProcessDeploy {
        self.processes.get(name).unwrap_or(&self.defaults)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
lease_ttl = "2m"
[promotion]
order = ["dev", "staging", "prod"]
soak = { staging = "10m", prod = "1h" }

[defaults]
strategy = "blue-green"
globals = ["Arena"]
health = { duration = "30s", interval = "5s" }
[[defaults.smoke]]
name = "ping"
tags = { Action = "Ping" }
expect = { tags = { Action = "Pong" }, data = "pong" }

[processes.world]
strategy = "canary"
depends_on = ["rules"]
canary.steps = [{ set_weight = 20 }, { analysis = "errors" }, { pause = "forever" }, { pause = "30s" }]

[processes.rules]
strategy = "in-place"
router = false
drain_timeout = "2m"

[analysis.errors]
interval = "10s"
count = 3
checks = [{ metric = "canary_error_ratio", cmp = "<=", threshold = 0.01 }]
"#;

    #[test]
    fn a_full_config_loads_with_defaults_merged() {
        let c = DeployConfig::from_toml(GOOD, "ao-deploy.toml").unwrap();
        assert_eq!(c.promotion.order, ["dev", "staging", "prod"]);
        assert_eq!(c.promotion.soak_ms["prod"], 3_600_000);
        assert_eq!(c.lease_ttl_ms, 120_000);
        let w = c.process("world");
        assert_eq!(w.strategy, StrategyKind::Canary);
        assert_eq!(w.globals, ["Arena"], "from the defaults");
        assert_eq!(w.smoke[0].expect.data.as_deref(), Some("pong"));
        assert_eq!(w.canary_steps.len(), 4);
        assert!(
            matches!(&w.canary_steps[1], CanaryStep::Analysis(a) if a.interval_ms == 10_000 && a.count == 3)
        );
        assert_eq!(w.canary_steps[2], CanaryStep::Pause(None));
        assert_eq!(c.process("rules").strategy, StrategyKind::InPlace);
        assert_eq!(c.process("rules").drain_timeout_ms, 120_000);
        assert_eq!(w.drain_timeout_ms, 30_000, "the default");
        assert_eq!(c.process("lobby").strategy, StrategyKind::BlueGreen, "unlisted: the defaults");
    }

    #[test]
    fn bad_configs_name_file_line_and_field() {
        let cases = [
            ("[defaults]\nstrategi = \"canary\"\n", "ao-deploy.toml:2:1: unknown field `strategi`"),
            (
                "[defaults]\nstrategy = \"purple\"\n",
                "ao-deploy.toml:2:12 (defaults.strategy): unknown strategy \"purple\"",
            ),
            (
                "[defaults]\nscale_down_delay = \"soon\"\n",
                "ao-deploy.toml:2:20 (defaults.scale_down_delay): \"soon\" is not a duration",
            ),
            (
                "[processes.w]\ncanary.steps = [{ set_weight = 120 }]\n",
                "ao-deploy.toml:2:17 (processes.w.canary.steps[0]): set_weight must be 0 to 100",
            ),
            (
                "[processes.w]\ncanary.steps = [{ analysis = \"x\" }]\n",
                "(processes.w.canary.steps[0]): no [analysis.x] (defined: none)",
            ),
            (
                "[processes.w]\ncanary.steps = [{ set_weight = 1, pause = \"1s\" }]\n",
                "exactly one of set_weight, pause, analysis",
            ),
            (
                "[analysis.a]\ninterval = \"1s\"\ncount = 1\nchecks = [{ metric = \"latency\", cmp = \"<\", threshold = 1 }]\n",
                "ao-deploy.toml:4:22 (analysis.a.checks[0].metric): unknown metric \"latency\"",
            ),
            (
                "[promotion]\norder = [\"dev\"]\nsoak = { prod = \"1h\" }\n",
                "(promotion.soak.prod): prod is not in promotion.order",
            ),
            ("[defaults]\nstrategy = \"canary\"\nrouter = false\n", "need a router"),
            ("x = = 1", "ao-deploy.toml:1:5"),
        ];
        for (text, expected) in cases {
            let err = DeployConfig::from_toml(text, "ao-deploy.toml").unwrap_err().to_string();
            assert!(err.contains(expected), "{text:?}\n  got: {err}\n want: {expected}");
        }
    }

    #[test]
    fn durations() {
        for (text, ms) in [
            ("250ms", Some(250)),
            ("30s", Some(30_000)),
            ("5m", Some(300_000)),
            ("1h", Some(3_600_000)),
            ("2d", Some(172_800_000)),
            ("1", None),
            ("s", None),
            ("99999999999999999999d", None),
        ] {
            assert_eq!(parse_duration(text).ok(), ms, "{text}");
        }
    }
}
