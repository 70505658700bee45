//! The loop that joins the core, the driver and the journal: take actions, run
//! them, journal what happened (write-ahead of the core), feed it back.

use crate::driver::Driver;
use crate::error::{Error, ErrorKind};
use crate::journal::{Journal, Record};
use crate::lease::LeaseGuard;
use crate::rollout::{Action, ActionKind, Command, Event, PauseReason, Phase, Rollout};

/// Operator commands arriving while a rollout runs (a control file, a socket).
pub trait Control {
    /// Commands that arrived since the last call.
    fn poll(&mut self) -> Vec<Command>;
}

/// Commands given up front, delivered on the first poll (tests, one-shot CLIs).
#[derive(Debug, Default)]
pub struct QueuedCommands(pub Vec<Command>);

impl Control for QueuedCommands {
    fn poll(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.0)
    }
}

/// Commands appended to a file, one JSON string per line (`"pause"`), by
/// `ao-ops pause|resume|abort|promote` while a deployer runs elsewhere.
#[derive(Debug)]
pub struct FileControl {
    path: std::path::PathBuf,
    offset: u64,
}

impl FileControl {
    /// Watches `path`, skipping what it holds already.
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        let path = path.into();
        let offset = std::fs::metadata(&path).map_or(0, |m| m.len());
        Self { path, offset }
    }

    /// Appends a command for the running deployer.
    pub fn send(path: &std::path::Path, command: Command) -> Result<(), Error> {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let mut line = serde_json::to_vec(&command).unwrap_or_default();
        line.push(b'\n');
        f.write_all(&line).and_then(|()| f.sync_data()).map_err(|e| Error::io(path, e))
    }
}

impl Control for FileControl {
    fn poll(&mut self) -> Vec<Command> {
        let Ok(bytes) = std::fs::read(&self.path) else { return Vec::new() };
        let start = usize::try_from(self.offset).unwrap_or(usize::MAX).min(bytes.len());
        // Only whole lines: a command being appended is read next time.
        let end = bytes[start..].iter().rposition(|&b| b == b'\n').map_or(start, |i| start + i + 1);
        self.offset = end as u64;
        bytes[start..end]
            .split(|&b| b == b'\n')
            .filter_map(|line| serde_json::from_slice(line).ok())
            .collect()
    }
}

/// Where an injected crash strikes: before the `nth` action (0-based) runs, or
/// after it ran but before its outcome reached the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashPoint {
    /// Actions run (in this run) before the crash.
    pub nth: u64,
    /// Whether the `nth` action runs before the crash.
    pub after_running: bool,
}

/// Why [`Runner::run`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The rollout finished.
    Finished(Phase),
    /// It is paused and needs an operator (resume, promote or abort).
    Paused(PauseReason),
    /// It passed everything and waits for a `Finalize`.
    AwaitingFinalize,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// Why it returned.
    pub stop: Stop,
    /// Actions run.
    pub actions: u64,
    /// The driver's notes (also journaled).
    pub notes: Vec<String>,
}

/// A hook called before each action with the rollout's state (tests use it to
/// interleave player traffic and check invariants).
pub type Between<'h> = dyn FnMut(&Rollout, &Action) + 'h;

/// Runs a rollout to its end, or until it needs an operator.
pub struct Runner<'r, 'a> {
    driver: &'r mut Driver<'a>,
    journal: Option<&'r mut Journal>,
    lease: Option<&'r mut LeaseGuard>,
    control: Option<&'r mut dyn Control>,
    crash: Option<CrashPoint>,
    between: Option<&'r mut Between<'r>>,
}

impl std::fmt::Debug for Runner<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("crash", &self.crash).finish_non_exhaustive()
    }
}

impl<'r, 'a> Runner<'r, 'a> {
    /// A runner over `driver`.
    pub fn new(driver: &'r mut Driver<'a>) -> Self {
        Self { driver, journal: None, lease: None, control: None, crash: None, between: None }
    }

