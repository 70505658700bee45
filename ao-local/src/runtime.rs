//! [`LocalAo`]: the in-process AO (scheduler, results, log, faults).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ao_transport::{
    Address, AoTransport, EvalResult, Message, MessageId, ModuleId, OutboxMessage, OutboxSpawn, ProcessId,
    SpawnRequest, Tag, TransportErrorKind, TransportFuture,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::faults::{Draw, FaultPlan, FaultStats, Faults};
use crate::log::{self, Durability, LogWriter, Record};
use crate::process::{Envelope, Limits, Process, SpawnRecord};

/// Milliseconds per block on ao-local's virtual chain (Arweave's ~2 minutes).
const BLOCK_MS: u64 = 120_000;

/// The module id ao-local reports for its aos-compatible Lua runtime.
pub fn aos_module() -> ModuleId {
    ModuleId::from_bytes(*blake3::hash(b"ao-local/module/aos-lua53").as_bytes())
}

/// The address of ao-local's scheduler.
pub fn local_scheduler() -> Address {
    Address::from_bytes(*blake3::hash(b"ao-local/scheduler").as_bytes())
}

fn derive(seed: u64, parts: &[&[u8]]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"ao-local/id/v1");
    h.update(&seed.to_le_bytes());
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    *h.finalize().as_bytes()
}

/// Configures a [`LocalAo`].
#[derive(Debug, Clone)]
pub struct LocalAoBuilder {
    seed: u64,
    signer: Option<Address>,
    limits: Limits,
    epoch_ms: u64,
    first_block: u64,
    log_dir: Option<PathBuf>,
    durability: Durability,
    faults: Option<FaultPlan>,
    max_cascade: usize,
}

impl Default for LocalAoBuilder {
    fn default() -> Self {
        Self {
            seed: 0,
            signer: None,
            limits: Limits::default(),
            // 2024-01-01T00:00:00Z: a fixed, plausible start for the virtual clock.
            epoch_ms: 1_704_067_200_000,
            first_block: 1_350_000,
            log_dir: None,
            durability: Durability::Sync,
            faults: None,
            max_cascade: 10_000,
        }
    }
}

impl LocalAoBuilder {
    /// Seed for ids and the signer's address: the same seed and inputs give the same run.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The wallet that signs messages sent through this instance (default: derived from the seed).
    #[must_use]
    pub fn signer(mut self, signer: Address) -> Self {
        self.signer = Some(signer);
        self
    }

    /// Per-process memory, instruction and inbox limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Start of the virtual clock, in Unix milliseconds.
    #[must_use]
    pub fn epoch_ms(mut self, epoch_ms: u64) -> Self {
        self.epoch_ms = epoch_ms;
        self
    }

    /// Keeps a message log per process in `dir`; [`build`](Self::build) replays
    /// whatever logs are already there. A directory that already holds a run
    /// keeps that run's seed and signer, whatever this builder says.
    #[must_use]
    pub fn log_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.log_dir = Some(dir.into());
        self
    }

    /// How hard the log pushes records to disk (default: fsync each).
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Injects faults as planned.
    #[must_use]
    pub fn faults(mut self, plan: FaultPlan) -> Self {
        self.faults = Some(plan);
        self
    }

    /// Most process-to-process deliveries run by one `send` before it returns;
    /// the rest stay queued for [`LocalAo::run_pending`]. Stops message storms.
    #[must_use]
    pub fn max_cascade(mut self, deliveries: usize) -> Self {
        self.max_cascade = deliveries;
        self
    }

    /// Builds the runtime, replaying the log directory if one was given.
    pub fn build(self) -> Result<LocalAo, Error> {
        if self.limits.memory_bytes < (1 << 20) {
            return Err(Error::new(ErrorKind::InvalidConfig(format!(
                "memory limit of {} bytes is below the 1 MiB a process needs to boot",
                self.limits.memory_bytes
            ))));
        }
        let signer =
            self.signer.clone().unwrap_or_else(|| Address::from_bytes(derive(self.seed, &[b"signer"])));
        let mut inner = Inner {
            seed: self.seed,
            signer,
            limits: self.limits.clone(),
            epoch_ms: self.epoch_ms,
            first_block: self.first_block,
            clock_ms: self.epoch_ms,
            spawn_counter: 0,
            dry_runs: 0,
            processes: BTreeMap::new(),
            results: HashMap::new(),
            queue: VecDeque::new(),
            logs: HashMap::new(),
            log_dir: None,
            durability: self.durability,
            faults: self.faults.clone().map(Faults::new),
            fault_stats: FaultStats::default(),
            stats: Stats::default(),
            replay: ReplayReport::default(),
            max_cascade: self.max_cascade,
        };
        if let Some(dir) = &self.log_dir {
            inner.open_log_dir(dir)?;
        }
        Ok(LocalAo { inner: Arc::new(Mutex::new(inner)) })
    }
}

