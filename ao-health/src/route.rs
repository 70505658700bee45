//! Alert routing like Alertmanager's: a route tree, grouping, timing,
//! inhibition and silences. Sans-IO: alerts and `now` in, notifications out.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::labels::{Labels, Matcher, check_label_name, matches_all};
use crate::rule::{Alert, Severity, Transition};
use crate::time::Timestamp;

/// Which labels form an alert group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// These labels (an empty list puts every alert of the route in one group).
    Labels(Vec<String>),
    /// Every label: one group per alert.
    All,
}

/// A node of the route tree. Settings left unset are inherited from the parent.
///
/// Defaults at the root, as in Alertmanager: no grouping labels, `group_wait`
/// 30 s, `group_interval` 5 min, `repeat_interval` 4 h.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Route {
    receiver: Option<String>,
    matchers: Vec<Matcher>,
    group_by: Option<GroupBy>,
    group_wait: Option<Duration>,
    group_interval: Option<Duration>,
    repeat_interval: Option<Duration>,
    continue_matching: bool,
    routes: Vec<Route>,
}

impl Route {
    /// A route sending to `receiver`.
    pub fn to(receiver: impl Into<String>) -> Self {
        Self {
            receiver: Some(receiver.into()),
            matchers: Vec::new(),
            group_by: None,
            group_wait: None,
            group_interval: None,
            repeat_interval: None,
            continue_matching: false,
            routes: Vec::new(),
        }
    }

    /// A child that inherits its parent's receiver unless given one.
    pub fn inherit() -> Self {
        Self { receiver: None, ..Self::to("") }
    }

    /// Only alerts matching this (all matchers) take this route.
    pub fn matcher(mut self, m: Matcher) -> Self {
        self.matchers.push(m);
        self
    }

    /// Groups by these labels.
    pub fn group_by(mut self, labels: &[&str]) -> Self {
        self.group_by = Some(GroupBy::Labels(labels.iter().map(|l| (*l).to_owned()).collect()));
        self
    }

    /// One group per alert (`group_by: ['...']`).
    pub fn group_by_all(mut self) -> Self {
        self.group_by = Some(GroupBy::All);
        self
    }

    /// Wait before a new group's first notification, to gather its alerts.
    pub fn group_wait(mut self, d: Duration) -> Self {
        self.group_wait = Some(d);
        self
    }

    /// Wait between notifications of a group whose alerts changed.
    pub fn group_interval(mut self, d: Duration) -> Self {
        self.group_interval = Some(d);
        self
    }

    /// Wait before repeating a notification of a group that did not change.
    pub fn repeat_interval(mut self, d: Duration) -> Self {
        self.repeat_interval = Some(d);
        self
    }

    /// After matching this route, go on trying its later siblings.
    pub fn continue_matching(mut self) -> Self {
        self.continue_matching = true;
        self
    }

    /// Adds a child route; children are tried in order.
    pub fn route(mut self, child: Route) -> Self {
        self.routes.push(child);
        self
    }
}

#[derive(Debug, Clone)]
struct Node {
    path: String,
    receiver: String,
    matchers: Vec<Matcher>,
    group_by: GroupBy,
    group_wait: Duration,
    group_interval: Duration,
    repeat_interval: Duration,
    continue_matching: bool,
    children: Vec<usize>,
}

/// Mutes alerts matching `target` while an alert matching `source` fires
/// with the same values of the `equal` labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InhibitRule {
    /// What the inhibiting alert matches.
    pub source: Vec<Matcher>,
    /// What the inhibited alert matches.
    pub target: Vec<Matcher>,
    /// Labels both must agree on (missing on both counts as equal).
    pub equal: Vec<String>,
}

impl InhibitRule {
    /// An inhibition rule.
    pub fn new(source: Vec<Matcher>, target: Vec<Matcher>, equal: &[&str]) -> Self {
        Self { source, target, equal: equal.iter().map(|l| (*l).to_owned()).collect() }
    }

    /// A `source`-severity alert mutes the `target`-severity alerts that agree
    /// on `equal`: `severity(Critical, Warning, &["alertname", "process"])`
    /// makes a critical alert silence its warnings.
    pub fn severity(source: Severity, target: Severity, equal: &[&str]) -> Self {
        Self::new(
            vec![Matcher::eq("severity", source.as_str())],
            vec![Matcher::eq("severity", target.as_str())],
            equal,
        )
    }
}

