//! The review page: one self-contained `review.html` that people can read instead of CSV.
//!
//! [`ReviewWriter`] streams: each [`ReviewWriter::add`] renders one report's block into a
//! temporary body file next to the page and keeps only counts in memory; [`ReviewWriter::finish`]
//! writes the page (summary with inline SVG charts, filters, then the report blocks) and removes
//! the temporary file. At most [`DEFAULT_LIMIT`] reports are shown (see
//! [`ReviewWriter::set_limit`]); the summary always counts every report.
//!
//! The page loads nothing: no network, no external scripts, fonts or styles. Every piece of
//! report text, report id and attribute value is HTML-escaped, and a Content-Security-Policy
//! (`default-src 'none'`, the one inline script allowed by its SHA-256 hash) stops injected markup
//! from running script even if escaping failed.
//!
//! Filters (concept found, action, flag, report id) are kept in the URL fragment, such as
//! `review.html#concept=vertebral_fracture&flag=missing_acuity`, so a filtered view can be
//! bookmarked and shared; reports filtered out carry the `hidden` attribute.

use crate::model::*;
use crate::pipeline::Pipeline;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// How many report blocks a page shows by default.
pub const DEFAULT_LIMIT: usize = 5_000;

/// Streams report blocks and writes `review.html` at the end.
#[derive(Debug)]
pub struct ReviewWriter {
    path: PathBuf,
    body_path: PathBuf,
    body: Option<BufWriter<File>>,
    limit: usize,
    names: Vec<String>,
    /// Per concept: present, uncertain, absent.
    status: Vec<[u64; 3]>,
    actions: BTreeMap<String, u64>,
    flags: BTreeMap<String, (FlagSeverity, u64)>,
    reports: u64,
    shown: u64,
    with_flags: u64,
    with_actions: u64,
}

/// Counts reported by [`ReviewWriter::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewSummary {
    /// Reports added.
    pub reports: u64,
    /// Reports shown on the page.
    pub shown: u64,
}

