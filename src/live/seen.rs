//! Which event ids this instance has handled: a low-water mark and the ids
//! seen above it.
//!
//! Ids are handed out when a row is inserted but become visible when its
//! transaction commits, so they appear out of order (PostgreSQL sequences,
//! MySQL auto-increment): an id can show up after higher ones, or never (a
//! rolled-back transaction leaves a hole). So the mark is the lowest id not
//! yet seen, minus one; ids seen above it are kept until the ids below them
//! fill in. A hole is given up on once some id above it has been seen for
//! `give_up_after`: the transaction that holds the missing id was open
//! before that id was handed out, so it has been open at least that long
//! (or rolled back). The set above the mark is bounded: past `capacity`,
//! the lowest holes are given up on at once. Each id is claimed once
//! ([`Seen::claim`]), whoever sees it first: the service that wrote it or
//! the relay that read it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Ids that a relay round asks for by name at most; more holes than this
/// are read as a range.
pub const MAX_NAMED_HOLES: usize = 200;

#[derive(Debug)]
pub struct Seen {
    /// Every id at or below it is handled (delivered, or given up on).
    mark: i64,
    /// Ids above the mark already handled, with when each was first seen.
    above: BTreeMap<i64, Instant>,
    give_up_after: Duration,
    capacity: usize,
}

/// What a relay round reads besides the rows above every id seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holes {
    None,
    /// These ids, each missing.
    Named(Vec<i64>),
    /// The ids strictly between these two (too many holes to name).
    Between(i64, i64),
}

impl Seen {
    /// Nothing at or below `mark` will be claimed.
    pub fn new(mark: i64, give_up_after: Duration, capacity: usize) -> Self {
        Self {
            mark,
            above: BTreeMap::new(),
            give_up_after,
            capacity: capacity.max(1),
        }
    }

    pub fn mark(&self) -> i64 {
        self.mark
    }

    /// The highest id handled: new rows are those above it.
    pub fn highest(&self) -> i64 {
        self.above.last_key_value().map_or(self.mark, |(id, _)| *id)
    }

    /// True the first time `id` is claimed (the caller delivers it), false
    /// after, and for any id at or below the mark.
    pub fn claim(&mut self, id: i64, now: Instant) -> bool {
        if id <= self.mark || self.above.contains_key(&id) {
            return false;
        }
        self.above.insert(id, now);
        self.close_up();
        if self.above.len() > self.capacity {
            self.expire(now);
        }
        true
    }

    /// The ids below the highest seen that are still missing.
    pub fn holes(&self) -> Holes {
        let Some((&top, _)) = self.above.last_key_value() else {
            return Holes::None;
        };
        // Ids strictly between the mark and the top, less those seen.
        let span = top - self.mark - 1;
        let missing = usize::try_from(span).unwrap_or(usize::MAX) - (self.above.len() - 1);
        if missing > MAX_NAMED_HOLES {
            return Holes::Between(self.mark, top);
        }
        Holes::Named(
            (self.mark + 1..top)
                .filter(|id| !self.above.contains_key(id))
                .collect(),
        )
    }

    /// Gives up on the holes below any id seen `give_up_after` ago or
    /// earlier, and on the lowest ones while more than `capacity` ids wait
    /// above the mark.
    pub fn expire(&mut self, now: Instant) {
        let stale = self
            .above
            .iter()
            .filter(|(_, at)| now.saturating_duration_since(**at) >= self.give_up_after)
            .map(|(id, _)| *id)
            .max();
        if let Some(id) = stale {
            self.above = self.above.split_off(&(id + 1));
            self.mark = id;
        }
        while self.above.len() > self.capacity {
            if let Some((id, _)) = self.above.pop_first() {
                self.mark = id;
            }
        }
        self.close_up();
    }

