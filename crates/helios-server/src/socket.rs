//! Who may talk to a store's server (where it listens is helios-client's
//! `socket_path`).
//!
//! Access: the socket file is mode 0600, and every accepted connection's
//! peer uid (SO_PEERCRED) must be the uid that owns it; anyone else is
//! disconnected before a byte is read.

use std::io;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use prometheus::IntGauge;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;
use tonic::transport::server::{Connected, UdsConnectInfo};

use crate::error::ServerError;

/// Makes the socket file private to its owner, and returns the uid every
/// peer must have.
pub(crate) fn restrict(socket: &Path) -> Result<u32, ServerError> {
    let io = |action| {
        move |source| ServerError::Io {
            action,
            path: socket.to_path_buf(),
            source,
        }
    };
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .map_err(io("restrict access to"))?;
    Ok(std::fs::metadata(socket).map_err(io("read"))?.uid())
}

/// Whether the peer on `stream` runs as `uid`.
pub(crate) fn peer_is(stream: &UnixStream, uid: u32) -> io::Result<bool> {
    Ok(stream.peer_cred()?.uid() == uid)
}

/// An accepted connection, counted in the connected-clients gauge while it
/// lives.
pub(crate) struct Peer {
    stream: UnixStream,
    clients: Arc<IntGauge>,
}

impl Peer {
    pub(crate) fn new(stream: UnixStream, clients: Arc<IntGauge>) -> Self {
        clients.inc();
        Peer { stream, clients }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.clients.dec();
    }
}

impl Connected for Peer {
    type ConnectInfo = UdsConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for Peer {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Peer {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
