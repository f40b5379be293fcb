//! A CSV row written straight into an output buffer: each field is appended as it comes and
//! fixed up in place (a leading `'` for spreadsheet safety, quotes when needed), so writing a
//! row copies each byte once and allocates nothing once the buffer has grown.

use super::enc;
pub(crate) use super::enc::needs_quote_mark;
use crate::model::Levels;
use std::fmt::Display;
use std::io::Write;

/// One row under construction, appended to `out`; [`Row::end`] closes it. Every field is
/// written after its separator; a row started by [`Row::new`] drops its first separator at the
/// end, so that writing a field never needs to ask whether it is the first.
#[derive(Debug)]
pub(crate) struct Row<'o> {
    out: &'o mut Vec<u8>,
    /// Where the row starts in `out`.
    start: usize,
    /// Whether the row starts with a separator to drop (started by [`Row::new`]).
    lead: bool,
}

impl<'o> Row<'o> {
    /// Starts a row at the end of `out`.
    pub fn new(out: &'o mut Vec<u8>) -> Row<'o> {
        let start = out.len();
        Row {
            out,
            start,
            lead: true,
        }
    }

    /// Starts a row at the end of `out` with its first field, already encoded as one CSV field.
    #[inline]
    pub fn starting_with(out: &'o mut Vec<u8>, first: &[u8]) -> Row<'o> {
        let start = out.len();
        out.extend_from_slice(first);
        Row {
            out,
            start,
            lead: false,
        }
    }

    /// Starts a row at the end of `out` with its first field, already encoded.
    #[inline(always)]
    pub fn starting_with_field(out: &'o mut Vec<u8>, first: &enc::Field) -> Row<'o> {
        let row = Row::starting_with(out, &[]);
        first.write(row.out);
        row
    }

    /// Opens a field: the separator, and where the field starts.
    #[inline]
    fn open(&mut self) -> usize {
        self.out.push(b',');
        self.out.len()
    }

    /// Closes the field written raw at `out[at..]`: a leading `'` when it would read as a
    /// formula, then quotes when it needs them.
    #[inline]
    fn close(&mut self, at: usize) {
        if needs_quote_mark(&self.out[at..]) {
            self.out.insert(at, b'\'');
        }
        enc::quote_tail_if_needed(self.out, at);
    }

    /// A text cell, made safe for spreadsheets.
    #[inline]
    pub fn cell(&mut self, s: impl AsRef<[u8]>) {
        let s = s.as_ref();
        self.open();
        if !s.is_empty() {
            enc::csv_field(self.out, s, true);
        }
    }

    /// A text cell known to need no quotes (no comma, quote, CR or LF), made safe for
    /// spreadsheets.
    #[inline]
    pub fn plain_cell(&mut self, s: impl AsRef<[u8]>) {
        let s = s.as_ref();
        debug_assert!(enc::find_csv_special(s, 0).is_none());
        self.open();
        if needs_quote_mark(s) {
            self.out.push(b'\'');
        }
        self.out.extend_from_slice(s);
    }

    /// A text cell, made safe for spreadsheets, where the caller knows whether it may hold a
    /// byte that forces quotes: when `may_need_quotes` is false, it is not scanned for one.
    #[inline(always)]
    pub fn cell_known(&mut self, s: impl AsRef<[u8]>, may_need_quotes: bool) {
        if may_need_quotes {
            self.cell(s);
        } else {
            self.plain_cell(s);
        }
    }

    /// A cell whose bytes are already encoded as one CSV field (spreadsheet-safe and quoted as
    /// needed).
    #[inline]
    pub fn encoded(&mut self, field: &[u8]) {
        self.open();
        self.out.extend_from_slice(field);
    }

    /// Cells already encoded, each after its separator (`,a,b`).
    #[inline]
    pub fn encoded_cells(&mut self, cells: &[u8]) {
        self.out.extend_from_slice(cells);
    }

    /// Where the next byte written goes in the output (to find a cell again with
    /// [`Row::copy_of`]).
    #[inline]
    pub fn position(&self) -> usize {
        self.out.len()
    }

    /// A cell whose bytes are those at `range` of the output: a cell written earlier, by this
    /// row or an earlier one into the same output.
    #[inline]
    pub fn copy_of(&mut self, range: std::ops::Range<usize>) {
        self.open();
        self.out.extend_from_within(range);
    }

    /// A text cell written exactly as given (the mention text).
    #[inline]
    pub fn verbatim(&mut self, s: impl AsRef<[u8]>) {
        self.open();
        enc::csv_field(self.out, s.as_ref(), false);
    }

    /// An empty cell.
    #[inline]
    pub fn empty(&mut self) {
        self.open();
    }

    /// A non-negative integer.
    #[inline]
    pub fn uint(&mut self, n: u64) {
        self.open();
        enc::uint(self.out, n);
    }

    /// An optional non-negative integer (empty when `None`).
    #[inline]
    pub fn opt_uint(&mut self, n: Option<u64>) {
        self.open();
        if let Some(n) = n {
            enc::uint(self.out, n);
        }
    }

    /// A stable name (a status, a section, a severity ...): a plain lowercase word, which needs
    /// neither a quote mark nor quotes.
    #[inline]
    pub fn name(&mut self, s: &'static str) {
        debug_assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        self.open();
        self.out.extend_from_slice(s.as_bytes());
    }

    /// An optional stable name (empty when `None`).
    #[inline]
    pub fn opt_name(&mut self, s: Option<&'static str>) {
        self.open();
        if let Some(s) = s {
            debug_assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            self.out.extend_from_slice(s.as_bytes());
        }
    }

    /// Vertebral levels, `;`-joined.
    #[inline]
    pub fn levels(&mut self, levels: Levels) {
        self.open();
        if !levels.is_empty() {
            enc::levels(self.out, levels, enc::LevelFormat::Csv);
        }
    }

    /// A formatted cell, made safe for spreadsheets.
    pub fn display(&mut self, v: impl Display) {
        let at = self.open();
        // Writing into a Vec cannot fail.
        let _ = write!(self.out, "{v}");
        self.close(at);
    }

    /// An optional number (empty when `None`), as `Display` writes it.
    #[inline]
    pub fn opt_f32(&mut self, v: Option<f32>) {
        match v.map(|v| (v, enc::f32_tenths(v))) {
            // A number of tenths, written without formatting: not negative, so it needs no
            // quote mark.
            Some((_, Some(tenths))) => {
                self.open();
                enc::tenths(self.out, tenths, b"");
            }
            Some((v, None)) => self.display(v),
            None => self.empty(),
        }
    }

    /// Items joined by `;`, made safe for spreadsheets.
    pub fn joined<I, T>(&mut self, items: I)
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.joined_with(items, |out, item| {
            out.extend_from_slice(item.as_ref().as_bytes())
        });
    }

    /// Items written by `write` (each appends its bytes), joined by `;`, made safe for
    /// spreadsheets.
    pub fn joined_with<I>(&mut self, items: I, write: impl FnMut(&mut Vec<u8>, I::Item))
    where
        I: IntoIterator,
    {
        self.joined_known(items, write, true);
    }

    /// Items written by `write`, joined by `;`, made safe for spreadsheets, where the caller
    /// knows whether any item may hold a byte that forces quotes (a comma, a quote, CR or LF):
    /// when `may_need_quotes` is false, the cell is not scanned for one.
    #[inline]
    pub fn joined_known<I>(
        &mut self,
        items: I,
        mut write: impl FnMut(&mut Vec<u8>, I::Item),
        may_need_quotes: bool,
    ) where
        I: IntoIterator,
    {
        let at = self.open();
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.out.push(b';');
            }
            write(self.out, item);
        }
        if needs_quote_mark(&self.out[at..]) {
            self.out.insert(at, b'\'');
        }
        if may_need_quotes {
            enc::quote_tail_if_needed(self.out, at);
        }
    }

