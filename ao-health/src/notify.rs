//! Delivery: the [`Notifier`] trait for the host's channel, a [`Dispatcher`]
//! that drives it, and [`Alerting`], the evaluator, router and incident log in one step.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{Error, ErrorKind};
use crate::incident::{IncidentEvent, Incidents};
use crate::metrics::{Counter, Gauge};
use crate::registry::{Family, Registry, Sample};
use crate::route::{Notification, Router};
use crate::rule::{AlertState, Evaluator, Severity, Transition};
use crate::time::Timestamp;

/// Names of the families [`AlertMetrics::register`] adds.
pub const ALERT_FAMILIES: &[&str] = &["ao_alerts", "ao_alert_notifications"];

/// A host's error from a notifier.
pub type NotifyError = Box<dyn std::error::Error + Send + Sync>;

/// Sends a notification over the host's channel (chat, pager, email, a webhook).
pub trait Notifier: Send + Sync {
    /// Delivers one notification. An error makes the router send it again at
    /// the group's next interval.
    fn notify(&self, notification: &Notification) -> Result<(), NotifyError>;
}

/// A notifier that keeps what it is sent, in memory; it can be told to fail.
#[derive(Debug, Clone, Default)]
pub struct MemoryNotifier {
    sent: Arc<Mutex<Vec<Notification>>>,
    fail_next: Arc<AtomicUsize>,
}

impl MemoryNotifier {
    /// An empty notifier.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything delivered so far.
    pub fn sent(&self) -> Vec<Notification> {
        self.sent.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Makes the next `n` deliveries fail.
    pub fn fail_next(&self, n: usize) {
        self.fail_next.store(n, Ordering::SeqCst);
    }
}

impl Notifier for MemoryNotifier {
    fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
        if self.fail_next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |f| f.checked_sub(1)).is_ok() {
            return Err("injected delivery failure".into());
        }
        self.sent.lock().unwrap_or_else(PoisonError::into_inner).push(n.clone());
        Ok(())
    }
}

/// The alerting families of a registry.
#[derive(Debug, Clone)]
pub struct AlertMetrics {
    alerts: Family<Gauge>,
    notifications: Family<Counter>,
}

impl AlertMetrics {
    /// Registers the alerting families.
    pub fn register(registry: &Registry) -> Result<Self, Error> {
        Ok(Self {
            alerts: registry.gauge_family(
                "ao_alerts",
                "Alerts by state and severity.",
                &["state", "severity"],
            )?,
            notifications: registry.counter_family(
                "ao_alert_notifications",
                "Notifications by receiver and outcome.",
                &["receiver", "outcome"],
            )?,
        })
    }
}

/// Sends router notifications to the notifiers registered per receiver.
#[derive(Default)]
pub struct Dispatcher {
    notifiers: BTreeMap<String, Arc<dyn Notifier>>,
    metrics: Option<AlertMetrics>,
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher")
            .field("receivers", &self.notifiers.keys().collect::<Vec<_>>())
            .field("metrics", &self.metrics)
            .finish()
    }
}

impl Dispatcher {
    /// A dispatcher with no receivers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends `receiver`'s notifications to `notifier`.
    #[must_use]
    pub fn receiver(mut self, receiver: impl Into<String>, notifier: Arc<dyn Notifier>) -> Self {
        self.notifiers.insert(receiver.into(), notifier);
        self
    }

    /// Counts deliveries in these metrics.
    #[must_use]
    pub fn metrics(mut self, metrics: AlertMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Delivers each notification; a failed one is handed back to the router
    /// (see [`Router::handle_failed`]) and its error returned.
    pub fn deliver(&self, router: &mut Router, notifications: &[Notification]) -> Vec<Error> {
        let mut errors = Vec::new();
        for n in notifications {
            let outcome = match self.notifiers.get(&n.receiver) {
                None => Err(Error::new(ErrorKind::NoSuchReceiver(n.receiver.clone()))),
                Some(notifier) => notifier
                    .notify(n)
                    .map_err(|source| Error::new(ErrorKind::Notify { receiver: n.receiver.clone(), source })),
            };
            let label = if outcome.is_ok() { "sent" } else { "failed" };
            if let Some(m) = &self.metrics {
                m.notifications.with(&[&n.receiver, label]).inc();
            }
            if let Err(e) = outcome {
                router.handle_failed(n);
                errors.push(e);
            }
        }
        errors
    }
}

/// What one [`Alerting::step`] did.
#[derive(Debug, Clone, Default)]
pub struct Step {
    /// Alert state changes.
    pub transitions: Vec<Transition>,
    /// Notifications to deliver.
    pub notifications: Vec<Notification>,
    /// Incidents opened and resolved.
    pub incidents: Vec<IncidentEvent>,
}

/// The evaluator, router and incident log driven together: sans-IO.
#[derive(Debug, Clone)]
pub struct Alerting {
    /// Evaluates rules.
    pub evaluator: Evaluator,
    /// Routes alerts.
    pub router: Router,
    /// Records incidents.
    pub incidents: Incidents,
    metrics: Option<AlertMetrics>,
}

impl Alerting {
    /// Joins an evaluator and a router with an empty incident log.
    pub fn new(evaluator: Evaluator, router: Router) -> Self {
        Self { evaluator, router, incidents: Incidents::default(), metrics: None }
    }

    /// Keeps `ao_alerts` up to date.
    #[must_use]
    pub fn metrics(mut self, metrics: AlertMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Evaluates `samples` at `now`, routes the changes, records incidents and
    /// flushes the groups that are due.
    #[must_use = "the notifications are for the host to deliver"]
    pub fn step(&mut self, now: Timestamp, samples: &[Sample]) -> Step {
        let transitions = self.evaluator.evaluate(now, samples);
        let mut incidents = Vec::new();
        for t in &transitions {
            self.router.handle_transition(now, t);
            incidents.extend(self.incidents.handle_transition(t));
        }
        let notifications = self.router.poll(now);
        if let Some(m) = &self.metrics {
            let alerts = self.evaluator.alerts();
            for state in [AlertState::Pending, AlertState::Firing] {
                for sev in [Severity::Info, Severity::Warning, Severity::Critical] {
                    let n = alerts.iter().filter(|a| a.state == state && a.severity == sev).count();
                    let s = if state == AlertState::Pending { "pending" } else { "firing" };
                    m.alerts.with(&[s, sev.as_str()]).set(n as f64);
                }
            }
        }
        Step { transitions, notifications, incidents }
    }
}
