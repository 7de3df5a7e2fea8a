//! Where the engine's own reports go: `tracing` events at the level the
//! `HELIOS_LOG` variable names (default `warn`; any `EnvFilter` directive,
//! such as `info` or `helios_workdir=debug`), one line each on stderr, so
//! that a skipped special file, an ignored damaged state or a failed
//! background write is seen, never on stdout, which scripts parse. Control
//! characters are escaped as in every other line the CLI prints (the paths
//! in these lines are the user's file names). A server's lines carry the
//! time and the module; a command's only the level and the message.

use std::io;

use tracing_subscriber::EnvFilter;

use crate::output;

/// The variable that sets what is logged.
pub const ENV: &str = "HELIOS_LOG";

/// What is logged when [`ENV`] is unset.
const DEFAULT: &str = "warn";

/// Sends this process's `tracing` events to stderr (see the module docs).
/// `serving`: the process is a long-lived server.
pub fn init(serving: bool) {
    let filter = match std::env::var(ENV) {
        Err(_) => EnvFilter::new(DEFAULT),
        Ok(directives) => EnvFilter::try_new(&directives).unwrap_or_else(|e| {
            output::error(&format!("{ENV}={directives}: {e}; logging warnings only"));
            EnvFilter::new(DEFAULT)
        }),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| EscapedStderr)
        .with_ansi(false);
    // A second subscriber (a test harness's) is not ours to replace.
    let _ = if serving {
        builder.try_init()
    } else {
        builder.without_time().with_target(false).try_init()
    };
}

/// Stderr, each write one line with its control characters escaped: the
/// formatter writes an event whole, ending in its newline.
struct EscapedStderr;

impl io::Write for EscapedStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let body = text.strip_suffix('\n').unwrap_or(&text);
        let mut line = output::escape_controls(body).into_owned();
        line.push('\n');
        io::stderr().lock().write_all(line.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}