impl ReviewWriter {
    /// Starts a page that will be written to `path` (usually `OUT/review.html`). The report
    /// blocks go to a temporary file beside it until [`ReviewWriter::finish`].
    pub fn create(path: impl AsRef<Path>) -> io::Result<ReviewWriter> {
        let path = path.as_ref().to_path_buf();
        let mut name = path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "review.html".into());
        name.push(".body.tmp");
        let body_path = path.with_file_name(name);
        let body = BufWriter::with_capacity(1 << 16, File::create(&body_path)?);
        Ok(ReviewWriter {
            path,
            body_path,
            body: Some(body),
            limit: DEFAULT_LIMIT,
            names: Vec::new(),
            status: Vec::new(),
            actions: BTreeMap::new(),
            flags: BTreeMap::new(),
            reports: 0,
            shown: 0,
            with_flags: 0,
            with_actions: 0,
        })
    }

    /// Sets how many report blocks the page shows (the summary still counts every report).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Adds one report: counts it and, while under the limit, renders its block.
    pub fn add(&mut self, report: &Report, a: &Analysis, pipeline: &Pipeline) -> io::Result<()> {
        let names = pipeline.concept_names();
        if self.names.len() < names.len() {
            self.names = names.to_vec();
            self.status.resize(names.len(), [0; 3]);
        }
        self.reports += 1;
        for (i, c) in a.concepts.iter().enumerate() {
            let k = match c.status {
                Some(Status::Present) => 0,
                Some(Status::Uncertain) => 1,
                Some(Status::Absent) => 2,
                None => continue,
            };
            if let Some(row) = self.status.get_mut(i) {
                row[k] += 1;
            }
        }
        let mut actions: Vec<&str> = a
            .recommendations
            .iter()
            .map(|r| r.action.as_str())
            .collect();
        actions.sort_unstable();
        actions.dedup();
        for act in &actions {
            *self.actions.entry(act.to_string()).or_insert(0) += 1;
        }
        let mut flags: Vec<(&str, FlagSeverity)> = a
            .flags
            .iter()
            .map(|f| (f.flag.as_str(), f.severity))
            .collect();
        flags.sort_unstable();
        flags.dedup_by(|x, y| x.0 == y.0);
        for &(f, sev) in &flags {
            let e = self.flags.entry(f.to_string()).or_insert((sev, 0));
            e.0 = e.0.max(sev);
            e.1 += 1;
        }
        self.with_flags += u64::from(!flags.is_empty());
        self.with_actions += u64::from(!actions.is_empty());
        if self.shown as usize >= self.limit {
            return Ok(());
        }
        self.shown += 1;
        let n = self.shown;
        let body = self
            .body
            .as_mut()
            .ok_or_else(|| io::Error::other("review page already finished"))?;
        let mut block = String::with_capacity(report.text.len() * 2 + 1024);
        render_report(&mut block, n, report, a, pipeline, &actions, &flags);
        body.write_all(block.as_bytes())
    }

    /// Writes `review.html` and removes the temporary body file.
    pub fn finish(mut self) -> io::Result<ReviewSummary> {
        let body = self
            .body
            .take()
            .ok_or_else(|| io::Error::other("review page already finished"))?;
        body.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        let mut out = BufWriter::with_capacity(1 << 16, File::create(&self.path)?);
        let mut head = String::with_capacity(16 * 1024);
        self.render_head(&mut head);
        out.write_all(head.as_bytes())?;
        io::copy(&mut File::open(&self.body_path)?, &mut out)?;
        let mut tail = String::new();
        if self.reports > self.shown {
            tail.push_str("<p class=\"note\">The page shows the first ");
            tail.push_str(&group(self.shown));
            tail.push_str(" of ");
            tail.push_str(&group(self.reports));
            tail.push_str(" reports; the summary counts all of them.</p>\n");
        }
        tail.push_str("</main>\n<script>");
        tail.push_str(SCRIPT);
        tail.push_str("</script>\n</body>\n</html>\n");
        out.write_all(tail.as_bytes())?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::remove_file(&self.body_path)?;
        Ok(ReviewSummary {
            reports: self.reports,
            shown: self.shown,
        })
    }

    fn render_head(&self, o: &mut String) {
        o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        o.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"");
        o.push_str(&csp());
        o.push_str("\">\n<meta name=\"referrer\" content=\"no-referrer\">\n");
        o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        o.push_str("<title>spinex review</title>\n<style>");
        o.push_str(STYLE);
        o.push_str(&concept_styles(self.names.len()));
        o.push_str("</style>\n</head>\n<body>\n<header class=\"top\">\n<h1>spinex review</h1>\n");
        o.push_str("<p class=\"counts\"><b>");
        o.push_str(&group(self.reports));
        o.push_str("</b> reports · <b>");
        o.push_str(&group(self.with_actions));
        o.push_str("</b> with recommended actions · <b>");
        o.push_str(&group(self.with_flags));
        o.push_str("</b> with audit flags</p>\n</header>\n<section class=\"summary\">\n");
        self.chart_concepts(o);
        self.chart_counts(
            o,
            "Actions",
            "action",
            "reports with each recommended action",
            self.actions
                .iter()
                .map(|(k, v)| (k.as_str(), *v, "bar-action")),
        );
        self.chart_counts(
            o,
            "Audit flags",
            "flag",
            "reports with each audit flag",
            self.flags.iter().map(|(k, (sev, v))| {
                let cls = match sev {
                    FlagSeverity::High => "bar-high",
                    FlagSeverity::Warning => "bar-warning",
                    FlagSeverity::Info => "bar-info",
                };
                (k.as_str(), *v, cls)
            }),
        );
        o.push_str("</section>\n");
        self.render_filters(o);
        o.push_str(LEGEND);
        o.push_str("<p class=\"legend\">Underline: ");
        for (i, name) in self.names.iter().enumerate() {
            o.push_str(&format!("<span class=\"ck c{i}\">"));
            esc(o, name);
            o.push_str("</span> ");
        }
        o.push_str("</p>\n");
        o.push_str("<main id=\"reports\">\n");
    }

    fn chart_concepts(&self, o: &mut String) {
        let total = self.reports.max(1) as f64;
        let (label_w, bar_w, row_h) = (170.0, 300.0, 22.0);
        let h = row_h * self.names.len() as f64 + 8.0;
        let w = label_w + bar_w + 190.0;
        o.push_str("<figure class=\"chart\"><figcaption>Findings: % of reports present / uncertain / absent</figcaption>\n");
        o.push_str(&format!(
            "<svg role=\"img\" aria-label=\"share of reports with each finding present, uncertain or absent\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\">\n"
        ));
        for (i, name) in self.names.iter().enumerate() {
            let y = 4.0 + row_h * i as f64;
            let [p, u, a] = self.status.get(i).copied().unwrap_or([0; 3]);
            o.push_str("<a href=\"#concept=");
            esc(o, name);
            o.push_str("\">");
            o.push_str(&format!(
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">",
                label_w - 6.0,
                y + 15.0
            ));
            esc(o, name);
            o.push_str("</text>");
            let mut x = label_w;
            for (count, cls, what) in [
                (p, "st-present", "present"),
                (u, "st-uncertain", "uncertain"),
                (a, "st-absent", "absent"),
            ] {
                let w = bar_w * count as f64 / total;
                if count > 0 {
                    o.push_str(&format!(
                        "<rect class=\"{cls}\" x=\"{x:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\"><title>",
                        y + 2.0,
                        w.max(1.0),
                        row_h - 6.0
                    ));
                    esc(o, name);
                    o.push_str(&format!(
                        " {what}: {count} ({:.1}%)</title></rect>",
                        100.0 * count as f64 / total
                    ));
                }
                x += w;
            }
            o.push_str(&format!(
                "<text class=\"num\" x=\"{}\" y=\"{}\">{:.1} / {:.1} / {:.1}</text></a>\n",
                label_w + bar_w + 8.0,
                y + 15.0,
                100.0 * p as f64 / total,
                100.0 * u as f64 / total,
                100.0 * a as f64 / total
            ));
        }
        o.push_str("</svg>\n<p class=\"key\"><span class=\"sw st-present\"></span>present <span class=\"sw st-uncertain\"></span>uncertain <span class=\"sw st-absent\"></span>absent · click a row to filter</p></figure>\n");
    }

    fn chart_counts<'a>(
        &self,
        o: &mut String,
        title: &str,
        key: &str,
        aria: &str,
        rows: impl Iterator<Item = (&'a str, u64, &'static str)>,
    ) {
        let rows: Vec<_> = rows.collect();
        o.push_str("<figure class=\"chart\"><figcaption>");
        o.push_str(title);
        o.push_str(": reports</figcaption>\n");
        if rows.is_empty() {
            o.push_str("<p class=\"none\">none</p></figure>\n");
            return;
        }
        let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1) as f64;
        let total = self.reports.max(1) as f64;
        let (label_w, bar_w, row_h) = (300.0, 240.0, 22.0);
        let h = row_h * rows.len() as f64 + 8.0;
        let w = label_w + bar_w + 110.0;
        o.push_str(&format!(
            "<svg role=\"img\" aria-label=\"{aria}\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\">\n"
        ));
        for (i, (name, count, cls)) in rows.iter().enumerate() {
            let y = 4.0 + row_h * i as f64;
            o.push_str("<a href=\"#");
            o.push_str(key);
            o.push('=');
            esc(o, name);
            o.push_str(&format!(
                "\"><text x=\"{}\" y=\"{}\" text-anchor=\"end\">",
                label_w - 6.0,
                y + 15.0
            ));
            esc(o, name);
            o.push_str(&format!(
                "</text><rect class=\"{cls}\" x=\"{label_w}\" y=\"{}\" width=\"{:.1}\" height=\"{}\"><title>",
                y + 2.0,
                (bar_w * *count as f64 / max).max(1.0),
                row_h - 6.0
            ));
            esc(o, name);
            o.push_str(&format!(
                ": {count}</title></rect><text class=\"num\" x=\"{}\" y=\"{}\">{} ({:.1}%)</text></a>\n",
                label_w + bar_w * *count as f64 / max + 6.0,
                y + 15.0,
                group(*count),
                100.0 * *count as f64 / total
            ));
        }
        o.push_str("</svg></figure>\n");
    }

    fn render_filters(&self, o: &mut String) {
        o.push_str("<form class=\"filters\" id=\"filters\" role=\"search\">\n");
        let select = |o: &mut String,
                      id: &str,
                      label: &str,
                      any: &str,
                      opts: &mut dyn Iterator<Item = &str>| {
            o.push_str(&format!("<label>{label} <select id=\"f-{id}\" data-key=\"{id}\"><option value=\"\">{any}</option>"));
            for v in opts {
                o.push_str("<option value=\"");
                esc(o, v);
                o.push_str("\">");
                esc(o, v);
                o.push_str("</option>");
            }
            o.push_str("</select></label>\n");
        };
        select(
            o,
            "concept",
            "Finding",
            "any",
            &mut self.names.iter().map(String::as_str),
        );
        select(
            o,
            "action",
            "Action",
            "any",
            &mut self.actions.keys().map(String::as_str),
        );
        select(
            o,
            "flag",
            "Flag",
            "any",
            &mut self.flags.keys().map(String::as_str),
        );
        o.push_str("<label>Report id <input id=\"f-q\" data-key=\"q\" type=\"search\" autocomplete=\"off\" placeholder=\"contains\"></label>\n");
        o.push_str("<button type=\"reset\" id=\"f-clear\">Clear</button>\n");
        o.push_str(&format!(
            "<output id=\"shown\" aria-live=\"polite\">{} shown</output>\n</form>\n",
            group(self.shown)
        ));
    }
}

