//! The snapshot file format: encode and decode, chunk by chunk, in parallel.
//!
//! See `FORMAT.md` in the crate root for the byte-level description.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::manifest::{ComponentInfo, Manifest, SnapshotId, SnapshotKind};
use crate::model::{Column, EntityId};
use crate::parallel::par_map;
use crate::state::{ComponentColumn, ComponentDelta, Delta, State, strictly_sorted};

/// The first 8 bytes of every snapshot file.
pub const MAGIC: [u8; 8] = *b"AOECSSNP";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// The name the entity chunk is listed under in the chunk table.
pub const ENTITIES: &str = "@entities";
/// Bytes before the header: magic, version, flags, header length.
const PRELUDE: usize = 16;
/// Bytes after the last chunk: the root.
const TRAILER: usize = 32;
/// zstd cannot expand one input byte into more than this many output bytes
/// (a 4-byte RLE block yields at most 128 KiB), so a declared size above
/// `stored * ZSTD_MAX_RATIO` is a lie.
const ZSTD_MAX_RATIO: u64 = 32 * 1024;

/// How snapshots are encoded.
#[derive(Debug, Clone)]
pub struct EncodeOptions {
    /// zstd level (1 = fastest; 3 = zstd's default; up to 22).
    pub level: i32,
    /// At most this many rows in one chunk; larger columns are split into parts.
    pub rows_per_chunk: usize,
    /// Worker threads (0 = one per available core).
    pub threads: usize,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self { level: 1, rows_per_chunk: 1 << 16, threads: 0 }
    }
}

/// Limits that keep a hostile file from making the decoder allocate or work more than
/// its size justifies.
#[derive(Debug, Clone)]
pub struct DecodeLimits {
    /// Largest decompressed chunk accepted.
    pub max_chunk_bytes: u64,
    /// Largest header accepted.
    pub max_header_bytes: u64,
    /// Worker threads (0 = one per available core).
    pub threads: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self { max_chunk_bytes: 256 << 20, max_header_bytes: 64 << 20, threads: 0 }
    }
}

/// One row of the chunk table in the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkEntry {
    /// The component, or [`ENTITIES`].
    pub component: String,
    /// The part number within the component (columns are split every `rows_per_chunk` rows).
    pub part: u32,
    /// Rows held: entities, values and removals together.
    pub rows: u64,
    /// Bytes once decompressed.
    pub raw_len: u64,
    /// Bytes stored (zstd frame).
    pub stored_len: u64,
    /// blake3 of the stored bytes.
    pub hash: [u8; 32],
}

#[derive(Serialize, Deserialize)]
struct Header {
    manifest: Manifest,
    chunks: Vec<ChunkEntry>,
}

/// What a snapshot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contents {
    /// A whole world.
    Full(State),
    /// Changes since the parent.
    Delta(Delta),
}

/// A decoded, verified snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Its root.
    pub id: SnapshotId,
    /// Its manifest.
    pub manifest: Manifest,
    /// Its chunk table.
    pub chunks: Vec<ChunkEntry>,
    /// Its state or changes.
    pub contents: Contents,
}

/// A snapshot's header, read without touching its chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The root stored in the trailer (not yet verified).
    pub id: SnapshotId,
    /// The manifest.
    pub manifest: Manifest,
    /// The chunk table.
    pub chunks: Vec<ChunkEntry>,
    /// Total file size.
    pub size: u64,
}

/// The Merkle root over leaves: pairs hash as `blake3(0x01 || left || right)`, an odd last
/// node moves up unchanged.
pub fn merkle_root(leaves: &[[u8; 32]]) -> [u8; 32] {
    let mut level: Vec<[u8; 32]> = leaves.to_vec();
    if level.is_empty() {
        return *blake3::hash(b"").as_bytes();
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => {
                    let mut h = blake3::Hasher::new();
                    h.update(&[1]);
                    h.update(l);
                    h.update(r);
                    *h.finalize().as_bytes()
                }
                [one] => *one,
                _ => unreachable!("chunks(2)"),
            })
            .collect();
    }
    level[0]
}

// ---------------------------------------------------------------------------------------------
// Chunk bodies. Serialized and deserialized forms must stay field-for-field identical:
// bincode writes neither names nor tags, only variant indexes, lengths and values.

/// Appends `v` as a bincode standard-configuration varint.
#[inline]
fn put_varint(out: &mut Vec<u8>, v: u64) {
    if v < u64::from(U16_TAG) {
        out.push(v as u8);
    } else {
        put_varint_wide(out, v);
    }
}

