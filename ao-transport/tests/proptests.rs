//! Properties of the wire types and the retry schedule, each checked against an
//! independent oracle written from the spec (ANS-104, base64url), not from the code.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use ao_transport::retry::{Backoff, GiveUp, Jitter, ManualClock, RetryError, RetryPolicy, SplitMix64, retry};
use ao_transport::{
    Address, Message, MessageId, ModuleId, ProcessId, SpawnRequest, Tag, TransportError, TransportErrorKind,
    ValidationError, ValidationErrorKind, validate_tags,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// Ids
// ---------------------------------------------------------------------------------------------

const URL_ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The acceptance oracle: 43 base64url characters, the last of which carries no
/// bits past 32 bytes (43 * 6 = 258 bits, so its 2 low bits must be zero).
fn is_valid_id(s: &str) -> bool {
    let sextets: Option<Vec<usize>> = s.chars().map(|c| URL_ALPHABET.find(c)).collect();
    sextets.is_some_and(|v| v.len() == 43 && v[42] % 4 == 0)
}

/// Which error a refused id reports: the first non-base64url character (by byte
/// index), else a wrong length, else the non-canonical last character.
fn expected_id_error(s: &str) -> Option<ValidationErrorKind> {
    if let Some((index, ch)) = s.char_indices().find(|&(_, c)| !URL_ALPHABET.contains(c)) {
        return Some(ValidationErrorKind::IdCharacter { ch, index });
    }
    if s.len() != 43 {
        return Some(ValidationErrorKind::IdLength { found: s.len() });
    }
    let last = s.chars().last()?;
    (URL_ALPHABET.find(last)? % 4 != 0).then_some(ValidationErrorKind::IdCharacter { ch: last, index: 42 })
}

/// Strings near and far from valid ids.
fn id_like() -> impl Strategy<Value = String> {
    prop_oneof![
        // Valid with probability 1/4 (the last character).
        "[A-Za-z0-9_-]{43}",
        // A canonical id with one character replaced by anything, multi-byte included.
        (any::<[u8; 32]>(), any::<Index>(), any::<char>()).prop_map(|(bytes, at, ch)| {
            let mut chars: Vec<char> = ProcessId::from_bytes(bytes).as_str().chars().collect();
            chars[at.index(43)] = ch;
            chars.into_iter().collect()
        }),
        "[A-Za-z0-9_+/=-]{40,46}",
        any::<String>(),
        any::<[u8; 32]>().prop_map(|b| ProcessId::from_bytes(b).to_string()),
    ]
}

/// Every way to parse an id of type `T` agrees with the oracles; errors name `what`.
fn check_id_type<T>(s: &str, what: &str) -> Result<(), TestCaseError>
where
    T: TryFrom<String, Error = ValidationError>
        + for<'a> TryFrom<&'a str, Error = ValidationError>
        + FromStr<Err = ValidationError>
        + serde::de::DeserializeOwned
        + serde::Serialize
        + fmt::Display
        + fmt::Debug
        + AsRef<str>
        + PartialEq,
{
    let parsed = T::try_from(s.to_owned());
    prop_assert_eq!(parsed.is_ok(), is_valid_id(s), "{} {:?}", what, s);
    prop_assert_eq!(&T::from_str(s), &parsed);
    prop_assert_eq!(&T::try_from(s), &parsed);
    let from_json = serde_json::from_value::<T>(json!(s));
    prop_assert_eq!(from_json.is_ok(), parsed.is_ok());
    match parsed {
        Ok(id) => {
            prop_assert_eq!(id.as_ref(), s);
            prop_assert_eq!(id.to_string(), s);
            prop_assert_eq!(serde_json::to_value(from_json.unwrap()).unwrap(), json!(s));
        }
        Err(e) => {
            prop_assert_eq!(e.what(), what);
            prop_assert!(e.to_string().starts_with(&format!("invalid {what}: ")), "{}", e);
            prop_assert_eq!(Some(e.kind().clone()), expected_id_error(s));
            let json_err = from_json.unwrap_err().to_string();
            prop_assert!(json_err.contains(&format!("invalid {what}: ")), "{}", json_err);
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn any_32_bytes_encode_to_an_id_that_parses_back(bytes in any::<[u8; 32]>()) {
        let id = MessageId::from_bytes(bytes);
        prop_assert_eq!(id.as_str().len(), 43);
        prop_assert!(is_valid_id(id.as_str()));
        prop_assert_eq!(&MessageId::new(id.to_string()).unwrap(), &id);
        prop_assert_eq!(&id.as_str().parse::<ProcessId>().unwrap(), &ProcessId::from_bytes(bytes));
        prop_assert_eq!(ModuleId::from_bytes(bytes).to_string(), id.to_string());
        prop_assert_eq!(Address::from_bytes(bytes).to_string(), id.to_string());
        // Distinct bytes, distinct ids: flipping any bit changes the text.
        let mut other = bytes;
        other[usize::from(bytes[0]) % 32] ^= 1;
        prop_assert_ne!(MessageId::from_bytes(other), id);
    }

    #[test]
    fn id_parsing_agrees_with_the_oracle_for_every_id_type(s in id_like()) {
        check_id_type::<ProcessId>(&s, "process id")?;
        check_id_type::<MessageId>(&s, "message id")?;
        check_id_type::<ModuleId>(&s, "module id")?;
        check_id_type::<Address>(&s, "address")?;
    }
}

// ---------------------------------------------------------------------------------------------
// Tags and messages
// ---------------------------------------------------------------------------------------------

/// The ANS-104 oracle: the first rule a tag list and anchor break, in the order
/// count, then each tag (empty name, long name, long value), then the anchor.
fn expected_build_error(tags: &[(String, String)], anchor: Option<&str>) -> Option<ValidationErrorKind> {
    if tags.len() > 128 {
        return Some(ValidationErrorKind::TooManyTags { count: tags.len(), limit: 128 });
    }
    for (index, (name, value)) in tags.iter().enumerate() {
        if let Some(kind) = expected_tag_error(index, name, value) {
            return Some(kind);
        }
    }
    match anchor {
        Some(a) if a.len() > 32 => Some(ValidationErrorKind::AnchorTooLong { len: a.len() }),
        _ => None,
    }
}

fn expected_tag_error(index: usize, name: &str, value: &str) -> Option<ValidationErrorKind> {
    if name.is_empty() {
        Some(ValidationErrorKind::EmptyTagName { index })
    } else if name.len() > 1024 {
        Some(ValidationErrorKind::TagNameTooLong { index, len: name.len(), limit: 1024 })
    } else if value.len() > 3072 {
        Some(ValidationErrorKind::TagValueTooLong {
            index,
            name: name.to_owned(),
            len: value.len(),
            limit: 3072,
        })
    } else {
        None
    }
}

/// Tag lists of a few tags or of about 128, mostly small, with up to three tags
/// set to lengths at the ANS-104 limits. ASCII only, so bytes = characters.
fn tag_lists() -> impl Strategy<Value = Vec<(String, String)>> {
    let count = prop_oneof![0usize..4, 125usize..=131];
    let name_len = prop_oneof![1 => Just(0usize), 3 => 1usize..4, 4 => 1020usize..1030];
    let value_len = prop_oneof![0usize..4, 3068usize..3078];
    let edits = prop::collection::vec((any::<Index>(), name_len, value_len), 0..=3);
    (count, edits).prop_map(|(count, edits)| {
        let mut tags: Vec<(String, String)> = (0..count).map(|i| (format!("T{i}"), "v".to_owned())).collect();
        if count > 0 {
            for (at, name, value) in edits {
                tags[at.index(count)] = ("n".repeat(name), "v".repeat(value));
            }
        }
        tags
    })
}

fn anchors() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![0usize..3, 30usize..36].prop_map(|n| "a".repeat(n)))
}

fn build(tags: &[(String, String)], anchor: Option<&str>, data: &[u8]) -> Result<Message, ValidationError> {
    let mut b = tags
        .iter()
        .fold(Message::builder(ProcessId::from_bytes([1; 32])), |b, (n, v)| b.tag(n.clone(), v.clone()))
        .data(data);
    if let Some(a) = anchor {
        b = b.anchor(a);
    }
    b.build()
}

/// Message data: UTF-8 text, arbitrary bytes, and bytes that are surely not UTF-8.
fn data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<String>().prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(any::<u8>(), 0..32).prop_map(|mut v| {
            v.push(0xff);
            v
        }),
    ]
}

