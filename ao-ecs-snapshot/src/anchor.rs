//! Anchoring: publishing a snapshot's root, tick and counts somewhere a restorer can check
//! them later, and comparing a local snapshot with what was anchored.

use std::collections::BTreeMap;

use crate::error::Error;
use crate::format::{DecodeLimits, decode};
use crate::manifest::{Manifest, SnapshotId, SnapshotKind};

/// What an anchor records about a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorRecord {
    /// The snapshot's root.
    pub root: SnapshotId,
    /// Its tick.
    pub tick: u64,
    /// Full or delta.
    pub kind: SnapshotKind,
    /// Live entities once restored.
    pub entities: u64,
    /// Per component: entities that have it once restored.
    pub components: BTreeMap<String, u64>,
}

impl AnchorRecord {
    /// The record for a snapshot with this root and manifest.
    pub fn of(root: SnapshotId, manifest: &Manifest) -> Self {
        Self {
            root,
            tick: manifest.tick,
            kind: manifest.kind,
            entities: manifest.entity_count,
            components: manifest.components.iter().map(|c| (c.name.clone(), c.count)).collect(),
        }
    }
}

/// Proof that an anchor took a record: the id of the message that carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorReceipt {
    /// The anchoring message's id (for `AoAnchor`, the AO message id).
    pub message_id: String,
    /// What was anchored.
    pub record: AnchorRecord,
}

/// Somewhere roots can be published and looked up.
pub trait Anchor {
    /// Publishes a record; returns the receipt.
    fn anchor(&self, record: &AnchorRecord) -> Result<AnchorReceipt, Error>;
    /// What was anchored for `root`, with the anchoring message id, if anything.
    fn lookup(&self, root: &SnapshotId) -> Result<Option<(String, AnchorRecord)>, Error>;
}

/// How a local snapshot compares with its anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorCheck {
    /// The snapshot verifies and the anchor records the same root, tick, kind and counts.
    Matches {
        /// The anchoring message id.
        message_id: String,
    },
    /// Nothing is anchored for this root (the snapshot was changed, or never anchored).
    NotAnchored,
    /// The anchor holds a record for the root that disagrees with the snapshot.
    Differs {
        /// The anchoring message id.
        message_id: String,
        /// Field by field: `(field, local, anchored)`.
        differences: Vec<(String, String, String)>,
    },
}

/// Verifies a stored snapshot completely and compares it with what `anchor` holds for its root.
pub fn verify_anchor(anchor: &dyn Anchor, snapshot: &[u8]) -> Result<AnchorCheck, Error> {
    let snap = decode(snapshot, &DecodeLimits::default())?;
    let local = AnchorRecord::of(snap.id, &snap.manifest);
    let Some((message_id, anchored)) = anchor.lookup(&snap.id)? else { return Ok(AnchorCheck::NotAnchored) };
    let mut differences = Vec::new();
    let mut cmp = |field: &str, a: String, b: String| {
        if a != b {
            differences.push((field.to_owned(), a, b));
        }
    };
    cmp("root", local.root.to_hex(), anchored.root.to_hex());
    cmp("tick", local.tick.to_string(), anchored.tick.to_string());
    cmp("kind", format!("{:?}", local.kind), format!("{:?}", anchored.kind));
    cmp("entities", local.entities.to_string(), anchored.entities.to_string());
    cmp("components", format!("{:?}", local.components), format!("{:?}", anchored.components));
    Ok(if differences.is_empty() {
        AnchorCheck::Matches { message_id }
    } else {
        AnchorCheck::Differs { message_id, differences }
    })
}

#[cfg(feature = "anchor")]
pub use ao::{ANCHOR_PROCESS_LUA, AoAnchor};

#[cfg(feature = "anchor")]
mod ao {
    use super::{Anchor, AnchorReceipt, AnchorRecord, BTreeMap, Error, SnapshotId, SnapshotKind};
    use crate::error::ErrorKind;
    use ao_transport::{AoTransport, EvalResult, Message, ProcessId};

    /// The Lua source of an anchor process (Lua 5.3, aos handlers): load it with an Eval
    /// (or `spawn_aos`) into a process you own, then point an [`AoAnchor`] at it.
    pub const ANCHOR_PROCESS_LUA: &str = include_str!("anchor.lua");