/// A silence: alerts matching it notify nobody between `starts_at` and `ends_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    /// Its id.
    pub id: u64,
    /// What it silences (all must match).
    pub matchers: Vec<Matcher>,
    /// When it begins.
    pub starts_at: Timestamp,
    /// When it expires.
    pub ends_at: Timestamp,
    /// Who made it.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

impl Silence {
    /// Whether it is in force at `now`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.starts_at <= now && now < self.ends_at
    }
}

/// Why an alert is muted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Muted {
    /// A silence with this id matches it.
    Silenced(u64),
    /// The firing alert with this fingerprint inhibits it.
    Inhibited(u64),
}

/// What the router asks the host to send to one receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The receiver (a [`Notifier`](crate::Notifier) name).
    pub receiver: String,
    /// The group: route path and group labels.
    pub group_key: String,
    /// The labels the group is formed by.
    pub group_labels: Labels,
    /// Alerts firing, unmuted.
    pub firing: Vec<Alert>,
    /// Alerts resolved since the last notification that told of them firing.
    pub resolved: Vec<Alert>,
    /// When it was made.
    pub at: Timestamp,
    node: usize,
    previous: BTreeSet<u64>,
    previous_sent: Option<Timestamp>,
}

#[derive(Debug, Clone)]
struct Group {
    labels: Labels,
    alerts: BTreeMap<u64, (Alert, bool)>,
    next_flush: Timestamp,
    notified: BTreeSet<u64>,
    last_sent: Option<Timestamp>,
}

/// The routing state machine.
///
/// Feed it alert state changes ([`handle_transition`](Self::handle_transition)),
/// call [`poll`](Self::poll) at or after [`poll_timeout`](Self::poll_timeout),
/// and send what it returns. A group's first notification goes out
/// `group_wait` after its first alert; later changes go out at most every
/// `group_interval`; an unchanged group is re-sent every `repeat_interval`.
/// A resolved alert is sent once as resolved, and only if it had been sent as
/// firing; silenced and inhibited alerts are never sent.
#[derive(Debug, Clone)]
pub struct Router {
    nodes: Vec<Node>,
    inhibit: Vec<InhibitRule>,
    silences: BTreeMap<u64, Silence>,
    next_silence: u64,
    firing: BTreeMap<u64, Alert>,
    groups: BTreeMap<(usize, Labels), Group>,
}

impl Router {
    /// A router over the tree rooted at `root` (which must name a receiver and
    /// have no matchers) with these inhibition rules.
    pub fn new(root: Route, inhibit: Vec<InhibitRule>) -> Result<Self, Error> {
        if root.receiver.as_deref().is_none_or(str::is_empty) {
            return Err(Error::route("route", "the root route needs a receiver"));
        }
        if !root.matchers.is_empty() {
            return Err(Error::route("route", "the root route matches every alert; it takes no matchers"));
        }
        let defaults = Node {
            path: String::new(),
            receiver: String::new(),
            matchers: Vec::new(),
            group_by: GroupBy::Labels(Vec::new()),
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            continue_matching: false,
            children: Vec::new(),
        };
        let mut nodes = Vec::new();
        flatten(root, &defaults, "route".into(), &mut nodes)?;
        for (i, r) in inhibit.iter().enumerate() {
            for l in &r.equal {
                check_label_name(&format!("inhibit_rules[{i}]"), l)?;
            }
            if r.source.is_empty() || r.target.is_empty() {
                return Err(Error::route(format!("inhibit_rules[{i}]"), "source and target need matchers"));
            }
        }
        Ok(Self {
            nodes,
            inhibit,
            silences: BTreeMap::new(),
            next_silence: 1,
            firing: BTreeMap::new(),
            groups: BTreeMap::new(),
        })
    }

    /// The receivers in the tree, each once.
    pub fn receivers(&self) -> BTreeSet<&str> {
        self.nodes.iter().map(|n| n.receiver.as_str()).collect()
    }

    /// The route paths an alert with these labels takes (`route.routes[1]`).
    pub fn routes_for(&self, labels: &Labels) -> Vec<&str> {
        let mut out = Vec::new();
        self.match_node(0, labels, &mut out);
        out.into_iter().map(|i| self.nodes[i].path.as_str()).collect()
    }

    /// Takes in an evaluator transition: firings and resolutions are routed, the rest ignored.
    pub fn handle_transition(&mut self, now: Timestamp, t: &Transition) {
        if t.is_firing() {
            self.handle_alert(now, &t.alert, true);
        } else if t.is_resolved() {
            self.handle_alert(now, &t.alert, false);
        }
    }