/// Counters over the life of a [`LocalAo`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages evaluated (client and process-to-process), spawns excluded.
    pub messages: u64,
    /// Messages whose evaluation ended in an error.
    pub errors: u64,
    /// Processes spawned.
    pub spawns: u64,
    /// Outbox messages to targets that are not local processes (kept in results only).
    pub undelivered: u64,
    /// Dry runs served.
    pub dry_runs: u64,
}

/// What reopening a log directory replayed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Processes restored.
    pub processes: usize,
    /// Messages replayed.
    pub messages: usize,
    /// Logs whose last record was torn by a crash, with the bytes cut off.
    pub torn_tails: Vec<(PathBuf, usize)>,
}

/// A snapshot of one process's vital signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// The process.
    pub id: ProcessId,
    /// Who may Eval it.
    pub owner: String,
    /// Messages it has evaluated.
    pub messages: u64,
    /// Lua memory in use, in bytes.
    pub memory_bytes: usize,
    /// Eval attempts refused because the sender was not the owner.
    pub unauthorized_evals: u64,
    /// Handler names in evaluation order.
    pub handlers: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    format: u32,
    seed: u64,
    signer: Address,
    spawn_counter: u64,
    clock_ms: u64,
}

#[derive(Debug)]
enum Pending {
    Message { from: ProcessId, target: ProcessId, msg: OutboxMessage },
    Spawn { parent: ProcessId, spawn: OutboxSpawn },
}

struct Inner {
    seed: u64,
    signer: Address,
    limits: Limits,
    epoch_ms: u64,
    first_block: u64,
    clock_ms: u64,
    spawn_counter: u64,
    dry_runs: u64,
    processes: BTreeMap<ProcessId, Process>,
    results: HashMap<MessageId, (ProcessId, EvalResult)>,
    queue: VecDeque<Pending>,
    logs: HashMap<ProcessId, LogWriter>,
    log_dir: Option<PathBuf>,
    durability: Durability,
    faults: Option<Faults>,
    fault_stats: FaultStats,
    stats: Stats,
    replay: ReplayReport,
    max_cascade: usize,
}

/// An in-process AO: spawns aos-compatible Lua processes, schedules messages
/// deterministically, and serves [`AoTransport`].
///
/// Cheap to clone: clones share one runtime. All work happens inside the call
/// (the transport futures are already complete when returned).
#[derive(Clone)]
pub struct LocalAo {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for LocalAo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("LocalAo")
            .field("signer", &inner.signer)
            .field("processes", &inner.processes.len())
            .field("clock_ms", &inner.clock_ms)
            .finish_non_exhaustive()
    }
}

impl Default for LocalAo {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalAo {
    /// A runtime with default settings, in memory only.
    pub fn new() -> Self {
        // The default builder has no log directory and valid limits, so it cannot fail.
        Self::builder().build().unwrap_or_else(|e| unreachable!("default ao-local config is valid: {e}"))
    }