impl Drop for ReviewWriter {
    fn drop(&mut self) {
        if self.body.take().is_some() {
            let _ = std::fs::remove_file(&self.body_path);
        }
    }
}

/// The primary assertion of a mention, for its colour.
fn assertion(m: &Mention) -> &'static str {
    if m.hypothetical.is_some() {
        "hypothetical"
    } else if m.historical.is_some() {
        "historical"
    } else if m.negated.is_some() {
        "negated"
    } else if m.uncertain.is_some() {
        "uncertain"
    } else {
        "affirmed"
    }
}

/// Appends `s` HTML-escaped (safe in text and in quoted attribute values).
pub fn esc(o: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            '\0' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
}

/// Escapes for an attribute value, turning line breaks into character references.
fn esc_attr(o: &mut String, s: &str) {
    for line in s.split_inclusive('\n') {
        match line.strip_suffix('\n') {
            Some(l) => {
                esc(o, l);
                o.push_str("&#10;");
            }
            None => esc(o, line),
        }
    }
}

fn slice<'t>(text: &'t str, sp: Span) -> &'t str {
    text.get(sp.start..sp.end).unwrap_or("")
}

/// The tooltip of a mention: concept, context flags with their triggers, attributes, and the
/// audit flags that cite it.
fn tooltip(text: &str, m: &Mention, mi: u32, a: &Analysis, p: &Pipeline) -> String {
    let mut t = String::new();
    t.push_str(
        p.concept_names()
            .get(m.concept.index())
            .map_or("?", String::as_str),
    );
    t.push_str(" · ");
    t.push_str(assertion(m));
    t.push_str(&format!("\nterm: {}", p.term_text(m)));
    for (what, f) in [
        ("negated", m.negated),
        ("uncertain", m.uncertain),
        ("historical", m.historical),
        ("hypothetical", m.hypothetical),
    ] {
        if let Some(sp) = f {
            let trig: String = slice(text, sp).chars().take(60).collect();
            t.push_str(&format!("\n{what} by \u{201c}{}\u{201d}", trig.trim()));
        }
    }
    t.push_str(&format!("\nsection: {}", m.section));
    let at = &m.attrs;
    if !at.levels.is_empty() {
        t.push_str(&format!("\nlevels: {}", at.levels));
    }
    if let Some(r) = at.region {
        t.push_str(&format!("\nregion: {r}"));
    }
    if let Some(s) = at.severity {
        t.push_str(&format!("\nseverity: {s}"));
    }
    if let Some(x) = at.acuity {
        t.push_str(&format!("\nacuity: {x}"));
    }
    if let Some(g) = at.genant_grade {
        t.push_str(&format!("\nGenant grade: {g}"));
    }
    if let Some(p) = at.height_loss_pct {
        t.push_str(&format!("\nheight loss: {p}%"));
    }
    if let Some(g) = at.meyerding_grade {
        t.push_str(&format!("\nMeyerding grade: {g}"));
    }
    if let Some(mm) = at.slip_mm {
        t.push_str(&format!("\nslip: {mm} mm"));
    }
    if let Some(d) = at.cobb_degrees {
        t.push_str(&format!("\nCobb angle: {d}°"));
    }
    if let Some(d) = at.direction {
        t.push_str(&format!("\ndirection: {d}"));
    }
    for f in a.flags.iter().filter(|f| f.evidence.contains(&mi)) {
        t.push_str(&format!("\naudit: {}", f.flag));
    }
    t
}

