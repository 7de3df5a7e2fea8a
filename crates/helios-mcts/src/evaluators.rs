//! Where nodes are evaluated: inline on the search's thread (one worker),
//! or on worker threads that each own a working directory.
//!
//! Evaluating a node is the slow part of an iteration (switching a
//! directory to it and running the scorer there, a real checker taking
//! about 100 ms in the demo), while selection, the commit and
//! backpropagation take microseconds. So only evaluation leaves the
//! search's thread: the tree stays single-owner, and no lock guards it.
//! Jobs go out and results come back over bounded channels sized to the
//! number of workers, so neither ever waits on the other's queue.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use helios_types::SnapshotId;
use helios_vst::Vst;

use crate::env::{Environment, Score};
use crate::error::{MctsError, MctsResult};
use crate::search::NodeId;
use crate::workdir::{SwitchStats, Workdir};

/// A node to evaluate: its snapshot and tree, and its score when a
/// transposition's is cached (the directory is still switched, so the
/// switch is measured for every node).
pub(crate) struct Job {
    pub(crate) node: NodeId,
    pub(crate) snapshot: SnapshotId,
    pub(crate) vst: Vst,
    pub(crate) cached: Option<Score>,
}

/// What evaluating a node measured.
pub(crate) struct Evaluation {
    pub(crate) switch: SwitchStats,
    pub(crate) switch_latency: Duration,
    pub(crate) score: Score,
    /// `None` when the score was not the scorer's own run for this node
    /// (cached, or shared with a transposition evaluated at the same time).
    pub(crate) scorer_latency: Option<Duration>,
}

impl Evaluation {
    /// A transposition's evaluation, shared by a node that waited for it:
    /// its directory was never switched and the scorer never ran for it.
    pub(crate) fn shared(score: Score) -> Self {
        Evaluation {
            switch: SwitchStats::default(),
            switch_latency: Duration::ZERO,
            score,
            scorer_latency: None,
        }
    }
}

/// A finished job.
pub(crate) struct Evaluated {
    pub(crate) node: NodeId,
    pub(crate) result: MctsResult<Evaluation>,
}

/// Switches `workdir` to the job's node (timed) and scores it there,
/// unless the score is cached.
pub(crate) fn evaluate<E: Environment, W: Workdir>(
    env: &E,
    workdir: &mut W,
    job: &Job,
) -> MctsResult<Evaluation> {
    let start = Instant::now();
    let switch = workdir.switch_to(&job.snapshot, &job.vst)?;
    let switch_latency = start.elapsed();
    let (score, scorer_latency) = match job.cached {
        Some(score) => (score, None),
        None => {
            let start = Instant::now();
            let score = env.score(workdir.path(), &job.vst)?;
            (score, Some(start.elapsed()))
        }
    };
    Ok(Evaluation {
        switch,
        switch_latency,
        score,
        scorer_latency,
    })
}

