//! Where output goes: results to stdout, errors and progress to stderr,
//! progress bars only when stderr is a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// One line of results.
pub(crate) fn line(text: &str) {
    #[allow(clippy::print_stdout, reason = "the command's output")]
    {
        println!("{text}");
    }
}

/// A JSON document on one line.
pub(crate) fn json(value: &serde_json::Value) {
    line(&value.to_string());
}

/// A one-line error.
pub(crate) fn error(text: &str) {
    #[allow(clippy::print_stderr, reason = "errors go to stderr")]
    {
        eprintln!("helios: {text}");
    }
}

/// A note for a person (what was skipped, where things went).
pub(crate) fn note(text: &str) {
    #[allow(clippy::print_stderr, reason = "notes go to stderr")]
    {
        eprintln!("{text}");
    }
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub(crate) fn progress(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// Adapts a bar to the engine's `(done, total)` progress callbacks.
pub(crate) fn reporter(bar: &ProgressBar) -> impl Fn(u64, u64) + '_ {
    move |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    }
}
