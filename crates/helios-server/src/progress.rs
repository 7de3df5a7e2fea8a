//! Long calls (checkout, fsck, mount, fork) answer with a stream: the
//! engine's progress as it goes, then the reply (helios-client's `events`
//! says what the stream's messages have in common). [`Throttled`] is the
//! engine's progress callback on the server's side.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{Sender, channel};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use helios_client::events::Streamed;
use helios_client::proto;

/// At most one progress message per this long (plus the last, `done ==
/// total`): a bar redrawn 20 times a second looks live, and a checkout of
/// 100,000 files does not send 100,000 messages.
const EVERY: Duration = Duration::from_millis(50);

/// Progress messages a call's stream holds before newer ones are dropped.
const QUEUE: usize = 16;

/// What a long call's stream carries: an event, or the error that ends it.
pub(crate) type Item<E> = Result<E, Status>;

/// A long call's stream: the sender its progress and its reply go into,
/// and the stream tonic sends on to the client.
pub(crate) fn stream<E: Streamed>() -> (Sender<Item<E>>, ReceiverStream<Item<E>>) {
    let (tx, rx) = channel(QUEUE);
    (tx, ReceiverStream::new(rx))
}

/// The engine's progress callback (`done`, `total`), sending at most one
/// message per [`EVERY`] into a call's stream. A client slower than that
/// misses progress messages, never the reply.
pub(crate) struct Throttled<E> {
    tx: Sender<Item<E>>,
    last: Mutex<Option<Instant>>,
}

impl<E: Streamed> Throttled<E> {
    pub(crate) fn new(tx: Sender<Item<E>>) -> Self {
        Throttled {
            tx,
            last: Mutex::new(None),
        }
    }

    pub(crate) fn report(&self, done: u64, total: u64) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|at| at.elapsed() >= EVERY) || done >= total;
        if !due {
            return;
        }
        *last = Some(Instant::now());
        // Full (a slow client) or closed (a client gone): skip this one.
        let _ = self
            .tx
            .try_send(Ok(E::progress(proto::Progress { done, total })));
    }
}

#[cfg(test)]
mod tests {
    use helios_client::events::Step;
    use tokio::sync::mpsc;

    use super::*;

    #[test]
    fn progress_is_throttled_but_the_last_step_always_goes() {
        let (tx, mut rx) = mpsc::channel(64);
        let throttled = Throttled::<proto::FsckEvent>::new(tx);
        for done in 0..1_000 {
            throttled.report(done, 1_000);
        }
        throttled.report(1_000, 1_000);
        let mut seen = Vec::new();
        while let Ok(Ok(event)) = rx.try_recv() {
            match event.into_step() {
                Some(Step::Progress(p)) => seen.push(p.done),
                _ => panic!("only progress was sent"),
            }
        }
        // The first report, then (within 50 ms) only the last.
        assert_eq!(seen.first(), Some(&0));
        assert_eq!(seen.last(), Some(&1_000));
        assert!(seen.len() < 20, "{} messages", seen.len());
    }
}