/// [`evaluate`], with a panic in the scorer or the working directory
/// turned into [`MctsError::EvaluatorPanicked`]: a worker outlives a
/// broken job, and the search stops with an error instead of waiting
/// forever for a result that will not come.
fn evaluate_guarded<E: Environment, W: Workdir>(env: &E, workdir: &mut W, job: &Job) -> Evaluated {
    let result = panic::catch_unwind(AssertUnwindSafe(|| evaluate(env, workdir, job)))
        .unwrap_or_else(|payload| {
            Err(MctsError::EvaluatorPanicked {
                node: job.node,
                message: panic_message(payload.as_ref()),
            })
        });
    Evaluated {
        node: job.node,
        result,
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// A worker thread's loop: evaluates jobs until the search closes the job
/// channel (or stops listening for results).
fn work<E: Environment, W: Workdir>(
    env: &E,
    workdir: &mut W,
    jobs: &Receiver<Job>,
    results: &Sender<Evaluated>,
) {
    for job in jobs {
        if results.send(evaluate_guarded(env, workdir, &job)).is_err() {
            return;
        }
    }
}

/// Runs `drive` with [`Evaluators::Threads`]: one worker thread per
/// working directory, each running [`work`] with its directory, which it
/// gives back when the workers end (after `drive` returns and the job
/// channel closes). The only place in the crate that starts threads or
/// makes channels.
pub(crate) fn on_threads<E, W>(
    env: &E,
    workdirs: &mut Vec<W>,
    drive: impl FnOnce(&mut Evaluators<'_, E, W>) -> MctsResult<()>,
) -> MctsResult<()>
where
    E: Environment + Sync,
    W: Workdir + Send,
{
    let workers = workdirs.len();
    let (job_tx, job_rx) = crossbeam_channel::bounded(workers);
    let (result_tx, result_rx) = crossbeam_channel::bounded(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = workdirs
            .drain(..)
            .map(|mut workdir| {
                let (jobs, results) = (job_rx.clone(), result_tx.clone());
                scope.spawn(move || {
                    work(env, &mut workdir, &jobs, &results);
                    workdir
                })
            })
            .collect();
        drop(result_tx);
        let mut threads = Evaluators::Threads {
            jobs: job_tx,
            results: result_rx,
            workers,
            busy: 0,
        };
        let result = drive(&mut threads);
        // Closing the job channel ends the workers' loops.
        drop(threads);
        let mut lost = false;
        for handle in handles {
            match handle.join() {
                Ok(workdir) => workdirs.push(workdir),
                Err(_) => lost = true,
            }
        }
        match result {
            Ok(()) if lost => Err(MctsError::Environment(
                "an evaluation worker thread died; its working directory is lost".into(),
            )),
            other => other,
        }
    })
}

/// The search's side of evaluation.
pub(crate) enum Evaluators<'a, E, W> {
    /// One worker: the job runs on the search's thread when submitted, so
    /// the search makes exactly the choices a sequential search makes.
    Inline {
        env: &'a E,
        workdir: &'a mut W,
        done: Option<Evaluated>,
    },
    /// `workers` threads (see [`work`]), `busy` of them with a job.
    Threads {
        jobs: Sender<Job>,
        results: Receiver<Evaluated>,
        workers: usize,
        busy: usize,
    },
}

impl<E: Environment, W: Workdir> Evaluators<'_, E, W> {
    /// Whether a worker is free for one more job.
    pub(crate) fn has_idle(&self) -> bool {
        match self {
            Evaluators::Inline { done, .. } => done.is_none(),
            Evaluators::Threads { workers, busy, .. } => busy < workers,
        }
    }

    /// Hands a job to a free worker (call only when [`Self::has_idle`]).
    pub(crate) fn submit(&mut self, job: Job) -> MctsResult<()> {
        match self {
            Evaluators::Inline { env, workdir, done } => {
                *done = Some(evaluate_guarded(*env, *workdir, &job));
                Ok(())
            }
            Evaluators::Threads { jobs, busy, .. } => {
                jobs.send(job).map_err(|_| workers_gone())?;
                *busy += 1;
                Ok(())
            }
        }
    }

    /// The next finished job, waiting for one if needed; `None` when no
    /// job is out.
    pub(crate) fn next(&mut self) -> MctsResult<Option<Evaluated>> {
        match self {
            Evaluators::Inline { done, .. } => Ok(done.take()),
            Evaluators::Threads { results, busy, .. } => {
                if *busy == 0 {
                    return Ok(None);
                }
                let evaluated = results.recv().map_err(|_| workers_gone())?;
                *busy -= 1;
                Ok(Some(evaluated))
            }
        }
    }
}

/// Every worker thread ended while jobs were out: only a bug gets here
/// (a worker catches its jobs' panics).
fn workers_gone() -> MctsError {
    MctsError::Environment("the evaluation workers stopped while nodes were out".into())
}