#[cold]
#[inline(never)]
fn put_varint_wide(out: &mut Vec<u8>, v: u64) {
    if let Ok(v) = u16::try_from(v) {
        out.push(U16_TAG);
        out.extend_from_slice(&v.to_le_bytes());
    } else if let Ok(v) = u32::try_from(v) {
        out.push(U32_TAG);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        out.push(U64_TAG);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Sorted ids as two sequences: index deltas (the first absolute), then generations.
fn put_ids(out: &mut Vec<u8>, ids: &[EntityId]) {
    out.reserve(2 * ids.len() + 2);
    put_varint(out, ids.len() as u64);
    let mut prev = 0u32;
    for e in ids {
        put_varint(out, u64::from(e.index.wrapping_sub(prev)));
        prev = e.index;
    }
    put_varint(out, ids.len() as u64);
    for e in ids {
        put_varint(out, u64::from(e.generation));
    }
}

/// A column's rows: ids, value lengths, then the values as one byte string.
fn put_rows(out: &mut Vec<u8>, column: &Column, rows: std::ops::Range<usize>) {
    put_ids(out, &column.entities()[rows.clone()]);
    out.reserve(rows.len() + 1);
    put_varint(out, rows.len() as u64);
    let ends = column.ends();
    let mut start = if rows.start == 0 { 0 } else { ends[rows.start - 1] };
    for &end in &ends[rows.clone()] {
        put_varint(out, (end - start) as u64);
        start = end;
    }
    let data = column.range_data(rows);
    put_varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// A chunk body, byte for byte what bincode's serde encoding of the layout in `FORMAT.md`
/// gives (the test module checks it against that encoding).
fn put_chunk(out: &mut Vec<u8>, job: &Job<'_>) {
    match job {
        Job::Entities { part, spawned, despawned } => {
            put_varint(out, 0);
            put_varint(out, u64::from(*part));
            put_ids(out, spawned);
            put_ids(out, despawned);
        }
        Job::Component { name, version, part, added, changed, removed } => {
            put_varint(out, 1);
            put_varint(out, name.len() as u64);
            out.extend_from_slice(name.as_bytes());
            put_varint(out, u64::from(*version));
            put_varint(out, u64::from(*part));
            put_rows(out, added.0, added.1.clone());
            put_rows(out, changed.0, changed.1.clone());
            put_ids(out, removed);
        }
    }
}

static EMPTY: Column = Column::empty();

/// A chunk to encode: row ranges of the state's or delta's columns.
enum Job<'a> {
    Entities {
        part: u32,
        spawned: &'a [EntityId],
        despawned: &'a [EntityId],
    },
    Component {
        name: &'a str,
        version: u32,
        part: u32,
        added: (&'a Column, std::ops::Range<usize>),
        changed: (&'a Column, std::ops::Range<usize>),
        removed: &'a [EntityId],
    },
}

impl Job<'_> {
    fn rows(&self) -> u64 {
        match self {
            Job::Entities { spawned, despawned, .. } => (spawned.len() + despawned.len()) as u64,
            Job::Component { added, changed, removed, .. } => {
                (added.1.len() + changed.1.len() + removed.len()) as u64
            }
        }
    }
    fn label(&self) -> (&str, u32) {
        match self {
            Job::Entities { part, .. } => (ENTITIES, *part),
            Job::Component { name, part, .. } => (name, *part),
        }
    }
}

/// Cuts `len` rows into `parts` contiguous ranges.
fn ranges(len: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    (0..parts).map(|p| (len * p / parts)..(len * (p + 1) / parts)).collect()
}

fn parts_for(rows: usize, per_chunk: usize) -> usize {
    rows.div_ceil(per_chunk.max(1)).max(1)
}

fn entity_jobs<'a>(spawned: &'a [EntityId], despawned: &'a [EntityId], per: usize, jobs: &mut Vec<Job<'a>>) {
    let parts = parts_for(spawned.len() + despawned.len(), per);
    for (p, (s, d)) in
        ranges(spawned.len(), parts).into_iter().zip(ranges(despawned.len(), parts)).enumerate()
    {
        jobs.push(Job::Entities { part: p as u32, spawned: &spawned[s], despawned: &despawned[d] });
    }
}

fn full_jobs(state: &State, per: usize) -> Vec<Job<'_>> {
    let mut jobs = Vec::new();
    entity_jobs(&state.entities, &[], per, &mut jobs);
    for (name, c) in &state.components {
        let parts = parts_for(c.column.len(), per);
        for (p, r) in ranges(c.column.len(), parts).into_iter().enumerate() {
            jobs.push(Job::Component {
                name,
                version: c.version,
                part: p as u32,
                added: (&c.column, r),
                changed: (&EMPTY, 0..0),
                removed: &[],
            });
        }
    }
    jobs
}

fn delta_jobs(delta: &Delta, per: usize) -> Vec<Job<'_>> {
    let mut jobs = Vec::new();
    entity_jobs(&delta.spawned, &delta.despawned, per, &mut jobs);
    for (name, d) in &delta.components {
        let parts = parts_for(d.added.len() + d.changed.len() + d.removed.len(), per);
        let pieces = ranges(d.added.len(), parts)
            .into_iter()
            .zip(ranges(d.changed.len(), parts))
            .zip(ranges(d.removed.len(), parts));
        for (p, ((a, c), r)) in pieces.enumerate() {
            jobs.push(Job::Component {
                name,
                version: d.version,
                part: p as u32,
                added: (&d.added, a),
                changed: (&d.changed, c),
                removed: &d.removed[r],
            });
        }
    }
    jobs
}

struct Encoded {
    entry: ChunkEntry,
    stored: Vec<u8>,
}

fn encode_job(job: &Job<'_>, level: i32) -> Result<Encoded, Error> {
    let (component, part) = job.label();
    let estimate = match job {
        Job::Entities { spawned, despawned, .. } => 16 + 4 * (spawned.len() + despawned.len()),
        Job::Component { added, changed, removed, .. } => {
            64 + added.0.range_data(added.1.clone()).len()
                + changed.0.range_data(changed.1.clone()).len()
                + 6 * (added.1.len() + changed.1.len() + removed.len())
        }
    };
    let mut raw = Vec::with_capacity(estimate);
    put_chunk(&mut raw, job);
    let stored = zstd::bulk::compress(&raw, level)
        .map_err(|e| ErrorKind::Encode { component: component.to_owned(), message: format!("zstd: {e}") })?;
    let entry = ChunkEntry {
        component: component.to_owned(),
        part,
        rows: job.rows(),
        raw_len: raw.len() as u64,
        stored_len: stored.len() as u64,
        hash: *blake3::hash(&stored).as_bytes(),
    };
    Ok(Encoded { entry, stored })
}