fn evidence_list(o: &mut String, n: u64, text: &str, ev: &[u32], a: &Analysis, names: &[String]) {
    if ev.is_empty() {
        return;
    }
    o.push_str(" <span class=\"ev\">Evidence: ");
    for (k, &i) in ev.iter().enumerate() {
        let Some(m) = a.mentions.get(i as usize) else {
            continue;
        };
        if k > 0 {
            o.push_str(", ");
        }
        o.push_str(&format!(
            "<a href=\"#r{n}-m{i}\" class=\"a-{}\">\u{201c}",
            assertion(m)
        ));
        esc(o, slice(text, m.span));
        o.push_str("\u{201d}</a> <small>");
        esc(o, names.get(m.concept.index()).map_or("?", String::as_str));
        o.push_str("</small>");
    }
    o.push_str("</span>");
}

fn render_report(
    o: &mut String,
    n: u64,
    report: &Report,
    a: &Analysis,
    pipeline: &Pipeline,
    actions: &[&str],
    flags: &[(&str, FlagSeverity)],
) {
    let text = report.text.as_str();
    let names = pipeline.concept_names();
    // Data attributes for the filters: space-delimited so that a lookup of " id " is exact.
    let mut found = String::from(" ");
    for (i, c) in a.concepts.iter().enumerate() {
        if matches!(c.status, Some(Status::Present | Status::Uncertain)) {
            found.push_str(names.get(i).map_or("", String::as_str));
            found.push(' ');
        }
    }
    o.push_str(&format!(
        "<article class=\"report\" id=\"r{n}\" data-concepts=\""
    ));
    esc(o, &found);
    o.push_str("\" data-actions=\" ");
    for act in actions {
        esc(o, act);
        o.push(' ');
    }
    o.push_str("\" data-flags=\" ");
    for (f, _) in flags {
        esc(o, f);
        o.push(' ');
    }
    o.push_str("\" data-id=\"");
    esc(o, &report.id.to_lowercase());
    o.push_str("\">\n<header><h2>");
    esc(o, &report.id);
    o.push_str("</h2><ul class=\"chips\">");
    for (i, c) in a.concepts.iter().enumerate() {
        let Some(st) = c.status else { continue };
        o.push_str(&format!("<li class=\"chip st-{st}\">"));
        esc(o, names.get(i).map_or("?", String::as_str));
        o.push_str(&format!(": {st}"));
        if !c.levels.is_empty() {
            o.push_str(&format!(" {}", c.levels));
        }
        o.push_str("</li>");
    }
    o.push_str("</ul></header>\n<pre class=\"text\">");
    // Mentions in text order; one that overlaps the previous one is listed, not highlighted.
    let mut order: Vec<u32> = (0..a.mentions.len() as u32).collect();
    order.sort_by_key(|&i| (a.mentions[i as usize].span.start, i));
    let mut pos = 0usize;
    for i in order {
        let m = &a.mentions[i as usize];
        if m.span.start < pos || text.get(m.span.start..m.span.end).is_none() {
            continue;
        }
        esc(o, &text[pos..m.span.start]);
        let concept = m.concept.index();
        o.push_str(&format!(
            "<mark id=\"r{n}-m{i}\" tabindex=\"0\" class=\"a-{} c{}\" data-tip=\"",
            assertion(m),
            concept
        ));
        esc_attr(o, &tooltip(text, m, i, a, pipeline));
        o.push_str("\">");
        esc(o, slice(text, m.span));
        o.push_str("</mark>");
        pos = m.span.end;
    }
    esc(o, text.get(pos..).unwrap_or(""));
    o.push_str("</pre>\n");
    if !a.recommendations.is_empty() {
        o.push_str("<section class=\"recs\"><h3>Recommendations</h3><ul>\n");
        for r in &a.recommendations {
            o.push_str(&format!(
                "<li><span class=\"act\">{}</span> <span class=\"tag str-{}\">{}</span> <span class=\"tag urg-{}\">{}</span> ",
                html(&r.action),
                r.strength,
                r.strength,
                r.urgency,
                r.urgency
            ));
            if let Some(c) = &r.condition {
                o.push_str("<span class=\"cond\">condition: ");
                esc(o, c);
                o.push_str("</span> ");
            }
            o.push_str("<p>");
            esc(o, &r.rationale);
            evidence_list(o, n, text, &r.evidence, a, names);
            o.push_str("</p><p class=\"src\">Rule <code>");
            esc(o, &r.rule);
            o.push_str("</code> · ");
            esc(o, &r.source);
            o.push_str("</p></li>\n");
        }
        o.push_str("</ul></section>\n");
    }
    if !a.cautions.is_empty() {
        o.push_str("<section class=\"cautions\"><h3>Cautions</h3><ul>\n");
        for c in &a.cautions {
            o.push_str("<li><span class=\"act\">");
            esc(o, &c.id);
            o.push_str("</span> <p>");
            esc(o, &c.message);
            evidence_list(o, n, text, &c.evidence, a, names);
            o.push_str("</p><p class=\"src\">");
            esc(o, &c.source);
            o.push_str("</p></li>\n");
        }
        o.push_str("</ul></section>\n");
    }
    if !a.flags.is_empty() {
        o.push_str("<section class=\"flags\"><h3>Audit flags</h3><ul>\n");
        for f in &a.flags {
            o.push_str(&format!(
                "<li><span class=\"tag sev-{}\">{}</span> <span class=\"act\">",
                f.severity, f.severity
            ));
            esc(o, &f.flag);
            o.push_str("</span> <p>");
            esc(o, &f.message);
            evidence_list(o, n, text, &f.evidence, a, names);
            o.push_str("</p></li>\n");
        }
        o.push_str("</ul></section>\n");
    }
    if a.recommendations.is_empty() && a.flags.is_empty() && a.mentions.is_empty() {
        o.push_str("<p class=\"none\">No spine finding mentioned.</p>\n");
    }
    o.push_str("</article>\n");
}