proptest! {
    #[test]
    fn building_a_message_agrees_with_ans104_limits(tags in tag_lists(), anchor in anchors()) {
        let expected = expected_build_error(&tags, anchor.as_deref());
        match build(&tags, anchor.as_deref(), b"") {
            Ok(msg) => {
                prop_assert_eq!(None, expected);
                let got: Vec<(&str, &str)> = msg.tags().iter().map(|t| (t.name(), t.value())).collect();
                let want: Vec<(&str, &str)> = tags.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                prop_assert_eq!(got, want);
                prop_assert_eq!(msg.anchor(), anchor.as_deref());
                prop_assert!(validate_tags(msg.tags()).is_ok());
                let spawn = SpawnRequest::new(ModuleId::from_bytes([2; 32]), Address::from_bytes([3; 32]), msg.tags().to_vec(), "");
                prop_assert!(spawn.is_ok());
            }
            Err(e) => {
                let what = match e.kind() {
                    ValidationErrorKind::TooManyTags { .. } => "tags",
                    ValidationErrorKind::AnchorTooLong { .. } => "anchor",
                    _ => "tag",
                };
                prop_assert_eq!(e.what(), what);
                prop_assert_eq!(Some(e.kind().clone()), expected);
            }
        }
        // A tag alone is valid iff it is valid at any position in a list.
        for (name, value) in &tags {
            let alone = Tag::new(name.clone(), value.clone()).map_err(|e| e.kind().clone());
            prop_assert_eq!(alone.err(), expected_tag_error(0, name, value));
        }
    }

    #[test]
    fn json_decoding_enforces_the_same_limits_as_the_builder(
        tags in tag_lists(),
        anchor in anchors(),
    ) {
        // Hand-written JSON skips the builder, so only decoding can refuse it.
        let raw_tags: Vec<_> = tags.iter().map(|(n, v)| json!({ "name": n, "value": v })).collect();
        let target = ProcessId::from_bytes([1; 32]);
        let json = json!({ "target": target, "tags": raw_tags, "data": "", "anchor": anchor });
        let decoded = serde_json::from_value::<Message>(json);
        let built = build(&tags, anchor.as_deref(), b"");
        prop_assert_eq!(decoded.is_ok(), expected_build_error(&tags, anchor.as_deref()).is_none());
        match (decoded, built) {
            (Ok(decoded), Ok(built)) => prop_assert_eq!(decoded, built),
            (Err(decoded), Err(built)) => {
                prop_assert!(decoded.to_string().contains(&built.to_string()), "{} vs {}", decoded, built);
            }
            (decoded, built) => prop_assert!(false, "decoded {:?}, built {:?}", decoded, built),
        }

        let spawn = json!({
            "module": ModuleId::from_bytes([2; 32]),
            "scheduler": Address::from_bytes([3; 32]),
            "tags": raw_tags,
            "data": "",
        });
        prop_assert_eq!(serde_json::from_value::<SpawnRequest>(spawn).is_ok(), expected_build_error(&tags, None).is_none());
    }

    #[test]
    fn a_built_message_round_trips_through_json(
        data in data(),
        tags in prop::collection::vec(("[A-Za-z-]{1,12}", any::<String>()), 0..6),
        anchor in prop::option::of("[a-z0-9]{0,32}"),
    ) {
        let msg = build(&tags, anchor.as_deref(), &data).unwrap();
        let text = serde_json::to_string(&msg).unwrap();
        let back: Message = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &msg);
        prop_assert_eq!(back.data(), &data[..]);
        // Text data stays readable; anything else goes as base64 and still comes back.
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(value["data"].is_string(), std::str::from_utf8(&data).is_ok(), "{}", text);
    }
}

