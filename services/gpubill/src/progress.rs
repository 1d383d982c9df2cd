//! A one-line progress bar on stderr for the long commands (`close`, `export`); when stderr is
//! not a terminal (CI, a pipe), a line every tenth of the way instead.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone)]
pub struct Progress {
    label: Arc<str>,
    total: u64,
    unit: &'static str,
    interactive: bool,
    /// The last tenth of the way reported, when not interactive.
    tenth: Arc<AtomicU64>,
}

impl Progress {
    const WIDTH: u64 = 30;

    /// A bar counting `total` `unit`s (`tenants`, `lines`).
    pub fn new(label: String, total: u64, unit: &'static str) -> Self {
        Self {
            label: label.into(),
            total,
            unit,
            interactive: std::io::stderr().is_terminal(),
            tenth: Arc::new(AtomicU64::new(0)),
        }
    }

    pub fn show(&self, done: u64) {
        let total = self.total.max(1);
        let done_shown = done.min(total);
        if self.interactive {
            let filled = done_shown * Self::WIDTH / total;
            eprint!(
                "\r{} [{}{}] {done}/{} {}",
                self.label,
                "#".repeat(filled as usize),
                "-".repeat((Self::WIDTH - filled) as usize),
                self.total,
                self.unit
            );
            let _ = std::io::stderr().flush();
        } else if self
            .tenth
            .fetch_max(done_shown * 10 / total, Ordering::Relaxed)
            < done_shown * 10 / total
        {
            eprintln!("{}: {done}/{} {}", self.label, self.total, self.unit);
        }
    }

    pub fn finish(&self) {
        if self.interactive {
            eprintln!();
        }
    }
}
