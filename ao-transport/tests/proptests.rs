//! Properties of the wire types and the retry schedule, against independent oracles.

use std::time::Duration;

use ao_transport::retry::{Backoff, GiveUp, Jitter, ManualClock, RetryPolicy, SplitMix64, retry};
use ao_transport::{
    Address, MAX_TAG_NAME_BYTES, MAX_TAG_VALUE_BYTES, MAX_TAGS, Message, MessageId, ProcessId,
    TransportError, TransportErrorKind, ValidationErrorKind,
};
use proptest::prelude::*;

const URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The oracle: 43 base64url characters whose last one carries no bits past 32 bytes.
fn is_valid_id(s: &str) -> bool {
    s.len() == 43
        && s.chars().all(|c| URL.contains(c))
        && s.chars().last().is_some_and(|c| URL.find(c).is_some_and(|i| i % 4 == 0))
}

fn id_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_-]{43}",
        "[A-Za-z0-9_+/=-]{40,46}",
        any::<String>(),
        any::<[u8; 32]>().prop_map(|b| ProcessId::from_bytes(b).to_string()),
    ]
}

proptest! {
    #[test]
    fn bytes_to_id_and_back(bytes in any::<[u8; 32]>()) {
        let id = MessageId::from_bytes(bytes);
        prop_assert_eq!(id.as_str().len(), 43);
        prop_assert_eq!(&MessageId::new(id.as_str()).unwrap(), &id);
        let address = Address::from_bytes(bytes);
        prop_assert_eq!(address.as_str(), id.as_str());
    }

    #[test]
    fn id_parsing_agrees_with_the_oracle(s in id_like()) {
        let parsed = ProcessId::new(s.clone());
        prop_assert_eq!(parsed.is_ok(), is_valid_id(&s), "{:?}", s);
        match parsed {
            Ok(id) => prop_assert_eq!(id.as_str(), s.as_str()),
            Err(e) => prop_assert!(e.to_string().starts_with("invalid process id: "), "{}", e),
        }
    }

    #[test]
    fn message_building_agrees_with_ans104_limits(
        tags in prop::collection::vec((0usize..1030, 3060usize..3080), 120..=131),
        short in prop::bool::ANY,
    ) {
        // Most tags are small; a few come near the name/value limits.
        let tags: Vec<(String, String)> = tags
            .iter()
            .enumerate()
            .map(|(i, &(n, v))| {
                let near = short || i % 17 != 0;
                let name = if near { format!("T{i}") } else { "n".repeat(n.max(1020)) };
                let value = if near { "v".into() } else { "v".repeat(v) };
                (if n == 0 && !near { String::new() } else { name }, value)
            })
            .collect();
        let first_bad = tags
            .iter()
            .position(|(n, v)| n.is_empty() || n.len() > MAX_TAG_NAME_BYTES || v.len() > MAX_TAG_VALUE_BYTES);
        let built = tags
            .iter()
            .fold(Message::builder(ProcessId::from_bytes([1; 32])), |b, (n, v)| b.tag(n.clone(), v.clone()))
            .build();
        match (built, tags.len() > MAX_TAGS, first_bad) {
            (Ok(m), false, None) => prop_assert_eq!(m.tags().len(), tags.len()),
            (Err(e), true, _) => {
                prop_assert!(matches!(e.kind(), ValidationErrorKind::TooManyTags { .. }), "{}", e);
            }
            (Err(e), false, Some(i)) => {
                let index = match e.kind() {
                    ValidationErrorKind::EmptyTagName { index }
                    | ValidationErrorKind::TagNameTooLong { index, .. }
                    | ValidationErrorKind::TagValueTooLong { index, .. } => *index,
                    other => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
                };
                prop_assert_eq!(index, i);
            }
            (r, many, bad) => prop_assert!(false, "built {:?} with too_many={} first_bad={:?}", r.map(|m| m.tags().len()), many, bad),
        }
    }

    #[test]
    fn messages_round_trip_through_json(
        data in prop::collection::vec(any::<u8>(), 0..64),
        tags in prop::collection::vec(("[A-Za-z-]{1,12}", ".{0,20}"), 0..6),
        anchor in prop::option::of("[a-z0-9]{0,32}"),
    ) {
        let mut b = tags.iter().fold(Message::builder(ProcessId::from_bytes([2; 32])), |b, (n, v)| b.tag(n.clone(), v.clone()));
        b = b.data(data);
        if let Some(a) = anchor {
            b = b.anchor(a);
        }
        let msg = b.build().unwrap();
        let json = serde_json::to_string(&msg).unwrap();
        prop_assert_eq!(serde_json::from_str::<Message>(&json).unwrap(), msg);
    }
}

fn policy() -> impl Strategy<Value = RetryPolicy> {
    (1u64..500, 1u64..5_000, 1.0f64..3.0, 1u32..12, prop::option::of(100u64..20_000), 0usize..3).prop_map(
        |(initial, max, mult, attempts, deadline, jitter)| RetryPolicy {
            initial_delay: Duration::from_millis(initial),
            max_delay: Duration::from_millis(max),
            multiplier: mult,
            max_attempts: attempts,
            deadline: deadline.map(Duration::from_millis),
            jitter: [Jitter::None, Jitter::Full, Jitter::Equal][jitter],
        },
    )
}

