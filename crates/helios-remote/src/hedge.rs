//! [`Hedge`]: a small read that is slow to answer is sent again beside
//! itself, and the first success wins ("The Tail at Scale"). Tail latency
//! of object stores is dominated by stalls of one request, not by slow
//! service: on a Garage cluster a third of small GETs wait 40 ms for a
//! delayed TCP ACK between its nodes (its sockets do not set
//! `TCP_NODELAY`), and S3's guidance is to resend slow small reads.
//!
//! A [`crate::Remote`] hedges its small reads over a network (a listing,
//! an index, a marker, a ref, a pack window; not a `file://` directory's,
//! where a second read of a slow disk only adds to its queue) and never
//! its writes: a second create-if-absent would report the first's success
//! as a conflict. docs/SCALING.md has the measurements behind the delays.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long a remote's first small read may take before it is sent again
/// beside itself: five times a loopback cluster's
/// answer, a quarter of the stall it cuts short. Later reads wait
/// [`HEDGE_FACTOR`] times the fastest answer seen, within
/// [`HEDGE_FLOOR`]..=[`HEDGE_CEILING`]: a few milliseconds on a LAN, and on
/// S3, whose small reads take 10–30 ms, long enough that only the slow
/// tail is sent twice. `HELIOS_REMOTE_HEDGE_MS` fixes the delay instead
/// (0: never hedge).
pub(crate) const HEDGE_AFTER: Duration = Duration::from_millis(10);
/// See [`HEDGE_AFTER`].
pub(crate) const HEDGE_FACTOR: u32 = 4;
/// See [`HEDGE_AFTER`].
pub(crate) const HEDGE_FLOOR: Duration = Duration::from_millis(3);
/// See [`HEDGE_AFTER`].
pub(crate) const HEDGE_CEILING: Duration = Duration::from_millis(250);

/// Reads of more bytes than this are never hedged: their time is
/// transfer, not a stall, and sending them twice costs bandwidth the first
/// needs.
const MAX_HEDGED_BYTES: u64 = 256 << 10;

/// When a slow small read is sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HedgeDelay {
    /// Never: a `file://` remote, a large read, `HELIOS_REMOTE_HEDGE_MS=0`.
    Never,
    /// After this long (`HELIOS_REMOTE_HEDGE_MS`).
    Fixed(Duration),
    /// After [`HEDGE_FACTOR`] times the fastest answer so far (see
    /// [`HEDGE_AFTER`]).
    Adaptive,
}

/// Sends a read again beside itself when it is slow to answer (see the
/// module's docs), counting each second read as a request.
#[derive(Debug, Clone)]
pub(crate) struct Hedge {
    delay: HedgeDelay,
    /// The remote's fastest answer so far, in microseconds (`u64::MAX`:
    /// none yet), which [`HedgeDelay::Adaptive`] scales.
    fastest: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
}

impl Hedge {
    /// A remote's hedge, counting the second reads it sends into
    /// `requests`, the remote's count of calls.
    pub(crate) fn new(delay: HedgeDelay, requests: Arc<AtomicU64>) -> Hedge {
        Hedge {
            delay,
            fastest: Arc::new(AtomicU64::new(u64::MAX)),
            requests,
        }
    }

    /// This hedge, but never sending a read twice.
    pub(crate) fn never(&self) -> Hedge {
        Hedge {
            delay: HedgeDelay::Never,
            ..self.clone()
        }
    }

    /// The hedge for a read of `bytes`: this one for a small read, none
    /// for a large one ([`MAX_HEDGED_BYTES`]).
    pub(crate) fn for_read_of(&self, bytes: u64) -> Hedge {
        if bytes <= MAX_HEDGED_BYTES {
            self.clone()
        } else {
            self.never()
        }
    }

    /// How long a read may take before it is sent again (`None`: never).
    fn after(&self) -> Option<Duration> {
        match self.delay {
            HedgeDelay::Never => None,
            HedgeDelay::Fixed(after) => Some(after),
            HedgeDelay::Adaptive => Some(match self.fastest.load(Ordering::Relaxed) {
                u64::MAX => HEDGE_AFTER,
                micros => {
                    (Duration::from_micros(micros) * HEDGE_FACTOR).clamp(HEDGE_FLOOR, HEDGE_CEILING)
                }
            }),
        }
    }

    /// Keeps `took`, a read's answer time, if it is the fastest yet.
    fn observe(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX - 1);
        self.fastest.fetch_min(micros, Ordering::Relaxed);
    }

    /// The answer of `read()`, or, if that takes longer than the hedge's
    /// delay, the first success of it and a second `read()` (the first's
    /// error when both fail); the other is dropped, which cancels its
    /// request. `read` must be idempotent.
    pub(crate) async fn read<T, Fut>(&self, read: impl Fn() -> Fut) -> object_store::Result<T>
    where
        Fut: Future<Output = object_store::Result<T>>,
    {
        let start = std::time::Instant::now();
        let first = read();
        let Some(after) = self.after() else {
            return first.await;
        };
        tokio::pin!(first);
        tokio::select! {
            answer = &mut first => {
                self.observe(start.elapsed());
                return answer;
            }
            () = tokio::time::sleep(after) => {}
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(?after, "read hedged");
        let again = std::time::Instant::now();
        let second = read();
        tokio::pin!(second);
        // A failure is one request's (a connection reset, a 503 from one
        // node): the other may still succeed, and an error that answers
        // first must not cut it short.
        tokio::select! {
            answer = &mut first => match answer {
                Ok(found) => Ok(found),
                Err(e) => second.await.map_err(|_| e),
            },
            answer = &mut second => match answer {
                Ok(found) => {
                    self.observe(again.elapsed());
                    Ok(found)
                }
                Err(_) => first.await,
            },
        }
    }
}

