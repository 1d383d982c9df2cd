//! Gapless document numbers (`INV-2026-000001`, `CN-2026-000001`), issued inside the transaction
//! that finalizes the document.

use crate::LedgerError;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use gpubill_domain::{DocumentKind, DocumentNumber};
use gpubill_schema::schema::document_counters;

/// The next number of `kind` for `year`. Call it inside the transaction that stores the
/// document: the counter row stays locked until that transaction ends, so concurrent callers
/// queue, and a rollback gives the number back. Numbers are therefore consecutive, without gaps
/// or repeats, in commit order.
pub fn next_document_number(
    conn: &mut PgConnection,
    kind: DocumentKind,
    year: i32,
) -> Result<DocumentNumber, LedgerError> {
    // Refuses a year out of range before touching the counter.
    DocumentNumber::next(kind, year, None)?;
    // The counter's CHECK refuses a sequence past 999,999: the series is exhausted, and the
    // transaction fails rather than issue a wider number.
    let sequence: i32 = diesel::insert_into(document_counters::table)
        .values((
            document_counters::kind.eq(kind.prefix()),
            document_counters::year.eq(year),
            document_counters::last_sequence.eq(1),
        ))
        .on_conflict((document_counters::kind, document_counters::year))
        .do_update()
        .set(document_counters::last_sequence.eq(document_counters::last_sequence + 1))
        .returning(document_counters::last_sequence)
        .get_result(conn)?;
    Ok(DocumentNumber::new(
        kind,
        year,
        u32::try_from(sequence).unwrap_or(0),
    )?)
}