    /// Configures a runtime.
    pub fn builder() -> LocalAoBuilder {
        LocalAoBuilder::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The wallet that signs this runtime's messages (the owner of processes it spawns).
    pub fn signer(&self) -> Address {
        self.lock().signer.clone()
    }

    /// Spawns a process and runs its boot code; returns its id. The spawn's own
    /// result (On-Boot output or error) is stored under the process id as a message id.
    pub fn spawn_process(&self, request: SpawnRequest) -> Result<ProcessId, Error> {
        let mut inner = self.lock();
        let draw = inner.draw();
        inner.pre_call(draw)?;
        let owner = inner.signer.to_string();
        let (module, scheduler, tags, data) = request.into_parts();
        let pid = inner.spawn(module, scheduler.to_string(), &tags, &data, owner)?;
        inner.reply(draw, pid)
    }

    /// Spawns an aos process whose boot code is `source` (`On-Boot = Data`).
    pub fn spawn_aos(&self, source: &str) -> Result<ProcessId, Error> {
        let on_boot = Tag::new("On-Boot", "Data").map_err(Error::runtime)?;
        let request = SpawnRequest::new(aos_module(), local_scheduler(), vec![on_boot], source.as_bytes())
            .map_err(Error::runtime)?;
        self.spawn_process(request)
    }

    /// Sends a message signed by [`signer`](Self::signer), evaluates it and
    /// delivers what it causes between local processes; returns its id.
    pub fn submit(&self, message: Message) -> Result<MessageId, Error> {
        let signer = self.signer();
        self.submit_as(&signer, message)
    }

    /// Sends a message as if signed by another wallet (a player, an attacker):
    /// `From` and `Owner` are `wallet`.
    pub fn submit_as(&self, wallet: &Address, message: Message) -> Result<MessageId, Error> {
        let mut inner = self.lock();
        let draw = inner.draw();
        inner.pre_call(draw)?;
        let (target, tags, data, anchor) = message.into_parts();
        if !inner.processes.contains_key(&target) {
            return Err(Error::new(ErrorKind::NoSuchProcess(target)));
        }
        if draw.crash {
            inner.fault_stats.crashes += 1;
            inner.restart(&target)?;
            return Err(injected(
                TransportErrorKind::Unavailable,
                format!("process {target} crashed and restarted"),
            ));
        }
        let from = wallet.to_string();
        let env = inner.schedule(&target, from.clone(), from, tags, data, anchor);
        let id = inner.deliver(env)?;
        let max = inner.max_cascade;
        inner.drain(max)?;
        inner.reply(draw, id)
    }

    /// What `message` produced on `process`.
    pub fn result_of(&self, process: &ProcessId, message: &MessageId) -> Result<EvalResult, Error> {
        let mut inner = self.lock();
        let draw = inner.draw();
        inner.pre_call(draw)?;
        let result = match inner.results.get(message) {
            Some((pid, result)) if pid == process => result.clone(),
            _ => {
                return Err(Error::new(ErrorKind::NoSuchMessage {
                    process: process.clone(),
                    message: message.clone(),
                }));
            }
        };
        inner.reply(draw, result)
    }

    /// Sends and returns the message's id and result.
    pub fn call(&self, message: Message) -> Result<(MessageId, EvalResult), Error> {
        let pid = message.target().clone();
        let id = self.submit(message)?;
        let result = self.result_of(&pid, &id)?;
        Ok((id, result))
    }

    /// [`call`](Self::call) as another wallet.
    pub fn call_as(&self, wallet: &Address, message: Message) -> Result<(MessageId, EvalResult), Error> {
        let pid = message.target().clone();
        let id = self.submit_as(wallet, message)?;
        let result = self.result_of(&pid, &id)?;
        Ok((id, result))
    }

    /// Runs Lua in a process as its owner (`Action = Eval`) and returns the result.
    pub fn eval(&self, process: &ProcessId, source: &str) -> Result<EvalResult, Error> {
        let msg = Message::builder(process.clone())
            .tag("Action", "Eval")
            .data(source)
            .build()
            .map_err(Error::runtime)?;
        self.call(msg).map(|(_, r)| r)
    }

    /// Evaluates `message` against a copy of the process's current state and
    /// throws the copy away: no state change, no delivery, no id, no nonce used.
    ///
    /// The copy is rebuilt by replaying the process's history, so the cost grows
    /// with the number of messages the process has seen.
    pub fn simulate(&self, message: Message) -> Result<EvalResult, Error> {
        let signer = self.signer();
        self.simulate_as(&signer, message)
    }

    /// [`simulate`](Self::simulate) as another wallet: what `wallet` would see.
    pub fn simulate_as(&self, wallet: &Address, message: Message) -> Result<EvalResult, Error> {
        let mut inner = self.lock();
        let draw = inner.draw();
        inner.pre_call(draw)?;
        let (target, tags, data, anchor) = message.into_parts();
        let Some(process) = inner.processes.get(&target) else {
            return Err(Error::new(ErrorKind::NoSuchProcess(target)));
        };
        let (spawn, limits, history) =
            (process.spawn.clone(), process.limits().clone(), process.history.clone());
        let nonce = process.next_nonce();
        inner.dry_runs += 1;
        let id = MessageId::from_bytes(derive(inner.seed, &[b"dry-run", &inner.dry_runs.to_le_bytes()]));
        let from = wallet.to_string();
        let env = Envelope {
            id,
            target: target.clone(),
            from: from.clone(),
            owner: from,
            nonce,
            timestamp: inner.clock_ms,
            block_height: inner.block_height(),
            tags,
            data,
            anchor,
        };
        let (mut fork, _) = Process::replay(spawn, limits, &history)?;
        let result = fork.evaluate_detached(&env);
        inner.stats.dry_runs += 1;
        inner.reply(draw, result)
    }

    /// Delivers up to `max` queued process-to-process messages; returns how many ran.
    pub fn run_pending(&self, max: usize) -> Result<usize, Error> {
        self.lock().drain(max)
    }

    /// Queued process-to-process messages not yet delivered.
    pub fn pending(&self) -> usize {
        self.lock().queue.len()
    }

    /// Moves the virtual clock forward.
    pub fn advance(&self, by: Duration) {
        self.lock().clock_ms += by.as_millis() as u64;
    }

    /// The virtual clock, in Unix milliseconds (what `msg.Timestamp` reads).
    pub fn now_ms(&self) -> u64 {
        self.lock().clock_ms
    }

    /// Crashes a process and restarts it by replaying its history, as a CU does.
    pub fn crash(&self, process: &ProcessId) -> Result<(), Error> {
        let mut inner = self.lock();
        inner.fault_stats.crashes += 1;
        inner.restart(process)
    }

    /// Replaces the fault plan (`None` stops injecting).
    pub fn set_faults(&self, plan: Option<FaultPlan>) {
        self.lock().faults = plan.map(Faults::new);
    }

    /// Faults injected so far.
    pub fn fault_stats(&self) -> FaultStats {
        self.lock().fault_stats
    }

    /// Runtime counters.
    pub fn stats(&self) -> Stats {
        self.lock().stats
    }

    /// What opening the log directory replayed.
    pub fn replay_report(&self) -> ReplayReport {
        self.lock().replay.clone()
    }

    /// Ids of all local processes, sorted.
    pub fn processes(&self) -> Vec<ProcessId> {
        self.lock().processes.keys().cloned().collect()
    }

    /// Vital signs of a process.
    pub fn process_info(&self, process: &ProcessId) -> Result<ProcessInfo, Error> {
        let inner = self.lock();
        let p = inner.process(process)?;
        Ok(ProcessInfo {
            id: process.clone(),
            owner: p.owner().to_owned(),
            messages: p.history.len() as u64,
            memory_bytes: p.memory_used(),
            unauthorized_evals: p.unauthorized_evals,
            handlers: p.handler_names()?,
        })
    }

    /// A canonical dump of the process's data state: equal states give equal bytes.
    pub fn export_state(&self, process: &ProcessId) -> Result<Vec<u8>, Error> {
        self.lock().process(process)?.export_state()
    }

    /// BLAKE3 hash of [`export_state`](Self::export_state).
    pub fn state_hash(&self, process: &ProcessId) -> Result<[u8; 32], Error> {
        Ok(*blake3::hash(&self.export_state(process)?).as_bytes())
    }
}

fn injected(class: TransportErrorKind, detail: String) -> Error {
    Error::new(ErrorKind::Injected { class, detail })
}

impl Inner {
    fn process(&self, id: &ProcessId) -> Result<&Process, Error> {
        self.processes.get(id).ok_or_else(|| Error::new(ErrorKind::NoSuchProcess(id.clone())))
    }