// ---------------------------------------------------------------------------------------------
// Retry
// ---------------------------------------------------------------------------------------------

fn jitters() -> impl Strategy<Value = Jitter> {
    prop::sample::select(vec![Jitter::None, Jitter::Full, Jitter::Equal])
}

fn policies() -> impl Strategy<Value = RetryPolicy> {
    (
        0u64..500,
        1u64..5_000,
        prop_oneof![Just(1.0), 1.0f64..3.0],
        0u32..12,
        prop::option::of(100u64..20_000),
        jitters(),
    )
        .prop_map(|(initial, max, multiplier, max_attempts, deadline, jitter)| RetryPolicy {
            initial_delay: Duration::from_millis(initial),
            max_delay: Duration::from_millis(max),
            multiplier,
            max_attempts,
            deadline: deadline.map(Duration::from_millis),
            jitter,
        })
}

/// One scripted attempt: `None` succeeds, else an error class and an optional Retry-After (ms).
type Step = Option<(TransportErrorKind, Option<u64>)>;

const RETRYABLE: [TransportErrorKind; 3] =
    [TransportErrorKind::Timeout, TransportErrorKind::Unavailable, TransportErrorKind::RateLimited];
const FINAL: [TransportErrorKind; 5] = [
    TransportErrorKind::Rejected,
    TransportErrorKind::NotFound,
    TransportErrorKind::Unauthorized,
    TransportErrorKind::Evaluation,
    TransportErrorKind::Protocol,
];

