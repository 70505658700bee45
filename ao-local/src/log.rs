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
//! newline) is reported and ignored: the message it held was never
//! acknowledged, since a record is acknowledged only after its newline is written. Any other bad line is an error that
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
                        return Err(corrupt(
                            line_no,
                            offset,
                            format!("message for {} in this log", m.target),
                        ));
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
            // A record cut short by a crash: only the very last line, and only one
            // without its newline (a complete line that fails is corruption).
            _ if is_last && !complete && line_no > 1 => {
                torn_tail_bytes = rest.len();
                break;
            }
            Ok(_) => return Err(corrupt(line_no, offset, "spawn record is not newline-terminated".into())),
            Err(reason) => return Err(corrupt(line_no, offset, reason)),
        }
        offset += line.len() + 1;
    }
    let spawn = spawn.ok_or_else(|| corrupt(1, 0, "log has no spawn record".into()))?;
    Ok(DecodedLog { messages: history.len(), process: spawn.id.to_string(), torn_tail_bytes, spawn, history })
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
        let file =
            OpenOptions::new().create(true).append(true).open(&path).map_err(|e| Error::io(&path, e))?;
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

/// Writes `bytes` to `path` atomically ([`ao_fs::write_atomic`]): temp file, fsync, rename, fsync the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    ao_fs::write_atomic(path, bytes).map_err(|e| Error::io(e.path, e.source))
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

#[cfg(test)]
mod tests {
    use super::*;
    use ao_transport::{MessageId, ModuleId, ProcessId, Tag};
    use proptest::prelude::*;

    fn spawn_record() -> SpawnRecord {
        SpawnRecord {
            id: ProcessId::from_bytes([1; 32]),
            owner: "owner".into(),
            module: ModuleId::from_bytes([2; 32]),
            scheduler: "sched".into(),
            tags: vec![Tag::new("On-Boot", "Data").unwrap()],
            data: b"Count = 0".to_vec(),
            timestamp: 5,
            block_height: 9,
        }
    }

    fn envelope(nonce: u64, data: Vec<u8>, tag_value: String) -> Envelope {
        Envelope {
            id: MessageId::from_bytes([nonce as u8; 32]),
            target: ProcessId::from_bytes([1; 32]),
            from: "someone".into(),
            owner: "someone".into(),
            nonce,
            timestamp: 1000 + nonce,
            block_height: 9,
            tags: vec![Tag::new("Action", tag_value).unwrap()],
            data,
            anchor: None,
        }
    }

    fn log_bytes(messages: &[Envelope]) -> (Vec<u8>, Vec<usize>) {
        let mut bytes = encode(&Record::Spawn(spawn_record()));
        let mut ends = vec![bytes.len()];
        for m in messages {
            bytes.extend(encode(&Record::Message(m.clone())));
            ends.push(bytes.len());
        }
        (bytes, ends)
    }

    fn messages() -> impl Strategy<Value = Vec<Envelope>> {
        prop::collection::vec((prop::collection::vec(any::<u8>(), 0..40), "[ -~]{0,20}"), 0..8).prop_map(
            |v| v.into_iter().enumerate().map(|(i, (data, tag))| envelope(i as u64 + 1, data, tag)).collect(),
        )
    }

    proptest! {
        #[test]
        fn round_trips_any_records(msgs in messages()) {
            let (bytes, _) = log_bytes(&msgs);
            let decoded = decode_log(Path::new("p.log"), &bytes).unwrap();
            prop_assert_eq!(decoded.spawn, spawn_record());
            prop_assert_eq!(decoded.history, msgs);
            prop_assert_eq!(decoded.torn_tail_bytes, 0);
        }

        /// A crash can cut the file anywhere: what decodes is exactly the complete
        /// records before the cut, and the torn rest is reported, never misread.
        #[test]
        fn a_cut_anywhere_keeps_exactly_the_complete_records(msgs in messages(), cut in any::<prop::sample::Index>()) {
            let (bytes, ends) = log_bytes(&msgs);
            let cut = cut.index(bytes.len() + 1);
            match decode_log(Path::new("p.log"), &bytes[..cut]) {
                Ok(decoded) => {
                    let complete = ends.iter().filter(|&&e| e <= cut).count() - 1;
                    prop_assert_eq!(&decoded.history[..], &msgs[..complete]);
                    prop_assert_eq!(decoded.torn_tail_bytes, cut - ends[complete]);
                }
                // Only a cut inside the spawn record leaves nothing to restore.
                Err(e) => {
                    prop_assert!(cut < ends[0], "cut {} after the spawn record failed: {}", cut, e);
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_log(Path::new("p.log"), &bytes);
        }
    }

    #[test]
    fn out_of_order_nonce_and_foreign_target_are_named() {
        let (mut bytes, _) = log_bytes(&[envelope(1, vec![], "A".into())]);
        bytes.extend(encode(&Record::Message(envelope(3, vec![], "B".into()))));
        let err = decode_log(Path::new("p.log"), &bytes).unwrap_err();
        assert!(
            err.to_string().contains("p.log:3") && err.to_string().contains("nonce 3 out of order"),
            "{err}"
        );

        let mut foreign = envelope(1, vec![], "A".into());
        foreign.target = ProcessId::from_bytes([7; 32]);
        let (mut bytes, _) = log_bytes(&[]);
        bytes.extend(encode(&Record::Message(foreign)));
        bytes.extend(encode(&Record::Message(envelope(2, vec![], "A".into()))));
        let err = decode_log(Path::new("p.log"), &bytes).unwrap_err();
        assert!(err.to_string().contains("p.log:2") && err.to_string().contains("in this log"), "{err}");
    }

    #[test]
    fn a_complete_last_line_with_a_bad_checksum_is_corruption_not_a_torn_tail() {
        let (mut bytes, ends) = log_bytes(&[envelope(1, b"x".to_vec(), "A".into())]);
        bytes[ends[0] + 2] ^= 0x20;
        let err = decode_log(Path::new("p.log"), &bytes).unwrap_err();
        assert!(
            err.to_string().contains("p.log:2") && err.to_string().contains("checksum mismatch"),
            "{err}"
        );
    }

    #[test]
    fn binary_data_is_stored_as_base64_and_text_as_text() {
        let line = encode(&Record::Message(envelope(1, vec![0xff, 0], "A".into())));
        assert!(String::from_utf8_lossy(&line).contains(r#""data":{"base64":"/wA="}"#));
        let line = encode(&Record::Message(envelope(1, b"hi".to_vec(), "A".into())));
        assert!(String::from_utf8_lossy(&line).contains(r#""data":"hi""#));
    }
}
