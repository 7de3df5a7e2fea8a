//! The gRPC service: each call checks its arguments, takes the locks of the
//! working directories it touches, and runs the engine's blocking work on
//! tokio's blocking pool, so that slow calls never stall the threads that
//! drive connections.
//!
//! Calls on different working directories run in parallel; two on the same
//! directory wait for each other (a per-directory lock, taken in path
//! order when a call touches several), so they are never interleaved. A
//! client that goes away mid-call does not cancel the engine's work: a
//! commit either lands whole or not at all, as the engine guarantees.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::Stream;
use helios_engine::{CommitMeta, EngineError, HeliosEngine};
use helios_types::{RepoPath, SnapshotId};
use helios_vst::Edit;
use helios_workdir::{CaptureOptions, CheckoutOptions};
use tokio::sync::OwnedMutexGuard;
use tonic::{Request, Response, Status};

use helios_client::describe;
use helios_client::events::Streamed;
use helios_client::proto::{self, helios_server::Helios};
use helios_client::wire::{self, micros};

use crate::error::{remote_status, status};
use crate::metrics::Metrics;
use crate::progress::{self, Throttled};

/// Bytes per message of a `Read` stream.
const READ_CHUNK: u64 = 1 << 20;

/// What every call shares.
pub(crate) struct Service {
    engine: Arc<HeliosEngine>,
    metrics: Arc<Metrics>,
    dirs: DirLocks,
    started: Instant,
    store: PathBuf,
}

impl Service {
    pub(crate) fn new(engine: Arc<HeliosEngine>, metrics: Arc<Metrics>, store: PathBuf) -> Self {
        Service {
            engine,
            metrics,
            dirs: DirLocks::default(),
            started: Instant::now(),
            store,
        }
    }

    /// Runs `work` on the blocking pool and records the call.
    async fn blocking<T: Send + 'static>(
        &self,
        method: &'static str,
        work: impl FnOnce(&HeliosEngine) -> Result<T, Fail> + Send + 'static,
    ) -> Result<Response<T>, Status> {
        let engine = Arc::clone(&self.engine);
        let start = Instant::now();
        let result = match tokio::task::spawn_blocking(move || work(&engine)).await {
            Ok(result) => result.map_err(Status::from),
            Err(e) => Err(Status::internal(format!("the call stopped: {e}"))),
        };
        let code = result.as_ref().err().map(Status::code);
        self.metrics.call(method, start.elapsed(), code);
        result.map(Response::new)
    }

    /// Runs `work` on the blocking pool as [`Service::blocking`] does, and
    /// answers at once with a stream: the progress `work` reports, then
    /// its reply (or its error, as the stream's status). The work goes on
    /// to its end if the client goes away.
    fn streamed<E: Streamed>(
        &self,
        method: &'static str,
        work: impl FnOnce(&HeliosEngine, &dyn Fn(u64, u64)) -> Result<E::Reply, Fail> + Send + 'static,
    ) -> Response<EventStream<E>> {
        let (tx, events) = progress::stream();
        let engine = Arc::clone(&self.engine);
        let metrics = Arc::clone(&self.metrics);
        let start = Instant::now();
        tokio::task::spawn_blocking(move || {
            let throttled = Throttled::new(tx.clone());
            let result =
                work(&engine, &|done, total| throttled.report(done, total)).map_err(Status::from);
            let code = result.as_ref().err().map(Status::code);
            metrics.call(method, start.elapsed(), code);
            // A client gone by now has nothing to be told.
            let _ = tx.blocking_send(result.map(E::reply));
        });
        Response::new(Box::pin(events))
    }

    fn uptime_seconds(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

/// Why a call failed: the engine's error, or the server's own verdict.
pub(crate) enum Fail {
    Engine(EngineError),
    Status(Status),
}

impl From<EngineError> for Fail {
    fn from(e: EngineError) -> Self {
        Fail::Engine(e)
    }
}

impl From<Status> for Fail {
    fn from(s: Status) -> Self {
        Fail::Status(s)
    }
}

impl From<Fail> for Status {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Engine(e) => status(&e),
            Fail::Status(s) => s,
        }
    }
}

