//! Size analytics: where the bundle's bytes come from and what to do about it.

use std::fmt;

use serde::Serialize;

use crate::bundle::Bundle;

/// zstd level for the compressed column: a realistic, fast setting.
const ZSTD_LEVEL: i32 = 3;
/// A module above this share of the bundle earns a recommendation.
const BIG_MODULE_PERCENT: f64 = 25.0;
/// A function above this share of the bundle earns a recommendation.
const BIG_FUNCTION_PERCENT: f64 = 10.0;

/// One module's share of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModuleSize {
    /// Registered name.
    pub name: String,
    /// Source file.
    pub path: String,
    /// Bytes of the source file as written.
    pub source: usize,
    /// Bytes after `define`s and constant folding.
    pub folded: usize,
    /// Bytes as shipped in the bundle (after minification, if on).
    pub raw: usize,
    /// Bytes after zstd compression of the module alone.
    pub compressed: usize,
    /// Share of the bundle's bytes, in percent.
    pub percent: f64,
}

/// A function and where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionSize {
    /// Its name, or `(anonymous)`.
    pub name: String,
    /// `file:line`.
    pub at: String,
    /// Size in bytes.
    pub bytes: usize,
}

/// A bundle's size report: modules largest first, the largest functions, and
/// recommendations. `Display` renders it as a text table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SizeReport {
    /// The whole bundle, in bytes.
    pub bytes: usize,
    /// The whole bundle after zstd.
    pub compressed: usize,
    /// Bytes the bundler added (registration and the entry calls).
    pub glue: usize,
    /// Modules, largest first.
    pub modules: Vec<ModuleSize>,
    /// The ten largest functions, largest first.
    pub largest_functions: Vec<FunctionSize>,
    /// What constant folding removed: (file, what, line, bytes).
    pub removed: Vec<(String, String, usize, usize)>,
    /// What could be done about the size.
    pub recommendations: Vec<String>,
}

fn compressed_len(bytes: &[u8]) -> usize {
    // Compressing an in-memory buffer cannot fail short of allocation failure;
    // fall back to the raw size rather than report nonsense.
    zstd::bulk::compress(bytes, ZSTD_LEVEL).map_or(bytes.len(), |c| c.len())
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { (part as f64 * 1000.0 / whole as f64).round() / 10.0 }
}

/// Measures `bundle`: each module's text is taken from the bundle itself
/// through its line map, so the report describes exactly what ships.
pub fn size_report(bundle: &Bundle) -> SizeReport {
    let lines: Vec<&str> = bundle.code.split_inclusive('\n').collect();
    let total = bundle.code.len();
    // A module may map through several runs (minification drops empty lines).
    let mut texts: Vec<(&str, String)> = Vec::new();
    for seg in &bundle.line_map.segments {
        let text: String = lines.iter().skip(seg.bundle_line - 1).take(seg.lines).copied().collect();
        match texts.iter_mut().find(|(f, _)| *f == seg.file) {
            Some((_, t)) => t.push_str(&text),
            None => texts.push((seg.file.as_str(), text)),
        }
    }
    let mut modules: Vec<ModuleSize> = Vec::new();
    let mut module_bytes = 0;
    for (file, text) in texts {
        let module = bundle.modules.iter().find(|m| m.path == file);
        let name = module.map_or_else(String::new, |m| m.name.clone());
        module_bytes += text.len();
        modules.push(ModuleSize {
            name,
            path: file.to_owned(),
            source: module.map_or(text.len(), |m| m.bytes),
            folded: module.map_or(text.len(), |m| m.folded_bytes),
            raw: text.len(),
            compressed: compressed_len(text.as_bytes()),
            percent: percent(text.len(), total),
        });
    }
    modules.sort_by(|a, b| b.raw.cmp(&a.raw).then_with(|| a.name.cmp(&b.name)));

    let mut functions: Vec<FunctionSize> = bundle
        .modules
        .iter()
        .flat_map(|m| {
            m.functions.iter().map(|f| FunctionSize {
                name: f.name.clone(),
                at: format!("{}:{}", m.path, f.line),
                bytes: f.bytes,
            })
        })
        .collect();
    functions.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.at.cmp(&b.at)));
    functions.truncate(10);

    let mut recommendations = Vec::new();
    for m in modules.iter().filter(|m| m.percent >= BIG_MODULE_PERCENT) {
        recommendations.push(format!(
            "module {} is {}% of the bundle: split it, or move rarely used parts behind a lazy require",
            m.name, m.percent
        ));
    }
    for f in functions.iter().filter(|f| percent(f.bytes, total) >= BIG_FUNCTION_PERCENT) {
        recommendations.push(format!(
            "function {} ({}) is {}% of the bundle",
            f.name,
            f.at,
            percent(f.bytes, total)
        ));
    }
    for m in &bundle.modules {
        if m.required_only_under.is_empty() {
            continue;
        }
        let share = modules.iter().find(|s| s.path == m.path).map_or(0.0, |s| s.percent);
        let names = m.required_only_under.join("`, `");
        recommendations.push(format!(
            "module {} ({} bytes, {share}% of the bundle) is required only under `if` conditions on `{names}`: \
             a define (--define {}=false) that decides them would drop it",
            m.name, m.shipped_bytes, m.required_only_under[0]
        ));
    }
    let removed = bundle
        .modules
        .iter()
        .flat_map(|m| m.removed.iter().map(|r| (m.path.clone(), r.what.clone(), r.line, r.bytes)))
        .collect();
    SizeReport {
        removed,
        bytes: total,
        compressed: compressed_len(bundle.code.as_bytes()),
        glue: total.saturating_sub(module_bytes),
        modules,
        largest_functions: functions,
        recommendations,
    }
}

