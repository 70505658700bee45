//! Properties: overlay merging is deterministic, later layers win field by
//! field and provenance points at the layer that set each value; written TOML
//! reads back; paths round-trip; drift remediation always converges on ao-local.

use std::collections::BTreeMap;

use ao_env::{
    Desired, FieldPath, MemoryCode, MemoryStateStore, Merged, Project, Provisioner, Release, Releases,
    SourceFile, Value, to_toml_document,
};
use ao_local::LocalAo;
use ao_transport::Message;
use proptest::prelude::*;

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", "d-e", "f g", "é", "x.y"]).prop_map(str::to_owned)
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::Integer),
        any::<bool>().prop_map(Value::Boolean),
        "[a-z\"\\\\\n\té ]{0,8}".prop_map(Value::String),
        prop::collection::vec(any::<i32>().prop_map(|n| Value::Integer(n.into())), 0..3)
            .prop_map(Value::Array),
    ]
}

fn table() -> impl Strategy<Value = BTreeMap<String, Value>> {
    let value = leaf().prop_recursive(3, 24, 4, |inner| {
        prop::collection::btree_map(key(), inner, 0..4).prop_map(Value::Table)
    });
    prop::collection::btree_map(key(), value, 0..5)
}

/// What one layer writes, flat: every leaf by its key path, and every table
/// it opens (a `[section]`, or any path with something below it).
#[derive(Default)]
struct Writes {
    leaves: BTreeMap<Vec<String>, Value>,
    tables: std::collections::BTreeSet<Vec<String>>,
}

fn flatten(t: &BTreeMap<String, Value>, path: &mut Vec<String>, w: &mut Writes) {
    for (k, v) in t {
        path.push(k.clone());
        match v {
            Value::Table(inner) => {
                w.tables.insert(path.clone());
                flatten(inner, path, w);
            }
            leaf => {
                w.leaves.insert(path.clone(), leaf.clone());
            }
        }
        path.pop();
    }
}

/// The oracle, written from the rule rather than from the implementation:
/// a leaf `p` written by layer `i` survives unless a later layer writes `p`
/// again (that one wins), writes a leaf at a prefix of `p` (the table holding
/// `p` is replaced) or opens a table at `p` (the leaf becomes a table). Its
/// history is every layer that wrote it since the last such replacement.
/// Returns, for every final leaf, its value and the layers in its history.
fn oracle(layers: &[BTreeMap<String, Value>]) -> BTreeMap<Vec<String>, (Value, Vec<usize>)> {
    let writes: Vec<Writes> = layers
        .iter()
        .map(|l| {
            let mut w = Writes::default();
            flatten(l, &mut Vec::new(), &mut w);
            w
        })
        .collect();
    let mut all: std::collections::BTreeSet<Vec<String>> = std::collections::BTreeSet::new();
    for w in &writes {
        all.extend(w.leaves.keys().cloned());
    }
    let mut out = BTreeMap::new();
    for p in all {
        let mut history: Vec<usize> = Vec::new();
        let mut alive = false;
        for (i, w) in writes.iter().enumerate() {
            let replaced = w.tables.contains(&p) || (1..p.len()).any(|n| w.leaves.contains_key(&p[..n]));
            if replaced {
                history.clear();
                alive = false;
            }
            if w.leaves.contains_key(&p) {
                history.push(i);
                alive = true;
            }
        }
        if alive {
            let last = *history.last().unwrap();
            out.insert(p.clone(), (writes[last].leaves[&p].clone(), history));
        }
    }
    out
}

/// The value layer `t` writes at `keys`, read straight from the generated tree.
fn expected_value(t: &BTreeMap<String, Value>, keys: &[String]) -> Value {
    let (first, rest) = keys.split_first().unwrap();
    rest.iter().fold(t[first].clone(), |v, k| match v {
        Value::Table(inner) => inner[k].clone(),
        other => other,
    })
}

fn field_path(keys: &[String]) -> FieldPath {
    keys.iter().fold(FieldPath::root(), |p, k| p.key(k))
}

fn sources(layers: &[BTreeMap<String, Value>]) -> Vec<SourceFile> {
    layers
        .iter()
        .enumerate()
        .map(|(i, t)| SourceFile::new(format!("layer{i}.toml"), to_toml_document(t), i))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn written_toml_reads_back(t in table()) {
        let text = to_toml_document(&t);
        let merged = Merged::from_sources(&[SourceFile::new("t.toml", text.clone(), 0)]).unwrap();
        prop_assert_eq!(merged.root(), &t, "{}", text);
    }

    #[test]
    fn merging_is_deterministic_later_layers_win_and_provenance_is_exact(
        layers in prop::collection::vec(table(), 1..5)
    ) {
        let src = sources(&layers);
        let merged = Merged::from_sources(&src).unwrap();
        prop_assert_eq!(&Merged::from_sources(&src).unwrap(), &merged, "deterministic");

        let expected = oracle(&layers);
        // The merged document holds exactly the oracle's leaves, with its values.
        let mut got = Writes::default();
        flatten(merged.root(), &mut Vec::new(), &mut got);
        let want: BTreeMap<Vec<String>, Value> = expected.iter().map(|(p, (v, _))| (p.clone(), v.clone())).collect();
        prop_assert_eq!(&got.leaves, &want, "field by field, later layers win");
        let leaves: Vec<FieldPath> = merged.leaves().map(|(p, _)| p.clone()).collect();
        prop_assert_eq!(leaves, expected.keys().map(|p| field_path(p)).collect::<Vec<_>>());
        for (keys, (value, who)) in &expected {
            let path = field_path(keys);
            let history = merged.history(&path);
            prop_assert_eq!(history.iter().map(|s| s.origin.layer).collect::<Vec<_>>(), who.clone(), "history of {}", path);
            for (s, i) in history.iter().zip(who) {
                prop_assert_eq!(&s.value, &expected_value(&layers[*i], keys), "layer {} wrote {}", i, path);
            }
            let last = *who.last().unwrap();
            let origin = merged.origin(&path).unwrap();
            prop_assert_eq!(origin.layer, last, "{} was set by layer {}", path, last);
            prop_assert_eq!(&*origin.file, format!("layer{last}.toml"));
            prop_assert_eq!(merged.get(&path), Some(value));
            // The line named is the one that writes this key with this value:
            // read alone, it is `key = value`.
            let line = src[last].text().lines().nth(origin.line as usize - 1).unwrap();
            let alone = Merged::from_sources(&[SourceFile::new("line", line, 0)]).unwrap();
            let mut one = BTreeMap::new();
            one.insert(keys.last().unwrap().clone(), value.clone());
            prop_assert_eq!(alone.root(), &one, "{}: {:?}", path, line);
        }
    }

    #[test]
    fn field_paths_round_trip(keys in prop::collection::vec("[a-z_\\-.\" é]{1,6}", 1..5)) {
        let path = keys.iter().fold(FieldPath::root(), |p, k| p.key(k));
        prop_assert_eq!(FieldPath::parse(&path.to_string()), Some(path));
    }
}