    /// Journals every event before the core sees it.
    #[must_use]
    pub fn journal(mut self, journal: &'r mut Journal) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Renews (and checks) the lease before every action: a run whose lease was
    /// taken over stops with [`ErrorKind::LeaseLost`].
    #[must_use]
    pub fn lease(mut self, lease: &'r mut LeaseGuard) -> Self {
        self.lease = Some(lease);
        self
    }

    /// Takes operator commands from `control` between actions.
    #[must_use]
    pub fn control(mut self, control: &'r mut dyn Control) -> Self {
        self.control = Some(control);
        self
    }

    /// Stops with [`ErrorKind::Crashed`] at `point` (tests of resume).
    #[must_use]
    pub fn crash_at(mut self, point: CrashPoint) -> Self {
        self.crash = Some(point);
        self
    }

    /// Calls `f` before each action.
    #[must_use]
    pub fn between(mut self, f: &'r mut Between<'r>) -> Self {
        self.between = Some(f);
        self
    }

    fn record(&mut self, rollout: &mut Rollout, event: Event) -> Result<(), Error> {
        if let Some(j) = self.journal.as_deref_mut() {
            j.append(&Record::Event { event: event.clone() })?;
        }
        match rollout.handle(event) {
            Err(e) if matches!(e.kind(), ErrorKind::Rejected { .. }) => Err(e),
            other => other,
        }
    }

    fn note(&mut self, text: String) -> Result<(), Error> {
        if let Some(j) = self.journal.as_deref_mut() {
            j.append(&Record::Note { text, at: self.driver.now() })?;
        }
        Ok(())
    }

    /// Before a wait: with a lease, sleeps most of it in slices of a third of
    /// the lease's time to live, renewing between, so that a deployer alive in
    /// a long pause or scale-down delay never looks stale (and cannot be taken
    /// over as if it were gone); the action itself then waits what is left.
    fn wait_renewing(&mut self, action: &Action) -> Result<(), Error> {
        let (ActionKind::Wait { until }, Some(lease)) = (&action.kind, self.lease.as_deref_mut()) else {
            return Ok(());
        };
        let slice = (lease.lease().ttl_ms / 3).max(1);
        loop {
            let now = self.driver.now();
            let next = ao_health::Timestamp::from_millis(now.as_millis().saturating_add(slice));
            if next >= *until {
                return Ok(());
            }
            self.driver.sleep_until(next);
            lease.renew(self.driver.now())?;
        }
    }

    /// Runs `pending` (the actions in flight when the rollout was rebuilt, or
    /// those `drain_actions` gave after `new`), then everything the core asks
    /// for, until the rollout finishes or waits for an operator.
    pub fn run(&mut self, rollout: &mut Rollout, pending: Vec<Action>) -> Result<RunReport, Error> {
        let mut queue: std::collections::VecDeque<Action> = pending.into();
        let mut ran = 0u64;
        let mut notes = Vec::new();
        loop {
            if let Some(control) = self.control.as_deref_mut() {
                for command in control.poll() {
                    let at = self.driver.now();
                    match self.record(rollout, Event::Command { at, command }) {
                        Ok(()) => {}
                        Err(e) if matches!(e.kind(), ErrorKind::Rejected { .. }) => notes.push(e.to_string()),
                        Err(e) => return Err(e),
                    }
                    queue.extend(rollout.drain_actions());
                }
            }
            if rollout.is_terminal() {
                return Ok(RunReport { stop: Stop::Finished(rollout.phase()), actions: ran, notes });
            }
            let Some(action) = queue.pop_front() else {
                let stop = match rollout.phase() {
                    Phase::Paused(reason) => Stop::Paused(reason),
                    Phase::AwaitingFinalize => Stop::AwaitingFinalize,
                    other => return Err(Error::misuse(format!("the rollout is {other} with nothing to do"))),
                };
                return Ok(RunReport { stop, actions: ran, notes });
            };
            if let Some(lease) = self.lease.as_deref_mut() {
                lease.renew(self.driver.now())?;
            }
            if let Some(f) = self.between.as_deref_mut() {
                f(rollout, &action);
            }
            if self.crash.is_some_and(|c| c.nth == ran && !c.after_running) {
                return Err(Error::new(ErrorKind::Crashed { after_actions: ran }));
            }
            self.wait_renewing(&action)?;
            let result = self.driver.execute(rollout.spec(), &action);
            ran += 1;
            if self.crash.is_some_and(|c| c.nth + 1 == ran && c.after_running) {
                return Err(Error::new(ErrorKind::Crashed { after_actions: ran }));
            }
            // A run whose lease went to another deployer while the action ran
            // must not journal its outcome: the new holder runs the action again.
            if let Some(lease) = self.lease.as_deref() {
                lease.check()?;
            }
            for text in self.driver.take_notes() {
                self.note(text.clone())?;
                notes.push(text);
            }
            let at = self.driver.now();
            let event = match result {
                Ok(outcome) => Event::Done { id: action.id, at, outcome },
                Err(e) => Event::Failed { id: action.id, at, error: e.to_string() },
            };
            self.record(rollout, event)?;
            queue.extend(rollout.drain_actions());
        }
    }
}