fn assemble(manifest: Manifest, encoded: Vec<Encoded>) -> Result<(SnapshotId, Vec<u8>), Error> {
    let (entries, bodies): (Vec<ChunkEntry>, Vec<Vec<u8>>) =
        encoded.into_iter().map(|e| (e.entry, e.stored)).unzip();
    let header = Header { manifest, chunks: entries };
    let header_bytes = crate::codec::encode_vec(&header)
        .map_err(|e| ErrorKind::Encode { component: "header".into(), message: e.to_string() })?;
    let mut leaves = Vec::with_capacity(1 + header.chunks.len());
    leaves.push(*blake3::hash(&header_bytes).as_bytes());
    leaves.extend(header.chunks.iter().map(|c| c.hash));
    let root = merkle_root(&leaves);
    let total = PRELUDE + header_bytes.len() + bodies.iter().map(Vec::len).sum::<usize>() + TRAILER;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(header_bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&header_bytes);
    for b in &bodies {
        out.extend_from_slice(b);
    }
    out.extend_from_slice(&root);
    Ok((SnapshotId(root), out))
}

/// Counts for a full snapshot's manifest.
pub(crate) fn full_counts(state: &State) -> (u64, Vec<ComponentInfo>) {
    let comps = state
        .components
        .iter()
        .map(|(name, c)| ComponentInfo {
            name: name.clone(),
            version: c.version,
            count: c.column.len() as u64,
            added: c.column.len() as u64,
            changed: 0,
            removed: 0,
        })
        .collect();
    (state.entities.len() as u64, comps)
}

/// Encodes a full snapshot. `manifest` must describe `state` (see [`full_manifest`]).
pub fn encode_full(
    state: &State,
    manifest: Manifest,
    options: &EncodeOptions,
) -> Result<(SnapshotId, Vec<u8>), Error> {
    let jobs = full_jobs(state, options.rows_per_chunk);
    let encoded = par_map(&jobs, options.threads, |j| encode_job(j, options.level))
        .into_iter()
        .collect::<Result<_, _>>()?;
    assemble(manifest, encoded)
}

/// Encodes a delta snapshot. `manifest` must describe `delta`.
pub fn encode_delta(
    delta: &Delta,
    manifest: Manifest,
    options: &EncodeOptions,
) -> Result<(SnapshotId, Vec<u8>), Error> {
    let jobs = delta_jobs(delta, options.rows_per_chunk);
    let encoded = par_map(&jobs, options.threads, |j| encode_job(j, options.level))
        .into_iter()
        .collect::<Result<_, _>>()?;
    assemble(manifest, encoded)
}

/// A full snapshot's manifest.
pub fn full_manifest(state: &State, tick: u64, wall_time_ms: u64) -> Manifest {
    let (entity_count, components) = full_counts(state);
    Manifest {
        kind: SnapshotKind::Full,
        parent: None,
        base: None,
        depth: 0,
        tick,
        wall_time_ms,
        entity_count,
        spawned: entity_count,
        despawned: 0,
        components,
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding.

fn take<'a>(bytes: &'a [u8], at: usize, n: usize, field: &'static str) -> Result<&'a [u8], Error> {
    let available = bytes.len().saturating_sub(at);
    if n > available {
        return Err(ErrorKind::Truncated {
            field,
            offset: at as u64,
            needed: n as u64,
            available: available as u64,
        }
        .into());
    }
    Ok(&bytes[at..at + n])
}

struct Parsed<'a> {
    header: Header,
    header_bytes: &'a [u8],
    /// Each chunk's stored bytes and file offset.
    bodies: Vec<(&'a [u8], u64)>,
    stored_root: [u8; 32],
}

fn parse<'a>(bytes: &'a [u8], limits: &DecodeLimits) -> Result<Parsed<'a>, Error> {
    let magic = bytes.get(..8).unwrap_or(bytes);
    if magic != MAGIC {
        if bytes.len() < 8 && MAGIC.starts_with(bytes) {
            take(bytes, 0, 8, "magic")?;
        }
        return Err(ErrorKind::BadMagic { found: magic.to_vec() }.into());
    }
    let version = u16::from_le_bytes(take(bytes, 8, 2, "format version")?.try_into().expect("2 bytes"));
    if version != FORMAT_VERSION {
        return Err(ErrorKind::UnsupportedVersion { found: version, supported: FORMAT_VERSION }.into());
    }
    let flags = u16::from_le_bytes(take(bytes, 10, 2, "flags")?.try_into().expect("2 bytes"));
    if flags != 0 {
        return Err(Error::malformed("flags", 10, format!("unknown flags {flags:#06x}")));
    }
    let header_len =
        u64::from(u32::from_le_bytes(take(bytes, 12, 4, "header length")?.try_into().expect("4 bytes")));
    if header_len > limits.max_header_bytes {
        let limit = limits.max_header_bytes;
        return Err(ErrorKind::LengthOutOfBounds {
            field: "header length".into(),
            offset: 12,
            value: header_len,
            limit,
        }
        .into());
    }
    // The header and the root must fit in what is left.
    take(bytes, PRELUDE, header_len as usize + TRAILER, "header and root")?;
    let header_bytes = &bytes[PRELUDE..PRELUDE + header_len as usize];
    let (header, used): (Header, usize) = crate::codec::decode_owned(header_bytes)
        .map_err(|e| Error::malformed("header", PRELUDE as u64, e))?;
    if used != header_bytes.len() {
        return Err(Error::malformed(
            "header",
            PRELUDE as u64,
            format!("{} bytes left over after the header", header_bytes.len() - used),
        ));
    }
    let mut at = PRELUDE + header_bytes.len();
    let mut bodies = Vec::with_capacity(header.chunks.len());
    for (i, c) in header.chunks.iter().enumerate() {
        let left = bytes.len().saturating_sub(at + TRAILER) as u64;
        if c.stored_len > left {
            return Err(ErrorKind::Truncated {
                field: "chunk (its stored_len in the chunk table)",
                offset: at as u64,
                needed: c.stored_len,
                available: left,
            }
            .into());
        }
        let ratio_cap = c.stored_len.saturating_mul(ZSTD_MAX_RATIO).min(limits.max_chunk_bytes);
        if c.raw_len > ratio_cap {
            return Err(ErrorKind::LengthOutOfBounds {
                field: format!("chunk[{i}].raw_len"),
                offset: at as u64,
                value: c.raw_len,
                limit: ratio_cap,
            }
            .into());
        }
        bodies.push((&bytes[at..at + c.stored_len as usize], at as u64));
        at += c.stored_len as usize;
    }
    let trailer = take(bytes, at, TRAILER, "root")?;
    if at + TRAILER != bytes.len() {
        return Err(Error::malformed(
            "root",
            at as u64,
            format!("{} bytes after the root", bytes.len() - at - TRAILER),
        ));
    }
    Ok(Parsed { header, header_bytes, bodies, stored_root: trailer.try_into().expect("32 bytes") })
}

