//! [`Client`]: a blocking client of a store's server, for the CLI and Rust
//! programs, whose calls return the engine's own types. (Other languages
//! generate theirs from spec/helios.proto.)

use std::collections::BTreeMap;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};

use helios_types::api::{CommitMetrics, Durability, GcReport, VerifyReport};
use helios_types::{Hash, Name, Snapshot, SnapshotId};
use helios_vst::{Change, Entry};
use helios_workdir::{Mounted, Report, WorkdirCommit};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint};

use crate::error::ClientError;
use crate::events::{Step, Streamed};
use crate::proto::{self, helios_client::HeliosClient};
use crate::socket::socket_path;
use crate::{MAX_MESSAGE_BYTES, wire};

/// A connection to the server of one store.
pub struct Client {
    runtime: tokio::runtime::Runtime,
    rpc: HeliosClient<Channel>,
    socket: PathBuf,
}

/// What [`Client::fsck`] found: the engine's `FsckReport` with each
/// damage as the server's text.
#[derive(Debug, Clone, Default)]
pub struct FsckSummary {
    /// Snapshots in the store.
    pub snapshots: u64,
    /// What the checks of undamaged snapshots read.
    pub checked: VerifyReport,
    /// Each damaged snapshot with what its check found.
    pub damaged: Vec<(SnapshotId, String)>,
}

/// What [`Client::fetch`] brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchSummary {
    /// The snapshot fetched.
    pub id: SnapshotId,
    /// The local ref that now names it (`None`: fetched by id).
    pub local_ref: Option<String>,
    /// Objects (records included) read from the remote and stored.
    pub objects: u64,
    /// Their encoded bytes.
    pub bytes: u64,
    /// Calls the server made to the object store.
    pub requests: u64,
}

impl Client {
    /// Connects to the server of the store at `store`; `None` when no
    /// server runs there (no socket, or a stale one that nobody answers).
    pub fn connect(store: &Path) -> Result<Option<Client>, ClientError> {
        let socket = socket_path(store);
        if !socket.exists() {
            return Ok(None);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ClientError::Runtime)?;
        let target = socket.clone();
        let connected = runtime.block_on(async move {
            // The URI is a placeholder: the connector dials the socket.
            Endpoint::from_static("http://helios.invalid")
                .connect_with_connector(tower::service_fn(move |_| {
                    let target = target.clone();
                    async move { UnixStream::connect(target).await.map(TokioIo::new) }
                }))
                .await
        });
        let channel = match connected {
            Ok(channel) => channel,
            Err(e) if nobody_listens(&e) => return Ok(None),
            Err(source) => {
                return Err(ClientError::Connect {
                    path: socket,
                    source,
                });
            }
        };
        let rpc = HeliosClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Ok(Some(Client {
            runtime,
            rpc,
            socket,
        }))
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Runs one call to completion.
    fn call<T, F>(&self, call: impl FnOnce(HeliosClient<Channel>) -> F) -> Result<T, ClientError>
    where
        F: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let reply = self.runtime.block_on(call(self.rpc.clone()))?;
        Ok(reply.into_inner())
    }

    /// Runs one long call to completion, handing its progress to
    /// `progress` (`done`, `total`) as it streams in.
    fn call_streamed<E: Streamed, F>(
        &self,
        call: impl FnOnce(HeliosClient<Channel>) -> F,
        progress: &dyn Fn(u64, u64),
    ) -> Result<E::Reply, ClientError>
    where
        F: Future<Output = Result<tonic::Response<tonic::codec::Streaming<E>>, tonic::Status>>,
    {
        self.runtime.block_on(async {
            let mut events = call(self.rpc.clone()).await?.into_inner();
            while let Some(event) = events.message().await? {
                match event.into_step() {
                    Some(Step::Progress(p)) => progress(p.done, p.total),
                    Some(Step::Reply(reply)) => return Ok(reply),
                    None => {}
                }
            }
            Err(ClientError::NoReply)
        })
    }

    /// The server's identity.
    pub fn status(&self) -> Result<proto::StatusReply, ClientError> {
        self.call(|mut c| async move { c.status(proto::StatusRequest {}).await })
    }

