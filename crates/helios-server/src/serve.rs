//! [`serve`]: the server's life, from opening the store to removing its
//! socket.
//!
//! 1. Open the store (its lock keeps a second server, or any other writer,
//!    out).
//! 2. Replace a stale socket (a server killed with SIGKILL leaves one: it
//!    refuses connections), refuse to start beside a live one.
//! 3. Bind, make the socket private, start the metrics endpoint if asked,
//!    and only then say ready.
//! 4. On SIGTERM or SIGINT: stop accepting, let calls in flight finish,
//!    close the engine (queued commits are written), remove the socket.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt as _;
use helios_engine::{EngineConfig, HeliosEngine};
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio_stream::wrappers::UnixListenerStream;

use helios_client::proto::helios_server::HeliosServer;
use helios_client::{MAX_MESSAGE_BYTES, socket_path};

use crate::error::ServerError;
use crate::metrics::{self, Metrics};
use crate::service::Service;
use crate::socket::{Peer, peer_is, restrict};

/// How `helios serve` runs.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Serve Prometheus metrics over HTTP on this loopback address.
    pub metrics: Option<SocketAddr>,
}

/// Where a started server can be reached.
#[derive(Debug, Clone)]
pub struct Ready {
    /// The gRPC socket.
    pub socket: PathBuf,
    /// The metrics endpoint's address (its port chosen by the system when
    /// the one asked for was 0).
    pub metrics: Option<SocketAddr>,
}

/// Why the server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// SIGTERM.
    Terminated,
    /// SIGINT.
    Interrupted,
}

/// Runs a server for the store at `store` until SIGTERM or SIGINT, calling
/// `on_ready` once it accepts calls. Blocks the calling thread.
pub fn serve(
    store: &Path,
    config: EngineConfig,
    options: &ServeOptions,
    on_ready: impl FnOnce(&Ready),
) -> Result<Stopped, ServerError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("helios-server")
        .build()
        .map_err(ServerError::Runtime)?;
    runtime.block_on(run(store, config, options, on_ready))
}

async fn run(
    store: &Path,
    config: EngineConfig,
    options: &ServeOptions,
    on_ready: impl FnOnce(&Ready),
) -> Result<Stopped, ServerError> {
    if let Some(addr) = options.metrics.filter(|a| !metrics::allowed(*a)) {
        return Err(ServerError::MetricsNotLoopback(addr));
    }
    // Signals first: one that arrives while the store opens still stops
    // the server cleanly once it is up.
    let io = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| ServerError::Io {
            action,
            path,
            source,
        }
    };
    let mut terminate = signal(SignalKind::terminate()).map_err(io("watch signals for", store))?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(io("watch signals for", store))?;

    let engine = Arc::new(HeliosEngine::open(store, config)?);
    helios_remote::attach_read_through(&engine, store)?;
    let socket = socket_path(store);
    let listener = match bind(&socket).await {
        Ok(listener) => listener,
        Err(e) => {
            engine.close()?;
            return Err(e);
        }
    };
    let owner = restrict(&socket)?;
    let metrics = Arc::new(Metrics::new());
    let metrics_listener = match options.metrics {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(io("listen for metrics on", Path::new(&addr.to_string())))?,
        ),
        None => None,
    };
    let ready = Ready {
        socket: socket.clone(),
        metrics: metrics_listener.as_ref().and_then(|l| l.local_addr().ok()),
    };
    let metrics_task = metrics_listener.map(|listener| {
        tokio::spawn(metrics::serve_http(
            listener,
            Arc::clone(&metrics),
            Arc::clone(&engine),
        ))
    });

    let clients = Arc::clone(&metrics.clients);
    let refused = metrics.refused_peers.clone();
    let incoming = UnixListenerStream::new(listener).filter_map(move |accepted| {
        let (clients, refused) = (Arc::clone(&clients), refused.clone());
        async move {
            match accepted {
                Ok(stream) => match peer_is(&stream, owner) {
                    Ok(true) => Some(Ok::<_, std::io::Error>(Peer::new(stream, clients))),
                    Ok(false) | Err(_) => {
                        // Dropped unanswered: another user's process.
                        refused.inc();
                        tracing::warn!("refused a connection from another user");
                        None
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    None
                }
            }
        }
    });

    let service = HeliosServer::new(Service::new(
        Arc::clone(&engine),
        Arc::clone(&metrics),
        store.canonicalize().unwrap_or_else(|_| store.to_path_buf()),
    ))
    .max_decoding_message_size(MAX_MESSAGE_BYTES)
    .max_encoding_message_size(MAX_MESSAGE_BYTES);
    on_ready(&ready);
    let mut stopped = Stopped::Terminated;
    let shutdown = async {
        tokio::select! {
            _ = terminate.recv() => stopped = Stopped::Terminated,
            _ = interrupt.recv() => stopped = Stopped::Interrupted,
        }
    };
    let served = tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    if let Some(task) = metrics_task {
        task.abort();
    }
    // Every call has returned: what is queued is written before the socket
    // goes, so a client that sees no socket finds everything on disk.
    let closed = tokio::task::spawn_blocking(move || engine.close())
        .await
        .map_err(|e| ServerError::Runtime(std::io::Error::other(e)))?;
    let removed = std::fs::remove_file(&socket);
    served?;
    closed?;
    removed.map_err(io("remove", &socket))?;
    Ok(stopped)
}

/// Binds the socket, replacing a stale one.
async fn bind(socket: &Path) -> Result<UnixListener, ServerError> {
    let io = |action| {
        move |source| ServerError::Io {
            action,
            path: socket.to_path_buf(),
            source,
        }
    };
    if socket.exists() {
        if tokio::net::UnixStream::connect(socket).await.is_ok() {
            return Err(ServerError::AlreadyRunning(socket.to_path_buf()));
        }
        tracing::info!(socket = %socket.display(), "replacing a stale socket");
        std::fs::remove_file(socket).map_err(io("remove the stale socket"))?;
    }
    UnixListener::bind(socket).map_err(io("listen on"))
}