/// Reads a snapshot's header (manifest and chunk table) without reading, hashing or
/// decompressing its chunks. Nothing it returns is verified.
pub fn read_summary(bytes: &[u8]) -> Result<Summary, Error> {
    let p = parse(bytes, &DecodeLimits::default())?;
    Ok(Summary {
        id: SnapshotId(p.stored_root),
        manifest: p.header.manifest,
        chunks: p.header.chunks,
        size: bytes.len() as u64,
    })
}

fn check_root(p: &Parsed<'_>) -> Result<(), Error> {
    let mut leaves = Vec::with_capacity(1 + p.header.chunks.len());
    leaves.push(*blake3::hash(p.header_bytes).as_bytes());
    leaves.extend(p.header.chunks.iter().map(|c| c.hash));
    let computed = merkle_root(&leaves);
    if computed != p.stored_root {
        return Err(ErrorKind::RootHash {
            stored: SnapshotId(p.stored_root).to_hex(),
            computed: SnapshotId(computed).to_hex(),
        }
        .into());
    }
    Ok(())
}

/// Verifies every hash of a snapshot (chunks and root) without decompressing.
pub fn verify_hashes(bytes: &[u8]) -> Result<Summary, Error> {
    let p = parse(bytes, &DecodeLimits::default())?;
    check_root(&p)?;
    let results = par_map(&p.bodies, 0, |(body, _)| *blake3::hash(body).as_bytes());
    for (i, (h, c)) in results.iter().zip(&p.header.chunks).enumerate() {
        if *h != c.hash {
            return Err(ErrorKind::ChunkHash {
                chunk: i,
                component: c.component.clone(),
                offset: p.bodies[i].1,
            }
            .into());
        }
    }
    Ok(Summary {
        id: SnapshotId(p.stored_root),
        manifest: p.header.manifest,
        chunks: p.header.chunks,
        size: bytes.len() as u64,
    })
}

/// A column's rows as decoded from one chunk: the values stay in the chunk's
/// decompressed bytes until the parts of a component are joined.
struct RowsPart {
    entities: Vec<EntityId>,
    /// Where each value ends, relative to `data.start`.
    ends: Vec<usize>,
    data: std::ops::Range<usize>,
}

impl RowsPart {
    fn len(&self) -> usize {
        self.entities.len()
    }
}

enum DecodedChunk {
    Entities {
        part: u32,
        spawned: Vec<EntityId>,
        despawned: Vec<EntityId>,
    },
    Component {
        name: String,
        version: u32,
        part: u32,
        /// The decompressed chunk `added` and `changed` point into.
        raw: Vec<u8>,
        added: RowsPart,
        changed: RowsPart,
        removed: Vec<EntityId>,
    },
}

/// Reads a decompressed chunk body (bincode 2, standard configuration) field by field,
/// straight into entity lists and value boundaries. Accepts exactly what bincode's serde
/// decoding of the same layout accepts; every error names the field and the position.
struct Body<'a> {
    bytes: &'a [u8],
    pos: usize,
}

const U16_TAG: u8 = 251;
const U32_TAG: u8 = 252;
const U64_TAG: u8 = 253;

