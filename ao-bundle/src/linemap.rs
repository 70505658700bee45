//! The line map: which source file and line each bundle line came from, and
//! rewriting error messages and tracebacks that name bundle lines.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};

/// A run of bundle lines copied from one source file, line for line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// First bundle line of the run (1-based).
    pub bundle_line: usize,
    /// How many lines the run has.
    pub lines: usize,
    /// The source file, relative to the project root.
    pub file: String,
    /// The source line the run starts at (1-based).
    pub line: usize,
}

/// Maps bundle lines to source lines.
///
/// Every bundle line holds code from exactly one source line (the minifier
/// never joins lines, because Lua's error messages and tracebacks name lines,
/// not columns), so a bundle position `line:column` maps to the `file:line`
/// of its line whatever the column; [`lookup`](Self::lookup) takes the line.
///
/// As JSON (`version` 2) it is compact: file names once, then each run as
/// `[bundle_line, lines, file_index, line]`:
///
/// ```json
/// {"version":2,"files":["main.lua","lib/a.lua"],"segments":[[3,40,1,1],[44,2,0,1]]}
/// ```
///
/// Version 1 maps (one object per run, written by earlier releases) are read too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineMap {
    /// The format version [`to_json`](Self::to_json) writes (2; a version 1
    /// map is upgraded when read).
    pub version: u32,
    /// Runs in bundle order, not overlapping.
    pub segments: Vec<Segment>,
}

#[derive(Serialize)]
struct Compact<'a> {
    version: u32,
    files: Vec<&'a str>,
    segments: Vec<[usize; 4]>,
}

#[derive(Deserialize)]
struct CompactOwned {
    files: Vec<String>,
    segments: Vec<[usize; 4]>,
}

#[derive(Deserialize)]
struct Versioned {
    version: u32,
}

#[derive(Deserialize)]
struct V1 {
    segments: Vec<Segment>,
}

/// A source location a bundle line maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLine<'a> {
    /// The source file.
    pub file: &'a str,
    /// The 1-based line.
    pub line: usize,
}

impl LineMap {
    pub(crate) fn new(segments: Vec<Segment>) -> Self {
        Self { version: 2, segments }
    }

