//! The journal: an append-only file of checksummed records, fsynced one by one.
//!
//! ```text
//! file   = magic record*
//! magic  = "AODJ" 0x00 0x01 "\r\n"           8 bytes, format 1
//! record = len:u32le  check:[u8; 16]  payload:[u8; len]
//!          check = the first 16 bytes of BLAKE3(payload); payload = JSON of a Record
//! ```
//!
//! The first record starts a rollout (its spec); then every event the core
//! consumed, in order. Replaying them rebuilds the core exactly (see
//! [`Rollout::replay`](crate::Rollout::replay)). A crash while appending leaves
//! a torn tail: a record cut short, or a last record whose checksum fails. It is
//! detected and reported, and cut off before anything new is appended. A bad
//! record followed by more data is corruption, not a crash: the journal is
//! refused with the record's offset.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use ao_health::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::rollout::Event;
use crate::spec::RolloutSpec;

/// The first 8 bytes of every journal.
pub const MAGIC: &[u8; 8] = b"AODJ\x00\x01\r\n";

/// Largest record accepted (a bigger length field is corruption).
pub const MAX_RECORD: usize = 64 << 20;

const HEADER: usize = 4 + 16;

/// One journal record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "kebab-case")]
#[allow(clippy::large_enum_variant)] // one Begin per journal; boxing it would only add noise
pub enum Record {
    /// A rollout starts.
    Begin {
        /// What it does.
        spec: RolloutSpec,
        /// When it started.
        #[serde(with = "crate::ts")]
        started: Timestamp,
        /// Who runs it (the lease holder).
        deployer: String,
    },
    /// An event the core consumed.
    Event {
        /// The event.
        event: Event,
    },
    /// Another deployer took the rollout over (an explicit takeover of a stale lease).
    Takeover {
        /// The previous holder.
        from: String,
        /// The new one.
        to: String,
        /// When.
        #[serde(with = "crate::ts")]
        at: Timestamp,
    },
    /// Something the driver noticed (a spawn found again), for the history.
    Note {
        /// What.
        text: String,
        /// When.
        #[serde(with = "crate::ts")]
        at: Timestamp,
    },
}

/// A torn or corrupt tail that was cut off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TornTail {
    /// Where the bad record starts.
    pub offset: u64,
    /// Bytes from there to the end of the file.
    pub bytes: u64,
    /// What was wrong with it.
    pub reason: String,
    /// Where [`Journal::open`] kept the bytes it cut off (`<journal>.torn-<offset>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<PathBuf>,
}

/// What a journal file holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Contents {
    /// The records, in order.
    pub records: Vec<Record>,
    /// Bytes up to the end of the last good record.
    pub valid_len: u64,
    /// The tail that is not a good record, if any.
    pub torn: Option<TornTail>,
}

impl Contents {
    /// The rollout the journal starts: spec, start time, deployer.
    pub fn begin(&self) -> Option<(&RolloutSpec, Timestamp, &str)> {
        match self.records.first() {
            Some(Record::Begin { spec, started, deployer }) => Some((spec, *started, deployer.as_str())),
            _ => None,
        }
    }

    /// The events, in order.
    pub fn events(&self) -> Vec<Event> {
        self.records
            .iter()
            .filter_map(|r| match r {
                Record::Event { event } => Some(event.clone()),
                _ => None,
            })
            .collect()
    }

    /// Who holds the rollout now: the `Begin` deployer or the last takeover's.
    pub fn holder(&self) -> Option<&str> {
        self.records.iter().rev().find_map(|r| match r {
            Record::Takeover { to, .. } => Some(to.as_str()),
            Record::Begin { deployer, .. } => Some(deployer.as_str()),
            _ => None,
        })
    }
}

/// The bytes of one record.
pub fn encode_record(record: &Record) -> Vec<u8> {
    // Plain data with string keys: serialising cannot fail.
    let payload = serde_json::to_vec(record).unwrap_or_default();
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&blake3::hash(&payload).as_bytes()[..16]);
    out.extend_from_slice(&payload);
    out
}

