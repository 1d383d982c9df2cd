//! Usage streams and their watermarks: which sequence numbers of one allocation's use of one GPU
//! are already applied, kept as the highest seq applied plus the gaps below it, so deciding
//! "duplicate or new" needs state per stream, not per event.

use chrono::{DateTime, Utc};

/// Seqs `first_seq..=last_seq` not received although a later seq was: missing usage, expected to
/// cover `[missing_from, missing_until)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub first_seq: i64,
    pub last_seq: i64,
    /// End of the event before the gap; `None` when the gap starts at seq 1.
    pub missing_from: Option<DateTime<Utc>>,
    /// Start of the event after the gap.
    pub missing_until: DateTime<Utc>,
    /// When the gap was first seen; it keeps this date when an event splits it.
    pub opened_at: DateTime<Utc>,
}

impl Gap {
    pub fn contains(&self, seq: i64) -> bool {
        (self.first_seq..=self.last_seq).contains(&seq)
    }

    pub fn len(&self) -> i64 {
        self.last_seq - self.first_seq + 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the ledger knows of one stream. Invariants (checked by [`StreamState::check`] and by
/// database constraints): `max_seq ≥ 1`; gaps sorted, disjoint, non-empty and below `max_seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamState {
    /// `interval_start` of the earliest event applied: with `last_end`, the span of time the
    /// stream holds its GPU.
    pub first_start: DateTime<Utc>,
    /// Highest seq applied.
    pub max_seq: i64,
    /// `interval_end` of the event at `max_seq`.
    pub last_end: DateTime<Utc>,
    pub gaps: Vec<Gap>,
}

impl StreamState {
    /// The state after a stream's first event, at `seq`: seqs below it are a gap.
    pub fn first(
        seq: i64,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StreamState {
        let gaps = if seq > 1 {
            vec![Gap {
                first_seq: 1,
                last_seq: seq - 1,
                missing_from: None,
                missing_until: start,
                opened_at: now,
            }]
        } else {
            Vec::new()
        };
        StreamState {
            first_start: start,
            max_seq: seq,
            last_end: end,
            gaps,
        }
    }

    /// Whether an event at `seq` over `[start, end)` fits the stream without overlapping the
    /// events around it: after the last one when it extends the stream, or inside the time span
    /// its gap should cover. `Err` says why not. An event already held is not checked here.
    pub fn fits(&self, seq: i64, start: DateTime<Utc>, end: DateTime<Utc>) -> Result<(), String> {
        if seq > self.max_seq {
            if start < self.last_end {
                return Err(format!(
                    "seq {seq} starts at {start}, before seq {} of the same stream ends at {}",
                    self.max_seq, self.last_end
                ));
            }
            return Ok(());
        }
        let Some(gap) = self.gaps.iter().find(|gap| gap.contains(seq)) else {
            return Ok(());
        };
        if gap.missing_from.is_some_and(|from| start < from) || end > gap.missing_until {
            return Err(format!(
                "seq {seq} over [{start}, {end}) does not fit the time left between seqs {} and {} ({} to {})",
                gap.first_seq - 1,
                gap.last_seq + 1,
                gap.missing_from
                    .map_or_else(|| "the stream's start".to_owned(), |from| from.to_string()),
                gap.missing_until
            ));
        }
        Ok(())
    }

    /// The highest seq up to which every event is applied.
    pub fn watermark(&self) -> i64 {
        self.gaps
            .first()
            .map_or(self.max_seq, |gap| gap.first_seq - 1)
    }

    /// Whether the event at `seq` is already applied: at most `max_seq` and in no gap.
    pub fn holds(&self, seq: i64) -> bool {
        seq <= self.max_seq && !self.gaps.iter().any(|gap| gap.contains(seq))
    }

    /// Records the event at `seq` as applied: beyond `max_seq` it moves the end (opening a gap if
    /// it skips seqs); inside a gap it fills that seq, splitting the gap. Does nothing for a seq
    /// already held, so applying is idempotent.
    pub fn apply(
        &mut self,
        seq: i64,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        if self.holds(seq) {
            return;
        }
        self.first_start = self.first_start.min(start);
        if seq > self.max_seq {
            if seq > self.max_seq + 1 {
                self.gaps.push(Gap {
                    first_seq: self.max_seq + 1,
                    last_seq: seq - 1,
                    missing_from: Some(self.last_end),
                    missing_until: start,
                    opened_at: now,
                });
            }
            self.max_seq = seq;
            self.last_end = end;
            return;
        }
        let Some(index) = self.gaps.iter().position(|gap| gap.contains(seq)) else {
            return;
        };
        let gap = self.gaps.remove(index);
        let mut pieces = Vec::with_capacity(2);
        if gap.first_seq < seq {
            pieces.push(Gap {
                last_seq: seq - 1,
                missing_until: start,
                ..gap.clone()
            });
        }
        if seq < gap.last_seq {
            pieces.push(Gap {
                first_seq: seq + 1,
                missing_from: Some(end),
                ..gap
            });
        }
        self.gaps.splice(index..index, pieces);
    }

    /// Checks the invariants; an error names the first one broken.
    pub fn check(&self) -> Result<(), String> {
        if self.max_seq < 1 {
            return Err(format!("max_seq {} is below 1", self.max_seq));
        }
        let mut floor = 1;
        for gap in &self.gaps {
            if gap.first_seq < floor || gap.last_seq < gap.first_seq || gap.last_seq >= self.max_seq
            {
                return Err(format!(
                    "gap {}..={} is not sorted, disjoint and below max_seq {}",
                    gap.first_seq, gap.last_seq, self.max_seq
                ));
            }
            floor = gap.last_seq + 2;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// The interval of seq `n` on a 10-second grid.
    fn interval(seq: i64) -> (DateTime<Utc>, DateTime<Utc>) {
        let at = |s: i64| Utc.timestamp_opt(1_790_000_000 + s * 10, 0).unwrap();
        (at(seq - 1), at(seq))
    }

    fn applied(seqs: &[i64]) -> StreamState {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let (start, end) = interval(seqs[0]);
        let mut state = StreamState::first(seqs[0], start, end, now);
        for &seq in &seqs[1..] {
            let (start, end) = interval(seq);
            state.apply(seq, start, end, now);
        }
        state
    }

    fn spans(state: &StreamState) -> Vec<(i64, i64)> {
        state
            .gaps
            .iter()
            .map(|g| (g.first_seq, g.last_seq))
            .collect()
    }

    #[test]
    fn in_order_events_move_the_watermark() {
        let state = applied(&[1, 2, 3]);
        assert_eq!((state.watermark(), state.max_seq), (3, 3));
        assert!(state.gaps.is_empty());
        assert!(state.holds(2) && !state.holds(4));
    }

    #[test]
    fn a_skipped_seq_is_a_gap_with_the_time_it_should_cover() {
        let state = applied(&[1, 2, 5]);
        assert_eq!(spans(&state), [(3, 4)]);
        assert_eq!(state.watermark(), 2);
        assert!(!state.holds(3) && !state.holds(4) && state.holds(5));
        let gap = &state.gaps[0];
        assert_eq!(gap.missing_from, Some(interval(2).1));
        assert_eq!(gap.missing_until, interval(5).0);
    }

    #[test]
    fn a_first_event_after_seq_1_opens_a_gap_from_1() {
        let state = applied(&[4]);
        assert_eq!(spans(&state), [(1, 3)]);
        assert_eq!(state.gaps[0].missing_from, None);
        assert_eq!(state.watermark(), 0);
    }

    #[test]
    fn an_event_must_fit_between_its_neighbours() {
        let state = applied(&[1, 2, 5]);
        let (start, end) = interval(3);
        assert!(state.fits(3, start, end).is_ok());
        assert!(
            state
                .fits(3, start - chrono::Duration::seconds(1), end)
                .is_err(),
            "overlaps seq 2"
        );
        let (_, end_of_5) = interval(5);
        assert!(state.fits(4, start, end_of_5).is_err(), "overlaps seq 5");
        let (start_6, end_6) = interval(6);
        assert!(state.fits(6, start_6, end_6).is_ok());
        assert!(
            state
                .fits(6, start_6 - chrono::Duration::seconds(1), end_6)
                .is_err()
        );
        assert!(
            state.fits(9, start_6, end_6).is_ok(),
            "later seqs may leave time unbilled"
        );
    }

    #[test]
    fn the_span_grows_to_the_earliest_event() {
        let state = applied(&[4, 5, 2]);
        assert_eq!(state.first_start, interval(2).0);
        assert_eq!(state.last_end, interval(5).1);
    }

    #[test]
    fn late_events_fill_and_split_gaps() {
        let mut state = applied(&[1, 9]);
        assert_eq!(spans(&state), [(2, 8)]);
        let (start, end) = interval(5);
        let opened = state.gaps[0].opened_at;
        state.apply(5, start, end, opened + chrono::Duration::hours(1));
        assert_eq!(spans(&state), [(2, 4), (6, 8)]);
        assert_eq!(state.gaps[0].missing_until, start);
        assert_eq!(state.gaps[1].missing_from, Some(end));
        assert!(state.gaps.iter().all(|gap| gap.opened_at == opened));
        for seq in [2, 3, 4, 6, 7, 8] {
            let (start, end) = interval(seq);
            state.apply(seq, start, end, opened);
        }
        assert!(state.gaps.is_empty());
        assert_eq!(state.watermark(), 9);
    }

    proptest! {
        /// Whatever the order and repetition of deliveries, the state holds exactly the seqs
        /// delivered, keeps its invariants, and the watermark is the highest contiguous seq.
        #[test]
        fn state_matches_the_set_of_delivered_seqs(
            deliveries in proptest::collection::vec(1i64..60, 1..200)
        ) {
            let state = applied(&deliveries);
            prop_assert!(state.check().is_ok(), "{:?}", state.check());
            let delivered: BTreeSet<i64> = deliveries.iter().copied().collect();
            for seq in 1..=65 {
                prop_assert_eq!(state.holds(seq), delivered.contains(&seq), "seq {}", seq);
            }
            let contiguous = (1..).take_while(|seq| delivered.contains(seq)).last().unwrap_or(0);
            prop_assert_eq!(state.watermark(), contiguous);
            prop_assert_eq!(state.max_seq, *delivered.iter().next_back().unwrap());
            let missing: i64 = state.gaps.iter().map(Gap::len).sum();
            prop_assert_eq!(missing, state.max_seq - delivered.len() as i64);
        }
    }
}