    /// Takes in an alert that fires (`firing`) or resolved (from any source).
    pub fn handle_alert(&mut self, now: Timestamp, alert: &Alert, firing: bool) {
        let fp = alert.fingerprint();
        if firing {
            self.firing.insert(fp, alert.clone());
        } else {
            self.firing.remove(&fp);
        }
        let mut nodes = Vec::new();
        self.match_node(0, &alert.labels, &mut nodes);
        for n in nodes {
            let node = &self.nodes[n];
            let labels = match &node.group_by {
                GroupBy::All => alert.labels.clone(),
                GroupBy::Labels(names) => alert.labels.project(names),
            };
            let key = (n, labels);
            match self.groups.get_mut(&key) {
                Some(g) => {
                    g.alerts.insert(fp, (alert.clone(), firing));
                }
                None if firing => {
                    let g = Group {
                        labels: key.1.clone(),
                        alerts: BTreeMap::from([(fp, (alert.clone(), true))]),
                        next_flush: now + node.group_wait,
                        notified: BTreeSet::new(),
                        last_sent: None,
                    };
                    self.groups.insert(key, g);
                }
                None => {}
            }
        }
    }

    /// Adds a silence; returns its id. It needs a matcher that does not match
    /// the empty value (so it cannot silence everything) and an end after its start.
    pub fn add_silence(
        &mut self,
        matchers: Vec<Matcher>,
        starts_at: Timestamp,
        ends_at: Timestamp,
        created_by: impl Into<String>,
        comment: impl Into<String>,
    ) -> Result<u64, Error> {
        if !matchers.iter().any(|m| !m.matches(&Labels::new())) {
            return Err(Error::route("silence", "needs a matcher that does not match every alert"));
        }
        for m in &matchers {
            check_label_name("silence", &m.name)?;
        }
        if ends_at <= starts_at {
            return Err(Error::route("silence", "ends_at must be after starts_at"));
        }
        let id = self.next_silence;
        self.next_silence += 1;
        self.silences.insert(
            id,
            Silence {
                id,
                matchers,
                starts_at,
                ends_at,
                created_by: created_by.into(),
                comment: comment.into(),
            },
        );
        Ok(id)
    }

    /// Ends a silence at `now` (if it was to end later).
    pub fn expire_silence(&mut self, id: u64, now: Timestamp) -> Result<(), Error> {
        let s = self.silences.get_mut(&id).ok_or_else(|| Error::new(ErrorKind::NoSuchSilence(id)))?;
        s.ends_at = s.ends_at.min(now).max(s.starts_at);
        Ok(())
    }

    /// Silences not yet expired and pruned.
    pub fn silences(&self) -> impl Iterator<Item = &Silence> {
        self.silences.values()
    }

    /// Whether (and why) an alert is muted at `now`.
    pub fn muted(&self, alert: &Alert, now: Timestamp) -> Option<Muted> {
        if let Some(s) =
            self.silences.values().find(|s| s.is_active(now) && matches_all(&s.matchers, &alert.labels))
        {
            return Some(Muted::Silenced(s.id));
        }
        let fp = alert.fingerprint();
        for rule in &self.inhibit {
            if !matches_all(&rule.target, &alert.labels) {
                continue;
            }
            let by = self.firing.iter().find(|(sfp, s)| {
                **sfp != fp
                    && matches_all(&rule.source, &s.labels)
                    && rule.equal.iter().all(|l| s.labels.get(l) == alert.labels.get(l))
            });
            if let Some((sfp, _)) = by {
                return Some(Muted::Inhibited(*sfp));
            }
        }
        None
    }

