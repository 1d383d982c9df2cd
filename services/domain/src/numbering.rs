//! Gapless document numbers: invoices and credit notes are numbered in one series per kind and
//! calendar year, `INV-2026-000001`, `INV-2026-000002`, … and `CN-2026-000001`, …, restarting at 1
//! each year.
//!
//! This module only computes the next number from the last one issued. Gaplessness also needs the
//! caller to read the last number and store the new document in one transaction that serialises
//! issuers of the same series, and never to hand out a number it does not then store.

use std::{fmt, str::FromStr};

/// Highest sequence a series can reach: numbers always have six digits, so a year's series is
/// exhausted after 999,999 documents rather than widened.
pub const MAX_SEQUENCE: u32 = 999_999;

/// Years a document can be numbered in: four digits, like billing periods.
pub const YEARS: std::ops::RangeInclusive<i32> = 2000..=9999;

/// Kind of document; each kind has its own series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DocumentKind {
    Invoice,
    CreditNote,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 2] = [Self::Invoice, Self::CreditNote];

    /// Prefix of the kind's numbers: `INV` or `CN`.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Invoice => "INV",
            Self::CreditNote => "CN",
        }
    }
}

/// A document's number, valid by construction: year in [`YEARS`], sequence in 1..=[`MAX_SEQUENCE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocumentNumber {
    kind: DocumentKind,
    year: i32,
    sequence: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberingError {
    #[error("document number `{0}` is not of the form INV-YYYY-NNNNNN or CN-YYYY-NNNNNN")]
    Malformed(String),
    #[error("year {0} is outside 2000..=9999")]
    YearOutOfRange(i32),
    #[error("sequence {0} is outside 1..=999999")]
    SequenceOutOfRange(u32),
    #[error("the {} series of {year} is exhausted: {MAX_SEQUENCE} documents were issued", kind.prefix())]
    SeriesExhausted { kind: DocumentKind, year: i32 },
    #[error("last issued number {last} is not of the {} series of {year}", kind.prefix())]
    OtherSeries {
        kind: DocumentKind,
        year: i32,
        last: DocumentNumber,
    },
}

impl DocumentNumber {
    pub fn new(kind: DocumentKind, year: i32, sequence: u32) -> Result<Self, NumberingError> {
        if !YEARS.contains(&year) {
            return Err(NumberingError::YearOutOfRange(year));
        }
        if !(1..=MAX_SEQUENCE).contains(&sequence) {
            return Err(NumberingError::SequenceOutOfRange(sequence));
        }
        Ok(Self {
            kind,
            year,
            sequence,
        })
    }

    /// The number to issue after `last_issued`, the last number of the `kind` series of `year`
    /// (`None` if that series has none yet, which starts it at 1).
    pub fn next(
        kind: DocumentKind,
        year: i32,
        last_issued: Option<DocumentNumber>,
    ) -> Result<Self, NumberingError> {
        let Some(last) = last_issued else {
            return Self::new(kind, year, 1);
        };
        if last.kind != kind || last.year != year {
            return Err(NumberingError::OtherSeries { kind, year, last });
        }
        if last.sequence >= MAX_SEQUENCE {
            return Err(NumberingError::SeriesExhausted { kind, year });
        }
        Self::new(kind, year, last.sequence + 1)
    }

    pub fn kind(self) -> DocumentKind {
        self.kind
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn sequence(self) -> u32 {
        self.sequence
    }
}

impl fmt::Display for DocumentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{:04}-{:06}",
            self.kind.prefix(),
            self.year,
            self.sequence
        )
    }
}

impl FromStr for DocumentNumber {
    type Err = NumberingError;

