//! Run counts and timing (`summary.json` and the end-of-run line).

use crate::input::RecordError;
use crate::model::{Analysis, ByAddress, Report, Status, Text};
use crate::text::load8;
use serde::Serialize;

/// Counts of one concept's report-level statuses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    /// `present`
    pub present: u64,
    /// `absent`
    pub absent: u64,
    /// `uncertain`
    pub uncertain: u64,
    /// Not mentioned.
    pub blank: u64,
}

/// What a run read, wrote and found, and how long it took.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Records read (`reports + errors`).
    pub records_read: u64,
    /// Rows of `reports.csv`.
    pub reports_written: u64,
    /// Rows of `errors.csv`.
    pub errors: u64,
    /// Warnings (invalid UTF-8, unreadable patient values, duplicate ids), over all reports.
    pub warnings: u64,
    /// Reports with at least one warning.
    pub reports_with_warnings: u64,
    /// Reports whose id an earlier report already had (each also has a warning).
    pub duplicate_ids: u64,
    /// Mentions found.
    pub mentions: u64,
    /// Bytes of report text analyzed.
    pub text_bytes: u64,
    /// Status counts per concept, in column order (a JSON object keyed by concept).
    #[serde(serialize_with = "ordered_map")]
    pub concepts: Vec<(String, StatusCounts)>,
    /// How many reports each action was recommended for.
    pub actions: Tally,
    /// How many times each audit flag was raised.
    pub flags: Tally,
    /// How many times each caution was raised.
    pub cautions: Tally,
    /// Wall-clock seconds from the first read to the last write.
    pub elapsed_seconds: f64,
    /// Megabytes (10^6 bytes) of report text per second.
    pub mb_per_second: f64,
    /// Reports per second.
    pub reports_per_second: f64,
    /// Analysis threads.
    pub threads: usize,
}

impl Summary {
    /// An empty summary for these concepts.
    pub fn new(concepts: &[String]) -> Summary {
        Summary {
            concepts: concepts
                .iter()
                .map(|c| (c.clone(), StatusCounts::default()))
                .collect(),
            ..Summary::default()
        }
    }

    /// Counts one analyzed report.
    pub fn add_report(&mut self, report: &Report, a: &Analysis) {
        self.records_read += 1;
        self.reports_written += 1;
        self.warnings += a.warnings.len() as u64;
        self.reports_with_warnings += u64::from(!a.warnings.is_empty());
        self.duplicate_ids += u64::from(
            a.warnings
                .iter()
                .any(|w| w.starts_with(crate::input::DUPLICATE_ID_WARNING)),
        );
        self.mentions += a.mentions.len() as u64;
        self.text_bytes += report.text.len() as u64;
        for (i, (_, c)) in self.concepts.iter_mut().enumerate() {
            match a.concepts.get(i).and_then(|r| r.status) {
                Some(Status::Present) => c.present += 1,
                Some(Status::Absent) => c.absent += 1,
                Some(Status::Uncertain) => c.uncertain += 1,
                None => c.blank += 1,
            }
        }
        for r in &a.recommendations {
            self.actions.add_text(&r.action);
        }
        for f in &a.flags {
            self.flags.add(&f.flag);
        }
        for c in &a.cautions {
            self.cautions.add_text(&c.id);
        }
    }

    /// Counts one record error.
    pub fn add_error(&mut self, _error: &RecordError) {
        self.records_read += 1;
        self.errors += 1;
    }

    /// Records the run's duration and thread count and derives the rates.
    pub fn finish(&mut self, elapsed_seconds: f64, threads: usize) {
        self.elapsed_seconds = elapsed_seconds;
        self.threads = threads;
        let secs = elapsed_seconds.max(1e-9);
        self.mb_per_second = self.text_bytes as f64 / 1e6 / secs;
        self.reports_per_second = self.reports_written as f64 / secs;
    }

    /// The counts of one concept.
    pub fn concept(&self, name: &str) -> StatusCounts {
        self.concepts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| *c)
            .unwrap_or_default()
    }
}

/// See [`Tally::tag`].
type Tag = (u64, u64, u64);

