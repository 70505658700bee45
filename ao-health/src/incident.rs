//! Incident records: opened when an alert fires, acknowledged by a person,
//! resolved when the alert resolves. Sans-IO.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::labels::Labels;
use crate::rule::{Severity, Transition};
use crate::time::Timestamp;

/// One incident: one firing episode of one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// Its id, increasing from 1.
    pub id: u64,
    /// The alert's name.
    pub alertname: String,
    /// The alert's labels.
    pub labels: Labels,
    /// The alert's severity.
    pub severity: Severity,
    /// When the alert fired.
    pub opened_at: Timestamp,
    /// When and by whom it was acknowledged.
    pub acknowledged: Option<(Timestamp, String)>,
    /// When the alert resolved.
    pub resolved_at: Option<Timestamp>,
}

impl Incident {
    /// Whether the alert still fires.
    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }

    /// From opening to acknowledgement.
    pub fn time_to_acknowledge(&self) -> Option<Duration> {
        self.acknowledged.as_ref().map(|(t, _)| t.saturating_since(self.opened_at))
    }

    /// From opening to resolution.
    pub fn time_to_resolve(&self) -> Option<Duration> {
        self.resolved_at.map(|t| t.saturating_since(self.opened_at))
    }
}

/// What a transition did to the incident log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentEvent {
    /// An incident was opened.
    Opened(u64),
    /// An incident was resolved.
    Resolved(u64),
}

/// The incident log. It keeps at most `capacity` closed incidents, dropping
/// those opened first; open ones are never dropped.
#[derive(Debug, Clone)]
pub struct Incidents {
    records: VecDeque<Incident>,
    open: BTreeMap<u64, u64>,
    next_id: u64,
    capacity: usize,
}

impl Default for Incidents {
    fn default() -> Self {
        Self::new(10_000)
    }
}

impl Incidents {
    /// A log keeping at most `capacity` closed incidents.
    pub fn new(capacity: usize) -> Self {
        Self { records: VecDeque::new(), open: BTreeMap::new(), next_id: 1, capacity }
    }

    /// Opens an incident when an alert fires, resolves it when the alert resolves.
    pub fn handle_transition(&mut self, t: &Transition) -> Option<IncidentEvent> {
        let fp = t.alert.fingerprint();
        if t.is_firing() {
            if self.open.contains_key(&fp) {
                return None;
            }
            let id = self.next_id;
            self.next_id += 1;
            self.records.push_back(Incident {
                id,
                alertname: t.alert.name().to_owned(),
                labels: t.alert.labels.clone(),
                severity: t.alert.severity,
                opened_at: t.at,
                acknowledged: None,
                resolved_at: None,
            });
            self.open.insert(fp, id);
            self.trim();
            Some(IncidentEvent::Opened(id))
        } else if t.is_resolved() {
            let id = self.open.remove(&fp)?;
            let rec = self.get_mut(id)?;
            rec.resolved_at = Some(t.at);
            self.trim();
            Some(IncidentEvent::Resolved(id))
        } else {
            None
        }
    }

    /// Records that `by` acknowledged incident `id` at `now` (the first acknowledgement stands).
    pub fn acknowledge(
        &mut self,
        id: u64,
        by: impl Into<String>,
        now: Timestamp,
    ) -> Result<&Incident, Error> {
        let rec = self.get_mut(id).ok_or_else(|| Error::new(ErrorKind::NoSuchIncident(id)))?;
        if rec.acknowledged.is_none() {
            rec.acknowledged = Some((now, by.into()));
        }
        Ok(rec)
    }

    /// An incident by id.
    pub fn get(&self, id: u64) -> Option<&Incident> {
        self.records.iter().find(|r| r.id == id)
    }

    fn get_mut(&mut self, id: u64) -> Option<&mut Incident> {
        self.records.iter_mut().find(|r| r.id == id)
    }

    /// Incidents still open, oldest first.
    pub fn open(&self) -> impl Iterator<Item = &Incident> {
        self.records.iter().filter(|r| r.is_open())
    }

    /// Every incident kept, oldest first.
    pub fn all(&self) -> impl Iterator<Item = &Incident> {
        self.records.iter()
    }