fn html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    esc(&mut o, s);
    o
}

/// `12345` -> `12,345`.
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The page's Content-Security-Policy: nothing may load, inline styles are allowed, and the one
/// inline script runs by its hash.
pub fn csp() -> String {
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{}'; base-uri 'none'; form-action 'none'",
        base64(&sha256(SCRIPT.as_bytes()))
    )
}

/// One palette colour per concept (cycling for user concepts), as the underline of a mark.
fn concept_styles(n: usize) -> String {
    const PALETTE: [&str; 11] = [
        "#c62828", "#6a1b9a", "#00838f", "#ef6c00", "#2e7d32", "#5d4037", "#1565c0", "#ad1457",
        "#827717", "#37474f", "#d84315",
    ];
    let mut s = String::new();
    for i in 0..n.max(PALETTE.len()) {
        s.push_str(&format!(
            ".c{i}{{border-bottom-color:{}}}",
            PALETTE[i % PALETTE.len()]
        ));
    }
    s.push('\n');
    s
}

const LEGEND: &str = "<p class=\"legend\">Mentions: <mark class=\"a-affirmed\">affirmed</mark> <mark class=\"a-uncertain\">uncertain</mark> <mark class=\"a-negated\">negated</mark> <mark class=\"a-historical\">historical</mark> <mark class=\"a-hypothetical\">hypothetical</mark>. Hover or focus a mention for its finding, context, trigger and attributes.</p>\n";