    /// When [`poll`](Self::poll) next has something to do.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.groups.values().map(|g| g.next_flush).min()
    }

    /// Flushes every group that is due at `now` and returns the notifications to send.
    #[must_use = "the notifications are for the host to send"]
    pub fn poll(&mut self, now: Timestamp) -> Vec<Notification> {
        self.silences.retain(|_, s| s.ends_at > now);
        let due: Vec<(usize, Labels)> =
            self.groups.iter().filter(|(_, g)| g.next_flush <= now).map(|(k, _)| k.clone()).collect();
        let mut out = Vec::new();
        for key in due {
            let Some(g) = self.groups.get(&key) else { continue };
            let mut firing = Vec::new();
            let mut resolved = Vec::new();
            for (fp, (a, is_firing)) in &g.alerts {
                if self.muted(a, now).is_some() {
                    continue;
                }
                if *is_firing {
                    firing.push((*fp, a.clone()));
                } else if g.notified.contains(fp) {
                    resolved.push(a.clone());
                }
            }
            let node = &self.nodes[key.0];
            let firing_set: BTreeSet<u64> = firing.iter().map(|(fp, _)| *fp).collect();
            let changed = firing_set.iter().any(|fp| !g.notified.contains(fp)) || !resolved.is_empty();
            let repeat = !firing.is_empty()
                && g.last_sent.is_none_or(|t| now.saturating_since(t) >= node.repeat_interval);
            let (receiver, path, interval) = (node.receiver.clone(), node.path.clone(), node.group_interval);
            let Some(g) = self.groups.get_mut(&key) else { continue };
            if changed || repeat {
                out.push(Notification {
                    receiver,
                    group_key: format!("{path}:{}", g.labels),
                    group_labels: g.labels.clone(),
                    firing: firing.into_iter().map(|(_, a)| a).collect(),
                    resolved,
                    at: now,
                    node: key.0,
                    previous: std::mem::replace(&mut g.notified, firing_set),
                    previous_sent: g.last_sent.replace(now),
                });
            } else {
                g.notified.retain(|fp| firing_set.contains(fp));
            }
            g.alerts.retain(|_, (_, is_firing)| *is_firing);
            g.next_flush = now + interval;
            if g.alerts.is_empty() {
                self.groups.remove(&key);
            }
        }
        out
    }

    /// Undoes a notification that could not be delivered, so the group's next
    /// flush sends it again (with whatever changed since).
    pub fn handle_failed(&mut self, n: &Notification) {
        let key = (n.node, n.group_labels.clone());
        let interval = self.nodes.get(n.node).map_or(Duration::from_secs(300), |node| node.group_interval);
        let g = self.groups.entry(key).or_insert_with(|| Group {
            labels: n.group_labels.clone(),
            alerts: BTreeMap::new(),
            next_flush: n.at + interval,
            notified: BTreeSet::new(),
            last_sent: None,
        });
        g.notified.clone_from(&n.previous);
        g.last_sent = n.previous_sent;
        for a in &n.resolved {
            g.alerts.entry(a.fingerprint()).or_insert_with(|| (a.clone(), false));
        }
    }

    fn match_node(&self, n: usize, labels: &Labels, out: &mut Vec<usize>) {
        let mut matched = false;
        for &c in &self.nodes[n].children {
            if matches_all(&self.nodes[c].matchers, labels) {
                matched = true;
                self.match_node(c, labels, out);
                if !self.nodes[c].continue_matching {
                    break;
                }
            }
        }
        if !matched {
            out.push(n);
        }
    }
}

