//! Long calls (checkout, fsck, mount, fork) answer with a stream: the
//! engine's progress as it goes, then the reply. [`Streamed`] is what the
//! four `…Event` messages of spec/helios.proto have in common, so that the
//! server sends and the client reads all of them one way.

use crate::proto;

/// One item of a long call's stream, read by the client.
pub enum Step<R> {
    /// `done` of `total` units.
    Progress(proto::Progress),
    /// The call's answer: the last item.
    Reply(R),
}

/// An `…Event` message: progress or the reply.
pub trait Streamed: Sized + Send + 'static {
    /// The reply the stream ends with.
    type Reply: Send + 'static;
    /// A progress event.
    fn progress(progress: proto::Progress) -> Self;
    /// The event that carries the reply.
    fn reply(reply: Self::Reply) -> Self;
    /// `None` for an event with neither (one a newer server added).
    fn into_step(self) -> Option<Step<Self::Reply>>;
}

macro_rules! streamed {
    ($($event:ident, $module:ident, $reply:ident;)*) => {$(
        impl Streamed for proto::$event {
            type Reply = proto::$reply;

            fn progress(progress: proto::Progress) -> Self {
                proto::$event {
                    event: Some(proto::$module::Event::Progress(progress)),
                }
            }

            fn reply(reply: proto::$reply) -> Self {
                proto::$event {
                    event: Some(proto::$module::Event::Reply(reply)),
                }
            }

            fn into_step(self) -> Option<Step<proto::$reply>> {
                Some(match self.event? {
                    proto::$module::Event::Progress(p) => Step::Progress(p),
                    proto::$module::Event::Reply(r) => Step::Reply(r),
                })
            }
        }
    )*};
}

streamed! {
    CheckoutEvent, checkout_event, CheckoutReply;
    FsckEvent, fsck_event, FsckReply;
    MountEvent, mount_event, MountReply;
    ForkEvent, fork_event, ForkReply;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_progress_or_the_reply() {
        let reply = proto::MountReply {
            id: "ab".into(),
            ..Default::default()
        };
        match proto::MountEvent::reply(reply.clone()).into_step() {
            Some(Step::Reply(r)) => assert_eq!(r, reply),
            _ => panic!("a reply event is a reply"),
        }
        let progress = proto::Progress { done: 3, total: 7 };
        match proto::MountEvent::progress(progress).into_step() {
            Some(Step::Progress(p)) => assert_eq!(p, progress),
            _ => panic!("a progress event is progress"),
        }
        assert!(proto::MountEvent { event: None }.into_step().is_none());
    }
}