const MODULE: &str = "TQV426e5pgvLy8-tVGhLM4mviQ7HQroOMbC5mN3OHVk";
const SCHED: &str = "dCYq2BAm6lfcTUy-FryJc92xaKsji6B5GkyC1BMdKCE";
const CODE: &str = "Handlers.add('Join', 'Join', function(m) m.reply({ Data = 'joined' }) end)\nHandlers.add('Move', 'Move', function() end)\n";

#[derive(Debug, Clone)]
enum Tamper {
    AddHandler(u8),
    RemoveJoin,
    Configure(u8),
    Retire,
    HarmlessDryRun,
    /// An Eval that changes no handler and no config.
    QuietEval(u8),
    /// The release itself Eval'ed again: the code hash still matches.
    ReloadRelease,
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        any::<u8>().prop_map(Tamper::AddHandler),
        Just(Tamper::RemoveJoin),
        any::<u8>().prop_map(Tamper::Configure),
        Just(Tamper::Retire),
        Just(Tamper::HarmlessDryRun),
        any::<u8>().prop_map(Tamper::QuietEval),
        Just(Tamper::ReloadRelease),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn remediation_always_converges(tampers in prop::collection::vec(tamper(), 0..4), shards in 1u32..3) {
        let base = format!(
            "game = \"g\"\n[defaults]\nmodule = \"{MODULE}\"\nscheduler = \"{SCHED}\"\n[processes.world]\ntarget = \"t\"\nhandlers = [\"Join\", \"Move\"]\nshards = {shards}\n[processes.world.config]\nlevel = 1\n"
        );
        let project = Project::from_sources(
            SourceFile::new("b.toml", base, 0),
            vec![("dev".into(), SourceFile::new("dev.toml", "", 1))],
            None,
            ".".as_ref(),
        );
        let env = project.environment("dev").unwrap();
        let mut releases = Releases::default();
        releases.0.insert("t".into(), Release::of_code("t", CODE.as_bytes()));
        let mut code = MemoryCode::default();
        code.0.insert("t".into(), CODE.as_bytes().to_vec());
        let desired = Desired::new(&env, &releases).unwrap();
        let ao = LocalAo::new();
        let store = MemoryStateStore::default();
        let p = Provisioner::new(&ao, &code, &store);
        p.reconcile(&env, &desired, &[]).unwrap();

        let pid = ao.processes()[0].clone();
        let mut changed = false;
        for t in &tampers {
            match t {
                Tamper::AddHandler(n) => { ao.eval(&pid, &format!("Handlers.add('H{n}', 'H{n}', function() end)")).unwrap(); changed = true; }
                Tamper::RemoveJoin => { ao.eval(&pid, "Handlers.remove('Join')").unwrap(); changed = true; }
                Tamper::Configure(n) => {
                    let m = Message::builder(pid.clone()).tag("Action", "AoEnv-Configure").data(format!("{{\"level\":{}}}", u32::from(*n) + 2)).build().unwrap();
                    ao.call(m).unwrap();
                    changed = true;
                }
                Tamper::Retire => { ao.call(Message::builder(pid.clone()).tag("Action", "AoEnv-Retire").build().unwrap()).unwrap(); changed = true; }
                Tamper::QuietEval(n) => { ao.eval(&pid, &format!("Quiet = {n}")).unwrap(); changed = true; }
                Tamper::ReloadRelease => { ao.eval(&pid, CODE).unwrap(); changed = true; }
                Tamper::HarmlessDryRun => { ao.simulate(Message::builder(pid.clone()).tag("Action", "Join").build().unwrap()).unwrap(); }
            }
        }
        let (_, report) = p.drift(&desired).unwrap();
        prop_assert_eq!(report.is_clean(), !changed, "{}", report);
        p.reconcile(&env, &desired, &[]).unwrap();
        let (_, after) = p.drift(&desired).unwrap();
        prop_assert!(after.is_clean(), "{}", after);
        // Every live instance serves the game again.
        let state = ao_env::StateStore::load(&store, "dev").unwrap();
        prop_assert_eq!(state.instances.len(), shards as usize);
        for r in state.instances.values() {
            let (_, res) = ao.call(Message::builder(r.process.clone()).tag("Action", "Join").build().unwrap()).unwrap();
            prop_assert_eq!(res.messages[0].data_str(), Some("joined"));
        }
    }
}