/// A working directory named in a request: an absolute path.
fn workdir(text: &str) -> Result<PathBuf, Status> {
    let path = Path::new(text);
    if text.is_empty() || !path.is_absolute() || text.contains('\0') {
        return Err(Status::invalid_argument(format!(
            "working directory `{}` is not an absolute path",
            text.escape_debug()
        )));
    }
    Ok(path.to_path_buf())
}

/// A path inside a snapshot; a malformed one is refused with the line the
/// CLI prints for it in process.
fn repo_path(text: &str) -> Result<RepoPath, Status> {
    RepoPath::parse(text).map_err(|e| Status::invalid_argument(describe(&e)))
}

/// The per-directory locks, by resolved path (a directory not made yet is
/// named as given: two calls creating it still meet here).
#[derive(Default)]
struct DirLocks {
    by_dir: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

impl DirLocks {
    /// Waits for every directory of `dirs`, in path order.
    async fn lock(&self, dirs: &[&Path]) -> Vec<OwnedMutexGuard<()>> {
        let mut keys: Vec<PathBuf> = dirs
            .iter()
            .map(|d| d.canonicalize().unwrap_or_else(|_| d.to_path_buf()))
            .collect();
        keys.sort();
        keys.dedup();
        let locks: Vec<_> = {
            let mut by_dir = self.by_dir.lock().unwrap_or_else(|p| p.into_inner());
            // Forget directories nobody holds or waits for.
            by_dir.retain(|_, lock| Arc::strong_count(lock) > 1);
            keys.into_iter()
                .map(|k| Arc::clone(by_dir.entry(k).or_default()))
                .collect()
        };
        let mut guards = Vec::with_capacity(locks.len());
        for lock in locks {
            guards.push(lock.lock_owned().await);
        }
        guards
    }
}

type ReadStream = Pin<Box<dyn Stream<Item = Result<proto::ReadChunk, Status>> + Send>>;

/// A long call's answer: its progress, then its reply.
type EventStream<E> = Pin<Box<dyn Stream<Item = Result<E, Status>> + Send>>;

#[tonic::async_trait]
impl Helios for Service {
    async fn status(
        &self,
        _: Request<proto::StatusRequest>,
    ) -> Result<Response<proto::StatusReply>, Status> {
        self.metrics.call("status", std::time::Duration::ZERO, None);
        Ok(Response::new(proto::StatusReply {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            store: self.store.display().to_string(),
            pid: std::process::id(),
            uptime_seconds: self.uptime_seconds(),
            algorithm: self.engine.algorithm().name().to_owned(),
        }))
    }

    async fn commit(
        &self,
        request: Request<proto::CommitRequest>,
    ) -> Result<Response<proto::CommitReply>, Status> {
        let r = request.into_inner();
        let dir = workdir(&r.workdir)?;
        let guards = self.dirs.lock(&[&dir]).await;
        let metrics = Arc::clone(&self.metrics);
        self.blocking("commit", move |engine| {
            let _guards = guards;
            let options = CaptureOptions {
                gitignore: r.gitignore,
                ..CaptureOptions::default()
            };
            let meta = CommitMeta {
                label: r.message.clone(),
                ..CommitMeta::default()
            };
            let durability = wire::durability(r.durability());
            let c = engine.commit_workdir(&dir, &options, durability, meta)?;
            metrics
                .capture_seconds
                .observe(c.capture_latency.as_secs_f64());
            metrics
                .commit_seconds
                .observe(c.metrics.commit_latency.as_secs_f64());
            Ok(proto::CommitReply {
                id: c.id.to_hex(),
                parent: c.parent.map(|p| p.to_hex()).unwrap_or_default(),
                commit_latency_micros: micros(c.metrics.commit_latency),
                new_objects: c.metrics.new_objects,
                new_objects_size: c.metrics.new_objects_size,
                report: Some(wire::report_to_wire(&c.report)),
            })
        })
        .await
    }

