//! Isolation between environments: no environment references another's
//! process ids or shares its authority or wallet, unless it says it may.

use std::collections::BTreeMap;

use crate::error::Diagnostic;
use crate::model::Environment;
use crate::path::FieldPath;
use crate::state::State;
use crate::value::Value;

fn allowed(list: &[String], other: &str) -> bool {
    list.iter().any(|n| n == other)
}

/// Every string in `v` that is a well-formed process id, with its path.
fn ids_in(v: &Value, path: &FieldPath, out: &mut Vec<(FieldPath, String)>) {
    match v {
        Value::String(s) if ao_transport::ProcessId::new(s.as_str()).is_ok() => {
            out.push((path.clone(), s.clone()));
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                ids_in(item, &path.index(i), out);
            }
        }
        Value::Table(t) => {
            for (k, item) in t {
                ids_in(item, &path.key(k), out);
            }
        }
        _ => {}
    }
}

pub(crate) fn check(envs: &[Environment], states: &BTreeMap<String, State>) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let authority = FieldPath::root().key("environment").key("authority");
    let wallet = FieldPath::root().key("environment").key("wallet");
    for (i, a) in envs.iter().enumerate() {
        // Names in allow lists must be environments.
        for (list, field) in [
            (&a.allow.share_authority_with, "share_authority_with"),
            (&a.allow.share_wallet_with, "share_wallet_with"),
            (&a.allow.reference_processes_of, "reference_processes_of"),
        ] {
            let p = FieldPath::root().key("environment").key("allow").key(field);
            for (j, n) in list.iter().enumerate() {
                if !envs.iter().any(|e| &e.name == n) {
                    let known = envs.iter().map(|e| e.name.as_str());
                    let mut d = Diagnostic::new(
                        a.origin(&p.index(j)).cloned(),
                        Some(p.index(j)),
                        format!("`{n}` is not an environment"),
                    );
                    if let Some(s) = crate::suggest::did_you_mean(n, known) {
                        d = d.help(format!("did you mean `{s}`?"));
                    }
                    diags.push(d);
                }
            }
        }
        for b in &envs[..i] {
            if let (Some(x), Some(y)) = (&a.authority, &b.authority)
                && x == y
                && !allowed(&a.allow.share_authority_with, &b.name)
                && !allowed(&b.allow.share_authority_with, &a.name)
            {
                diags.push(shared(a, b, &authority, "authority", "share_authority_with"));
            }
            if let (Some(x), Some(y)) = (&a.wallet, &b.wallet)
                && x == y
                && !allowed(&a.allow.share_wallet_with, &b.name)
                && !allowed(&b.allow.share_wallet_with, &a.name)
            {
                diags.push(shared(a, b, &wallet, "wallet", "share_wallet_with"));
            }
        }
        // Process ids a's config mentions, against every other environment's processes.
        let mut mentioned = Vec::new();
        for (pname, spec) in &a.processes {
            let p = FieldPath::root().key("processes").key(pname);
            for (k, id) in &spec.refs {
                mentioned.push((p.key("refs").key(k), id.to_string()));
            }
            for (k, v) in &spec.config {
                ids_in(v, &p.key("config").key(k), &mut mentioned);
            }
        }
        let own: Vec<&str> = states
            .get(&a.name)
            .map(|s| s.process_ids().map(ao_transport::ProcessId::as_str).collect())
            .unwrap_or_default();
        for b in envs.iter().filter(|b| b.name != a.name) {
            let Some(state) = states.get(&b.name) else { continue };
            for (path, id) in &mentioned {
                if state.process_ids().any(|p| p.as_str() == id)
                    && !allowed(&a.allow.reference_processes_of, &b.name)
                {
                    diags.push(
                        Diagnostic::new(
                            a.origin(path).cloned(),
                            Some(path.clone()),
                            format!("`{}` references process {id} of environment `{}`", a.name, b.name),
                        )
                        .help(format!(
                            "point it at `{}`'s own process, or allow it with `reference_processes_of = [\"{}\"]`",
                            a.name, b.name
                        )),
                    );
                }
            }
            if b.name > a.name {
                for id in state.process_ids() {
                    if own.contains(&id.as_str()) {
                        diags.push(Diagnostic::new(
                            None,
                            None,
                            format!(
                                "the state files of `{}` and `{}` both hold process {id}",
                                a.name, b.name
                            ),
                        ));
                    }
                }
            }
        }
    }
    diags
}

fn shared(a: &Environment, b: &Environment, path: &FieldPath, what: &str, allow: &str) -> Diagnostic {
    let mut d = Diagnostic::new(
        a.origin(path).cloned(),
        Some(path.clone()),
        format!("environments `{}` and `{}` share the same {what}", b.name, a.name),
    )
    .help(format!("give each environment its own {what}, or allow it with `{allow} = [\"{}\"]`", b.name));
    if let Some(o) = b.origin(path) {
        d = d.note(o.clone(), format!("`{}` sets it here", b.name));
    }
    d
}