impl HedgeDelay {
    /// What `HELIOS_REMOTE_HEDGE_MS` says: unset, [`HedgeDelay::Adaptive`]; 0,
    /// never; N, after N ms (anything unreadable is ignored, with a warning).
    pub(crate) fn from_env() -> HedgeDelay {
        let Ok(text) = std::env::var("HELIOS_REMOTE_HEDGE_MS") else {
            return HedgeDelay::Adaptive;
        };
        match text.trim().parse::<u64>() {
            Ok(0) => HedgeDelay::Never,
            Ok(ms) => HedgeDelay::Fixed(Duration::from_millis(ms)),
            Err(_) => {
                tracing::warn!(value = %text, "HELIOS_REMOTE_HEDGE_MS is not a number of milliseconds; hedging as by default");
                HedgeDelay::Adaptive
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn hedge(after: Option<Duration>) -> Hedge {
        let delay = after.map_or(HedgeDelay::Never, HedgeDelay::Fixed);
        Hedge::new(delay, Arc::new(AtomicU64::new(0)))
    }

    /// Runs `hedge.read` over a read whose first call answers "first"
    /// after `first_takes`, and every later call "again" at once; returns
    /// the answer and the number of calls.
    fn race(hedge: &Hedge, first_takes: Duration) -> (&'static str, usize) {
        let calls = AtomicUsize::new(0);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let answer = runtime.block_on(hedge.read(|| {
            let call = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if call == 0 {
                    tokio::time::sleep(first_takes).await;
                    Ok("first")
                } else {
                    Ok("again")
                }
            }
        }));
        (answer.unwrap(), calls.load(Ordering::SeqCst))
    }

    #[test]
    fn a_stalled_read_is_answered_by_its_hedge() {
        let hedge = hedge(Some(Duration::from_millis(5)));
        assert_eq!(race(&hedge, Duration::from_secs(60)), ("again", 2));
        assert_eq!(
            hedge.requests.load(Ordering::SeqCst),
            1,
            "the hedge is counted"
        );
    }

    #[test]
    fn a_failed_read_leaves_the_answer_to_the_other() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let hedge = hedge(Some(Duration::from_millis(5)));
        // (the first read answers after, it fails, its hedge fails) ->
        // which answer comes back.
        let slow = Duration::from_millis(50);
        let cases = [
            (slow, false, true, Ok("first")),
            (slow, true, false, Ok("again")),
            (slow, true, true, Err("first")),
            (Duration::ZERO, true, false, Err("first")),
        ];
        for (takes, first_fails, again_fails, expected) in cases {
            let calls = AtomicUsize::new(0);
            let answer = runtime.block_on(hedge.read(|| {
                let call = calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    let (fails, name) = if call == 0 {
                        tokio::time::sleep(takes).await;
                        (first_fails, "first")
                    } else {
                        (again_fails, "again")
                    };
                    if fails {
                        Err(object_store::Error::Generic {
                            store: name,
                            source: "failed".into(),
                        })
                    } else {
                        Ok(name)
                    }
                }
            }));
            let answer = answer.map_err(|e| match e {
                object_store::Error::Generic { store, .. } => store,
                other => panic!("{other}"),
            });
            assert_eq!(answer, expected, "{takes:?} {first_fails} {again_fails}");
        }
    }

    #[test]
    fn a_prompt_read_is_sent_once() {
        let hedge = hedge(Some(Duration::from_secs(60)));
        assert_eq!(race(&hedge, Duration::ZERO), ("first", 1));
        assert_eq!(hedge.requests.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn an_adaptive_hedge_waits_a_multiple_of_the_fastest_answer_within_bounds() {
        let adaptive = || Hedge {
            delay: HedgeDelay::Adaptive,
            ..hedge(None)
        };
        let learnt = adaptive();
        assert_eq!(learnt.after(), Some(HEDGE_AFTER), "before any answer");
        learnt.observe(Duration::from_millis(12));
        assert_eq!(learnt.after(), Some(Duration::from_millis(48)));
        learnt.observe(Duration::from_millis(20));
        assert_eq!(
            learnt.after(),
            Some(Duration::from_millis(48)),
            "the fastest counts"
        );
        learnt.observe(Duration::from_micros(300));
        assert_eq!(learnt.after(), Some(HEDGE_FLOOR));
        let slow = adaptive();
        slow.observe(Duration::from_secs(2));
        assert_eq!(slow.after(), Some(HEDGE_CEILING));
        // A prompt answer is what it learns from.
        let learning = adaptive();
        assert_eq!(race(&learning, Duration::ZERO), ("first", 1));
        assert_ne!(learning.fastest.load(Ordering::SeqCst), u64::MAX);
    }

    #[test]
    fn without_a_delay_nothing_is_hedged() {
        let hedge = hedge(None);
        assert_eq!(race(&hedge, Duration::from_millis(20)), ("first", 1));
    }
}