    async fn commit_edits(
        &self,
        request: Request<proto::CommitEditsRequest>,
    ) -> Result<Response<proto::CommitReply>, Status> {
        let mut r = request.into_inner();
        let durability = wire::durability(r.durability());
        let mut edits = Vec::with_capacity(r.edits.len());
        for e in std::mem::take(&mut r.edits) {
            let path = repo_path(&e.path)?;
            edits.push(match e.kind() {
                proto::EditKind::File => Edit::file(path, e.content),
                proto::EditKind::Executable => Edit::executable(path, e.content),
                proto::EditKind::Symlink => Edit::symlink(path, e.content),
                proto::EditKind::Delete => Edit::delete_tree(path),
            });
        }
        let metrics = Arc::clone(&self.metrics);
        self.blocking("commit_edits", move |engine| {
            let (base, parents) = if r.base.is_empty() {
                (engine.empty_tree(), Vec::new())
            } else {
                let id = engine.resolve_name(&r.base)?;
                (engine.restore(&id)?, vec![id])
            };
            let tree = base.apply(&edits).map_err(EngineError::from)?;
            let parent = parents.first().map(SnapshotId::to_hex).unwrap_or_default();
            let meta = CommitMeta {
                parents,
                label: r.message,
                metadata: r.metadata.into_iter().collect(),
                pin: false,
            };
            let (id, m) = engine.commit(&tree, durability, meta)?;
            metrics
                .commit_seconds
                .observe(m.commit_latency.as_secs_f64());
            Ok(proto::CommitReply {
                id: id.to_hex(),
                parent,
                commit_latency_micros: micros(m.commit_latency),
                new_objects: m.new_objects,
                new_objects_size: m.new_objects_size,
                report: None,
            })
        })
        .await
    }

    async fn capture(
        &self,
        request: Request<proto::CaptureRequest>,
    ) -> Result<Response<proto::CaptureReply>, Status> {
        let r = request.into_inner();
        let dir = workdir(&r.workdir)?;
        let guards = self.dirs.lock(&[&dir]).await;
        let metrics = Arc::clone(&self.metrics);
        self.blocking("capture", move |engine| {
            let _guards = guards;
            let start = Instant::now();
            let options = CaptureOptions {
                gitignore: r.gitignore,
                ..CaptureOptions::default()
            };
            let captured = engine.capture(&dir, &options)?;
            metrics
                .capture_seconds
                .observe(start.elapsed().as_secs_f64());
            Ok(proto::CaptureReply {
                root: captured.tree.root_hash().to_hex(),
                report: Some(wire::report_to_wire(&captured.report)),
            })
        })
        .await
    }

    type CheckoutStream = EventStream<proto::CheckoutEvent>;

    async fn checkout(
        &self,
        request: Request<proto::CheckoutRequest>,
    ) -> Result<Response<Self::CheckoutStream>, Status> {
        let r = request.into_inner();
        let dir = workdir(&r.workdir)?;
        let guards = self.dirs.lock(&[&dir]).await;
        let metrics = Arc::clone(&self.metrics);
        Ok(self.streamed("checkout", move |engine, progress| {
            let _guards = guards;
            let start = Instant::now();
            let id = engine.resolve_name(&r.name)?;
            let options = CheckoutOptions {
                full: r.full,
                force: r.force,
                ..CheckoutOptions::default()
            };
            let report = engine.checkout(&id, &dir, &options, progress)?;
            metrics
                .switch_seconds
                .observe(start.elapsed().as_secs_f64());
            Ok(proto::CheckoutReply {
                id: id.to_hex(),
                report: Some(wire::report_to_wire(&report)),
            })
        }))
    }

    async fn diff(
        &self,
        request: Request<proto::DiffRequest>,
    ) -> Result<Response<proto::DiffReply>, Status> {
        let r = request.into_inner();
        self.blocking("diff", move |engine| {
            let changes = engine.diff(&engine.resolve_name(&r.a)?, &engine.resolve_name(&r.b)?)?;
            Ok(proto::DiffReply {
                changes: changes.iter().map(wire::change_to_wire).collect(),
            })
        })
        .await
    }