impl<'a> Body<'a> {
    fn fail(&self, what: &str, message: impl std::fmt::Display) -> String {
        format!("{what} at byte {} of the chunk: {message}", self.pos)
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        let left = self.bytes.len() - self.pos;
        if n > left {
            return Err(self.fail(what, format!("needs {n} bytes, {left} left")));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    #[inline]
    fn varint(&mut self, what: &str, wide: bool) -> Result<u64, String> {
        match self.bytes.get(self.pos) {
            Some(&tag) if tag < U16_TAG => {
                self.pos += 1;
                Ok(u64::from(tag))
            }
            _ => self.varint_wide(what, wide),
        }
    }

    #[cold]
    #[inline(never)]
    fn varint_wide(&mut self, what: &str, wide: bool) -> Result<u64, String> {
        let Some(&tag) = self.bytes.get(self.pos) else {
            return Err(self.fail(what, "unexpected end"));
        };
        let width = match tag {
            U16_TAG => 2,
            U32_TAG => 4,
            U64_TAG if wide => 8,
            _ => return Err(self.fail(what, format!("invalid integer tag {tag}"))),
        };
        self.pos += 1;
        let b = self.take(width, what)?;
        let mut v = [0u8; 8];
        v[..width].copy_from_slice(b);
        Ok(u64::from_le_bytes(v))
    }

    #[inline]
    fn u32(&mut self, what: &str) -> Result<u32, String> {
        self.varint(what, false).map(|v| v as u32)
    }

    /// A sequence length; every element takes at least one byte, so a length beyond the
    /// bytes left is refused before anything is allocated for it.
    fn len(&mut self, what: &str) -> Result<usize, String> {
        let n = self.varint(what, true)?;
        let left = (self.bytes.len() - self.pos) as u64;
        if n > left {
            return Err(self.fail(what, format!("length {n} but only {left} bytes left")));
        }
        Ok(n as usize)
    }

    fn bytes(&mut self, what: &str) -> Result<&'a [u8], String> {
        let n = self.len(what)?;
        self.take(n, what)
    }

    /// Sorted ids: index deltas (the first absolute), then generations.
    fn ids(&mut self, what: &str) -> Result<Vec<EntityId>, String> {
        let n = self.len(what)?;
        let mut out = Vec::with_capacity(n);
        let mut index = 0u32;
        for i in 0..n {
            let d = self.u32(what)?;
            index = if i == 0 {
                d
            } else {
                index.checked_add(d).ok_or_else(|| format!("{what}: entity index overflows at row {i}"))?
            };
            out.push(EntityId { index, generation: 0 });
        }
        let m = self.len(what)?;
        if m != n {
            return Err(format!("{what}: {n} index deltas but {m} generations"));
        }
        for e in &mut out {
            e.generation = self.u32(what)?;
        }
        Ok(out)
    }

    fn rows(&mut self, what: &str) -> Result<RowsPart, String> {
        let entities = self.ids(&format!("{what}.ids"))?;
        let n = self.len(what)?;
        if n != entities.len() {
            return Err(format!("{what}: {} entities but {n} value lengths", entities.len()));
        }
        let mut ends = Vec::with_capacity(n);
        let mut end = 0usize;
        for _ in 0..n {
            let len = self.u32(what)?;
            end = end.checked_add(len as usize).ok_or_else(|| format!("{what}: value lengths overflow"))?;
            ends.push(end);
        }
        let data = self.bytes(what)?;
        if end != data.len() {
            return Err(format!(
                "{what}: value lengths add up to {end} bytes but the data has {}",
                data.len()
            ));
        }
        let start = self.pos - data.len();
        Ok(RowsPart { entities, ends, data: start..self.pos })
    }
}

fn decode_chunk(i: usize, entry: &ChunkEntry, body: &[u8], offset: u64) -> Result<DecodedChunk, Error> {
    if *blake3::hash(body).as_bytes() != entry.hash {
        return Err(ErrorKind::ChunkHash { chunk: i, component: entry.component.clone(), offset }.into());
    }
    let raw = zstd::bulk::decompress(body, entry.raw_len as usize).map_err(|e| ErrorKind::Decompress {
        chunk: i,
        offset,
        message: e.to_string(),
    })?;
    if raw.len() as u64 != entry.raw_len {
        return Err(ErrorKind::Decompress {
            chunk: i,
            offset,
            message: format!("{} bytes, the header declares {}", raw.len(), entry.raw_len),
        }
        .into());
    }
    let field = format!("chunk[{i}]");
    let parsed = parse_body(&raw, &field);
    let (decoded, used) = match parsed {
        Ok((DecodedChunk::Component { name, version, part, added, changed, removed, .. }, used)) => {
            (DecodedChunk::Component { name, version, part, raw, added, changed, removed }, used)
        }
        Ok(other) => other,
        Err(m) => return Err(Error::malformed(&field, offset, m)),
    };
    if used != entry.raw_len as usize {
        return Err(Error::malformed(
            &field,
            offset,
            format!("{} bytes left over", entry.raw_len as usize - used),
        ));
    }
    let (name, part, rows) = match &decoded {
        DecodedChunk::Entities { part, spawned, despawned } => {
            (ENTITIES, *part, spawned.len() + despawned.len())
        }
        DecodedChunk::Component { name, part, added, changed, removed, .. } => {
            (name.as_str(), *part, added.len() + changed.len() + removed.len())
        }
    };
    if name != entry.component || part != entry.part || rows as u64 != entry.rows {
        return Err(Error::malformed(
            &field,
            offset,
            format!(
                "chunk holds {name:?} part {part} with {rows} rows, the table says {:?} part {} with {} rows",
                entry.component, entry.part, entry.rows
            ),
        ));
    }
    Ok(decoded)
}

/// Parses a chunk body; a component chunk comes back with an empty `raw` (the caller owns
/// the bytes). Returns the chunk and the bytes used.
fn parse_body(raw: &[u8], field: &str) -> Result<(DecodedChunk, usize), String> {
    let mut b = Body { bytes: raw, pos: 0 };
    let chunk = match b.u32(&format!("{field} variant"))? {
        0 => {
            let part = b.u32(&format!("{field}.part"))?;
            let spawned = b.ids(&format!("{field}.spawned"))?;
            let despawned = b.ids(&format!("{field}.despawned"))?;
            DecodedChunk::Entities { part, spawned, despawned }
        }
        1 => {
            let name = b.bytes(&format!("{field}.name"))?;
            let name = std::str::from_utf8(name).map_err(|e| format!("{field}.name: {e}"))?.to_owned();
            let version = b.u32(&format!("{field}.version"))?;
            let part = b.u32(&format!("{field}.part"))?;
            let added = b.rows(&format!("{field}.added"))?;
            let changed = b.rows(&format!("{field}.changed"))?;
            let removed = b.ids(&format!("{field}.removed"))?;
            DecodedChunk::Component { name, version, part, raw: Vec::new(), added, changed, removed }
        }
        v => return Err(format!("{field}: unknown chunk variant {v}")),
    };
    Ok((chunk, b.pos))
}

/// Decodes and verifies a snapshot: magic, version, every length against the input and the
/// limits, every chunk hash, the root, and the manifest's counts against the contents.
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<Snapshot, Error> {
    let p = parse(bytes, limits)?;
    check_root(&p)?;
    let work: Vec<(usize, &ChunkEntry, &[u8], u64)> =
        p.header.chunks.iter().zip(&p.bodies).enumerate().map(|(i, (e, (b, o)))| (i, e, *b, *o)).collect();
    let decoded = par_map(&work, limits.threads, |(i, e, b, o)| decode_chunk(*i, e, b, *o));
    let mut chunks = Vec::with_capacity(decoded.len());
    for d in decoded {
        chunks.push(d?);
    }
    let manifest = p.header.manifest;
    let end = (PRELUDE + p.header_bytes.len()) as u64;
    let contents = assemble_contents(&manifest, chunks, end, limits.threads)?;
    Ok(Snapshot { id: SnapshotId(p.stored_root), manifest, chunks: p.header.chunks, contents })
}

fn bad_manifest(message: impl Into<String>) -> Error {
    Error::malformed("manifest", PRELUDE as u64, message.into())
}

struct Gathered {
    spawned: Vec<EntityId>,
    despawned: Vec<EntityId>,
    components: BTreeMap<String, ComponentDelta>,
}

/// One component's parts, in order, before they are joined.
#[derive(Default)]
struct Parts {
    version: u32,
    raws: Vec<Vec<u8>>,
    added: Vec<RowsPart>,
    changed: Vec<RowsPart>,
    removed: Vec<EntityId>,
}

/// Joins the parts of a column into one, copying each value once.
fn join(raws: &[Vec<u8>], parts: Vec<RowsPart>) -> Column {
    let rows: usize = parts.iter().map(RowsPart::len).sum();
    let bytes: usize = parts.iter().map(|p| p.data.len()).sum();
    let mut entities: Vec<EntityId> = Vec::new();
    let mut ends: Vec<usize> = Vec::new();
    let mut data: Vec<u8> = Vec::with_capacity(bytes);
    for (raw, p) in raws.iter().zip(parts) {
        let base = data.len();
        data.extend_from_slice(&raw[p.data]);
        if entities.is_empty() {
            entities = p.entities;
            entities.reserve_exact(rows - entities.len());
            ends = p.ends;
            ends.reserve_exact(rows - ends.len());
            if base != 0 {
                for e in &mut ends {
                    *e += base;
                }
            }
        } else {
            entities.extend_from_slice(&p.entities);
            ends.extend(p.ends.iter().map(|e| e + base));
        }
    }
    Column::from_raw(entities, ends, data)
}

fn gather(chunks: Vec<DecodedChunk>, end: u64, threads: usize) -> Result<Gathered, Error> {
    let mut spawned = Vec::new();
    let mut despawned = Vec::new();
    let mut parts: BTreeMap<String, Parts> = BTreeMap::new();
    let mut next_part: BTreeMap<String, u32> = BTreeMap::new();
    for c in chunks {
        let (name, part) = match &c {
            DecodedChunk::Entities { part, .. } => (ENTITIES, *part),
            DecodedChunk::Component { name, part, .. } => (name.as_str(), *part),
        };
        let expected = match next_part.get_mut(name) {
            Some(p) => p,
            None => next_part.entry(name.to_owned()).or_insert(0),
        };
        if part != *expected {
            return Err(Error::malformed(
                "chunk table",
                PRELUDE as u64,
                format!("{name:?} part {part} where part {expected} was expected"),
            ));
        }
        *expected += 1;
        match c {
            DecodedChunk::Entities { spawned: s, despawned: d, .. } => {
                if spawned.is_empty() {
                    spawned = s;
                } else {
                    spawned.extend_from_slice(&s);
                }
                despawned.extend_from_slice(&d);
            }
            DecodedChunk::Component { name, version, raw, added, changed, removed, .. } => {
                let p = parts.entry(name.clone()).or_insert_with(|| Parts { version, ..Parts::default() });
                if p.version != version {
                    return Err(Error::malformed(
                        "chunk table",
                        PRELUDE as u64,
                        format!("component {name:?} has parts at versions {} and {version}", p.version),
                    ));
                }
                p.raws.push(raw);
                p.added.push(added);
                p.changed.push(changed);
                p.removed.extend_from_slice(&removed);
            }
        }
    }
    if !next_part.contains_key(ENTITIES) {
        return Err(Error::malformed("chunk table", PRELUDE as u64, "no entity chunk"));
    }
    // Components are joined on every core; the decompressed chunks are freed off the
    // critical path.
    let slots: Vec<std::sync::Mutex<Option<(String, Parts)>>> =
        parts.into_iter().map(|p| std::sync::Mutex::new(Some(p))).collect();
    let joined = par_map(&slots, threads, |slot| {
        let taken = slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        let (name, p) = taken.expect("each component is joined once");
        let d = ComponentDelta {
            version: p.version,
            added: join(&p.raws, p.added),
            changed: join(&p.raws, p.changed),
            removed: p.removed,
        };
        let bytes = p.raws.iter().map(Vec::len).sum();
        crate::parallel::drop_in_background(p.raws, bytes);
        (name, d)
    });
    let components: BTreeMap<String, ComponentDelta> = joined.into_iter().collect();
    let g = Gathered { spawned, despawned, components };
    let sorted = strictly_sorted(&g.spawned)
        && strictly_sorted(&g.despawned)
        && g.components
            .values()
            .all(|d| d.added.is_sorted() && d.changed.is_sorted() && strictly_sorted(&d.removed));
    if !sorted {
        return Err(Error::malformed("chunks", end, "entity lists are not strictly sorted"));
    }
    Ok(g)
}

fn assemble_contents(
    manifest: &Manifest,
    chunks: Vec<DecodedChunk>,
    end: u64,
    threads: usize,
) -> Result<Contents, Error> {
    let g = gather(chunks, end, threads)?;
    if !strictly_sorted_names(&manifest.components) {
        return Err(bad_manifest("components are not sorted by name"));
    }
    if manifest.spawned != g.spawned.len() as u64 || manifest.despawned != g.despawned.len() as u64 {
        return Err(bad_manifest("spawned/despawned counts differ from the entity chunk"));
    }
    // Every component with chunks has an entry; an entry without chunks (a delta's
    // unchanged component) records no changes.
    if let Some(name) = g.components.keys().find(|n| manifest.component(n).is_none()) {
        return Err(bad_manifest(format!("no entry for component {name:?}, which has chunks")));
    }
    for info in &manifest.components {
        let (version, added, changed, removed) =
            g.components.get(&info.name).map_or((info.version, 0, 0, 0), |d| {
                (d.version, d.added.len() as u64, d.changed.len() as u64, d.removed.len() as u64)
            });
        if info.version != version
            || info.added != added
            || info.changed != changed
            || info.removed != removed
        {
            return Err(bad_manifest(format!("entry for {:?} differs from its chunks", info.name)));
        }
    }
    match manifest.kind {
        SnapshotKind::Full => {
            if manifest.parent.is_some()
                || manifest.base.is_some()
                || manifest.depth != 0
                || !g.despawned.is_empty()
                || manifest.components.len() != g.components.len()
            {
                return Err(bad_manifest("a full snapshot with a parent, a depth or despawned entities"));
            }
            let mut components = BTreeMap::new();
            for (name, d) in g.components {
                if !d.changed.is_empty() || !d.removed.is_empty() || d.added.is_empty() {
                    return Err(bad_manifest(format!(
                        "full snapshot: component {name:?} has changes or no values"
                    )));
                }
                components.insert(name, ComponentColumn { version: d.version, column: d.added });
            }
            let state =
                State::from_parts(g.spawned, components).map_err(|m| Error::malformed("chunks", end, m))?;
            if manifest.entity_count != state.entities.len() as u64
                || manifest.components.iter().any(|c| c.count != c.added)
            {
                return Err(bad_manifest("counts differ from the contents"));
            }
            Ok(Contents::Full(state))
        }
        SnapshotKind::Delta => {
            if manifest.parent.is_none() || manifest.base.is_none() || manifest.depth == 0 {
                return Err(bad_manifest("a delta without parent, base or depth"));
            }
            let delta = Delta { spawned: g.spawned, despawned: g.despawned, components: g.components };
            delta.check().map_err(|m| Error::malformed("chunks", end, m))?;
            Ok(Contents::Delta(delta))
        }
    }
}

fn strictly_sorted_names(c: &[ComponentInfo]) -> bool {
    c.windows(2).all(|w| w[0].name < w[1].name)
}

#[cfg(test)]
mod tests {
    //! The hand-written chunk writer and reader against bincode's serde encoding of the
    //! layout FORMAT.md describes.

