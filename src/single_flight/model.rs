//! Model check of the single-flight under every interleaving of its callers (loom; run by
//! `scripts/model-check.sh`), with the `reuse` rule the refresh path uses
//! (refresh.rs, `refresh_shared`): a finished load answers a caller only if it began after the
//! caller's failure and was given a `since` no earlier than the caller's request.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use super::{Flight, SingleFlight};
use crate::time::Time;

/// What a load hands back: when its body ran and the `since` it was given.
#[derive(Clone, Copy, Debug)]
struct Loaded {
    ran_at: Instant,
    since: Option<Instant>,
}

/// A request sent and failed just now (its failure strictly after its sending, and before
/// anything that follows).
fn failure() -> (Instant, Instant) {
    let sent = Instant::now();
    let failed = sent + Duration::from_nanos(1);
    while Instant::now() <= failed {}
    (sent, failed)
}

fn flight() -> (Arc<SingleFlight<Loaded>>, Arc<AtomicUsize>) {
    (
        Arc::new(SingleFlight::new(Time::default())),
        Arc::new(AtomicUsize::new(0)),
    )
}

/// A request that was sent at `sent` and whose failure came at `failed`, asking for a refresh
/// the way the refresh path does. Returns what answered it.
async fn refresh(
    flight: &SingleFlight<Loaded>,
    loads: &AtomicUsize,
    sent: Instant,
    failed: Instant,
) -> Loaded {
    flight
        .run(
            Some(sent),
            |f: &Flight<Loaded>| f.started > failed && f.since.is_some_and(|s| s >= sent),
            |since| async move {
                loads.fetch_add(1, Ordering::SeqCst);
                Loaded {
                    ran_at: Instant::now(),
                    since,
                }
            },
        )
        .await
}

/// A caller is answered only by a load that began after its failure and covers its request.
fn assert_answers(got: Loaded, sent: Instant, failed: Instant) {
    assert!(
        got.ran_at > failed,
        "answered by a load older than the failure"
    );
    assert!(
        got.since.is_some_and(|s| s >= sent),
        "answered by a load not given this request's since"
    );
}

#[test]
fn loads_never_overlap_and_never_answer_a_later_failure() {
    loom::model(|| {
        let (flight, loads) = flight();
        let caller = |flight: Arc<SingleFlight<Loaded>>, loads: Arc<AtomicUsize>| {
            thread::spawn(move || {
                // The failure of a request sent just before: its instants are taken where the
                // thread runs, so they fall before, during or after the other caller's load.
                let (sent, failed) = failure();
                let got = block_on(refresh(&flight, &loads, sent, failed));
                assert_answers(got, sent, failed);
                got.ran_at
            })
        };
        let first = caller(flight.clone(), loads.clone());
        let second = caller(flight.clone(), loads.clone());
        let (first, second) = (first.join().unwrap(), second.join().unwrap());
        let loads = loads.load(Ordering::SeqCst);
        assert!((1..=2).contains(&loads));
        // One load answered both, or each had its own.
        assert_eq!(loads == 1, first == second);
    });
}

#[test]
fn callers_that_failed_before_a_load_began_share_it() {
    loom::model(|| {
        let (flight, loads) = flight();
        // Both requests failed before either caller asked: whichever load runs first began
        // after both failures and was given the latest since registered when it began.
        let (sent, failed) = failure();
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let (flight, loads) = (flight.clone(), loads.clone());
                thread::spawn(move || {
                    let got = block_on(refresh(&flight, &loads, sent, failed));
                    assert_answers(got, sent, failed);
                })
            })
            .collect();
        callers.into_iter().for_each(|c| c.join().unwrap());
        assert_eq!(loads.load(Ordering::SeqCst), 1, "one load for both");
    });
}

#[test]
fn a_cancelled_leader_hands_over() {
    loom::model(|| {
        let (flight, loads) = flight();
        let (sent, failed) = failure();
        let leader = {
            let flight = flight.clone();
            thread::spawn(move || {
                // A caller whose load never finishes: polled once, then dropped (its request was
                // cancelled), holding the flight's lock or queued for it.
                let mut stuck = pin!(flight.run(
                    Some(sent),
                    |_| false,
                    |_| async { std::future::pending::<Loaded>().await }
                ));
                let ready = stuck.as_mut().poll(&mut Context::from_waker(Waker::noop()));
                assert!(matches!(ready, Poll::Pending));
            })
        };
        let follower = {
            let (flight, loads) = (flight.clone(), loads.clone());
            thread::spawn(move || block_on(refresh(&flight, &loads, sent, failed)))
        };
        leader.join().unwrap();
        let got = follower.join().unwrap();
        assert_answers(got, sent, failed);
        assert_eq!(
            loads.load(Ordering::SeqCst),
            1,
            "the follower loaded itself"
        );
        let slot = flight
            .last
            .get_or_init(|| unreachable!("the follower made it"));
        assert!(
            block_on(slot.lock()).is_some(),
            "the finished load is recorded, the cancelled one is not"
        );
    });
}