    fn block_height(&self) -> u64 {
        self.first_block + self.clock_ms.saturating_sub(self.epoch_ms) / BLOCK_MS
    }

    fn draw(&mut self) -> Draw {
        self.faults.as_mut().map(Faults::draw).unwrap_or_default()
    }

    /// Applies the faults that strike before a call does anything.
    fn pre_call(&mut self, draw: Draw) -> Result<(), Error> {
        if draw.latency > Duration::ZERO {
            self.fault_stats.delayed += 1;
            self.fault_stats.latency += draw.latency;
            self.clock_ms += draw.latency.as_millis() as u64;
        }
        if draw.transient_error {
            self.fault_stats.transient_errors += 1;
            return Err(injected(TransportErrorKind::Unavailable, "transient failure".into()));
        }
        Ok(())
    }

    /// Applies the faults that strike after a call did its work.
    fn reply<T>(&mut self, draw: Draw, value: T) -> Result<T, Error> {
        if draw.drop_reply {
            self.fault_stats.dropped_replies += 1;
            return Err(injected(
                TransportErrorKind::Timeout,
                "reply dropped after the call took effect".into(),
            ));
        }
        Ok(value)
    }

    fn schedule(
        &self,
        target: &ProcessId,
        from: String,
        owner: String,
        tags: Vec<Tag>,
        data: Vec<u8>,
        anchor: Option<String>,
    ) -> Envelope {
        let nonce = self.processes.get(target).map_or(1, Process::next_nonce);
        let id = MessageId::from_bytes(derive(
            self.seed,
            &[b"message", target.as_str().as_bytes(), &nonce.to_le_bytes()],
        ));
        Envelope {
            id,
            target: target.clone(),
            from,
            owner,
            nonce,
            timestamp: self.clock_ms,
            block_height: self.block_height(),
            tags,
            data,
            anchor,
        }
    }