/// Counts by name (a JSON object keyed by name, in name order, as a `BTreeMap` would give).
///
/// A run counts every action, flag and caution of every report, and there are few distinct
/// names: they are kept in the order first seen, each with a tag (its first, second and last
/// eight bytes and its length) that is compared before the name itself, and found through a
/// small open-addressing table keyed by the tag (linear probing, at most half full), so that
/// counting a name costs a hash of three integers, a probe or two and, for a name longer than
/// its tag (24 bytes), one string comparison. Names are put in order only when the counts are read.
///
/// The action and caution ids of a run are the rule set's [`Text`] handles, the same few
/// addresses report after report: [`Tally::add_text`] finds them by address first, in a
/// second table that keeps the handles it has seen.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Per name, in the order of `counts`: its [`Tally::tag`].
    tags: Vec<Tag>,
    /// Names and their counts, in the order first seen.
    counts: Vec<(String, u64)>,
    /// Per slot, the index in `counts` of the name there plus one (0: an empty slot). Its
    /// length is a power of two (or zero before the first name).
    slots: Vec<u32>,
    /// Handles counted by [`Tally::add_text`], each with the index of its name in `counts`
    /// ([`Tally::HANDLE_SLOTS`] slots, or none before the first handle). Once the table is
    /// half full, other handles are counted by name only.
    handles: ByAddress,
}

impl Tally {
    /// Slots of the first table.
    const FIRST_SLOTS: usize = 64;

    /// Slots of the table of handles: room for half as many handles.
    const HANDLE_SLOTS: usize = 256;

    /// Counts `name` once more.
    pub fn add(&mut self, name: &str) {
        let i = self.index_of(name);
        self.counts[i].1 += 1;
    }

    /// Counts `name` once more, as [`Tally::add`] does, finding it by its address when this
    /// handle was counted before (a hash of one integer and a probe, no byte read).
    pub fn add_text(&mut self, name: &Text) {
        if let Some(i) = self.handles.get(name) {
            self.counts[i as usize].1 += 1;
            return;
        }
        let i = self.index_of(name);
        self.counts[i].1 += 1;
        if self.handles.kept() == 0 {
            self.handles = ByAddress::with_slots(Tally::HANDLE_SLOTS);
        }
        self.handles.insert(name, i as u32);
    }

    /// The index of `name` in `counts`, where it is put with a count of 0 the first time.
    fn index_of(&mut self, name: &str) -> usize {
        let tag = Tally::tag(name);
        // A name of at most 24 bytes is all in its tag; a longer one is compared too.
        let long = name.len() > 24;
        if self.slots.is_empty() {
            self.slots = vec![0; Tally::FIRST_SLOTS];
        }
        let mask = self.slots.len() - 1;
        let mut at = Tally::hash(tag) & mask;
        loop {
            let i = match self.slots[at] {
                0 => break,
                e => e as usize - 1,
            };
            if self.tags[i] == tag && (!long || self.counts[i].0 == name) {
                return i;
            }
            at = (at + 1) & mask;
        }
        self.tags.push(tag);
        self.counts.push((name.to_string(), 0));
        self.slots[at] = self.counts.len() as u32;
        if 2 * self.counts.len() > self.slots.len() {
            self.grow();
        }
        self.counts.len() - 1
    }

    /// Doubles the table and puts every name back in it.
    fn grow(&mut self) {
        self.slots = vec![0; 2 * self.slots.len()];
        let mask = self.slots.len() - 1;
        for (i, &tag) in self.tags.iter().enumerate() {
            let mut at = Tally::hash(tag) & mask;
            while self.slots[at] != 0 {
                at = (at + 1) & mask;
            }
            self.slots[at] = i as u32 + 1;
        }
    }

    /// Where a name with tag `tag` is looked for first (before the mask).
    #[inline]
    fn hash((first, second, last): Tag) -> usize {
        let h = (first ^ second.rotate_left(17) ^ last.rotate_left(29))
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> 32) as usize
    }

    /// A cheap summary of a name: its first and second eight bytes (zeros past its end), and
    /// its last eight bytes with its length. Equal names have equal tags, and so do different
    /// names only when they are longer than 24 bytes (the action, caution and flag ids are
    /// mostly shorter).
    fn tag(name: &str) -> Tag {
        let b = name.as_bytes();
        let n = b.len();
        (
            load8(b, 0),
            load8(b, 8),
            load8(b, n.saturating_sub(8)) ^ (n as u64).rotate_right(8),
        )
    }

    /// How many times `name` was counted (0 if never).
    pub fn get(&self, name: &str) -> u64 {
        self.counts
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |&(_, c)| c)
    }

    /// The names counted and their counts, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        let mut v: Vec<(&str, u64)> = self.counts.iter().map(|(n, c)| (n.as_str(), *c)).collect();
        v.sort_unstable_by_key(|&(n, _)| n);
        v.into_iter()
    }

    /// How many distinct names were counted.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