fn retryable_error() -> impl Strategy<Value = (TransportErrorKind, Option<u64>)> {
    (prop::sample::select(RETRYABLE.to_vec()), prop::option::weighted(0.2, 1u64..3_000))
}

fn final_error() -> impl Strategy<Value = (TransportErrorKind, Option<u64>)> {
    (prop::sample::select(FINAL.to_vec()), prop::option::weighted(0.2, 1u64..3_000))
}

fn steps() -> impl Strategy<Value = Step> {
    prop::option::weighted(0.8, prop_oneof![3 => retryable_error(), 1 => final_error()])
}

struct Run {
    result: Result<u32, RetryError>,
    sleeps: Vec<Duration>,
    calls: u32,
}

/// Runs `retry` on a virtual clock; attempt `k` plays `script[k - 1]`, and succeeds past its end.
fn run(policy: &RetryPolicy, seed: u64, script: &[Step]) -> Run {
    let clock = ManualClock::new();
    let mut rng = SplitMix64::new(seed);
    let mut calls = 0;
    let result = pollster::block_on(retry(policy, &clock, &mut rng, |attempt| {
        calls += 1;
        let step = script.get(attempt as usize - 1).copied().flatten();
        async move {
            match step {
                None => Ok(attempt),
                Some((kind, after)) => {
                    let e = TransportError::new(kind, "scripted");
                    Err(match after {
                        Some(ms) => e.with_retry_after(Duration::from_millis(ms)),
                        None => e,
                    })
                }
            }
        }
    }));
    Run { result, sleeps: clock.sleeps(), calls }
}

/// The un-jittered delay before attempt `k + 2`: `min(initial * multiplier^k, max_delay)`.
fn base_delay(policy: &RetryPolicy, k: usize) -> Duration {
    let grown = policy.initial_delay.as_secs_f64() * policy.multiplier.powi(k as i32);
    Duration::from_secs_f64(grown).min(policy.max_delay)
}

