//! Where a store's server listens, and who may talk to it.
//!
//! The socket is `<store>/server.sock`: found by every client from the
//! store's path alone, and gone with the store. A Unix socket address holds
//! at most 107 bytes of path, so a store deeper than that gets a socket in
//! the temporary directory instead, named by a hash of the store's
//! canonical path (clients compute the same name).
//!
//! Access: the socket file is mode 0600, and every accepted connection's
//! peer uid (SO_PEERCRED) must be the uid that owns it; anyone else is
//! disconnected before a byte is read.

use std::io;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use helios_types::HashAlgorithm;
use prometheus::IntGauge;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;
use tonic::transport::server::{Connected, UdsConnectInfo};

use crate::error::ServerError;

/// The socket's name inside the store.
pub const SOCKET_NAME: &str = "server.sock";

/// The longest path a Unix socket address holds (108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Where the server of the store at `store` listens.
pub fn socket_path(store: &Path) -> PathBuf {
    let store = store
        .canonicalize()
        .or_else(|_| std::path::absolute(store))
        .unwrap_or_else(|_| store.to_path_buf());
    let inside = store.join(SOCKET_NAME);
    if inside.as_os_str().len() <= MAX_SOCKET_PATH {
        return inside;
    }
    let digest = HashAlgorithm::Blake3.digest(store.as_os_str().as_encoded_bytes());
    std::env::temp_dir().join(format!("helios-{}.sock", &digest.to_hex()[..32]))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_store_path_keeps_its_socket_inside_and_a_long_one_gets_a_stable_one_outside() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            socket_path(dir.path()),
            dir.path().canonicalize().unwrap().join(SOCKET_NAME)
        );
        let deep = dir.path().join("d".repeat(60)).join("e".repeat(60));
        std::fs::create_dir_all(&deep).unwrap();
        let outside = socket_path(&deep);
        assert!(outside.starts_with(std::env::temp_dir()), "{outside:?}");
        assert!(outside.as_os_str().len() <= MAX_SOCKET_PATH);
        // The same store, named another way, has the same socket.
        assert_eq!(socket_path(&deep.join("../").join("e".repeat(60))), outside);
        assert_ne!(socket_path(&deep.join("..")), outside);
    }
}
