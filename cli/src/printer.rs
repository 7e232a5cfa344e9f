//! The only owner of stdout/stderr formatting, colour and progress. Data goes to stdout; logs and
//! progress go to stderr. Colour honours `NO_COLOR` and is off when stderr is not a terminal.

use std::io::{IsTerminal, Write};

use owo_colors::OwoColorize;

use crate::args::{GlobalArgs, OutputFormat};

#[derive(Debug, Clone)]
pub struct Printer {
    pub output: OutputFormat,
    pub quiet: bool,
    color: bool,
}

impl Printer {
    pub fn new(global: &GlobalArgs) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Self {
            output: global.output,
            quiet: global.quiet,
            color: !no_color && std::io::stderr().is_terminal(),
        }
    }

    /// Whether progress bars may be drawn: never with `-q` or when stderr is not a terminal.
    pub fn progress_enabled(&self) -> bool {
        !self.quiet && std::io::stderr().is_terminal()
    }

    /// Logs go to stderr; `-v` raises the level, `RUST_LOG` overrides it.
    pub fn init_logging(&self, verbosity: u8) {
        let default_level = match (self.quiet, verbosity) {
            (true, _) => "error",
            (false, 0) => "warn",
            (false, 1) => "info",
            (false, 2) => "debug",
            (false, _) => "trace",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
        // A second initialisation (tests calling `run` twice) is harmless: keep the first.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(self.color)
            .without_time()
            .try_init();
    }

    /// Writes data to stdout.
    pub fn stdout(&self, text: &str) -> anyhow::Result<()> {
        self.stdout_bytes(text.as_bytes())
    }

    pub fn stdout_bytes(&self, bytes: &[u8]) -> anyhow::Result<()> {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(bytes)?;
        stdout.flush()?;
        Ok(())
    }

    /// A status line on stderr (suppressed by `-q`).
    pub fn status(&self, verb: &str, message: &str) {
        if self.quiet {
            return;
        }
        if self.color {
            eprintln!("{:>12} {message}", verb.green().bold());
        } else {
            eprintln!("{verb:>12} {message}");
        }
    }

    /// A warning on stderr (suppressed by `-q`).
    pub fn warn(&self, message: &str) {
        if self.quiet {
            return;
        }
        if self.color {
            eprintln!("{} {message}", "warning:".yellow().bold());
        } else {
            eprintln!("warning: {message}");
        }
    }

    /// An error on stderr; always shown.
    pub fn error(&self, message: &str) {
        if self.color {
            eprintln!("{} {message}", "error:".red().bold());
        } else {
            eprintln!("error: {message}");
        }
    }
}

/// One progress line per host (or per service), drawn on stderr only when progress is enabled; with
/// `-q` or a non-terminal stderr every method is a no-op.
#[derive(Debug, Clone)]
pub struct ProgressLines {
    multi: Option<indicatif::MultiProgress>,
}

/// One line of [`ProgressLines`]: `name [=====>    ] 3/7 current step`.
#[derive(Debug, Clone)]
pub struct ProgressLine {
    bar: Option<indicatif::ProgressBar>,
}

impl Printer {
    /// A group of progress lines (see [`ProgressLines`]).
    pub fn progress_lines(&self) -> ProgressLines {
        ProgressLines {
            multi: self.progress_enabled().then(indicatif::MultiProgress::new),
        }
    }
}

impl ProgressLines {
    /// Lines that never draw (tests, library callers without a terminal).
    pub fn hidden() -> Self {
        Self { multi: None }
    }

    /// Adds a line of `total` steps labelled `name`.
    pub fn line(&self, name: &str, total: u64) -> ProgressLine {
        let bar = self.multi.as_ref().map(|multi| {
            let bar = multi.add(indicatif::ProgressBar::new(total));
            let style = indicatif::ProgressStyle::with_template(
                "{prefix:>14} [{bar:24}] {pos}/{len} {wide_msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(name.to_owned());
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        });
        ProgressLine { bar }
    }
}

impl ProgressLine {
    pub fn set_message(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_owned());
        }
    }

    pub fn set_length(&self, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    pub fn inc(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// Stops the line, leaving `message` on it.
    pub fn finish(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_with_message(message.to_owned());
        }
    }
}
