//! Why a call to a server failed, and how any error is said on one line.

use std::io;
use std::path::PathBuf;

use tonic::{Code, Status};

/// Why a call to a server failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error; `message` is its one line.
    #[error("{message}")]
    Server {
        /// The gRPC status code.
        code: Code,
        /// The server's message.
        message: String,
    },
    /// The socket exists but the connection failed for another reason
    /// than no server listening (a refused peer, a permission).
    #[error("cannot talk to the server on {}: {source}", path.display())]
    Connect {
        /// The socket.
        path: PathBuf,
        /// What failed.
        #[source]
        source: tonic::transport::Error,
    },
    /// A reply did not parse (a server of another version, say).
    #[error("the server's reply has a malformed {what}: `{value}`")]
    BadReply {
        /// Which field.
        what: &'static str,
        /// What it held.
        value: String,
    },
    /// The client's runtime could not start.
    #[error("cannot start the client's runtime: {0}")]
    Runtime(#[source] io::Error),
    /// A working directory's path is not UTF-8, which the protocol's
    /// strings must be (use the library in process for such a path).
    #[error("{} is not a UTF-8 path: the server cannot be told about it", .0.display())]
    NotUtf8Path(PathBuf),
    /// A long call's stream ended without its reply (the server stopped
    /// mid-call, say).
    #[error("the server's answer ended before its reply")]
    NoReply,
    /// Writing what `read` returned failed.
    #[error("writing the file's bytes: {0}")]
    Output(#[source] io::Error),
}

impl From<Status> for ClientError {
    fn from(status: Status) -> Self {
        ClientError::Server {
            code: status.code(),
            message: status.message().to_owned(),
        }
    }
}

/// An error and its causes on one line. Our error types already show their
/// source in their message (so a library caller sees it too); a cause is
/// added only when the line does not hold its text yet.
pub fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    let mut next = Some(e);
    while let Some(cause) = next {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause_text);
        }
        next = cause.source();
    }
    text
}
