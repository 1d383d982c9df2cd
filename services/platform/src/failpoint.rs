//! Failpoints for crash testing: `GPUBILL_FAILPOINT=name:N` makes the process abort (no cleanup,
//! no flush, like `kill -9`) the N-th time execution reaches the failpoint `name`. Unset, a
//! failpoint costs one atomic load. Used by the fault-injection tests; never set in production.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that arms a failpoint.
pub const FAILPOINT_VARIABLE: &str = "GPUBILL_FAILPOINT";

struct Armed {
    name: String,
    at_hit: u64,
    hits: AtomicU64,
}

fn armed() -> Option<&'static Armed> {
    static ARMED: OnceLock<Option<Armed>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let spec = std::env::var(FAILPOINT_VARIABLE).ok()?;
            let (name, at_hit) = match spec.split_once(':') {
                Some((name, count)) => (name.to_owned(), count.parse().ok()?),
                None => (spec, 1),
            };
            Some(Armed {
                name,
                at_hit,
                hits: AtomicU64::new(0),
            })
        })
        .as_ref()
}

/// Aborts the process here if this failpoint is armed and this is its N-th hit.
pub fn hit(name: &str) {
    if let Some(armed) = armed().filter(|armed| armed.name == name) {
        let hits = armed.hits.fetch_add(1, Ordering::SeqCst) + 1;
        if hits == armed.at_hit {
            eprintln!("failpoint {name} reached (hit {hits}): aborting");
            std::process::abort();
        }
    }
}