const STYLE: &str = r#"
:root{--fg:#1b1b1b;--muted:#5b5b5b;--line:#d9d9d9;--bg:#fff;--panel:#f6f7f9}
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);background:var(--bg)}
header.top{padding:16px 24px 4px}
h1{margin:0 0 4px;font-size:22px}
.counts{margin:0;color:var(--muted)}
.summary{display:flex;flex-wrap:wrap;gap:16px;padding:8px 24px}
.chart{margin:0;flex:0 1 auto;background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:8px 12px;max-width:860px}
figcaption{font-weight:600;margin-bottom:4px}
.chart svg{display:block;font-size:13px;max-width:100%;height:auto}
.chart text{fill:var(--fg)}
.chart text.num{fill:var(--muted)}
.chart a:hover text,.chart a:focus text{text-decoration:underline}
.st-present{fill:#c62828;background:#c62828}
.st-uncertain{fill:#f9a825;background:#f9a825}
.st-absent{fill:#9e9e9e;background:#9e9e9e}
.bar-action{fill:#1565c0}
.bar-high{fill:#b71c1c}.bar-warning{fill:#ef6c00}.bar-info{fill:#607d8b}
.key{margin:4px 0 0;color:var(--muted);font-size:13px}
.sw{display:inline-block;width:10px;height:10px;margin:0 3px 0 8px;border-radius:2px}
.filters{position:sticky;top:0;z-index:5;display:flex;flex-wrap:wrap;gap:12px;align-items:center;padding:10px 24px;background:#fffffff0;border-bottom:1px solid var(--line)}
.filters select,.filters input{font:inherit;padding:2px 4px}
#shown{margin-left:auto;color:var(--muted)}
.legend{padding:4px 24px;color:var(--muted);font-size:13px}
main{padding:0 24px 40px}
article.report{border:1px solid var(--line);border-radius:6px;margin:14px 0;padding:10px 14px;content-visibility:auto;contain-intrinsic-size:auto 320px}
article.report>header{display:flex;flex-wrap:wrap;align-items:baseline;gap:10px}
article h2{font-size:16px;margin:0;word-break:break-all}
.chips{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:4px}
.chip{font-size:12px;padding:1px 6px;border-radius:10px;color:#fff}
.chip.st-present{background:#c62828}.chip.st-uncertain{background:#f9a825;color:#222}.chip.st-absent{background:#9e9e9e}
pre.text{white-space:pre-wrap;word-wrap:break-word;font:14px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--panel);padding:8px 10px;border-radius:4px;margin:8px 0}
.ck{border-bottom:3px solid transparent;margin-right:6px}
mark{position:relative;border-radius:3px;padding:0 1px;border-bottom:3px solid transparent;color:inherit;cursor:help}
mark.a-affirmed{background:#ffcdd2}
mark.a-uncertain{background:#ffe082}
mark.a-negated{background:#e0e0e0;text-decoration:line-through;text-decoration-color:#757575}
mark.a-historical{background:#bbdefb}
mark.a-hypothetical{background:#e1bee7;font-style:italic}
#tip{position:fixed;z-index:20;max-width:420px;white-space:pre-wrap;font:12px/1.45 system-ui,sans-serif;background:#263238;color:#fff;padding:6px 9px;border-radius:4px;box-shadow:0 2px 8px #0005;pointer-events:none}
mark:focus{outline:2px solid #1565c0}
.legend mark{cursor:default}
article h3{font-size:14px;margin:8px 0 2px}
article ul{margin:0;padding-left:18px}
article li{margin:4px 0}
article li p{margin:2px 0}
.act{font-weight:600;font-family:ui-monospace,Menlo,Consolas,monospace}
.tag{font-size:12px;padding:0 6px;border-radius:8px;border:1px solid var(--line)}
.sev-high{background:#b71c1c;color:#fff}.sev-warning{background:#ef6c00;color:#fff}.sev-info{background:#607d8b;color:#fff}
.urg-urgent{background:#b71c1c;color:#fff}.urg-soon{background:#ffe0b2}
.cond{color:var(--muted);font-style:italic}
.ev{color:var(--muted)}
.ev a{color:inherit}
.src{color:var(--muted);font-size:13px}
.note,.none{color:var(--muted)}
"#;

/// The page's only script: filters from the form and from the URL fragment.
const SCRIPT: &str = r##"
(function () {
  "use strict";
  var keys = ["concept", "action", "flag", "q"];
  var attr = { concept: "data-concepts", action: "data-actions", flag: "data-flags" };
  var field = {};
  keys.forEach(function (k) { field[k] = document.getElementById("f-" + k); });
  var reports = document.querySelectorAll("article.report");
  var shown = document.getElementById("shown");
  function current() {
    var v = {};
    keys.forEach(function (k) { v[k] = field[k] ? field[k].value.trim() : ""; });
    return v;
  }
  function apply() {
    var v = current(), q = v.q.toLowerCase(), n = 0;
    for (var i = 0; i < reports.length; i++) {
      var r = reports[i], ok = true;
      for (var k in attr) {
        if (v[k] && (r.getAttribute(attr[k]) || "").indexOf(" " + v[k] + " ") < 0) { ok = false; }
      }
      if (q && (r.getAttribute("data-id") || "").indexOf(q) < 0) { ok = false; }
      if (ok) { r.removeAttribute("hidden"); n++; } else { r.setAttribute("hidden", ""); }
    }
    shown.textContent = n + " of " + reports.length + " shown";
  }
  function fromHash() {
    var h = location.hash.replace(/^#/, ""), v = {};
    h.split("&").forEach(function (part) {
      var i = part.indexOf("=");
      if (i > 0) {
        try { v[decodeURIComponent(part.slice(0, i))] = decodeURIComponent(part.slice(i + 1)); } catch (e) { }
      }
    });
    keys.forEach(function (k) {
      if (!field[k]) { return; }
      field[k].value = v[k] || "";
      if (field[k].tagName === "SELECT" && field[k].value !== (v[k] || "")) { field[k].value = ""; }
    });
    apply();
  }
  function toHash() {
    var v = current(), parts = [];
    keys.forEach(function (k) { if (v[k]) { parts.push(k + "=" + encodeURIComponent(v[k])); } });
    try { history.replaceState(null, "", parts.length ? "#" + parts.join("&") : location.pathname + location.search); } catch (e) { }
    apply();
  }
  keys.forEach(function (k) {
    if (field[k]) { field[k].addEventListener(k === "q" ? "input" : "change", toHash); }
  });
  var form = document.getElementById("filters");
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  form.addEventListener("reset", function () { setTimeout(toHash, 0); });
  window.addEventListener("hashchange", fromHash);

  // One tooltip for every highlighted mention, shown on hover and on keyboard focus. It lives
  // outside the report blocks, so their paint containment cannot clip it, and it is filled with
  // textContent, so nothing in it is parsed as markup.
  var tip = document.createElement("div"), owner = null;
  tip.id = "tip";
  tip.setAttribute("role", "tooltip");
  tip.hidden = true;
  document.body.appendChild(tip);
  function markOf(e) {
    var t = e.target;
    return t && t.closest ? t.closest("mark[data-tip]") : null;
  }
  function show(m) {
    owner = m;
    tip.textContent = m.getAttribute("data-tip");
    tip.hidden = false;
    m.setAttribute("aria-describedby", "tip");
    var r = m.getBoundingClientRect();
    var x = Math.max(4, Math.min(r.left, window.innerWidth - tip.offsetWidth - 8));
    var y = r.bottom + 6;
    if (y + tip.offsetHeight > window.innerHeight - 4) { y = Math.max(4, r.top - tip.offsetHeight - 6); }
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }
  function hide() {
    if (owner) { owner.removeAttribute("aria-describedby"); }
    owner = null;
    tip.hidden = true;
  }
  document.addEventListener("mouseover", function (e) { var m = markOf(e); if (m) { show(m); } });
  document.addEventListener("mouseout", function (e) { if (markOf(e) === owner && document.activeElement !== owner) { hide(); } });
  document.addEventListener("focusin", function (e) { var m = markOf(e); if (m) { show(m); } else { hide(); } });
  document.addEventListener("focusout", function (e) { if (markOf(e) === owner) { hide(); } });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") { hide(); } });
  window.addEventListener("scroll", hide, { passive: true });
  fromHash();
})();
"##;

/// SHA-256 of `data` (FIPS 180-4), for the script hash in the Content-Security-Policy.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, c) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[i])
                .wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            hh = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        s.push(T[(n >> 18) as usize & 63] as char);
        s.push(T[(n >> 12) as usize & 63] as char);
        s.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        s.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn sha256_and_base64_match_known_vectors() {
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let long = vec![b'a'; 1000];
        assert_eq!(
            hex(&sha256(&long)),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
        );
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    fn page(reports: &[(&str, &str)], limit: Option<usize>) -> (String, ReviewSummary) {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("spinex-review-{}-{k}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("review.html");
        let p = Pipeline::builtin();
        let mut w = ReviewWriter::create(&path).unwrap();
        if let Some(l) = limit {
            w.set_limit(l);
        }
        for (id, text) in reports {
            let r = Report::new(*id, *text);
            let mut a = p.analyze(&r);
            a.flags = crate::audit::audit(text, &a, &p);
            w.add(&r, &a, &p).unwrap();
        }
        let s = w.finish().unwrap();
        let html = std::fs::read_to_string(&path).unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary body file left behind");
        std::fs::remove_dir_all(&dir).ok();
        (html, s)
    }

    #[test]
    fn hostile_text_is_escaped() {
        let (html, _) = page(
            &[
                (
                    "<script>alert(1)</script>",
                    "FINDINGS: <script>alert(1)</script> T12 compression fracture.\nIMPRESSION: \"><img src=x onerror=alert(1)> it's <b>bold</b> & more",
                ),
                ("x\" onmouseover=\"alert(2)", "'><svg onload=alert(3)>"),
            ],
            None,
        );
        assert!(!html.contains("<script>alert"), "raw script tag in page");
        assert!(!html.contains("<img"), "raw img tag in page");
        assert!(!html.contains("<svg onload"), "raw svg tag in page");
        assert!(!html.contains("<b>bold"), "raw markup in page");
        assert!(!html.contains("\" onmouseover=\""), "attribute injection");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
        assert!(html.contains("it&#39;s") && html.contains("&amp; more"));
        // Exactly one script element: the page's own.
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains("Content-Security-Policy"));
        assert!(html.contains("default-src 'none'"));
    }

    #[test]
    fn nothing_remote() {
        let (html, _) = page(&[("r1", "FINDINGS: Mild T12 compression deformity.")], None);
        let lower = html.to_ascii_lowercase();
        assert!(!lower.contains("http:") && !lower.contains("https:"));
        assert!(
            !lower.contains("\"//") && !lower.contains("'//") && !lower.contains("(//"),
            "protocol-relative reference"
        );
        assert!(!lower.contains("src="), "no element loads a resource");
        assert!(!lower.contains("@import") && !lower.contains("url("));
    }

    #[test]
    fn mentions_are_highlighted_with_tooltips() {
        let (html, s) = page(
            &[(
                "r1",
                "FINDINGS: Chronic T12 compression fracture. No spondylolisthesis.\nIMPRESSION: Chronic T12 compression fracture. Recommend DXA.",
            )],
            None,
        );
        assert_eq!(
            s,
            ReviewSummary {
                reports: 1,
                shown: 1
            }
        );
        assert!(html.contains("class=\"a-affirmed c0\""));
        assert!(html.contains("class=\"a-negated c3\""));
        assert!(html.contains(">compression fracture</mark>"));
        assert!(html.contains("negated by \u{201c}No\u{201d}"));
        assert!(html.contains("levels: T12&#10;"));
        assert!(html.contains("acuity: chronic"));
        assert!(html.contains("tabindex=\"0\""));
        assert!(html.contains("data-concepts=\" vertebral_fracture \""));
        assert!(html.contains("<svg role=\"img\""));
    }

    #[test]
    fn flags_are_listed_with_evidence() {
        let (html, _) = page(
            &[(
                "r1",
                "FINDINGS: Mild anterior wedging of T8.\nIMPRESSION: Mild anterior wedging of T8.",
            )],
            None,
        );
        assert!(html.contains("data-flags=\" ambiguous_fracture_terminology "));
        assert!(html.contains("<span class=\"act\">ambiguous_fracture_terminology</span>"));
        assert!(html.contains("href=\"#r1-m0\""));
        assert!(html.contains("<option value=\"no_bone_health_followup\">"));
    }

    #[test]
    fn recommendations_and_cautions_are_listed_with_evidence() {
        let dir = std::env::temp_dir().join(format!("spinex-review-recs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("review.html");
        let p = Pipeline::builtin();
        let r = Report::new(
            "r1",
            "FINDINGS: Chronic T12 compression fracture. Osteopenia.",
        );
        let mut a = p.analyze(&r);
        assert_eq!(a.mentions.len(), 2);
        a.recommendations.clear();
        a.cautions.clear();
        a.recommendations.push(Recommendation {
            action: "dxa".into(),
            rule: "fracture_dxa".into(),
            strength: Strength::Conditional,
            condition: Some("if <no> recent DXA".into()),
            urgency: Urgency::Soon,
            rationale: "A fragility fracture & low density <call> for DXA.".into(),
            evidence: vec![0, 1],
            source: "seed 002 \"DXA\"".into(),
        });
        a.cautions.push(Caution {
            id: "no_routine_xray_followup".into(),
            rule: "c1".into(),
            message: "Do not <repeat> radiographs.".into(),
            evidence: vec![0],
            source: "seed 002".into(),
        });
        let mut w = ReviewWriter::create(&path).unwrap();
        w.add(&r, &a, &p).unwrap();
        w.finish().unwrap();
        let html = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        assert!(html.contains("data-actions=\" dxa \""));
        assert!(html.contains("<option value=\"dxa\">dxa</option>"));
        assert!(html.contains("<span class=\"act\">dxa</span>"));
        assert!(html.contains("str-conditional") && html.contains("urg-soon"));
        assert!(html.contains("condition: if &lt;no&gt; recent DXA"));
        assert!(html.contains("A fragility fracture &amp; low density &lt;call&gt; for DXA."));
        assert!(html.contains("seed 002 &quot;DXA&quot;"));
        assert!(html.contains("href=\"#r1-m0\"") && html.contains("href=\"#r1-m1\""));
        assert!(html.contains("\u{201c}compression fracture\u{201d}"));
        assert!(html.contains("Do not &lt;repeat&gt; radiographs."));
        assert!(html.contains("<b>1</b> with recommended actions"));
    }

    #[test]
    fn the_limit_caps_blocks_not_counts() {
        let reports: Vec<(String, &str)> = (0..5)
            .map(|i| (format!("r{i}"), "FINDINGS: Osteopenia."))
            .collect();
        let refs: Vec<(&str, &str)> = reports.iter().map(|(a, b)| (a.as_str(), *b)).collect();
        let (html, s) = page(&refs, Some(2));
        assert_eq!(
            s,
            ReviewSummary {
                reports: 5,
                shown: 2
            }
        );
        assert_eq!(html.matches("<article class=\"report\"").count(), 2);
        assert!(html.contains("first 2 of 5 reports"));
        assert!(html.contains("<b>5</b> reports"));
    }

    #[test]
    fn dropping_an_unfinished_writer_removes_its_body_file() {
        let dir = std::env::temp_dir().join(format!("spinex-review-drop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let w = ReviewWriter::create(dir.join("review.html")).unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
    }
}
