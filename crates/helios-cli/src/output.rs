//! Where output goes: results to stdout, errors and progress to stderr,
//! progress bars only when stderr is a terminal.
//!
//! Every line printed for a person goes through [`escape_controls`]: names,
//! labels and paths come from snapshots and directories, and a control
//! character in one (an escape sequence, a newline) must neither drive the
//! terminal nor forge a line of output.

use std::borrow::Cow;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// `text` with every control character written as an escape (`\n`,
/// `\u{1b}`), so that it prints as exactly one inert line.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One line of results.
pub fn line(text: &str) {
    let text = escape_controls(text);
    #[allow(clippy::print_stdout, reason = "the command's output")]
    {
        println!("{text}");
    }
}

/// Several lines of results made here (a rendered table), each escaped.
pub fn lines(text: &str) {
    text.lines().for_each(line);
}

/// A JSON document on one line.
pub fn json(value: &serde_json::Value) {
    line(&value.to_string());
}

/// A one-line error.
pub fn error(text: &str) {
    let text = escape_controls(text);
    #[allow(clippy::print_stderr, reason = "errors go to stderr")]
    {
        eprintln!("helios: {text}");
    }
}

/// A note for a person (what was skipped, where things went).
pub fn note(text: &str) {
    let text = escape_controls(text);
    #[allow(clippy::print_stderr, reason = "notes go to stderr")]
    {
        eprintln!("{text}");
    }
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub fn progress(what: &str) -> ProgressBar {
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
pub fn reporter(bar: &ProgressBar) -> impl Fn(u64, u64) + '_ {
    move |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    }
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(escape_controls("plain ünïcode"), "plain ünïcode");
        assert_eq!(
            escape_controls("evil\u{1b}[2J\nfake line\t\u{7f}"),
            "evil\\u{1b}[2J\\nfake line\\t\\u{7f}"
        );
    }
}