impl SizeReport {
    /// The report as JSON.
    pub fn to_json(&self) -> String {
        // Plain data: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

impl fmt::Display for SizeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  {:<22} {:<28} {:>8} {:>8} {:>8} {:>8} {:>7}",
            "module", "file", "source", "folded", "shipped", "zstd", "share"
        )?;
        for m in &self.modules {
            writeln!(
                f,
                "  {:<22} {:<28} {:>8} {:>8} {:>8} {:>8} {:>6.1}%",
                m.name, m.path, m.source, m.folded, m.raw, m.compressed, m.percent
            )?;
        }
        writeln!(f, "  {:<22} {:<28} {:>8} {:>8} {:>8}", "(bundler glue)", "", "", "", self.glue)?;
        writeln!(
            f,
            "  {:<22} {:<28} {:>8} {:>8} {:>8} {:>8}",
            "total", "", "", "", self.bytes, self.compressed
        )?;
        if !self.largest_functions.is_empty() {
            writeln!(f, "  largest functions:")?;
            for func in self.largest_functions.iter().take(5) {
                writeln!(f, "    {:>7} bytes  {} ({})", func.bytes, func.name, func.at)?;
            }
        }
        for (file, what, line, bytes) in &self.removed {
            writeln!(f, "  removed: {what} at {file}:{line} ({bytes} bytes)")?;
        }
        for r in &self.recommendations {
            writeln!(f, "  recommendation: {r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BundleOptions, MemoryLoader, bundle};

    #[test]
    fn modules_required_only_under_a_condition_are_pointed_out() {
        let p = MemoryLoader::new()
            .file(
                "main.lua",
                "local cfg = { verbose = true }\nif DEBUG and cfg.verbose then require('inspect') end\nif cfg.verbose then require('log') end\nrequire('log')",
            )
            .file("inspect.lua", "return {}")
            .file("log.lua", "if DEBUG then local x = require('inspect') end\nreturn {}");
        let b = bundle(&p, &BundleOptions::new("main")).unwrap();
        let by_name = |n: &str| b.modules.iter().find(|m| m.name == n).unwrap();
        // Both requires of inspect sit under `if DEBUG`; `cfg` is a local, not a guard.
        assert_eq!(by_name("inspect").required_only_under, ["DEBUG"]);
        // log is also required unconditionally.
        assert!(by_name("log").required_only_under.is_empty());
        let r = size_report(&b);
        let rec: Vec<&String> = r.recommendations.iter().filter(|x| x.contains("required only")).collect();
        assert_eq!(rec.len(), 1, "{rec:?}");
        assert!(
            rec[0].starts_with("module inspect (") && rec[0].contains("--define DEBUG=false"),
            "{}",
            rec[0]
        );
        // With the define, it is gone.
        let b = bundle(&p, &BundleOptions::new("main").define("DEBUG", crate::Define::Bool(false))).unwrap();
        assert!(b.modules.iter().all(|m| m.name != "inspect"));
    }

    #[test]
    fn accounts_for_every_byte_and_recommends_on_big_parts() {
        let big = format!(
            "local M = {{}}\nfunction M.table()\n  return {{ {} }}\nend\nreturn M\n",
            "1, ".repeat(2000)
        );
        let p = MemoryLoader::new()
            .file("main.lua", "local big = require('big')\nlocal s = require('small')\n")
            .file("big.lua", big.clone())
            .file("small.lua", "return 1\n");
        let b = bundle(&p, &BundleOptions::new("main")).unwrap();
        let r = size_report(&b);
        assert_eq!(r.bytes, b.code.len());
        assert_eq!(r.modules.iter().map(|m| m.raw).sum::<usize>() + r.glue, r.bytes);
        assert_eq!(r.modules[0].name, "big");
        assert_eq!(r.modules[0].raw, big.len());
        assert!(r.modules[0].compressed < r.modules[0].raw / 10, "repetitive text compresses well");
        assert_eq!(r.largest_functions[0].name, "M.table");
        assert_eq!(r.largest_functions[0].at, "big.lua:2");
        assert!(
            r.recommendations.iter().any(|x| x.starts_with("module big is 9")),
            "{:?}",
            r.recommendations
        );
        assert!(r.recommendations.iter().any(|x| x.starts_with("function M.table (big.lua:2) is")));
        let text = r.to_string();
        assert!(text.contains("big.lua") && text.contains("recommendation: module big"), "{text}");
        assert!(text.contains("source   folded  shipped"), "{text}");
        assert!(!r.recommendations.iter().any(|x| x.contains("required only")), "{:?}", r.recommendations);
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["modules"][0]["name"], "big");
    }
}