    /// Moves the mark over the ids seen right above it.
    fn close_up(&mut self) {
        while let Some(entry) = self.above.first_entry() {
            if *entry.key() != self.mark + 1 {
                break;
            }
            entry.remove();
            self.mark += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    const GIVE_UP: Duration = Duration::from_secs(5);

    #[test]
    fn ids_in_order_move_the_mark_and_keep_nothing() {
        let now = Instant::now();
        let mut seen = Seen::new(10, GIVE_UP, 100);
        assert!(!seen.claim(10, now), "at the mark: handled before");
        for id in 11..20 {
            assert!(seen.claim(id, now));
            assert!(!seen.claim(id, now), "once only");
        }
        assert_eq!((seen.mark(), seen.highest()), (19, 19));
        assert_eq!(seen.holes(), Holes::None);
    }

    #[test]
    fn a_hole_holds_the_mark_until_it_fills() {
        let now = Instant::now();
        let mut seen = Seen::new(0, GIVE_UP, 100);
        assert!(seen.claim(1, now));
        assert!(seen.claim(3, now));
        assert!(seen.claim(5, now));
        assert_eq!(seen.mark(), 1);
        assert_eq!(seen.holes(), Holes::Named(vec![2, 4]));
        assert!(seen.claim(2, now));
        assert_eq!(seen.mark(), 3);
        assert!(!seen.claim(3, now));
        assert!(seen.claim(4, now));
        assert_eq!((seen.mark(), seen.holes()), (5, Holes::None));
    }

    #[test]
    fn a_hole_is_given_up_only_after_the_time() {
        let start = Instant::now();
        let mut seen = Seen::new(0, GIVE_UP, 100);
        seen.claim(2, start);
        seen.claim(4, start + Duration::from_secs(3));
        seen.expire(start + Duration::from_secs(4));
        assert_eq!(seen.mark(), 0, "not yet");
        seen.expire(start + GIVE_UP);
        assert_eq!(seen.mark(), 2, "1 given up; 3 is younger");
        assert_eq!(seen.holes(), Holes::Named(vec![3]));
        assert!(seen.claim(3, start + GIVE_UP), "a late id above the mark");
        assert!(!seen.claim(1, start + GIVE_UP), "a given-up id stays out");
        assert_eq!(seen.mark(), 4);
    }

    #[test]
    fn past_the_capacity_the_lowest_holes_go() {
        let now = Instant::now();
        let mut seen = Seen::new(0, GIVE_UP, 3);
        for id in [2, 4, 6, 8] {
            seen.claim(id, now);
        }
        assert_eq!(seen.mark(), 2, "the hole at 1 is given up");
        assert_eq!(seen.holes(), Holes::Named(vec![3, 5, 7]));
    }

    #[test]
    fn many_holes_are_read_as_a_range() {
        let now = Instant::now();
        let mut seen = Seen::new(0, GIVE_UP, 100);
        seen.claim(1000, now);
        assert_eq!(seen.holes(), Holes::Between(0, 1000));
    }

    proptest! {
        /// Ids arrive in any order, some more than once, some never: each
        /// arriving id is claimed once, none at or below the mark; a hole
        /// is given up only once an id above it was seen the time ago, and
        /// after the time every hole is given up.
        #[test]
        fn each_id_is_claimed_once_and_holes_end(
            ids in proptest::collection::vec(1i64..200, 0..300),
            steps in proptest::collection::vec(0u64..3000, 0..300),
        ) {
            let start = Instant::now();
            let mut seen = Seen::new(0, GIVE_UP, 1000);
            let mut claimed = BTreeSet::new();
            let mut first_seen = std::collections::BTreeMap::new();
            let mut now = start;
            for (i, id) in ids.iter().enumerate() {
                now += Duration::from_millis(steps.get(i).copied().unwrap_or(0));
                let mark = seen.mark();
                let fresh = seen.claim(*id, now);
                if fresh {
                    prop_assert!(*id > mark);
                    prop_assert!(claimed.insert(*id), "{} claimed twice", id);
                }
                first_seen.entry(*id).or_insert(now);
                seen.expire(now);
                for hole in (1..=seen.mark()).filter(|h| !claimed.contains(h)) {
                    let waited = first_seen
                        .range(hole + 1..)
                        .any(|(_, at)| now.duration_since(*at) >= GIVE_UP);
                    prop_assert!(waited, "hole {} given up early", hole);
                }
                prop_assert!(seen.mark() <= seen.highest());
                // Ids seen and not claimed were claimed before or given up.
                if !fresh {
                    prop_assert!(claimed.contains(id) || *id <= seen.mark());
                }
            }
            // Everything seen is handled; after the time, no hole is left.
            seen.expire(now + GIVE_UP);
            prop_assert_eq!(seen.holes(), Holes::None);
            prop_assert_eq!(seen.highest(), seen.mark());
            prop_assert!(claimed.last().is_none_or(|last| *last <= seen.mark()));
        }
    }
}
