//! Renders a reconciliation report (`gpubill_scheduler::reconcile`) as text tables for the
//! terminal: one for GPUs allocated but silent, one for usage metered but unallocated.

use gpubill_scheduler::reconcile::{Discrepancy, Reconciliation};
use std::fmt::Write;

pub fn render(report: &Reconciliation) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Reconciliation  {} .. {}  tolerance {} s: {} allocated GPUs checked, {} metered streams checked",
        report.since.format("%Y-%m-%dT%H:%M:%SZ"),
        report.as_of.format("%Y-%m-%dT%H:%M:%SZ"),
        report.tolerance_seconds,
        report.gpus_checked,
        report.streams_checked
    );
    section(
        &mut out,
        "allocated but silent",
        "missing s",
        &report.allocated_but_silent,
        |d| d.missing_seconds.to_string(),
    );
    section(
        &mut out,
        "metered but unallocated",
        "unallocated s",
        &report.metered_but_unallocated,
        |d| d.unallocated_seconds.to_string(),
    );
    if report.is_clean() {
        let _ = writeln!(
            out,
            "nothing flagged: every allocated GPU was metered, and only those"
        );
    }
    out
}

fn section(
    out: &mut String,
    title: &str,
    figure: &str,
    rows: &[Discrepancy],
    value: impl Fn(&Discrepancy) -> String,
) {
    let _ = writeln!(out, "\n{title}: {}", rows.len());
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "{:<36}  {:<12}  {:<9}  {:<48}  {:<18}  {:>12}  {:>12}  {:>13}",
        "allocation", "tenant", "node", "gpu", "reason", "allocated s", "metered s", figure
    );
    for d in rows {
        let _ = writeln!(
            out,
            "{:<36}  {:<12}  {:<9}  {:<48}  {:<18}  {:>12}  {:>12}  {:>13}",
            d.allocation_id,
            d.tenant,
            d.node,
            d.gpu_uuid,
            d.reason,
            d.allocated_seconds.to_string(),
            d.metered_seconds.to_string(),
            value(d)
        );
    }
}