/// What an attempt returns: success, or an error of some class with an optional Retry-After.
fn outcome() -> impl Strategy<Value = Option<(TransportErrorKind, Option<u64>)>> {
    prop::option::weighted(
        0.8,
        (
            prop::sample::select(vec![
                TransportErrorKind::Timeout,
                TransportErrorKind::Unavailable,
                TransportErrorKind::RateLimited,
                TransportErrorKind::Rejected,
                TransportErrorKind::NotFound,
            ]),
            prop::option::weighted(0.2, 1u64..3_000),
        ),
    )
}

fn run(
    policy: &RetryPolicy,
    seed: u64,
    script: &[Option<(TransportErrorKind, Option<u64>)>],
) -> (Result<u32, ao_transport::retry::RetryError>, Vec<Duration>, u32) {
    let clock = ManualClock::new();
    let mut rng = SplitMix64::new(seed);
    let calls = std::sync::atomic::AtomicU32::new(0);
    let result = pollster::block_on(retry(policy, &clock, &mut rng, |attempt| {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
    (result, clock.sleeps(), calls.into_inner())
}

proptest! {
    #[test]
    fn retry_obeys_attempts_deadline_classes_and_seed(
        policy in policy(),
        seed in any::<u64>(),
        script in prop::collection::vec(outcome(), 0..15),
    ) {
        let (result, sleeps, calls) = run(&policy, seed, &script);
        prop_assert!(calls >= 1 && calls <= policy.max_attempts.max(1));
        prop_assert_eq!(sleeps.len() as u32, calls - 1, "one sleep between two calls");
        if let Some(deadline) = policy.deadline {
            prop_assert!(sleeps.iter().sum::<Duration>() < deadline, "slept past the deadline");
        }
        for (i, d) in sleeps.iter().enumerate() {
            let asked = script[i].and_then(|(_, after)| after).map_or(Duration::ZERO, Duration::from_millis);
            prop_assert!(*d <= policy.max_delay.max(asked), "delay {:?} over cap", d);
            if policy.jitter == Jitter::None {
                let expected = policy.initial_delay.mul_f64(policy.multiplier.powi(i as i32)).min(policy.max_delay);
                let base_ms = expected.as_millis() as i128;
                let got_ms = d.as_millis() as i128;
                // Exact up to float rounding, unless a Retry-After raised it.
                prop_assert!((got_ms - base_ms).abs() <= 1 || *d == asked, "delay {} ms, expected {} ms", got_ms, base_ms);
            }
        }
        match &result {
            Ok(attempt) => {
                prop_assert_eq!(*attempt, calls);
                prop_assert!(script.get(calls as usize - 1).copied().flatten().is_none());
            }
            Err(e) => {
                prop_assert_eq!(e.attempts, calls);
                let last = script[calls as usize - 1].expect("failed on an error step").0;
                prop_assert_eq!(e.error.kind(), last);
                if !last.is_retryable() {
                    prop_assert_eq!(e.gave_up, GiveUp::Final);
                }
                // Every error before the last was retryable.
                prop_assert!(script[..calls as usize - 1].iter().all(|s| s.is_some_and(|(k, _)| k.is_retryable())));
            }
        }
        // Same seed, same run.
        let again = run(&policy, seed, &script);
        prop_assert_eq!(again.1, sleeps);
        prop_assert_eq!(again.2, calls);
    }

    #[test]
    fn backoff_never_schedules_past_the_deadline(policy in policy(), seed in any::<u64>(), waits in prop::collection::vec(0u64..2_000, 0..20)) {
        let mut b = Backoff::new(policy.clone(), Duration::ZERO);
        let mut rng = SplitMix64::new(seed);
        let mut now = Duration::ZERO;
        for w in waits {
            match b.next_delay(now, None, &mut rng) {
                Ok(d) => {
                    if let Some(deadline) = policy.deadline {
                        prop_assert!(now + d < deadline);
                    }
                    now += d + Duration::from_millis(w);
                }
                Err(GiveUp::Attempts) => {
                    prop_assert_eq!(b.attempts(), policy.max_attempts.max(1));
                    break;
                }
                Err(GiveUp::Deadline) => {
                    prop_assert!(policy.deadline.is_some());
                    break;
                }
                Err(GiveUp::Final) => prop_assert!(false, "backoff never says final"),
            }
        }
    }
}

#[test]
fn a_final_error_is_not_retried() {
    let (result, sleeps, calls) =
        run(&RetryPolicy::default(), 1, &[Some((TransportErrorKind::Rejected, None))]);
    let err = result.unwrap_err();
    assert_eq!((calls, sleeps.len(), err.gave_up), (1, 0, GiveUp::Final));
    assert_eq!(err.to_string(), "rejected: scripted (after 1 attempt, error is final)");
}

#[test]
fn retry_after_raises_the_wait() {
    let policy = RetryPolicy { jitter: Jitter::None, ..RetryPolicy::default() };
    let (result, sleeps, _) = run(&policy, 1, &[Some((TransportErrorKind::RateLimited, Some(2_500))), None]);
    assert_eq!(result.unwrap(), 2);
    assert_eq!(sleeps, [Duration::from_millis(2_500)]);
}