    /// Mean time to resolve over the resolved incidents kept.
    pub fn mean_time_to_resolve(&self) -> Option<Duration> {
        mean(self.records.iter().filter_map(Incident::time_to_resolve))
    }

    /// Mean time to acknowledge over the acknowledged incidents kept.
    pub fn mean_time_to_acknowledge(&self) -> Option<Duration> {
        mean(self.records.iter().filter_map(Incident::time_to_acknowledge))
    }

    fn trim(&mut self) {
        let mut closed = self.records.iter().filter(|r| !r.is_open()).count();
        while closed > self.capacity {
            let Some(pos) = self.records.iter().position(|r| !r.is_open()) else { break };
            self.records.remove(pos);
            closed -= 1;
        }
    }
}

fn mean(it: impl Iterator<Item = Duration>) -> Option<Duration> {
    // Saturating: a sum of absurd spans must not panic.
    let (sum, n) = it.fold((Duration::ZERO, 0u32), |(s, n), d| (s.saturating_add(d), n.saturating_add(1)));
    (n > 0).then(|| sum / n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{Alert, AlertState};

    fn transition(process: &str, from: AlertState, to: AlertState, secs: u64) -> Transition {
        let alert = Alert {
            labels: Labels::new().with("alertname", "Down").with("process", process),
            annotations: BTreeMap::new(),
            severity: Severity::Critical,
            state: to,
            value: 1.0,
            active_since: Timestamp::EPOCH,
            fired_at: None,
            resolved_at: None,
        };
        Transition { alert, from, to, at: Timestamp::from_secs(secs) }
    }

    #[test]
    fn lifecycle_and_times() {
        use AlertState::*;
        let mut log = Incidents::new(1);
        assert_eq!(log.handle_transition(&transition("a", Inactive, Pending, 0)), None);
        assert_eq!(
            log.handle_transition(&transition("a", Pending, Firing, 60)),
            Some(IncidentEvent::Opened(1))
        );
        assert_eq!(
            log.handle_transition(&transition("b", Inactive, Firing, 70)),
            Some(IncidentEvent::Opened(2))
        );
        log.acknowledge(1, "ann", Timestamp::from_secs(90)).unwrap();
        log.acknowledge(1, "bob", Timestamp::from_secs(95)).unwrap();
        assert_eq!(log.get(1).unwrap().acknowledged, Some((Timestamp::from_secs(90), "ann".into())));
        assert_eq!(
            log.handle_transition(&transition("a", Firing, Inactive, 360)),
            Some(IncidentEvent::Resolved(1))
        );
        let a = log.get(1).unwrap();
        assert_eq!(a.time_to_acknowledge(), Some(Duration::from_secs(30)));
        assert_eq!(a.time_to_resolve(), Some(Duration::from_secs(300)));
        assert_eq!(log.open().map(|i| i.id).collect::<Vec<_>>(), [2]);
        assert_eq!(log.mean_time_to_resolve(), Some(Duration::from_secs(300)));
        // It fires again: a new incident; the log keeps one closed incident.
        assert_eq!(
            log.handle_transition(&transition("a", Inactive, Firing, 400)),
            Some(IncidentEvent::Opened(3))
        );
        log.handle_transition(&transition("a", Firing, Inactive, 500));
        log.handle_transition(&transition("b", Firing, Inactive, 600));
        assert_eq!(log.all().map(|i| i.id).collect::<Vec<_>>(), [3], "the closed incident opened last stays");
        assert!(matches!(
            log.acknowledge(1, "x", Timestamp::EPOCH).unwrap_err().kind(),
            ErrorKind::NoSuchIncident(1)
        ));
    }

    #[test]
    fn mean_times_do_not_overflow() {
        use AlertState::*;
        // 1100 spans of ~1.8e16 s each: their sum passes Duration::MAX (1.8e19 s).
        let mut log = Incidents::new(2000);
        for i in 0..1100u64 {
            let p = i.to_string();
            log.handle_transition(&transition(&p, Inactive, Firing, i));
            log.handle_transition(&transition(&p, Firing, Inactive, u64::MAX / 1000));
        }
        assert!(log.mean_time_to_resolve().unwrap() > Duration::from_secs(u64::MAX / 4000));
    }
}