fn flatten(route: Route, parent: &Node, path: String, nodes: &mut Vec<Node>) -> Result<usize, Error> {
    let pick = |own: Option<Duration>, inherited: Duration, what: &str| -> Result<Duration, Error> {
        let d = own.unwrap_or(inherited);
        if what != "group_wait" && d.is_zero() {
            return Err(Error::route(&path, format!("{what} must be longer than zero")));
        }
        Ok(d)
    };
    let group_by = route.group_by.unwrap_or_else(|| parent.group_by.clone());
    if let GroupBy::Labels(names) = &group_by {
        for l in names {
            check_label_name(&path, l)?;
        }
    }
    for m in &route.matchers {
        check_label_name(&path, &m.name)?;
    }
    let node = Node {
        receiver: route.receiver.filter(|r| !r.is_empty()).unwrap_or_else(|| parent.receiver.clone()),
        matchers: route.matchers,
        group_by,
        group_wait: pick(route.group_wait, parent.group_wait, "group_wait")?,
        group_interval: pick(route.group_interval, parent.group_interval, "group_interval")?,
        repeat_interval: pick(route.repeat_interval, parent.repeat_interval, "repeat_interval")?,
        continue_matching: route.continue_matching,
        children: Vec::new(),
        path,
    };
    let index = nodes.len();
    nodes.push(node.clone());
    for (i, child) in route.routes.into_iter().enumerate() {
        let c = flatten(child, &node, format!("{}.routes[{i}]", node.path), nodes)?;
        nodes[index].children.push(c);
    }
    Ok(index)
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are expected here
mod tests {
    use super::*;
    use crate::rule::AlertState;

    fn alert(labels: &[(&str, &str)]) -> Alert {
        let labels: Labels = labels.iter().copied().collect();
        let severity = match labels.get("severity") {
            Some("critical") => Severity::Critical,
            _ => Severity::Warning,
        };
        Alert {
            labels,
            annotations: BTreeMap::new(),
            severity,
            state: AlertState::Firing,
            value: 1.0,
            active_since: Timestamp::EPOCH,
            fired_at: Some(Timestamp::EPOCH),
            resolved_at: None,
        }
    }

    fn at(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    fn names(n: &Notification) -> (Vec<&str>, Vec<&str>) {
        (
            n.firing.iter().map(|a| a.labels.get("process").unwrap_or("")).collect(),
            n.resolved.iter().map(|a| a.labels.get("process").unwrap_or("")).collect(),
        )
    }

    #[test]
    fn tree_matching_with_continue_and_inheritance() {
        let root = Route::to("default")
            .group_by(&["alertname"])
            .route(Route::to("pager").matcher(Matcher::eq("severity", "critical")).continue_matching())
            .route(
                Route::inherit()
                    .matcher(Matcher::eq("team", "game"))
                    .route(Route::to("game-chat").matcher(Matcher::eq("severity", "warning"))),
            );
        let r = Router::new(root, vec![]).unwrap();
        let labels = |l: &[(&str, &str)]| l.iter().copied().collect::<Labels>();
        assert_eq!(r.routes_for(&labels(&[("severity", "info")])), ["route"]);
        assert_eq!(
            r.routes_for(&labels(&[("severity", "critical"), ("team", "game")])),
            ["route.routes[0]", "route.routes[1]"]
        );
        assert_eq!(
            r.routes_for(&labels(&[("severity", "warning"), ("team", "game")])),
            ["route.routes[1].routes[0]"]
        );
        assert_eq!(r.nodes[2].receiver, "default", "inherited");
        assert_eq!(r.nodes[2].group_by, GroupBy::Labels(vec!["alertname".into()]));
        assert_eq!(r.receivers().into_iter().collect::<Vec<_>>(), ["default", "game-chat", "pager"]);
    }

    #[test]
    fn bad_trees() {
        for (root, why) in [
            (Route::inherit(), "needs a receiver"),
            (Route::to("r").matcher(Matcher::eq("a", "b")), "no matchers"),
            (
                Route::to("r").route(Route::inherit().group_interval(Duration::ZERO)),
                "route.routes[0]: group_interval",
            ),
            (Route::to("r").group_by(&["bad-label"]), "invalid label name"),
        ] {
            let e = Router::new(root, vec![]).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn group_wait_interval_repeat_and_resolution() {
        let root = Route::to("ops")
            .group_by(&["alertname"])
            .group_wait(Duration::from_secs(30))
            .group_interval(Duration::from_secs(60))
            .repeat_interval(Duration::from_secs(600));
        let mut r = Router::new(root, vec![]).unwrap();
        let a = alert(&[("alertname", "Down"), ("process", "a")]);
        let b = alert(&[("alertname", "Down"), ("process", "b")]);
        r.handle_alert(at(0), &a, true);
        r.handle_alert(at(10), &b, true);
        assert!(r.poll(at(29)).is_empty(), "group_wait");
        assert_eq!(r.poll_timeout(), Some(at(30)));
        let n = r.poll(at(30));
        assert_eq!(n.len(), 1);
        assert_eq!(names(&n[0]), (vec!["a", "b"], vec![]));
        assert_eq!(n[0].group_key, r#"route:{alertname="Down"}"#);
        // Nothing changed: no notification until repeat_interval.
        assert!(r.poll(at(90)).is_empty());
        r.handle_alert(at(100), &a, false);
        assert!(r.poll(at(100)).is_empty(), "waits for the group interval");
        let n = r.poll(at(150));
        assert_eq!(names(&n[0]), (vec!["b"], vec!["a"]));
        assert!(r.poll(at(210)).is_empty(), "a resolved alert is sent once");
        let n = r.poll(at(750));
        assert_eq!(names(&n[0]), (vec!["b"], vec![]), "repeat_interval after the last send at 150");
        r.handle_alert(at(760), &b, false);
        let n = r.poll(at(810));
        assert_eq!(names(&n[0]), (vec![], vec!["b"]));
        assert_eq!(r.poll_timeout(), None, "an empty group is gone");
    }

    #[test]
    fn a_resolved_alert_never_sent_as_firing_is_dropped() {
        let mut r = Router::new(Route::to("ops"), vec![]).unwrap();
        let a = alert(&[("alertname", "Blip"), ("process", "a")]);
        r.handle_alert(at(0), &a, true);
        r.handle_alert(at(5), &a, false);
        assert!(r.poll(at(30)).is_empty());
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn critical_inhibits_its_warnings() {
        let inhibit =
            vec![InhibitRule::severity(Severity::Critical, Severity::Warning, &["alertname", "process"])];
        let mut r = Router::new(Route::to("ops").group_by_all().group_wait(Duration::ZERO), inhibit).unwrap();
        let warn_a = alert(&[("alertname", "Mem"), ("process", "a"), ("severity", "warning")]);
        let crit_a = alert(&[("alertname", "Mem"), ("process", "a"), ("severity", "critical")]);
        let warn_b = alert(&[("alertname", "Mem"), ("process", "b"), ("severity", "warning")]);
        for x in [&warn_a, &crit_a, &warn_b] {
            r.handle_alert(at(0), x, true);
        }
        assert_eq!(r.muted(&warn_a, at(0)), Some(Muted::Inhibited(crit_a.fingerprint())));
        assert_eq!(r.muted(&warn_b, at(0)), None, "other process");
        assert_eq!(r.muted(&crit_a, at(0)), None);
        let sent: Vec<String> =
            r.poll(at(0)).iter().flat_map(|n| n.firing.iter().map(|a| a.labels.to_string())).collect();
        assert_eq!(sent.len(), 2);
        assert!(sent.iter().all(|s| !(s.contains("\"a\"") && s.contains("warning"))), "{sent:?}");
        // The critical one resolves: the warning is no longer inhibited and is sent.
        r.handle_alert(at(10), &crit_a, false);
        let later = r.poll(at(300));
        assert!(later.iter().any(|n| n.firing.contains(&warn_a)), "{later:?}");
    }

    #[test]
    fn silences_mute_until_they_expire() {
        let mut r = Router::new(
            Route::to("ops").group_wait(Duration::ZERO).group_interval(Duration::from_secs(10)),
            vec![],
        )
        .unwrap();
        let a = alert(&[("alertname", "Down"), ("process", "a")]);
        assert!(r.add_silence(vec![Matcher::eq("team", "")], at(0), at(10), "x", "").is_err(), "matches all");
        assert!(
            r.add_silence(vec![Matcher::eq("process", "a")], at(10), at(10), "x", "").is_err(),
            "empty span"
        );
        let id =
            r.add_silence(vec![Matcher::eq("process", "a")], at(0), at(100), "ann", "deploying").unwrap();
        r.handle_alert(at(0), &a, true);
        assert_eq!(r.muted(&a, at(0)), Some(Muted::Silenced(id)));
        assert!(r.poll(at(0)).is_empty());
        assert!(r.poll(at(10)).is_empty());
        r.expire_silence(id, at(15)).unwrap();
        assert!(matches!(r.expire_silence(99, at(15)).unwrap_err().kind(), ErrorKind::NoSuchSilence(99)));
        let n = r.poll(at(20));
        assert_eq!(names(&n[0]), (vec!["a"], vec![]));
        assert_eq!(r.silences().count(), 0, "expired silences are pruned");
    }

    #[test]
    fn failed_notifications_are_sent_again() {
        let mut r = Router::new(
            Route::to("ops").group_wait(Duration::ZERO).group_interval(Duration::from_secs(10)),
            vec![],
        )
        .unwrap();
        let a = alert(&[("alertname", "Down"), ("process", "a")]);
        r.handle_alert(at(0), &a, true);
        let n = r.poll(at(0));
        r.handle_failed(&n[0]);
        let again = r.poll(at(10));
        assert_eq!(names(&again[0]), (vec!["a"], vec![]));
        r.handle_alert(at(12), &a, false);
        let resolved = r.poll(at(20));
        assert_eq!(names(&resolved[0]), (vec![], vec!["a"]));
        r.handle_failed(&resolved[0]);
        let retry = r.poll(at(30));
        assert_eq!(names(&retry[0]), (vec![], vec!["a"]), "the resolution is retried");
        assert!(r.poll(at(40)).is_empty());
    }
}
