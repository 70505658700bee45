//! The durable message log: one append-only file per process.
//!
//! # Format
//!
//! A log is UTF-8 text, one record per line: `<checksum> <json>\n`, where
//! `<checksum>` is the first 16 hex digits of the BLAKE3 hash of `<json>`.
//! The first record of a file is the process's spawn (`{"kind":"spawn",...}`),
//! every later one a message as scheduled (`{"kind":"message",...}`, with the id,
//! sender, nonce, timestamp and block height the scheduler assigned). Data is a
//! JSON string when it is UTF-8, else `{"base64": "..."}`.
//!
//! Reopening replays each log in order. A last line cut short by a crash (no
//! newline, or bad checksum on the final line) is reported and ignored: the
//! message it held was never acknowledged. Any other bad line is an error that
//! names the file, line and byte offset.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::process::{Envelope, SpawnRecord};

/// One line of a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum Record {
    Spawn(SpawnRecord),
    Message(Envelope),
}

/// What decoding a log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedLog {
    /// Messages in the log (after the spawn record).
    pub messages: usize,
    /// The process the log belongs to.
    pub process: String,
    /// Bytes at the end that held a torn record and were ignored (0 if none).
    pub torn_tail_bytes: usize,
    pub(crate) spawn: SpawnRecord,
    pub(crate) history: Vec<Envelope>,
}

fn checksum(json: &[u8]) -> String {
    let hash = blake3::hash(json);
    hash.to_hex()[..16].to_owned()
}

pub(crate) fn encode(record: &Record) -> Vec<u8> {
    // Serialising our own types to JSON cannot fail: every map key is a string.
    let json = serde_json::to_vec(record).unwrap_or_default();
    let mut line = Vec::with_capacity(json.len() + 18);
    line.extend_from_slice(checksum(&json).as_bytes());
    line.push(b' ');
    line.extend_from_slice(&json);
    line.push(b'\n');
    line
}

fn decode_line(line: &[u8]) -> Result<Record, String> {
    let text = std::str::from_utf8(line).map_err(|e| format!("not UTF-8: {e}"))?;
    let (sum, json) = text.split_once(' ').ok_or("missing checksum separator")?;
    if sum.len() != 16 || checksum(json.as_bytes()) != sum {
        return Err("checksum mismatch".into());
    }
    serde_json::from_str(json).map_err(|e| format!("invalid record: {e}"))
}

/// Decodes a whole log from bytes; `path` is only used in errors.
///
/// Never panics on any input: this is the entry point the fuzz target drives.
pub fn decode_log(path: &Path, bytes: &[u8]) -> Result<DecodedLog, Error> {
    let corrupt = |line: usize, offset: usize, reason: String| {
        Error::new(ErrorKind::CorruptLog { path: path.to_path_buf(), line, offset, reason })
    };
    let mut spawn = None;
    let mut history = Vec::new();
    let mut offset = 0;
    let mut torn_tail_bytes = 0;
    let mut line_no = 0;
    while offset < bytes.len() {
        line_no += 1;
        let rest = &bytes[offset..];
        let (line, complete) = match rest.iter().position(|&b| b == b'\n') {
            Some(end) => (&rest[..end], true),
            None => (rest, false),
        };
        let is_last = offset + line.len() + usize::from(complete) >= bytes.len();
        match decode_line(line) {
            Ok(record) if complete => match (record, &spawn) {
                (Record::Spawn(s), None) => spawn = Some(s),
                (Record::Spawn(_), Some(_)) => {
                    return Err(corrupt(line_no, offset, "second spawn record".into()));
                }
                (Record::Message(m), Some(s)) => {
                    let s: &SpawnRecord = s;
                    if m.target != s.id {
                        return Err(corrupt(line_no, offset, format!("message for {} in this log", m.target)));
                    }
                    if m.nonce != history.len() as u64 + 1 {
                        return Err(corrupt(
                            line_no,
                            offset,
                            format!("nonce {} out of order (expected {})", m.nonce, history.len() + 1),
                        ));
                    }
                    history.push(m);
                }
                (Record::Message(_), None) => {
                    return Err(corrupt(line_no, offset, "message before the spawn record".into()));
                }
            },
            // A record cut short by a crash: only the very last line may be torn.
            _ if is_last && line_no > 1 => {
                torn_tail_bytes = rest.len();
                break;
            }
            Ok(_) => return Err(corrupt(line_no, offset, "record is not newline-terminated".into())),
            Err(reason) => return Err(corrupt(line_no, offset, reason)),
        }
        offset += line.len() + 1;
    }
    let spawn = spawn.ok_or_else(|| corrupt(1, 0, "log has no spawn record".into()))?;
    Ok(DecodedLog {
        messages: history.len(),
        process: spawn.id.to_string(),
        torn_tail_bytes,
        spawn,
        history,
    })
}

/// How hard the log pushes each record to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `fsync` after every record: an acknowledged message survives power loss.
    #[default]
    Sync,
    /// Write to the OS only: survives a crash of this program, not of the machine.
    Buffered,
}

/// Appends records to one process's log file.
#[derive(Debug)]
pub(crate) struct LogWriter {
    path: PathBuf,
    file: File,
    durability: Durability,
}

impl LogWriter {
    /// Opens (creating if needed) the log, first cutting off a torn tail of
    /// `valid_len` bytes so new records follow the last good one.
    pub(crate) fn open(path: PathBuf, valid_len: Option<u64>, durability: Durability) -> Result<Self, Error> {
        let file = OpenOptions::new().create(true).append(true).open(&path).map_err(|e| Error::io(&path, e))?;
        if let Some(len) = valid_len {
            file.set_len(len).map_err(|e| Error::io(&path, e))?;
        }
        Ok(Self { path, file, durability })
    }

    pub(crate) fn append(&mut self, record: &Record) -> Result<(), Error> {
        self.file.write_all(&encode(record)).map_err(|e| Error::io(&self.path, e))?;
        if self.durability == Durability::Sync {
            self.file.sync_data().map_err(|e| Error::io(&self.path, e))?;
        }
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename, fsync the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
    f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, e))?;
    Ok(())
}

/// Serde for byte payloads: a string when UTF-8, else `{"base64": "..."}`.
pub(crate) mod bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Text(String),
        Binary { base64: String },
    }

    pub(crate) fn serialize<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(data) {
            Ok(text) => Repr::Text(text.to_owned()),
            Err(_) => Repr::Binary { base64: base64::engine::general_purpose::STANDARD.encode(data) },
        }
        .serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Text(t) => Ok(t.into_bytes()),
            Repr::Binary { base64 } => base64::engine::general_purpose::STANDARD
                .decode(base64)
                .map_err(|e| serde::de::Error::custom(format!("invalid base64 data: {e}"))),
        }
    }
}