/// Reads journal bytes (`path` only names the file in errors). Never panics.
pub fn decode_journal(path: &Path, bytes: &[u8]) -> Result<Contents, Error> {
    let corrupt = |offset: usize, record: usize, reason: String| {
        Error::new(ErrorKind::JournalCorrupt {
            path: path.to_path_buf(),
            offset: offset as u64,
            record,
            reason,
        })
    };
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        if MAGIC.starts_with(bytes) {
            // A crash while creating the file: nothing was recorded yet.
            let torn = (!bytes.is_empty()).then(|| TornTail {
                offset: 0,
                bytes: bytes.len() as u64,
                reason: "magic cut short".into(),
                kept: None,
            });
            return Ok(Contents { records: Vec::new(), valid_len: 0, torn });
        }
        return Err(corrupt(0, 0, "not an ao-deploy journal (bad magic)".into()));
    }
    let mut records = Vec::new();
    let mut at = MAGIC.len();
    let torn = |at: usize, reason: &str| {
        Some(TornTail {
            offset: at as u64,
            bytes: (bytes.len() - at) as u64,
            reason: reason.into(),
            kept: None,
        })
    };
    while at < bytes.len() {
        let rest = &bytes[at..];
        if rest.len() < HEADER {
            return Ok(Contents { records, valid_len: at as u64, torn: torn(at, "record header cut short") });
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len > MAX_RECORD {
            return Err(corrupt(
                at,
                records.len(),
                format!("record length {len} is over the {MAX_RECORD}-byte limit"),
            ));
        }
        if rest.len() < HEADER + len {
            // A crash while appending cuts the last record short; a length
            // corrupted to run past the end would pass for that and have the
            // good records after it cut off: refused if one follows.
            if let Some(next) = good_record_after(bytes, at + 1) {
                return Err(corrupt(
                    at,
                    records.len(),
                    format!(
                        "record length {len} runs past the end of the file, yet a good record starts at byte {next}"
                    ),
                ));
            }
            return Ok(Contents { records, valid_len: at as u64, torn: torn(at, "record cut short") });
        }
        let payload = &rest[HEADER..HEADER + len];
        let last = rest.len() == HEADER + len;
        if blake3::hash(payload).as_bytes()[..16] != rest[4..HEADER] {
            if last {
                return Ok(Contents {
                    records,
                    valid_len: at as u64,
                    torn: torn(at, "checksum mismatch in the last record"),
                });
            }
            return Err(corrupt(at, records.len(), "checksum mismatch".into()));
        }
        let record: Record = serde_json::from_slice(payload).map_err(|e| {
            corrupt(at, records.len(), format!("checksum is good but the record does not decode: {e}"))
        })?;
        if records.is_empty() != matches!(record, Record::Begin { .. }) {
            return Err(corrupt(
                at,
                records.len(),
                "a journal starts with one Begin record and has no other".into(),
            ));
        }
        records.push(record);
        at += HEADER + len;
    }
    Ok(Contents { records, valid_len: at as u64, torn: None })
}

/// Where a whole record with a good checksum starts at or after `from`, if
/// anywhere. Only offsets whose payload opens like a record's JSON are hashed.
fn good_record_after(bytes: &[u8], from: usize) -> Option<usize> {
    const OPENING: &[u8] = b"{\"record\":\"";
    let end = bytes.len().checked_sub(HEADER + OPENING.len())?;
    (from..=end).find(|&at| {
        let payload_at = at + HEADER;
        if !bytes[payload_at..].starts_with(OPENING) {
            return false;
        }
        let len = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        bytes.len() - payload_at >= len
            && blake3::hash(&bytes[payload_at..payload_at + len]).as_bytes()[..16]
                == bytes[at + 4..payload_at]
    })
}

/// An open journal, appending.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
    len: u64,
}

