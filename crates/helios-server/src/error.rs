//! The server's errors, and how engine errors travel as gRPC statuses: a
//! code a program can act on, and the engine's one-line message for a
//! person (helios-client's `describe`).

use std::io;
use std::path::PathBuf;

use helios_client::describe;
use helios_engine::{EngineError, ErrorClass};
use tonic::{Code, Status};

/// Why `helios serve` could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Opening or closing the store failed (a store another process holds
    /// is refused here).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The store's list of remotes could not be read.
    #[error(transparent)]
    Remotes(#[from] helios_remote::ConfigError),
    /// A file operation on the socket or the metrics listener failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// To what.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// Another server answers on the socket already.
    #[error("a server already answers on {}", .0.display())]
    AlreadyRunning(PathBuf),
    /// Metrics are served on loopback only.
    #[error("metrics address {0} is not a loopback address (use 127.0.0.1:PORT or [::1]:PORT)")]
    MetricsNotLoopback(std::net::SocketAddr),
    /// The async runtime could not start.
    #[error("cannot start the server's runtime: {0}")]
    Runtime(#[source] io::Error),
    /// The gRPC transport failed.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// The status an engine error travels as: its code, and the line the CLI
/// prints for it in process ([`describe`]).
pub(crate) fn status(e: &EngineError) -> Status {
    Status::new(code(e), describe(e))
}

/// The status a remote's error travels as: the engine's own when the
/// engine failed; else a code for what went wrong with the remote, and the
/// error with every cause, one line, as the CLI prints it in process.
pub(crate) fn remote_status(e: helios_remote::RemoteError) -> Status {
    use helios_remote::RemoteError as R;
    let code = match &e {
        R::Engine(e) => return status(e),
        R::BadUrl(_) | R::Config(_) | R::AlgorithmMismatch { .. } => Code::InvalidArgument,
        R::NotARemote(_)
        | R::NoSuchRef { .. }
        | R::NoSuchSnapshot { .. }
        | R::MissingThere { .. }
        | R::MissingHere(_) => Code::NotFound,
        R::Format { .. } | R::Object { .. } => Code::DataLoss,
        R::Store { .. } | R::Runtime(_) => Code::Unavailable,
        R::NoConditionalWrites { .. } | R::RefMoved { .. } | R::NotFastForward { .. } => {
            Code::FailedPrecondition
        }
    };
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let line = cause.to_string();
        if !message.contains(&line) {
            message = format!("{message}: {line}");
        }
        source = cause.source();
    }
    Status::new(code, message)
}

/// The gRPC code of each kind of failure (the engine classifies, so the
/// server and the Python package agree).
fn code(e: &EngineError) -> Code {
    match e.class() {
        ErrorClass::NotFound => Code::NotFound,
        ErrorClass::InvalidInput => Code::InvalidArgument,
        ErrorClass::Corrupt => Code::DataLoss,
        ErrorClass::Locked | ErrorClass::WouldLoseFiles | ErrorClass::Reclaimed => {
            Code::FailedPrecondition
        }
        ErrorClass::NoSpace => Code::ResourceExhausted,
        ErrorClass::Closed => Code::Unavailable,
        ErrorClass::Other => Code::Internal,
    }
}