    /// Where bundle line `bundle_line` came from; `None` for the bundle's own glue.
    pub fn lookup(&self, bundle_line: usize) -> Option<SourceLine<'_>> {
        let i = self.segments.partition_point(|s| s.bundle_line + s.lines <= bundle_line);
        let s = self.segments.get(i)?;
        (bundle_line >= s.bundle_line)
            .then(|| SourceLine { file: &s.file, line: s.line + (bundle_line - s.bundle_line) })
    }

    /// The map as JSON (version 2).
    pub fn to_json(&self) -> String {
        let mut files: Vec<&str> = Vec::new();
        let mut index = std::collections::HashMap::new();
        let segments = self
            .segments
            .iter()
            .map(|s| {
                let i = *index.entry(s.file.as_str()).or_insert_with(|| {
                    files.push(s.file.as_str());
                    files.len() - 1
                });
                [s.bundle_line, s.lines, i, s.line]
            })
            .collect();
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_string(&Compact { version: 2, files, segments }).unwrap_or_default()
    }

    /// Reads a map written by [`to_json`](Self::to_json) (or a version 1
    /// map), checking that its runs are in order and do not overlap.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let invalid = |why: String| Error::new(ErrorKind::InvalidLineMap(why));
        let probe: Versioned = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let map = match probe.version {
            1 => {
                let v1: V1 = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
                LineMap { version: 2, segments: v1.segments }
            }
            2 => {
                let c: CompactOwned = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
                let mut segments = Vec::with_capacity(c.segments.len());
                for (i, [bundle_line, lines, file, line]) in c.segments.into_iter().enumerate() {
                    let file = c.files.get(file).ok_or_else(|| {
                        invalid(format!("segment {i} names file {file}, which is not listed"))
                    })?;
                    segments.push(Segment { bundle_line, lines, file: file.clone(), line });
                }
                LineMap { version: 2, segments }
            }
            v => return Err(invalid(format!("unsupported version {v}"))),
        };
        let mut next = 1;
        for (i, s) in map.segments.iter().enumerate() {
            if s.bundle_line < next || s.lines == 0 || s.line == 0 {
                return Err(invalid(format!("segment {i} overlaps the previous one or is empty")));
            }
            next = s
                .bundle_line
                .checked_add(s.lines)
                .ok_or_else(|| invalid(format!("segment {i} is too long")))?;
            s.line
                .checked_add(s.lines)
                .ok_or_else(|| invalid(format!("segment {i} runs past the last line")))?;
        }
        Ok(map)
    }

    /// Rewrites every `[string "NAME"]:LINE:` and `NAME:LINE:` in `text`, for
    /// each chunk name the bundle was loaded under (aos uses `aos`), into
    /// `file:line:`. Lines the map does not cover are left as they are.
    pub fn rewrite(&self, text: &str, chunk_names: &[&str]) -> String {
        let mut out = text.to_owned();
        for name in chunk_names {
            for prefix in [format!("[string \"{name}\"]:"), format!("{name}:")] {
                out = self.rewrite_prefix(&out, &prefix);
            }
        }
        out
    }

    fn rewrite_prefix(&self, text: &str, prefix: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(prefix) {
            let after = &rest[at + prefix.len()..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            let mapped = (digits > 0 && after[digits..].starts_with(':'))
                .then(|| after[..digits].parse::<usize>().ok())
                .flatten()
                .and_then(|line| self.lookup(line));
            // A match must start a token, so `xaos:1:` is not taken for `aos:1:`.
            let boundary = at == 0 || !rest[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
            match mapped {
                Some(src) if boundary => {
                    out.push_str(&rest[..at]);
                    let _ = write!(out, "{}:{}", src.file, src.line);
                    rest = &after[digits..];
                }
                _ => {
                    out.push_str(&rest[..at + prefix.len()]);
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> LineMap {
        LineMap::new(vec![
            Segment { bundle_line: 4, lines: 3, file: "a.lua".into(), line: 1 },
            Segment { bundle_line: 9, lines: 10, file: "lib/b.lua".into(), line: 1 },
        ])
    }

    #[test]
    fn lookup_maps_inside_segments_only() {
        let m = map();
        let cases = [
            (3, None),
            (4, Some(("a.lua", 1))),
            (6, Some(("a.lua", 3))),
            (7, None),
            (9, Some(("lib/b.lua", 1))),
            (18, Some(("lib/b.lua", 10))),
            (19, None),
        ];
        for (line, expected) in cases {
            assert_eq!(m.lookup(line).map(|s| (s.file, s.line)), expected, "line {line}");
        }
    }

    #[test]
    fn rewrites_messages_and_tracebacks() {
        let m = map();
        let text = "[string \"aos\"]:12: boom\nstack traceback:\n\t[string \"aos\"]:5: in function 'f'\n\taos:2: glue\n\txaos:5: other";
        assert_eq!(
            m.rewrite(text, &["aos"]),
            "lib/b.lua:4: boom\nstack traceback:\n\ta.lua:2: in function 'f'\n\taos:2: glue\n\txaos:5: other"
        );
    }

    #[test]
    fn json_round_trip_and_validation() {
        let m = map();
        assert_eq!(LineMap::from_json(&m.to_json()).unwrap(), m);
        assert!(
            m.to_json().starts_with(r#"{"version":2,"files":["a.lua","lib/b.lua"],"segments":[[4,3,0,1],"#)
        );
        let v1 = r#"{"version":1,"segments":[{"bundle_line":4,"lines":3,"file":"a.lua","line":1}]}"#;
        assert_eq!(LineMap::from_json(v1).unwrap().lookup(5).map(|s| (s.file, s.line)), Some(("a.lua", 2)));
        let bad = r#"{"version":1,"segments":[{"bundle_line":5,"lines":3,"file":"a","line":1},{"bundle_line":6,"lines":1,"file":"b","line":1}]}"#;
        assert!(LineMap::from_json(bad).unwrap_err().to_string().contains("segment 1 overlaps"));
        let bad = r#"{"version":2,"files":["a"],"segments":[[1,1,0,1],[1,1,0,5]]}"#;
        assert!(LineMap::from_json(bad).unwrap_err().to_string().contains("segment 1 overlaps"));
        let bad = r#"{"version":2,"files":["a"],"segments":[[1,1,3,1]]}"#;
        assert!(LineMap::from_json(bad).unwrap_err().to_string().contains("file 3"));
        assert!(LineMap::from_json(r#"{"version":3,"segments":[]}"#).is_err());
        assert!(LineMap::from_json("not json").is_err());
    }
}