impl Journal {
    /// Creates a journal whose first record is `begin`. Refuses to overwrite one.
    pub fn create(path: &Path, begin: &Record) -> Result<Self, Error> {
        if !matches!(begin, Record::Begin { .. }) {
            return Err(Error::misuse("a journal starts with a Begin record"));
        }
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        // The magic and the Begin record appear together or not at all (a
        // crash between them left a journal that starts no rollout, which
        // nothing could resume): written under a temporary name, fsynced, then
        // hard-linked into place, which never replaces a journal.
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&encode_record(begin));
        crate::fsutil::create_whole(path, &bytes).map_err(|e| Error::io(path, e))?;
        let file = OpenOptions::new().append(true).open(path).map_err(|e| Error::io(path, e))?;
        Ok(Self { file, path: path.to_path_buf(), len: bytes.len() as u64 })
    }

    /// Opens a journal to continue it: reads every record and cuts off a torn
    /// tail (reported in the contents, its bytes kept beside the journal) so
    /// new records follow good ones.
    pub fn open(path: &Path) -> Result<(Self, Contents), Error> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let mut contents = decode_journal(path, &bytes)?;
        if contents.begin().is_none() {
            return Err(Error::new(ErrorKind::JournalMismatch(format!(
                "{} starts no rollout",
                path.display()
            ))));
        }
        let file = OpenOptions::new().write(true).open(path).map_err(|e| Error::io(path, e))?;
        if let Some(torn) = contents.torn.as_mut() {
            let mut name = path.as_os_str().to_owned();
            name.push(format!(".torn-{}", torn.offset));
            let kept = PathBuf::from(name);
            let start = usize::try_from(torn.offset).unwrap_or(bytes.len()).min(bytes.len());
            crate::fsutil::write_atomic(&kept, &bytes[start..])?;
            torn.kept = Some(kept);
            file.set_len(contents.valid_len).map_err(|e| Error::io(path, e))?;
            file.sync_all().map_err(|e| Error::io(path, e))?;
        }
        let mut file = file;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::End(0)).map_err(|e| Error::io(path, e))?;
        Ok((Self { file, path: path.to_path_buf(), len: contents.valid_len }, contents))
    }

    /// Appends a record and fsyncs it: when this returns, it survives a crash.
    /// A record over [`MAX_RECORD`] is refused (the reader would take it for
    /// corruption); a failed write is cut off again, so the next append does
    /// not follow half a record.
    pub fn append(&mut self, record: &Record) -> Result<(), Error> {
        let bytes = encode_record(record);
        if bytes.len() - HEADER > MAX_RECORD {
            return Err(Error::misuse(format!(
                "a {}-byte journal record is over the {MAX_RECORD}-byte limit",
                bytes.len() - HEADER
            )));
        }
        let written = self.file.write_all(&bytes).and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            let _ = self.file.set_len(self.len);
            let _ = std::io::Seek::seek(&mut self.file, std::io::SeekFrom::Start(self.len));
            return Err(Error::io(&self.path, e));
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it holds only the magic.
    pub fn is_empty(&self) -> bool {
        self.len <= MAGIC.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::Command;

    fn begin() -> Record {
        let spec: RolloutSpec = serde_json::from_str(include_str!("../tests/golden/spec.json")).unwrap();
        Record::Begin { spec, started: Timestamp::from_millis(5), deployer: "ann@host".into() }
    }

    fn event(n: u64) -> Record {
        Record::Event { event: Event::Command { at: Timestamp::from_millis(n), command: Command::Pause } }
    }

    #[test]
    fn torn_tails_are_cut_and_reported_corruption_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.log");
        let mut j = Journal::create(&path, &begin()).unwrap();
        j.append(&event(1)).unwrap();
        j.append(&event(2)).unwrap();
        let good = std::fs::read(&path).unwrap();
        let all = decode_journal(&path, &good).unwrap();
        assert_eq!((all.records.len(), all.torn.clone()), (3, None));

        // Every cut inside the last record is a torn tail; the first two records stay.
        let last = encode_record(&event(2)).len();
        for cut in 1..last {
            let c = decode_journal(&path, &good[..good.len() - cut]).unwrap();
            assert_eq!(c.records.len(), 2, "cut {cut}");
            assert_eq!(c.torn.as_ref().unwrap().offset, (good.len() - last) as u64);
        }
        // A flipped byte in the last record: torn (reported), never used.
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let c = decode_journal(&path, &flipped).unwrap();
        assert_eq!(c.records.len(), 2);
        assert!(c.torn.unwrap().reason.contains("checksum"));
        // A middle record's length corrupted to run past the end looks like a
        // record cut short; the good record after it says otherwise.
        let mut long = good.clone();
        let second = MAGIC.len() + encode_record(&begin()).len();
        long[second..second + 4].copy_from_slice(&10_000u32.to_le_bytes());
        let err = decode_journal(&path, &long).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::JournalCorrupt { record: 1, .. }), "{err}");
        assert!(err.to_string().contains("runs past the end of the file"), "{err}");
        std::fs::write(&path, &long).unwrap();
        assert!(Journal::open(&path).is_err(), "never cut off good records");
        assert_eq!(std::fs::read(&path).unwrap(), long, "the file is left as it was");
        // The same in a middle record: corruption, refused with its offset.
        let mut middle = good.clone();
        let at = good.len() - last - 3;
        middle[at] ^= 1;
        let err = decode_journal(&path, &middle).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::JournalCorrupt { record: 1, .. }), "{err}");
        assert!(err.to_string().contains("later records cannot be trusted"), "{err}");

        // Reopening cuts the torn tail; appending continues after the good records.
        std::fs::write(&path, &good[..good.len() - 5]).unwrap();
        let (mut j, c) = Journal::open(&path).unwrap();
        let torn = c.torn.unwrap();
        // What was cut off is kept beside the journal, not destroyed.
        let kept = std::fs::read(torn.kept.as_ref().unwrap()).unwrap();
        assert_eq!(kept, &good[torn.offset as usize..good.len() - 5]);
        j.append(&event(3)).unwrap();
        let c = decode_journal(&path, &std::fs::read(&path).unwrap()).unwrap();
        assert_eq!((c.records.len(), c.torn), (3, None));
        assert_eq!(c.records[2], event(3));
        assert!(Journal::create(&path, &begin()).is_err(), "create never overwrites");

        // A record the reader would refuse is never written.
        let before = std::fs::read(&path).unwrap();
        let huge = Record::Note { text: "x".repeat(MAX_RECORD), at: Timestamp::from_millis(9) };
        let err = j.append(&huge).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Misuse(_)), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        j.append(&event(4)).unwrap();
        assert_eq!(decode_journal(&path, &std::fs::read(&path).unwrap()).unwrap().records.len(), 4);
    }
}