    async fn log(
        &self,
        request: Request<proto::LogRequest>,
    ) -> Result<Response<proto::SnapshotList>, Status> {
        let r = request.into_inner();
        let limit = match r.limit {
            0 => usize::MAX,
            n => usize::try_from(n).unwrap_or(usize::MAX),
        };
        self.blocking("log", move |engine| {
            let entries = if r.start.is_empty() {
                engine.newest_snapshots(limit)?
            } else {
                engine.log(&engine.resolve_name(&r.start)?, limit)?
            };
            Ok(proto::SnapshotList {
                snapshots: entries
                    .iter()
                    .map(|(id, s)| wire::snapshot_to_wire(id, s))
                    .collect(),
            })
        })
        .await
    }

    async fn show(
        &self,
        request: Request<proto::ShowRequest>,
    ) -> Result<Response<proto::SnapshotRecord>, Status> {
        let r = request.into_inner();
        self.blocking("show", move |engine| {
            let id = engine.resolve_name(&r.name)?;
            Ok(wire::snapshot_to_wire(&id, &engine.snapshot(&id)?))
        })
        .await
    }

    async fn ls(
        &self,
        request: Request<proto::LsRequest>,
    ) -> Result<Response<proto::LsReply>, Status> {
        let r = request.into_inner();
        let dir = repo_path(&r.path)?;
        self.blocking("ls", move |engine| {
            let tree = engine.restore(&engine.resolve_name(&r.name)?)?;
            let entries = tree.list(&dir).map_err(EngineError::from)?;
            Ok(proto::LsReply {
                entries: entries
                    .iter()
                    .map(|(name, entry)| proto::LsEntry {
                        name: String::from_utf8_lossy(name.as_bytes()).into_owned(),
                        entry: Some(wire::entry_to_wire(entry)),
                    })
                    .collect(),
            })
        })
        .await
    }

    type ReadStream = ReadStream;