    /// Logs, evaluates and stores one message, and queues what it sends.
    fn deliver(&mut self, env: Envelope) -> Result<MessageId, Error> {
        let target = env.target.clone();
        if let Some(writer) = self.logs.get_mut(&target) {
            // Write-ahead: a message is acknowledged only once it is in the log.
            writer.append(&Record::Message(env.clone()))?;
        }
        let process = self
            .processes
            .get_mut(&target)
            .ok_or_else(|| Error::new(ErrorKind::NoSuchProcess(target.clone())))?;
        let id = env.id.clone();
        let result = process.evaluate(env);
        self.stats.messages += 1;
        if result.error.is_some() {
            self.stats.errors += 1;
        }
        for msg in &result.messages {
            match ProcessId::new(msg.target.as_str()) {
                Ok(to) if self.processes.contains_key(&to) => self.queue.push_back(Pending::Message {
                    from: target.clone(),
                    target: to,
                    msg: msg.clone(),
                }),
                _ => self.stats.undelivered += 1,
            }
        }
        for spawn in &result.spawns {
            self.queue.push_back(Pending::Spawn { parent: target.clone(), spawn: spawn.clone() });
        }
        self.results.insert(id.clone(), (target, result));
        Ok(id)
    }

    /// Delivers queued messages and spawns in FIFO order, at most `max`.
    fn drain(&mut self, max: usize) -> Result<usize, Error> {
        let mut done = 0;
        while done < max {
            let Some(item) = self.queue.pop_front() else { break };
            done += 1;
            match item {
                Pending::Message { from, target, msg } => {
                    if !self.processes.contains_key(&target) {
                        self.stats.undelivered += 1;
                        continue;
                    }
                    let mut tags = msg.tags;
                    if msg_tag(&tags, "From-Process").is_none() {
                        tags.push(Tag::new("From-Process", from.as_str()).map_err(Error::runtime)?);
                    }
                    let env = self.schedule(
                        &target,
                        from.to_string(),
                        from.to_string(),
                        tags,
                        msg.data,
                        msg.anchor,
                    );
                    self.deliver(env)?;
                }
                Pending::Spawn { parent, spawn } => {
                    let module = ModuleId::new(spawn.module.as_str()).unwrap_or_else(|_| aos_module());
                    let child = self.spawn(
                        module,
                        local_scheduler().to_string(),
                        &spawn.tags,
                        &spawn.data,
                        parent.to_string(),
                    )?;
                    let reference = msg_tag(&spawn.tags, "Reference").unwrap_or_default().to_owned();
                    let tags = [
                        ("Action", "Spawned"),
                        ("Process", child.as_str()),
                        ("X-Reference", &reference),
                        ("From-Process", child.as_str()),
                    ]
                    .into_iter()
                    .map(|(n, v)| Tag::new(n, v))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(Error::runtime)?;
                    let env =
                        self.schedule(&parent, child.to_string(), child.to_string(), tags, Vec::new(), None);
                    self.deliver(env)?;
                }
            }
        }
        Ok(done)
    }