/// Equal when the same names have the same counts, whatever order they were first seen in.
impl PartialEq for Tally {
    fn eq(&self, other: &Tally) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Serialize for Tally {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

fn ordered_map<S: serde::Serializer>(
    items: &[(String, StatusCounts)],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(items.iter().map(|(k, v)| (k, v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The plain count [`Tally`] replaces.
    fn by_map(names: &[String]) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for n in names {
            *m.entry(n.clone()).or_insert(0) += 1;
        }
        m
    }

    proptest::proptest! {
        #[test]
        fn tally_agrees_with_a_map(
            picks in proptest::collection::vec(0usize..30, 0..200),
        ) {
            // Names that share first or last bytes, lengths and tags, and the empty name.
            let pool = [
                "", "a", "b", "ab", "ba", "mri", "mri_lumbar", "mri_thoracic", "mri_lumbar_spine",
                "xmri_lumbar_spine", "dxa", "dxa_", "ct", "ct_cervical_spine", "ct_lumbar_spine",
                "abcdefgh", "abcdefghabcdefgh", "abcdefgxabcdefgh", "abcdefghxbcdefgh",
                "spine_surgery", "é", "éé", "follow_up", "follow_up_xray",
                "abcdefgh12345678abcdefgh", "abcdefgh12345x78abcdefgh", "abcdefgh1234abcdefgh",
                "abcdefgh1x34abcdefgh", "abcdefgh12345678xabcdefgh", "abcdefgh12345678yabcdefgh",
            ];
            let names: Vec<String> = picks.iter().map(|&p| pool[p].to_string()).collect();
            let mut t = Tally::default();
            for n in &names {
                t.add(n);
            }
            let m = by_map(&names);
            let got: Vec<(String, u64)> = t.iter().map(|(n, c)| (n.to_string(), c)).collect();
            let want: Vec<(String, u64)> = m.clone().into_iter().collect();
            proptest::prop_assert_eq!(got, want);
            proptest::prop_assert_eq!(
                serde_json::to_string(&t).unwrap(),
                serde_json::to_string(&m).unwrap()
            );
            for n in pool {
                proptest::prop_assert_eq!(t.get(n), m.get(n).copied().unwrap_or(0));
            }
            let mut reversed = Tally::default();
            for n in names.iter().rev() {
                reversed.add(n);
            }
            proptest::prop_assert!(t == reversed);
        }

        /// Names counted through handles (shared ones, found by address, and fresh copies of
        /// the same names, more than the table of handles keeps) are counted as the names
        /// are.
        #[test]
        fn tally_of_handles_agrees_with_the_tally_of_names(
            picks in proptest::collection::vec((0usize..12, proptest::bool::ANY), 0..400),
        ) {
            let pool = [
                "", "a", "dxa", "mri", "mri_lumbar", "mri_lumbar_spine", "abcdefghabcdefgh",
                "abcdefgh12345678abcdefgh", "abcdefgh12345678xabcdefgh",
                "abcdefgh12345678yabcdefgh", "é", "follow_up_imaging",
            ];
            let shared: Vec<Text> = pool.iter().map(|&n| Text::from(n)).collect();
            let (mut by_handle, mut by_name) = (Tally::default(), Tally::default());
            // Fresh copies stay alive to the end, so that each one has its own address.
            let mut fresh = Vec::new();
            for &(k, share) in &picks {
                let handle = if share { shared[k].clone() } else { Text::from(pool[k]) };
                by_handle.add_text(&handle);
                by_name.add(pool[k]);
                fresh.push(handle);
            }
            let got: Vec<(String, u64)> =
                by_handle.iter().map(|(n, c)| (n.to_string(), c)).collect();
            let want: Vec<(String, u64)> =
                by_name.iter().map(|(n, c)| (n.to_string(), c)).collect();
            proptest::prop_assert_eq!(got, want);
            proptest::prop_assert!(by_handle == by_name);
            proptest::prop_assert!(by_handle.handles.kept() <= Tally::HANDLE_SLOTS / 2);
        }

        /// More names than the first table holds: the table grows and finds every one again.
        #[test]
        fn tally_agrees_with_a_map_past_its_first_table(
            picks in proptest::collection::vec((0usize..120, 0usize..3), 0..400),
        ) {
            let forms = ["n", "follow_up_imaging_", "x_"];
            let names: Vec<String> =
                picks.iter().map(|&(k, f)| format!("{}{k}", forms[f])).collect();
            let mut t = Tally::default();
            for n in &names {
                t.add(n);
            }
            let got: Vec<(String, u64)> = t.iter().map(|(n, c)| (n.to_string(), c)).collect();
            let want: Vec<(String, u64)> = by_map(&names).into_iter().collect();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
