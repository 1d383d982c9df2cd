//! Lists in pages: `{"data": [...], "next_cursor": "..."}`. A list is in a stable order of keys
//! its rows never change; `next_cursor` is opaque to clients and names the last row of the page,
//! so the next page starts right after it whatever was added meanwhile: a client walking the
//! pages sees every row that existed when it started once, never twice. `next_cursor` is `null`
//! on the last page.

use serde::{Deserialize, Serialize};

/// Rows a page holds when `limit` is not given, and the most it holds.
pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

/// Marks this encoding of cursors, so a later one can be told apart.
const CURSOR_VERSION: &str = "c1";
/// Separates a cursor's parts before it is encoded (it cannot be in a part: see `encode`).
const SEPARATOR: char = '\u{1f}';

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The page of `rows`, read with [`fetch_limit`] (one more than `limit`): when that extra row
    /// came, it is dropped and the cursor names the last row kept.
    pub fn of(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> Vec<String>) -> Page<T> {
        let limit = usize::try_from(limit).unwrap_or(0);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| encode_cursor(&key(last)))
        } else {
            None
        };
        Page {
            data: rows,
            next_cursor,
        }
    }
}

/// How many rows to read for a page of `limit`: one more, to know whether another page follows.
pub fn fetch_limit(limit: i64) -> i64 {
    limit + 1
}

/// A cursor naming the row whose key is `parts`.
pub fn encode_cursor(parts: &[String]) -> String {
    let mut text = String::from(CURSOR_VERSION);
    for part in parts {
        text.push(SEPARATOR);
        text.push_str(part);
    }
    text.bytes().map(|byte| format!("{byte:02x}")).collect()
}

/// The parts of a cursor this API made, if it has `parts` of them.
pub fn decode_cursor(cursor: &str, parts: usize) -> Option<Vec<String>> {
    if !cursor.len().is_multiple_of(2) || cursor.len() > 4096 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..cursor.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(cursor.get(at..at + 2)?, 16).ok())
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    let mut split = text.split(SEPARATOR);
    if split.next() != Some(CURSOR_VERSION) {
        return None;
    }
    let decoded: Vec<String> = split.map(str::to_owned).collect();
    (decoded.len() == parts && decoded.iter().all(|part| !part.contains('\0'))).then_some(decoded)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_its_parts_and_nothing_else_reads_as_one() {
        let parts = vec!["2026-11-24T10:00:00.000001Z".to_owned(), "a-1".to_owned()];
        let cursor = encode_cursor(&parts);
        assert_eq!(decode_cursor(&cursor, 2), Some(parts));
        assert_eq!(decode_cursor(&cursor, 3), None);
        for other in [
            "",
            "zz",
            "abc",
            "00",
            &encode_cursor(&[]).replace("63", "64"),
        ] {
            assert_eq!(decode_cursor(other, 0), None, "{other}");
        }
    }

    #[test]
    fn a_page_keeps_limit_rows_and_names_the_last_when_more_follow() {
        let page = Page::of(vec![1, 2, 3], 2, |n| vec![n.to_string()]);
        assert_eq!(page.data, [1, 2]);
        assert_eq!(
            decode_cursor(page.next_cursor.as_deref().unwrap(), 1),
            Some(vec!["2".into()])
        );
        let last = Page::of(vec![1, 2], 2, |n| vec![n.to_string()]);
        assert_eq!((last.data.len(), last.next_cursor), (2, None));
    }
}