    async fn read(
        &self,
        request: Request<proto::ReadRequest>,
    ) -> Result<Response<ReadStream>, Status> {
        let r = request.into_inner();
        let path = repo_path(&r.path)?;
        let range_end = r.end.unwrap_or(u64::MAX);
        if range_end < r.start {
            return Err(Status::invalid_argument("the range ends before it starts"));
        }
        // The tree and the file's end are found once; each message is then
        // one bounded read of the chunks it touches.
        let found = self
            .blocking("read", move |engine| {
                let tree = engine.restore(&engine.resolve_name(&r.name)?)?;
                let size = tree.get(&path).map_err(EngineError::from)?.map(|e| e.size);
                Ok((tree, path, size.unwrap_or(0).min(range_end)))
            })
            .await?
            .into_inner();
        let (tree, path, end) = found;
        let engine = Arc::clone(&self.engine);
        let stream = futures_util::stream::unfold(Some((r.start, true)), move |state| {
            let (engine, tree, path) = (Arc::clone(&engine), tree.clone(), path.clone());
            async move {
                let (offset, first) = state?;
                if !first && offset >= end {
                    return None;
                }
                let until = end.min(offset.saturating_add(READ_CHUNK)).max(offset);
                let read = tokio::task::spawn_blocking(move || {
                    let mut data = Vec::new();
                    engine
                        .read_file_into(&tree, &path, offset..until, &mut data)
                        .map(|_| data)
                })
                .await;
                match read {
                    Ok(Ok(data)) => {
                        let next = if data.is_empty() {
                            end
                        } else {
                            offset + data.len() as u64
                        };
                        Some((Ok(proto::ReadChunk { data }), Some((next, false))))
                    }
                    Ok(Err(e)) => Some((Err(status(&e)), None)),
                    Err(e) => Some((
                        Err(Status::internal(format!("the read stopped: {e}"))),
                        None,
                    )),
                }
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_ref(
        &self,
        request: Request<proto::GetRefRequest>,
    ) -> Result<Response<proto::RefRecord>, Status> {
        let r = request.into_inner();
        self.blocking("get_ref", move |engine| {
            let id = engine.get_ref(&r.name)?.ok_or_else(|| {
                Status::not_found(format!("no ref named `{}`", r.name.escape_debug()))
            })?;
            Ok(proto::RefRecord {
                name: r.name,
                id: id.to_hex(),
            })
        })
        .await
    }

    async fn set_ref(
        &self,
        request: Request<proto::SetRefRequest>,
    ) -> Result<Response<proto::RefRecord>, Status> {
        let r = request.into_inner();
        self.blocking("set_ref", move |engine| {
            let id = engine.resolve_name(&r.target)?;
            engine.set_ref(&r.name, &id)?;
            Ok(proto::RefRecord {
                name: r.name,
                id: id.to_hex(),
            })
        })
        .await
    }

    async fn list_refs(
        &self,
        _: Request<proto::ListRefsRequest>,
    ) -> Result<Response<proto::RefList>, Status> {
        self.blocking("list_refs", move |engine| {
            Ok(proto::RefList {
                refs: engine
                    .refs()?
                    .into_iter()
                    .map(|(name, id)| proto::RefRecord {
                        name,
                        id: id.to_hex(),
                    })
                    .collect(),
            })
        })
        .await
    }

    async fn delete_ref(
        &self,
        request: Request<proto::DeleteRefRequest>,
    ) -> Result<Response<proto::DeleteRefReply>, Status> {
        let r = request.into_inner();
        self.blocking("delete_ref", move |engine| {
            Ok(proto::DeleteRefReply {
                existed: engine.delete_ref(&r.name)?,
            })
        })
        .await
    }

    async fn pin(
        &self,
        request: Request<proto::PinRequest>,
    ) -> Result<Response<proto::PinReply>, Status> {
        let r = request.into_inner();
        self.blocking("pin", move |engine| {
            let id = engine.resolve_name(&r.name)?;
            engine.pin(&id)?;
            Ok(proto::PinReply { id: id.to_hex() })
        })
        .await
    }

    async fn unpin(
        &self,
        request: Request<proto::PinRequest>,
    ) -> Result<Response<proto::PinReply>, Status> {
        let r = request.into_inner();
        self.blocking("unpin", move |engine| {
            let id = engine.resolve_name(&r.name)?;
            engine.unpin(&id)?;
            Ok(proto::PinReply { id: id.to_hex() })
        })
        .await
    }

    async fn gc(
        &self,
        request: Request<proto::GcRequest>,
    ) -> Result<Response<proto::GcReply>, Status> {
        let r = request.into_inner();
        let metrics = Arc::clone(&self.metrics);
        self.blocking("gc", move |engine| {
            let report = engine.gc()?;
            metrics.gc_runs.inc();
            metrics.gc_bytes_reclaimed.inc_by(report.bytes_reclaimed);
            if r.compact {
                engine.compact()?;
            }
            Ok(wire::gc_to_wire(&report))
        })
        .await
    }

    type FsckStream = EventStream<proto::FsckEvent>;

    async fn fsck(
        &self,
        _: Request<proto::FsckRequest>,
    ) -> Result<Response<Self::FsckStream>, Status> {
        Ok(self.streamed("fsck", move |engine, progress| {
            let report = engine.fsck(progress)?;
            Ok(proto::FsckReply {
                snapshots: report.snapshots,
                trees_checked: report.checked.trees,
                blobs_checked: report.checked.blobs,
                bytes_checked: report.checked.bytes,
                remote_unchecked: report.checked.remote,
                damaged: report
                    .damaged
                    .iter()
                    .map(|(id, e)| proto::Damage {
                        id: id.to_hex(),
                        error: e.to_string(),
                    })
                    .collect(),
            })
        }))
    }

    async fn stats(
        &self,
        _: Request<proto::StatsRequest>,
    ) -> Result<Response<proto::StatsReply>, Status> {
        let clients = u64::try_from(self.metrics.clients.get()).unwrap_or(0);
        let requests = self.metrics.requests_total();
        let uptime_seconds = self.uptime_seconds();
        self.blocking("stats", move |engine| {
            Ok(proto::StatsReply {
                uptime_seconds,
                connected_clients: clients,
                requests,
                ..crate::stats(engine)?
            })
        })
        .await
    }

    type MountStream = EventStream<proto::MountEvent>;

    async fn mount(
        &self,
        request: Request<proto::MountRequest>,
    ) -> Result<Response<Self::MountStream>, Status> {
        let r = request.into_inner();
        let dir = workdir(&r.dir)?;
        let guards = self.dirs.lock(&[&dir]).await;
        Ok(self.streamed("mount", move |engine, progress| {
            let _guards = guards;
            let id = engine.resolve_name(&r.name)?;
            let mounted = engine.mount(&id, &dir, progress)?;
            Ok(wire::mounted_to_wire(&id, &mounted))
        }))
    }

    type ForkStream = EventStream<proto::ForkEvent>;

    async fn fork(
        &self,
        request: Request<proto::ForkRequest>,
    ) -> Result<Response<Self::ForkStream>, Status> {
        let r = request.into_inner();
        let dirs = r
            .dirs
            .iter()
            .map(|d| workdir(d))
            .collect::<Result<Vec<_>, _>>()?;
        let guards = self
            .dirs
            .lock(&dirs.iter().map(PathBuf::as_path).collect::<Vec<_>>())
            .await;
        Ok(self.streamed("fork", move |engine, progress| {
            let _guards = guards;
            let id = engine.resolve_name(&r.name)?;
            let forked = engine.fork_workdirs(&id, &dirs, progress)?;
            Ok(proto::ForkReply {
                id: id.to_hex(),
                dirs: forked
                    .iter()
                    .map(|m| wire::mounted_to_wire(&id, m))
                    .collect(),
            })
        }))
    }

    async fn umount(
        &self,
        request: Request<proto::UmountRequest>,
    ) -> Result<Response<proto::UmountReply>, Status> {
        let r = request.into_inner();
        let dir = workdir(&r.dir)?;
        let guards = self.dirs.lock(&[&dir]).await;
        self.blocking("umount", move |engine| {
            let _guards = guards;
            engine.unmount(&dir)?;
            Ok(proto::UmountReply {})
        })
        .await
    }

    async fn watch(
        &self,
        request: Request<proto::WatchRequest>,
    ) -> Result<Response<proto::WatchReply>, Status> {
        let dir = workdir(&request.into_inner().workdir)?;
        let guards = self.dirs.lock(&[&dir]).await;
        self.blocking("watch", move |engine| {
            let _guards = guards;
            Ok(proto::WatchReply {
                changed: engine.watch(&dir)?,
            })
        })
        .await
    }

    async fn unwatch(
        &self,
        request: Request<proto::WatchRequest>,
    ) -> Result<Response<proto::WatchReply>, Status> {
        let dir = workdir(&request.into_inner().workdir)?;
        let guards = self.dirs.lock(&[&dir]).await;
        self.blocking("unwatch", move |engine| {
            let _guards = guards;
            Ok(proto::WatchReply {
                changed: engine.unwatch(&dir)?,
            })
        })
        .await
    }

    async fn fetch(
        &self,
        request: Request<proto::FetchRequest>,
    ) -> Result<Response<proto::FetchReply>, Status> {
        let r = request.into_inner();
        let store = self.store.clone();
        self.blocking("fetch", move |engine| {
            let remote = helios_remote::open_named(&store, &r.remote).map_err(remote_status)?;
            let (fetched, local) = helios_remote::fetch_named(engine, &remote, &r.remote, &r.what)
                .map_err(remote_status)?;
            Ok(proto::FetchReply {
                id: fetched.id.to_hex(),
                r#ref: local.unwrap_or_default(),
                objects: fetched.objects,
                bytes: fetched.bytes,
                requests: remote.requests(),
            })
        })
        .await
    }
}