    use proptest::prelude::*;
    use serde::ser::SerializeStruct;

    use super::*;

    /// Sorted entity ids as two sequences: index deltas (first one absolute) and generations.
    struct IdsOut<'a>(&'a [EntityId]);

    impl serde::Serialize for IdsOut<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            struct Deltas<'a>(&'a [EntityId]);
            impl serde::Serialize for Deltas<'_> {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    let mut prev = 0u32;
                    s.collect_seq(self.0.iter().map(|e| {
                        let d = e.index.wrapping_sub(prev);
                        prev = e.index;
                        d
                    }))
                }
            }
            struct Gens<'a>(&'a [EntityId]);
            impl serde::Serialize for Gens<'_> {
                fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.collect_seq(self.0.iter().map(|e| e.generation))
                }
            }
            let mut st = s.serialize_struct("Ids", 2)?;
            st.serialize_field("index_deltas", &Deltas(self.0))?;
            st.serialize_field("generations", &Gens(self.0))?;
            st.end()
        }
    }

    struct BytesOut<'a>(&'a [u8]);

    impl serde::Serialize for BytesOut<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    struct LengthsOut<'a>(&'a Column, std::ops::Range<usize>);

    impl serde::Serialize for LengthsOut<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.1.clone().map(|i| self.0.value(i).len() as u32))
        }
    }

    /// A column's rows as ids, value lengths and the values back to back.
    struct RowsOut<'a>(&'a Column, std::ops::Range<usize>);

    impl serde::Serialize for RowsOut<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut st = s.serialize_struct("Rows", 3)?;
            st.serialize_field("ids", &IdsOut(&self.0.entities()[self.1.clone()]))?;
            st.serialize_field("lengths", &LengthsOut(self.0, self.1.clone()))?;
            st.serialize_field("data", &BytesOut(self.0.range_data(self.1.clone())))?;
            st.end()
        }
    }

    #[derive(Serialize)]
    enum ChunkOut<'a> {
        Entities {
            part: u32,
            spawned: IdsOut<'a>,
            despawned: IdsOut<'a>,
        },
        Component {
            name: &'a str,
            version: u32,
            part: u32,
            added: RowsOut<'a>,
            changed: RowsOut<'a>,
            removed: IdsOut<'a>,
        },
    }

    fn serde_chunk(job: &Job<'_>) -> Vec<u8> {
        let body = match job {
            Job::Entities { part, spawned, despawned } => {
                ChunkOut::Entities { part: *part, spawned: IdsOut(spawned), despawned: IdsOut(despawned) }
            }
            Job::Component { name, version, part, added, changed, removed } => ChunkOut::Component {
                name,
                version: *version,
                part: *part,
                added: RowsOut(added.0, added.1.clone()),
                changed: RowsOut(changed.0, changed.1.clone()),
                removed: IdsOut(removed),
            },
        };
        bincode::serde::encode_to_vec(&body, crate::codec::config()).unwrap()
    }

    fn arb_ids() -> impl Strategy<Value = Vec<EntityId>> {
        // Wide indexes and generations so every varint width shows up.
        proptest::collection::btree_set((any::<u32>(), prop_oneof![0u32..300, any::<u32>()]), 0..40)
            .prop_map(|s| s.into_iter().map(|(i, g)| EntityId::new(i, g)).collect())
    }

    fn arb_column() -> impl Strategy<Value = Column> {
        arb_ids()
            .prop_flat_map(|ids| {
                let n = ids.len();
                (Just(ids), proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), n))
            })
            .prop_map(|(ids, values)| {
                let mut c = Column::new();
                for (e, v) in ids.into_iter().zip(values) {
                    c.push(e, &v);
                }
                c
            })
    }

    proptest! {
        #[test]
        fn chunks_are_written_as_bincode_serde_writes_them_and_read_back(
            added in arb_column(),
            changed in arb_column(),
            removed in arb_ids(),
            spawned in arb_ids(),
            version in any::<u32>(),
            part in any::<u32>(),
            cut in 0usize..40,
        ) {
            let cut = cut.min(added.len());
            let jobs = [
                Job::Entities { part, spawned: &spawned, despawned: &removed },
                Job::Component {
                    name: "a name",
                    version,
                    part,
                    added: (&added, cut..added.len()),
                    changed: (&changed, 0..changed.len()),
                    removed: &removed,
                },
            ];
            for job in &jobs {
                let mut ours = Vec::new();
                put_chunk(&mut ours, job);
                prop_assert_eq!(&ours, &serde_chunk(job));
                let (chunk, used) = parse_body(&ours, "chunk").unwrap();
                prop_assert_eq!(used, ours.len());
                match (job, chunk) {
                    (Job::Entities { .. }, DecodedChunk::Entities { part: p, spawned: s, despawned: d }) => {
                        prop_assert_eq!(p, part);
                        prop_assert_eq!(&s, &spawned);
                        prop_assert_eq!(&d, &removed);
                    }
                    (Job::Component { .. }, DecodedChunk::Component { name, version: v, part: p, added: a, changed: c, removed: r, .. }) => {
                        prop_assert_eq!(name.as_str(), "a name");
                        prop_assert_eq!((v, p), (version, part));
                        let a = join(std::slice::from_ref(&ours), vec![a]);
                        let c = join(std::slice::from_ref(&ours), vec![c]);
                        prop_assert_eq!(a.entities(), &added.entities()[cut..]);
                        prop_assert_eq!(a.data(), added.range_data(cut..added.len()));
                        prop_assert_eq!((0..a.len()).map(|i| a.value(i).len()).collect::<Vec<_>>(),
                            (cut..added.len()).map(|i| added.value(i).len()).collect::<Vec<_>>());
                        prop_assert_eq!(&c, &changed);
                        prop_assert_eq!(&r, &removed);
                    }
                    _ => prop_assert!(false, "the chunk changed kind"),
                }
                // Every truncation is refused with a message, never a panic.
                for n in 0..ours.len() {
                    prop_assert!(parse_body(&ours[..n], "chunk").is_err());
                }
            }
        }
    }
}