    /// Ends the row with `\n`. A row of one empty field is written `""`, so that it is not a
    /// blank line (as `csv::Writer` does).
    #[inline(always)]
    pub fn end(self) {
        let len = self.out.len() - self.start;
        if self.lead {
            match len {
                // No field.
                0 => {}
                // One empty field.
                1 => {
                    self.out.truncate(self.start);
                    self.out.extend_from_slice(b"\"\"");
                }
                _ => {
                    self.out.remove(self.start);
                }
            }
        } else if len == 0 {
            self.out.extend_from_slice(b"\"\"");
        }
        self.out.push(b'\n');
    }

    /// A header row.
    pub fn header<S: AsRef<str>>(out: &'o mut Vec<u8>, names: &[S]) {
        let mut row = Row::new(out);
        for n in names {
            row.verbatim(n.as_ref());
        }
        row.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(f: impl FnOnce(&mut Row)) -> String {
        let mut out = Vec::new();
        let mut row = Row::new(&mut out);
        f(&mut row);
        row.end();
        String::from_utf8(out).unwrap()
    }

    fn csv_crate(fields: &[&str]) -> Vec<u8> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(fields).unwrap();
        w.into_inner().unwrap()
    }

    #[test]
    fn encoding_matches_the_csv_crate() {
        let cases: &[&[&str]] = &[
            &["a", "b,c", "d\"e", "f\ng", "h\r\ni", "", " j ", "k'l"],
            &[""],
            &["", ""],
            &["x"],
            &["\"", ",", "\r"],
            &["30°", "L4–5"],
            &[
                "a long field without anything special in it",
                "and \"one\" with, commas",
            ],
        ];
        for fields in cases {
            let mut ours = Vec::new();
            let mut row = Row::new(&mut ours);
            for f in *fields {
                row.verbatim(f);
            }
            row.end();
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                String::from_utf8(csv_crate(fields)).unwrap()
            );
        }
    }

    #[test]
    fn rows_append() {
        let mut out = b"x\n".to_vec();
        let mut row = Row::new(&mut out);
        row.empty();
        row.end();
        assert_eq!(out, b"x\n\"\"\n");
    }

    #[test]
    fn formulas_get_a_quote_mark() {
        assert_eq!(
            render(|r| r.cell("=HYPERLINK(\"x\")")),
            "\"'=HYPERLINK(\"\"x\"\")\"\n"
        );
        assert_eq!(render(|r| r.cell("+1")), "'+1\n");
        assert_eq!(render(|r| r.cell("-2")), "'-2\n");
        assert_eq!(render(|r| r.cell("@SUM")), "'@SUM\n");
        assert_eq!(render(|r| r.cell("\tx")), "'\tx\n");
        assert_eq!(render(|r| r.cell("\r")), "\"'\r\"\n");
        assert_eq!(render(|r| r.display(-3)), "'-3\n");
        assert_eq!(render(|r| r.joined(["-a", "b"])), "'-a;b\n");
        assert_eq!(render(|r| r.cell("T12")), "T12\n");
        assert_eq!(render(|r| r.verbatim("-x")), "-x\n");
    }

    #[test]
    fn joined_names_numbers_and_options() {
        let mut levels = Levels::EMPTY;
        levels.insert(18);
        levels.insert(19);
        let out = render(|r| {
            r.joined(["a", "b"]);
            r.name("true");
            r.opt_f32(None);
            r.opt_f32(Some(2.5f32));
            r.opt_f32(Some(2.0e-7f32));
            r.opt_f32(Some(-2.5f32));
            r.opt_f32(None);
            r.cell("two\nlines");
            r.uint(42);
            r.opt_uint(None);
            r.levels(levels);
            r.joined(["x,y"]);
        });
        assert_eq!(
            out,
            "a;b,true,,2.5,0.0000002,'-2.5,,\"two\nlines\",42,,T12;L1,\"x,y\"\n"
        );
    }

    proptest::proptest! {
        #[test]
        fn encoding_matches_the_csv_crate_for_any_fields(fields in proptest::collection::vec("(?s).{0,24}", 1..6)) {
            let mut ours = Vec::new();
            let mut row = Row::new(&mut ours);
            for f in &fields {
                row.verbatim(f);
            }
            row.end();
            let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
            proptest::prop_assert_eq!(ours, csv_crate(&refs));
        }

        #[test]
        fn cells_match_the_csv_crate_after_the_quote_mark(s in "(?s)[=+@a,\"\n-]{0,3}.{0,16}") {
            let mut ours = Vec::new();
            let mut row = Row::new(&mut ours);
            row.cell(&s);
            row.end();
            let marked = if needs_quote_mark(s.as_bytes()) { format!("'{s}") } else { s.clone() };
            proptest::prop_assert_eq!(ours, csv_crate(&[&marked]));
        }
    }
}