    /// Snapshots the working directory `dir` (an absolute path).
    pub fn commit_workdir(
        &self,
        dir: &Path,
        message: &str,
        durability: Durability,
        gitignore: bool,
    ) -> Result<WorkdirCommit, ClientError> {
        let request = proto::CommitRequest {
            workdir: wire_path(dir)?,
            message: message.to_owned(),
            durability: wire::durability_to_wire(durability).into(),
            gitignore,
        };
        let reply = self.call(|mut c| async move { c.commit(request).await })?;
        Ok(WorkdirCommit {
            id: wire::id(&reply.id)?,
            parent: match reply.parent.as_str() {
                "" => None,
                hex => Some(wire::id(hex)?),
            },
            metrics: wire::metrics(&reply),
            report: wire::report(reply.report),
            // The server times its capture in its metrics only.
            capture_latency: std::time::Duration::ZERO,
        })
    }

    /// Snapshots `base` (a name; `None` for an empty tree) plus `edits`.
    pub fn commit_edits(
        &self,
        base: Option<&str>,
        edits: Vec<proto::Edit>,
        message: &str,
        durability: Durability,
        metadata: BTreeMap<String, String>,
    ) -> Result<(SnapshotId, CommitMetrics), ClientError> {
        let request = proto::CommitEditsRequest {
            base: base.unwrap_or_default().to_owned(),
            edits,
            message: message.to_owned(),
            durability: wire::durability_to_wire(durability).into(),
            metadata: metadata.into_iter().collect(),
        };
        let reply = self.call(|mut c| async move { c.commit_edits(request).await })?;
        Ok((wire::id(&reply.id)?, wire::metrics(&reply)))
    }

    /// Reads `dir` as a commit would, storing no snapshot: the tree's root
    /// hash and what the capture read.
    pub fn capture(&self, dir: &Path, gitignore: bool) -> Result<(Hash, Report), ClientError> {
        let request = proto::CaptureRequest {
            workdir: wire_path(dir)?,
            gitignore,
        };
        let reply = self.call(|mut c| async move { c.capture(request).await })?;
        let root = reply.root.parse().map_err(|_| ClientError::BadReply {
            what: "root hash",
            value: reply.root.clone(),
        })?;
        Ok((root, wire::report(reply.report)))
    }

    /// Switches `dir` to the snapshot `name` names, reporting files
    /// written of files to write to `progress` as it goes.
    pub fn checkout(
        &self,
        name: &str,
        dir: &Path,
        full: bool,
        force: bool,
        progress: &dyn Fn(u64, u64),
    ) -> Result<(SnapshotId, Report), ClientError> {
        let request = proto::CheckoutRequest {
            name: name.to_owned(),
            workdir: wire_path(dir)?,
            full,
            force,
        };
        let reply =
            self.call_streamed(|mut c| async move { c.checkout(request).await }, progress)?;
        Ok((wire::id(&reply.id)?, wire::report(reply.report)))
    }

    /// What changed from `a` to `b`.
    pub fn diff(&self, a: &str, b: &str) -> Result<Vec<Change>, ClientError> {
        let request = proto::DiffRequest {
            a: a.to_owned(),
            b: b.to_owned(),
        };
        let reply = self.call(|mut c| async move { c.diff(request).await })?;
        reply.changes.into_iter().map(wire::change).collect()
    }

    /// History from `start` along first parents, or every snapshot newest
    /// first; at most `limit` entries.
    pub fn log(
        &self,
        start: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(SnapshotId, Snapshot)>, ClientError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let request = proto::LogRequest {
            start: start.unwrap_or_default().to_owned(),
            // 0 asks for everything: what a limit past u32 means too.
            limit: u32::try_from(limit).unwrap_or(0),
        };
        let reply = self.call(|mut c| async move { c.log(request).await })?;
        reply.snapshots.into_iter().map(wire::snapshot).collect()
    }

    /// The record of the snapshot `name` names.
    pub fn show(&self, name: &str) -> Result<(SnapshotId, Snapshot), ClientError> {
        let request = proto::ShowRequest {
            name: name.to_owned(),
        };
        wire::snapshot(self.call(|mut c| async move { c.show(request).await })?)
    }

