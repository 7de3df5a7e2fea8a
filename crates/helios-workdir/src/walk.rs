//! The full scan on several threads: directories handed between them
//! through a small shared stack.
//!
//! Most of a full scan of a large tree is one `lstat` per file, which the
//! kernel answers on any core; git's index refresh spreads it over threads
//! for the same reason (`core.preloadIndex`). Each thread walks directories
//! depth first as the one-thread scan does. When it meets a subdirectory
//! and the stack has room, it leaves the subdirectory there (open, with the
//! ignore rules above it) for an idle thread instead of walking into it.
//! The stack is small ([`STACK_PER_THREAD`] per thread): each directory on
//! it holds a descriptor, and a directory of thousands of subdirectories
//! must not open them all at once.
//!
//! Every thread gathers what it finds (edits, stat-cache entries, counts)
//! in a [`Scan`] of its own, merged when all are done. A subdirectory's
//! edits all lie beneath it, the edit replacing a leaf by it included, so
//! the parts touch disjoint paths and merge in any order. After an error no
//! thread takes another directory from the stack (what a thread is walking
//! it finishes), and the walk fails with an error met.
//!
//! These scoped threads are, with the engine's and the search's evaluators,
//! the only threads the workspace starts (the tidy test keeps it so): they
//! live for one scan and share nothing with the caller after it.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use helios_types::Name;
use helios_vst::{Entry, Vst};

use super::error::Result;
use super::scan::{IgnoreStack, Scan};

/// Directories waiting on the stack, per walking thread, at most.
const STACK_PER_THREAD: usize = 4;

/// A directory found by one thread and left for any thread to walk.
pub(crate) struct DirJob {
    /// The directory, open.
    pub(crate) fd: OwnedFd,
    /// Its path from the working directory's root, its own name last.
    pub(crate) names: Vec<Name>,
    /// The base tree has a directory here (to compare against), rather than
    /// nothing.
    pub(crate) base_dir: bool,
    /// The base tree has a leaf here, which this directory replaces.
    pub(crate) replaces_leaf: bool,
}

/// The stack of directories shared by a walk's threads.
pub(crate) struct Jobs {
    state: Mutex<JobState>,
    /// Signalled when a directory is pushed, when the last running one
    /// finishes, and on failure.
    changed: Condvar,
    capacity: usize,
}

struct JobState {
    waiting: Vec<(DirJob, IgnoreStack)>,
    /// Directories being walked: while one is, more may be pushed.
    running: usize,
    failed: bool,
}

impl Jobs {
    /// A stack for `threads` threads, the caller's root directory counted
    /// as running.
    fn new(threads: usize) -> Self {
        Jobs {
            state: Mutex::new(JobState {
                waiting: Vec::new(),
                running: 1,
                failed: false,
            }),
            changed: Condvar::new(),
            capacity: threads * STACK_PER_THREAD,
        }
    }

    fn state(&self) -> MutexGuard<'_, JobState> {
        // Nothing a walking thread does under the lock can panic halfway.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Leaves `job` for another thread, with the ignore rules of the
    /// directories above it; gives it back when the stack is full (the
    /// caller walks it itself).
    pub(crate) fn offer(&self, job: DirJob, ignores: &IgnoreStack) -> Option<DirJob> {
        let mut state = self.state();
        if state.failed || state.waiting.len() >= self.capacity {
            return Some(job);
        }
        state.waiting.push((job, ignores.clone()));
        self.changed.notify_one();
        None
    }

    /// The next directory to walk; `None` once none is waiting and none is
    /// being walked (so none can appear), or after a failure.
    fn next(&self) -> Option<(DirJob, IgnoreStack)> {
        let mut state = self.state();
        loop {
            if state.failed {
                return None;
            }
            if let Some(job) = state.waiting.pop() {
                state.running += 1;
                return Some(job);
            }
            if state.running == 0 {
                return None;
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// A directory taken with [`Jobs::next`] (or the root) is walked.
    fn done(&self, ok: bool) {
        let mut state = self.state();
        state.running -= 1;
        if !ok {
            state.failed = true;
            // The descriptors the stack holds are closed now, not at the end.
            state.waiting.clear();
        }
        if !ok || state.running == 0 {
            self.changed.notify_all();
        }
    }
}

/// Walks the whole directory open as `root_fd` against `base` (whose
/// root listing is `listing`) on `threads` threads, and merges what they
/// found into `scan`.
pub(crate) fn in_parallel(
    scan: &mut Scan<'_>,
    root_fd: BorrowedFd<'_>,
    base: &Vst,
    listing: Vec<(Name, Entry)>,
    threads: usize,
) -> Result<()> {
    let jobs = Jobs::new(threads);
    let template = &*scan;
    let parts: Vec<Result<Scan<'_>>> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut part = template.part(&jobs, IgnoreStack::default());
                    work(&jobs, &mut part, base).map(|()| part)
                })
            })
            .collect();
        let mut root = template.part(&jobs, IgnoreStack::default());
        let walked = root.dir(root_fd, base, &mut Vec::new(), Some(listing));
        jobs.done(walked.is_ok());
        let mine = walked
            .and_then(|_| work(&jobs, &mut root, base))
            .map(|()| root);
        let mut parts = vec![mine];
        for helper in helpers {
            // A panic on a walking thread is a bug; carry it to the caller.
            parts.push(
                helper
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p)),
            );
        }
        parts
    });
    let parts = parts.into_iter().collect::<Result<Vec<_>>>()?;
    scan.absorb(parts);
    Ok(())
}

/// Walks directories from the stack until none is left.
fn work(jobs: &Jobs, part: &mut Scan<'_>, base: &Vst) -> Result<()> {
    while let Some((job, ignores)) = jobs.next() {
        part.set_ignores(ignores);
        let walked = part.subdir(base, job);
        jobs.done(walked.is_ok());
        walked?;
    }
    Ok(())
}