    /// Parses exactly what [`Display`](fmt::Display) prints: upper-case prefix, four-digit year,
    /// six-digit sequence, nothing around them.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = || NumberingError::Malformed(text.to_owned());
        let mut parts = text.split('-');
        let (Some(prefix), Some(year), Some(sequence), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        let kind = DocumentKind::ALL
            .into_iter()
            .find(|kind| kind.prefix() == prefix)
            .ok_or_else(malformed)?;
        let all_digits =
            |part: &str, len| part.len() == len && part.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(year, 4) || !all_digits(sequence, 6) {
            return Err(malformed());
        }
        let year = year.parse().map_err(|_| malformed())?;
        let sequence = sequence.parse().map_err(|_| malformed())?;
        Self::new(kind, year, sequence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn number(kind: DocumentKind, year: i32, sequence: u32) -> DocumentNumber {
        DocumentNumber::new(kind, year, sequence).unwrap()
    }

    #[test]
    fn displays_prefix_year_and_six_digits() {
        assert_eq!(
            number(DocumentKind::Invoice, 2026, 1).to_string(),
            "INV-2026-000001"
        );
        assert_eq!(
            number(DocumentKind::CreditNote, 2026, 1).to_string(),
            "CN-2026-000001"
        );
        assert_eq!(
            number(DocumentKind::Invoice, 2026, MAX_SEQUENCE).to_string(),
            "INV-2026-999999"
        );
    }

    #[test]
    fn parses_what_it_displays() {
        let parsed: DocumentNumber = "CN-2027-004200".parse().unwrap();
        assert_eq!(parsed, number(DocumentKind::CreditNote, 2027, 4200));
        assert_eq!(parsed.kind(), DocumentKind::CreditNote);
        assert_eq!(parsed.year(), 2027);
        assert_eq!(parsed.sequence(), 4200);
    }

    #[test]
    fn rejects_anything_else() {
        for text in [
            "",
            "INV",
            "INV-2026",
            "INV-2026-1",
            "INV-2026-00001",
            "INV-2026-0000001",
            "inv-2026-000001",
            "Inv-2026-000001",
            "CRN-2026-000001",
            "INV-26-000001",
            "INV-02026-000001",
            "INV-2026-000001-",
            " INV-2026-000001",
            "INV-2026-000001 ",
            "INV_2026_000001",
            "INV-2026-+00001",
            "INV-+026-000001",
            "INV-2026-00000a",
            "INV--2026-000001",
            "INV-２０２６-000001",
        ] {
            assert_eq!(
                text.parse::<DocumentNumber>(),
                Err(NumberingError::Malformed(text.into())),
                "{text:?}"
            );
        }
        assert_eq!(
            "INV-2026-000000".parse::<DocumentNumber>(),
            Err(NumberingError::SequenceOutOfRange(0))
        );
        assert_eq!(
            "INV-1999-000001".parse::<DocumentNumber>(),
            Err(NumberingError::YearOutOfRange(1999))
        );
    }

    #[test]
    fn new_refuses_numbers_that_cannot_be_displayed_in_six_digits() {
        assert_eq!(
            DocumentNumber::new(DocumentKind::Invoice, 2026, 0),
            Err(NumberingError::SequenceOutOfRange(0))
        );
        assert_eq!(
            DocumentNumber::new(DocumentKind::Invoice, 2026, 1_000_000),
            Err(NumberingError::SequenceOutOfRange(1_000_000))
        );
        assert_eq!(
            DocumentNumber::new(DocumentKind::Invoice, 10_000, 1),
            Err(NumberingError::YearOutOfRange(10_000))
        );
    }

    #[test]
    fn a_series_starts_at_one_and_counts_up() {
        let first = DocumentNumber::next(DocumentKind::Invoice, 2026, None).unwrap();
        assert_eq!(first.to_string(), "INV-2026-000001");
        let second = DocumentNumber::next(DocumentKind::Invoice, 2026, Some(first)).unwrap();
        assert_eq!(second.to_string(), "INV-2026-000002");
        let credit = DocumentNumber::next(DocumentKind::CreditNote, 2026, None).unwrap();
        assert_eq!(credit.to_string(), "CN-2026-000001");
    }

    #[test]
    fn numbering_restarts_each_year() {
        let next_year = DocumentNumber::next(DocumentKind::Invoice, 2027, None).unwrap();
        assert_eq!(next_year.to_string(), "INV-2027-000001");
    }

    #[test]
    fn last_number_of_another_series_is_refused() {
        let last = number(DocumentKind::Invoice, 2026, 41);
        assert_eq!(
            DocumentNumber::next(DocumentKind::Invoice, 2027, Some(last)),
            Err(NumberingError::OtherSeries {
                kind: DocumentKind::Invoice,
                year: 2027,
                last,
            })
        );
        assert_eq!(
            DocumentNumber::next(DocumentKind::CreditNote, 2026, Some(last)),
            Err(NumberingError::OtherSeries {
                kind: DocumentKind::CreditNote,
                year: 2026,
                last,
            })
        );
    }

    #[test]
    fn an_exhausted_series_is_an_error_not_a_wider_number() {
        let last = number(DocumentKind::CreditNote, 2026, MAX_SEQUENCE);
        let error = DocumentNumber::next(DocumentKind::CreditNote, 2026, Some(last)).unwrap_err();
        assert_eq!(
            error,
            NumberingError::SeriesExhausted {
                kind: DocumentKind::CreditNote,
                year: 2026,
            }
        );
        assert_eq!(
            error.to_string(),
            "the CN series of 2026 is exhausted: 999999 documents were issued"
        );
    }

    #[test]
    fn a_year_outside_the_range_cannot_start_a_series() {
        assert_eq!(
            DocumentNumber::next(DocumentKind::Invoice, 1999, None),
            Err(NumberingError::YearOutOfRange(1999))
        );
    }

    fn any_kind() -> impl Strategy<Value = DocumentKind> {
        prop_oneof![Just(DocumentKind::Invoice), Just(DocumentKind::CreditNote)]
    }

    proptest! {
        /// Issuing n numbers in a row gives 1..=n: no gap, no repeat, all in the same series.
        #[test]
        fn issuing_in_a_row_is_gapless(kind in any_kind(), year in YEARS, count in 1usize..2_000) {
            let mut last = None;
            let mut sequences = Vec::with_capacity(count);
            for _ in 0..count {
                let issued = DocumentNumber::next(kind, year, last).unwrap();
                prop_assert_eq!((issued.kind(), issued.year()), (kind, year));
                sequences.push(issued.sequence());
                last = Some(issued);
            }
            let expected: Vec<u32> = (1..=count as u32).collect();
            prop_assert_eq!(sequences, expected);
        }

        /// The series continues from any point, up to its end.
        #[test]
        fn next_adds_one(kind in any_kind(), year in YEARS, sequence in 1..MAX_SEQUENCE) {
            let last = DocumentNumber::new(kind, year, sequence).unwrap();
            prop_assert_eq!(DocumentNumber::next(kind, year, Some(last)).unwrap().sequence(), sequence + 1);
        }

        /// Display and FromStr round-trip, and displayed numbers sort like their sequence.
        #[test]
        fn display_and_parse_round_trip(
            kind in any_kind(),
            year in YEARS,
            sequence in 1..=MAX_SEQUENCE,
            other in 1..=MAX_SEQUENCE,
        ) {
            let number = DocumentNumber::new(kind, year, sequence).unwrap();
            let text = number.to_string();
            prop_assert_eq!(text.len(), kind.prefix().len() + 12);
            prop_assert_eq!(text.parse::<DocumentNumber>(), Ok(number));
            let other_text = DocumentNumber::new(kind, year, other).unwrap().to_string();
            prop_assert_eq!(text.cmp(&other_text), sequence.cmp(&other));
        }

        /// Any text parses to a number that prints back as that same text, or is refused.
        #[test]
        fn parse_accepts_only_canonical_text(text in "(INV|CN|inv|X)?-?[0-9]{0,5}-?[0-9]{0,7}") {
            if let Ok(number) = text.parse::<DocumentNumber>() {
                prop_assert_eq!(number.to_string(), text);
            }
        }
    }
}