/// Float rounding between the closed form and the schedule's step-by-step growth.
const ROUNDING: Duration = Duration::from_micros(1);

proptest! {
    #[test]
    fn retry_obeys_attempts_deadline_classes_and_jitter(
        policy in policies(),
        seed in any::<u64>(),
        script in prop::collection::vec(steps(), 0..15),
    ) {
        let Run { result, sleeps, calls } = run(&policy, seed, &script);
        let max_calls = policy.max_attempts.max(1);
        prop_assert!((1..=max_calls).contains(&calls), "{} calls, at most {}", calls, max_calls);
        prop_assert_eq!(sleeps.len() as u32, calls - 1, "one sleep between two calls");
        if let Some(deadline) = policy.deadline {
            prop_assert!(sleeps.iter().sum::<Duration>() < deadline, "slept {:?} of {:?}", sleeps, deadline);
        }
        for (k, &d) in sleeps.iter().enumerate() {
            let asked = script[k].and_then(|(_, after)| after).map_or(Duration::ZERO, Duration::from_millis);
            prop_assert!(d <= policy.max_delay.max(asked), "delay {:?} over the cap", d);
            // The jitter band around the base delay; a Retry-After only raises it.
            let base = base_delay(&policy, k);
            let low = match policy.jitter {
                Jitter::None => base,
                Jitter::Full => Duration::ZERO,
                Jitter::Equal => base / 2,
            };
            let (low, high) = (low.max(asked), base.max(asked));
            prop_assert!(
                d + ROUNDING >= low && d <= high + ROUNDING,
                "delay {} is {:?}, expected {:?}..={:?}", k, d, low, high
            );
            if policy.jitter == Jitter::None {
                prop_assert!(d.abs_diff(high) <= ROUNDING, "delay {} is {:?}, expected {:?}", k, d, high);
            }
        }
        // Every attempt but the last failed retryably.
        for step in &script[..calls as usize - 1] {
            prop_assert!(step.is_some_and(|(kind, _)| kind.is_retryable()), "retried after {:?}", step);
        }
        match &result {
            Ok(attempt) => {
                prop_assert_eq!(*attempt, calls);
                prop_assert!(script.get(calls as usize - 1).copied().flatten().is_none());
            }
            Err(e) => {
                prop_assert_eq!(e.attempts, calls);
                let (kind, _) = script[calls as usize - 1].expect("the last call failed");
                prop_assert_eq!(e.error.kind(), kind);
                match e.gave_up {
                    GiveUp::Final => prop_assert!(!kind.is_retryable()),
                    GiveUp::Attempts => {
                        prop_assert!(kind.is_retryable());
                        prop_assert_eq!(calls, max_calls);
                    }
                    GiveUp::Deadline => {
                        prop_assert!(kind.is_retryable());
                        prop_assert!(policy.deadline.is_some() && calls < max_calls);
                    }
                }
            }
        }
        // Same seed, same run.
        let again = run(&policy, seed, &script);
        prop_assert_eq!(again.sleeps, sleeps);
        prop_assert_eq!(again.calls, calls);
        prop_assert_eq!(again.result.map_err(|e| (e.attempts, e.gave_up)), result.map_err(|e| (e.attempts, e.gave_up)));
    }

    #[test]
    fn success_on_attempt_k_returns_ok_after_k_calls(
        policy in policies(),
        seed in any::<u64>(),
        failures in prop::collection::vec(retryable_error(), 0..10),
        spare in 0u32..3,
    ) {
        let k = failures.len() as u32 + 1;
        let policy = RetryPolicy { max_attempts: k + spare, deadline: None, ..policy };
        let script: Vec<Step> = failures.into_iter().map(Some).collect();
        let Run { result, sleeps, calls } = run(&policy, seed, &script);
        prop_assert_eq!(result.unwrap(), k);
        prop_assert_eq!(calls, k);
        prop_assert_eq!(sleeps.len() as u32, k - 1);
    }

    #[test]
    fn a_final_error_is_never_retried(
        policy in policies(),
        seed in any::<u64>(),
        failures in prop::collection::vec(retryable_error(), 0..8),
        last in final_error(),
        after in prop::collection::vec(steps(), 0..4),
    ) {
        let n = failures.len() as u32 + 1;
        let policy = RetryPolicy { max_attempts: n + 4, deadline: None, ..policy };
        let script: Vec<Step> = failures.into_iter().chain([last]).map(Some).chain(after).collect();
        let Run { result, sleeps, calls } = run(&policy, seed, &script);
        let err = result.unwrap_err();
        prop_assert_eq!((err.gave_up, err.attempts, err.error.kind()), (GiveUp::Final, n, last.0));
        prop_assert_eq!(calls, n, "no call after a final error");
        prop_assert_eq!(sleeps.len() as u32, n - 1);
    }

    #[test]
    fn backoff_is_total_and_never_schedules_past_the_deadline(
        policy in policies(),
        extreme in prop::sample::select(vec![None, Some(f64::INFINITY), Some(1e300), Some(f64::NAN)]),
        uncapped in any::<bool>(),
        seed in any::<u64>(),
        waits in prop::collection::vec(
            (0u64..2_000, prop::option::weighted(0.1, prop_oneof![1u64..5_000, Just(u64::MAX)])),
            0..20,
        ),
    ) {
        // Policies at the edges of their documented ranges: no cap, unbounded growth.
        let policy = RetryPolicy {
            multiplier: extreme.unwrap_or(policy.multiplier),
            max_delay: if uncapped { Duration::MAX } else { policy.max_delay },
            ..policy
        };
        let mut backoff = Backoff::new(policy.clone(), Duration::ZERO);
        let mut rng = SplitMix64::new(seed);
        let mut now = Duration::ZERO;
        for (wait, at_least) in waits {
            let at_least = at_least.map(|ms| if ms == u64::MAX { Duration::MAX } else { Duration::from_millis(ms) });
            match backoff.next_delay(now, at_least, &mut rng) {
                Ok(d) => {
                    prop_assert!(d >= at_least.unwrap_or_default());
                    if let Some(deadline) = policy.deadline {
                        prop_assert!(now + d < deadline, "{:?} + {:?} reaches {:?}", now, d, deadline);
                    }
                    now = now.saturating_add(d).saturating_add(Duration::from_millis(wait));
                }
                Err(GiveUp::Attempts) => {
                    prop_assert_eq!(backoff.attempts(), policy.max_attempts.max(1));
                    break;
                }
                Err(GiveUp::Deadline) => {
                    prop_assert!(policy.deadline.is_some());
                    break;
                }
                Err(GiveUp::Final) => prop_assert!(false, "the schedule never says final"),
            }
        }
    }
}

#[test]
fn a_final_error_says_so() {
    let Run { result, sleeps, calls } =
        run(&RetryPolicy::default(), 1, &[Some((TransportErrorKind::Rejected, None))]);
    let err = result.unwrap_err();
    assert_eq!((calls, sleeps.len(), err.gave_up), (1, 0, GiveUp::Final));
    assert_eq!(err.to_string(), "rejected: scripted (after 1 attempt, error is final)");
}

#[test]
fn retry_after_raises_the_wait() {
    let policy = RetryPolicy { jitter: Jitter::None, ..RetryPolicy::default() };
    let Run { result, sleeps, .. } =
        run(&policy, 1, &[Some((TransportErrorKind::RateLimited, Some(2_500))), None]);
    assert_eq!(result.unwrap(), 2);
    assert_eq!(sleeps, [Duration::from_millis(2_500)]);
}