    /// The entries of directory `path` ("" for the root) of a snapshot.
    pub fn ls(&self, name: &str, path: &str) -> Result<Vec<(Name, Entry)>, ClientError> {
        let request = proto::LsRequest {
            name: name.to_owned(),
            path: path.to_owned(),
        };
        let reply = self.call(|mut c| async move { c.ls(request).await })?;
        reply.entries.into_iter().map(wire::ls_entry).collect()
    }

    /// Writes `range` (cut at the file's end) of the file at `path` to
    /// `out` as it arrives; returns the bytes written.
    pub fn read_into(
        &self,
        name: &str,
        path: &str,
        range: Range<u64>,
        out: &mut dyn Write,
    ) -> Result<u64, ClientError> {
        let request = proto::ReadRequest {
            name: name.to_owned(),
            path: path.to_owned(),
            start: range.start,
            end: (range.end != u64::MAX).then_some(range.end),
        };
        let mut rpc = self.rpc.clone();
        self.runtime.block_on(async move {
            let mut stream = rpc.read(request).await?.into_inner();
            let mut written = 0;
            while let Some(chunk) = stream.message().await? {
                out.write_all(&chunk.data).map_err(ClientError::Output)?;
                written += chunk.data.len() as u64;
            }
            Ok(written)
        })
    }

