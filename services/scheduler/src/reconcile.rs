//! Allocation-versus-metering reconciliation (see `docs/scheduler.md`).