    fn spawn(
        &mut self,
        module: ModuleId,
        scheduler: String,
        tags: &[Tag],
        data: &[u8],
        owner: String,
    ) -> Result<ProcessId, Error> {
        // Skip ids in use: after a host crash between a spawn's log and
        // meta.json, the counter on disk can be behind the logs.
        let id = loop {
            self.spawn_counter += 1;
            let id = ProcessId::from_bytes(derive(
                self.seed,
                &[b"process", owner.as_bytes(), &self.spawn_counter.to_le_bytes()],
            ));
            if !self.processes.contains_key(&id) {
                break id;
            }
        };
        let record = SpawnRecord {
            id: id.clone(),
            owner,
            module,
            scheduler,
            tags: tags.to_vec(),
            data: data.to_vec(),
            timestamp: self.clock_ms,
            block_height: self.block_height(),
        };
        if let Some(dir) = self.log_dir.clone() {
            let path = log_path(&dir, &id);
            let mut writer = LogWriter::open(path, None, self.durability)?;
            writer.append(&Record::Spawn(record.clone()))?;
            self.logs.insert(id.clone(), writer);
            self.write_meta(&dir)?;
        }
        let (process, result) = Process::boot(record, self.limits.clone())?;
        self.processes.insert(id.clone(), process);
        self.results.insert(MessageId::from(id.clone()), (id.clone(), result));
        self.stats.spawns += 1;
        Ok(id)
    }

    fn restart(&mut self, id: &ProcessId) -> Result<(), Error> {
        let old =
            self.processes.remove(id).ok_or_else(|| Error::new(ErrorKind::NoSuchProcess(id.clone())))?;
        let history = old.history.clone();
        let spawn = old.spawn.clone();
        let limits = old.limits().clone();
        // Drop the crashed state before building the new one, as a real restart would.
        drop(old);
        let (process, _) = Process::replay(spawn, limits, &history)?;
        self.processes.insert(id.clone(), process);
        Ok(())
    }