    /// The snapshot a ref points at, if the ref exists.
    pub fn get_ref(&self, name: &str) -> Result<Option<SnapshotId>, ClientError> {
        let request = proto::GetRefRequest {
            name: name.to_owned(),
        };
        match self.call(|mut c| async move { c.get_ref(request).await }) {
            Ok(reply) => Ok(Some(wire::id(&reply.id)?)),
            Err(ClientError::Server {
                code: tonic::Code::NotFound,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Points ref `name` at the snapshot `target` names; returns its id.
    pub fn set_ref(&self, name: &str, target: &str) -> Result<SnapshotId, ClientError> {
        let request = proto::SetRefRequest {
            name: name.to_owned(),
            target: target.to_owned(),
        };
        wire::id(
            &self
                .call(|mut c| async move { c.set_ref(request).await })?
                .id,
        )
    }

    /// Every ref.
    pub fn refs(&self) -> Result<BTreeMap<String, SnapshotId>, ClientError> {
        let reply =
            self.call(|mut c| async move { c.list_refs(proto::ListRefsRequest {}).await })?;
        reply
            .refs
            .into_iter()
            .map(|r| Ok((r.name, wire::id(&r.id)?)))
            .collect()
    }

    /// Deletes a ref; false when there was none.
    pub fn delete_ref(&self, name: &str) -> Result<bool, ClientError> {
        let request = proto::DeleteRefRequest {
            name: name.to_owned(),
        };
        Ok(self
            .call(|mut c| async move { c.delete_ref(request).await })?
            .existed)
    }

    /// Pins the snapshot `name` names; returns its id.
    pub fn pin(&self, name: &str) -> Result<SnapshotId, ClientError> {
        let request = proto::PinRequest {
            name: name.to_owned(),
        };
        wire::id(&self.call(|mut c| async move { c.pin(request).await })?.id)
    }

    /// Unpins the snapshot `name` names; returns its id.
    pub fn unpin(&self, name: &str) -> Result<SnapshotId, ClientError> {
        let request = proto::PinRequest {
            name: name.to_owned(),
        };
        wire::id(&self.call(|mut c| async move { c.unpin(request).await })?.id)
    }

    /// Collects garbage, then compacts the store when `compact`.
    pub fn gc(&self, compact: bool) -> Result<GcReport, ClientError> {
        let reply = self.call(|mut c| async move { c.gc(proto::GcRequest { compact }).await })?;
        Ok(wire::gc(&reply))
    }

    /// Brings `what` (a full snapshot id, or a ref of the remote) from the
    /// store's remote `remote` into the store, as `helios fetch` does.
    pub fn fetch(&self, remote: &str, what: &str) -> Result<FetchSummary, ClientError> {
        let request = proto::FetchRequest {
            remote: remote.to_owned(),
            what: what.to_owned(),
        };
        let reply = self.call(|mut c| async move { c.fetch(request).await })?;
        Ok(FetchSummary {
            id: wire::id(&reply.id)?,
            local_ref: (!reply.r#ref.is_empty()).then_some(reply.r#ref),
            objects: reply.objects,
            bytes: reply.bytes,
            requests: reply.requests,
        })
    }

    /// Verifies every snapshot, reporting snapshots checked to `progress`.
    pub fn fsck(&self, progress: &dyn Fn(u64, u64)) -> Result<FsckSummary, ClientError> {
        let reply = self.call_streamed(
            |mut c| async move { c.fsck(proto::FsckRequest {}).await },
            progress,
        )?;
        let damaged = reply
            .damaged
            .iter()
            .map(|d| Ok((wire::id(&d.id)?, d.error.clone())))
            .collect::<Result<_, ClientError>>()?;
        Ok(FsckSummary {
            snapshots: reply.snapshots,
            checked: wire::verify(&reply),
            damaged,
        })
    }

    /// The store's sizes and the server's live counters.
    pub fn stats(&self) -> Result<proto::StatsReply, ClientError> {
        self.call(|mut c| async move { c.stats(proto::StatsRequest {}).await })
    }

    /// Mounts the snapshot `name` names at `dir` (a checkout where overlay
    /// mounts are not allowed).
    pub fn mount(
        &self,
        name: &str,
        dir: &Path,
        progress: &dyn Fn(u64, u64),
    ) -> Result<(SnapshotId, Mounted), ClientError> {
        let request = proto::MountRequest {
            name: name.to_owned(),
            dir: wire_path(dir)?,
        };
        let reply = self.call_streamed(|mut c| async move { c.mount(request).await }, progress)?;
        Ok((wire::id(&reply.id)?, wire::mounted(reply)))
    }

    /// Prepares every directory of `dirs` at the snapshot `name` names
    /// (`progress`: the base copy, where one is made).
    pub fn fork(
        &self,
        name: &str,
        dirs: &[PathBuf],
        progress: &dyn Fn(u64, u64),
    ) -> Result<(SnapshotId, Vec<Mounted>), ClientError> {
        let request = proto::ForkRequest {
            name: name.to_owned(),
            dirs: dirs
                .iter()
                .map(|d| wire_path(d))
                .collect::<Result<_, _>>()?,
        };
        let reply = self.call_streamed(|mut c| async move { c.fork(request).await }, progress)?;
        let id = wire::id(&reply.id)?;
        Ok((id, reply.dirs.into_iter().map(wire::mounted).collect()))
    }

    /// Unmounts a directory `mount` made.
    pub fn umount(&self, dir: &Path) -> Result<(), ClientError> {
        let request = proto::UmountRequest {
            dir: wire_path(dir)?,
        };
        self.call(|mut c| async move { c.umount(request).await })?;
        Ok(())
    }

    /// Registers `dir` with the server's watcher; false when it was
    /// already.
    pub fn watch(&self, dir: &Path) -> Result<bool, ClientError> {
        let request = proto::WatchRequest {
            workdir: wire_path(dir)?,
        };
        Ok(self
            .call(|mut c| async move { c.watch(request).await })?
            .changed)
    }

    /// Stops watching `dir`; false when it was not watched.
    pub fn unwatch(&self, dir: &Path) -> Result<bool, ClientError> {
        let request = proto::WatchRequest {
            workdir: wire_path(dir)?,
        };
        Ok(self
            .call(|mut c| async move { c.unwatch(request).await })?
            .changed)
    }
}

/// A path as the server reads it: absolute (a relative one is taken from
/// this process's directory, which the server does not share), and UTF-8,
/// as protobuf strings are.
fn wire_path(dir: &Path) -> Result<String, ClientError> {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    absolute
        .to_str()
        .map(str::to_owned)
        .ok_or(ClientError::NotUtf8Path(absolute))
}

/// Whether a failed connection means that no server listens (the socket is
/// stale, or went away between the check and the dial).
fn nobody_listens(e: &tonic::transport::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            );
        }
        source = err.source();
    }
    false
}