    /// Anchors roots on an AO process through any [`AoTransport`]: `Action = Anchor-Snapshot`
    /// with tags `Root`, `Tick`, `Entities`, `Kind` and the component counts as JSON data;
    /// lookups are dry runs (`Action = Get-Anchor`), so they cost no message.
    #[derive(Debug)]
    pub struct AoAnchor<T> {
        transport: T,
        process: ProcessId,
    }

    fn transport(e: impl std::error::Error + Send + Sync + 'static) -> Error {
        ErrorKind::Transport(Box::new(e)).into()
    }

    fn reply(result: &EvalResult) -> Result<&ao_transport::OutboxMessage, Error> {
        if let Some(e) = &result.error {
            return Err(ErrorKind::AnchorReply(format!("the process failed: {e}")).into());
        }
        result.messages.first().ok_or_else(|| ErrorKind::AnchorReply("no reply".into()).into())
    }

    impl<T: AoTransport> AoAnchor<T> {
        /// An anchor over `transport` sending to `process`.
        pub fn new(transport: T, process: ProcessId) -> Self {
            Self { transport, process }
        }

        /// The anchor process.
        pub fn process(&self) -> &ProcessId {
            &self.process
        }
    }

    impl<T: AoTransport> Anchor for AoAnchor<T> {
        fn anchor(&self, record: &AnchorRecord) -> Result<AnchorReceipt, Error> {
            let data = serde_json::to_string(&record.components).expect("a map of counts serializes");
            let msg = Message::builder(self.process.clone())
                .tag("Action", "Anchor-Snapshot")
                .tag("Root", record.root.to_hex())
                .tag("Tick", record.tick.to_string())
                .tag("Entities", record.entities.to_string())
                .tag("Kind", kind_str(record.kind))
                .data(data)
                .build()
                .map_err(transport)?;
            let (id, result) = pollster::block_on(self.transport.send_and_wait(msg)).map_err(transport)?;
            let r = reply(&result)?;
            match r.tag("Action") {
                Some("Anchored") => Ok(AnchorReceipt { message_id: id.to_string(), record: record.clone() }),
                Some("Anchor-Exists") => Ok(AnchorReceipt {
                    message_id: r.tag("Anchor-Id").unwrap_or_default().to_owned(),
                    record: record.clone(),
                }),
                other => Err(ErrorKind::AnchorReply(format!(
                    "Action {:?}: {}",
                    other.unwrap_or(""),
                    r.tag("Error").unwrap_or("")
                ))
                .into()),
            }
        }

        fn lookup(&self, root: &SnapshotId) -> Result<Option<(String, AnchorRecord)>, Error> {
            let msg = Message::builder(self.process.clone())
                .tag("Action", "Get-Anchor")
                .tag("Root", root.to_hex())
                .build()
                .map_err(transport)?;
            let result = pollster::block_on(self.transport.dry_run(msg)).map_err(transport)?;
            let r = reply(&result)?;
            match r.tag("Action") {
                Some("Anchor-Not-Found") => Ok(None),
                Some("Anchor") => parse_record(r.data_str().unwrap_or("")).map(Some),
                other => Err(ErrorKind::AnchorReply(format!("unexpected Action {other:?}")).into()),
            }
        }
    }

    fn kind_str(k: SnapshotKind) -> &'static str {
        match k {
            SnapshotKind::Full => "Full",
            SnapshotKind::Delta => "Delta",
        }
    }

    fn parse_record(data: &str) -> Result<(String, AnchorRecord), Error> {
        let bad = |m: &str| Error::from(ErrorKind::AnchorReply(format!("anchor record: {m}")));
        let v: serde_json::Value = serde_json::from_str(data).map_err(|e| bad(&e.to_string()))?;
        let s = |k: &str| v.get(k).and_then(serde_json::Value::as_str).ok_or_else(|| bad(&format!("no {k}")));
        let n = |k: &str| s(k)?.parse::<u64>().map_err(|_| bad(&format!("{k} is not a number")));
        let root: SnapshotId = s("Root")?.parse().map_err(|_| bad("Root is not 64 hex digits"))?;
        let kind = match s("Kind")? {
            "Full" => SnapshotKind::Full,
            "Delta" => SnapshotKind::Delta,
            _ => return Err(bad("Kind is neither Full nor Delta")),
        };
        let components: BTreeMap<String, u64> =
            serde_json::from_str(s("Components")?).map_err(|e| bad(&format!("Components: {e}")))?;
        let record = AnchorRecord { root, tick: n("Tick")?, kind, entities: n("Entities")?, components };
        Ok((s("Id")?.to_owned(), record))
    }
}