    fn write_meta(&self, dir: &Path) -> Result<(), Error> {
        let meta = Meta {
            format: 1,
            seed: self.seed,
            signer: self.signer.clone(),
            spawn_counter: self.spawn_counter,
            clock_ms: self.clock_ms,
        };
        let json = serde_json::to_vec_pretty(&meta).unwrap_or_default();
        log::write_atomic(&dir.join("meta.json"), &json)
    }

    fn open_log_dir(&mut self, dir: &Path) -> Result<(), Error> {
        let procs = dir.join("processes");
        std::fs::create_dir_all(&procs).map_err(|e| Error::io(&procs, e))?;
        let meta_path = dir.join("meta.json");
        match std::fs::read(&meta_path) {
            Ok(bytes) => {
                let meta: Meta = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::new(ErrorKind::CorruptLog {
                        path: meta_path.clone(),
                        line: e.line(),
                        offset: 0,
                        reason: e.to_string(),
                    })
                })?;
                self.seed = meta.seed;
                self.signer = meta.signer;
                self.spawn_counter = meta.spawn_counter;
                self.clock_ms = self.clock_ms.max(meta.clock_ms);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&meta_path, e)),
        }
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&procs)
            .map_err(|e| Error::io(&procs, e))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|ext| ext == "log"))
            .collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            let decoded = log::decode_log(&path, &bytes)?;
            let valid_len =
                (decoded.torn_tail_bytes > 0).then(|| (bytes.len() - decoded.torn_tail_bytes) as u64);
            if decoded.torn_tail_bytes > 0 {
                self.replay.torn_tails.push((path.clone(), decoded.torn_tail_bytes));
            }
            let id = decoded.spawn.id.clone();
            let (process, mut results) =
                Process::replay(decoded.spawn, self.limits.clone(), &decoded.history)?;
            let boot = results.remove(0);
            self.results.insert(MessageId::from(id.clone()), (id.clone(), boot));
            for (env, result) in decoded.history.iter().zip(results) {
                self.clock_ms = self.clock_ms.max(env.timestamp);
                self.results.insert(env.id.clone(), (id.clone(), result));
            }
            self.replay.processes += 1;
            self.replay.messages += decoded.history.len();
            self.logs.insert(id.clone(), LogWriter::open(path, valid_len, self.durability)?);
            self.processes.insert(id, process);
        }
        self.log_dir = Some(dir.to_path_buf());
        self.write_meta(dir)
    }
}

fn msg_tag<'a>(tags: &'a [Tag], name: &str) -> Option<&'a str> {
    ao_transport::tag_value(tags, name)
}

fn log_path(dir: &Path, id: &ProcessId) -> PathBuf {
    dir.join("processes").join(format!("{id}.log"))
}

fn ready<T: Send + 'static>(r: Result<T, Error>) -> TransportFuture<'static, T> {
    Box::pin(std::future::ready(r.map_err(Into::into)))
}

impl AoTransport for LocalAo {
    fn spawn(&self, request: SpawnRequest) -> TransportFuture<'_, ProcessId> {
        ready(self.spawn_process(request))
    }

    fn send(&self, message: Message) -> TransportFuture<'_, MessageId> {
        ready(self.submit(message))
    }

    fn result(&self, process: ProcessId, message: MessageId) -> TransportFuture<'_, EvalResult> {
        ready(self.result_of(&process, &message))
    }

    fn dry_run(&self, message: Message) -> TransportFuture<'_, EvalResult> {
        ready(self.simulate(message))
    }
}

/// The virtual clock as a retry clock: `sleep` advances it at once.
impl ao_transport::retry::Clock for LocalAo {
    fn now(&self) -> Duration {
        let inner = self.lock();
        Duration::from_millis(inner.clock_ms - inner.epoch_ms)
    }

    fn sleep(
        &self,
        duration: Duration,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        self.advance(duration);
        Box::pin(std::future::ready(()))
    }
}
