//! A deterministic generator of synthetic spine and chest radiograph reports, for benchmarks,
//! load tests and memory checks.
//!
//! The reports imitate the shape of real ones (an exam line, history or indication, comparison,
//! technique, findings and impression, with header styles that vary and are sometimes missing)
//! and the things spinex reads: vertebral levels and ranges (`T12`, `L4-5`, `L5/S1`, `T11–L2`),
//! compression deformities with percent height loss and acuity, listheses with grade and
//! millimetres, curves with a Cobb angle in `°`, degenerative change, osteopenia, hardware,
//! lesions, negated and hedged statements, pseudo-negations ("no significant change in ..."),
//! hypothetical statements in the indication, and findings about other bones (ribs, shoulders,
//! clavicles) that are not spine findings. About one report in sixteen is long (a level-by-level
//! description), so the length distribution has a tail.
//!
//! Every sentence is written for this generator; none is taken from a real report.
//!
//! # Determinism
//! Randomness comes from [`Rng`], a SplitMix64 generator using only wrapping integer arithmetic,
//! so the output depends on nothing but `(seed, index)`: the same on every run, platform and
//! pointer width. Report `i` of a seed is the same whatever `n` is, so a small run is a prefix of a
//! large one.
//!
//! ```
//! let a: Vec<_> = spinex::gen::generate(7, 3).collect();
//! let b: Vec<_> = spinex::gen::generate(7, 3).collect();
//! assert_eq!(a[2].text, b[2].text);
//! assert_eq!(a[0].id, "gen-0000000");
//! ```

use crate::model::{PatientContext, Report, VERTEBRAE};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::{self, Write};

/// SplitMix64 (Steele, Lea and Flood 2014): a small, fast generator with a 64-bit state.
///
/// Not for cryptography; good enough to vary report templates.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose stream is fixed by `seed`.
    pub const fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (multiply-shift reduction; `n` must be at least 1).
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below((hi - lo + 1) as usize) as u32
    }

    /// True with probability `p` percent.
    pub fn percent(&mut self, p: u32) -> bool {
        (self.below(100) as u32) < p
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The generator of report `index` under `seed`: a fresh, well-mixed stream per report.
fn report_rng(seed: u64, index: u64) -> Rng {
    let base = Rng::new(seed).next_u64();
    Rng::new(Rng::new(base ^ index).next_u64())
}

/// The kind of exam a generated report describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Lumbar spine radiographs.
    Lumbar,
    /// Thoracic spine radiographs.
    Thoracic,
    /// Cervical spine radiographs.
    Cervical,
    /// Thoracolumbar spine radiographs (often after trauma).
    Thoracolumbar,
    /// Chest radiographs that may mention the spine.
    Chest,
    /// Scoliosis series.
    Scoliosis,
}

impl Kind {
    /// The kind's name, as used in the corpus's `kind` field.
    #[cfg(test)]
    const fn as_str(self) -> &'static str {
        match self {
            Kind::Lumbar => "lumbar",
            Kind::Thoracic => "thoracic",
            Kind::Cervical => "cervical",
            Kind::Thoracolumbar => "thoracolumbar",
            Kind::Chest => "chest",
            Kind::Scoliosis => "scoliosis",
        }
    }

    /// Relative frequency out of 100: chest and lumbar exams dominate an archive.
    fn draw(rng: &mut Rng) -> Kind {
        match rng.below(100) {
            0..=29 => Kind::Lumbar,
            30..=54 => Kind::Chest,
            55..=69 => Kind::Cervical,
            70..=81 => Kind::Thoracic,
            82..=89 => Kind::Thoracolumbar,
            _ => Kind::Scoliosis,
        }
    }

    /// Vertebra indices (into [`VERTEBRAE`]) the exam covers, inclusive.
    fn span(self) -> (usize, usize) {
        match self {
            Kind::Cervical => (1, 7),        // C2..T1
            Kind::Thoracic => (7, 19),       // T1..L1
            Kind::Chest => (9, 18),          // T3..T12
            Kind::Lumbar => (18, 24),        // T12..S1
            Kind::Thoracolumbar => (15, 21), // T9..L3
            Kind::Scoliosis => (7, 24),      // T1..S1
        }
    }

    fn region_word(self) -> &'static str {
        match self {
            Kind::Cervical => "cervical",
            Kind::Thoracic | Kind::Chest => "thoracic",
            Kind::Lumbar => "lumbar",
            Kind::Thoracolumbar | Kind::Scoliosis => "thoracolumbar",
        }
    }
}

/// Reports `0..n` of `seed`, generated lazily (one report in memory at a time).
pub fn generate(seed: u64, n: usize) -> impl Iterator<Item = Report> {
    (0..n).map(move |i| report(seed, i))
}

/// Report `index` of `seed`, with id `gen-<index>` (seven digits, zero-padded).
pub fn report(seed: u64, index: usize) -> Report {
    let mut rng = report_rng(seed, index as u64);
    let kind = Kind::draw(&mut rng);
    let mut g = Gen::new(rng, kind);
    let patient = g.patient();
    let text = g.text();
    Report {
        id: format!("gen-{index:07}"),
        text,
        patient,
        warnings: Vec::new(),
    }
}

/// One JSONL line: `id`, `text` and the known patient fields as top-level keys.
#[derive(Serialize)]
struct Line<'a> {
    id: &'a str,
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    age: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sex: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    t_score: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cancer_history: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    glucocorticoids: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    high_energy_trauma: Option<bool>,
}

/// What [`write_jsonl`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Reports written.
    pub reports: usize,
    /// Bytes of report text (UTF-8), the figure throughput is measured against.
    pub text_bytes: u64,
    /// Bytes written in all, JSON syntax included.
    pub file_bytes: u64,
}

/// Writes reports `0..n` of `seed` as JSON lines (`{"id": ..., "text": ..., "age": ...}`), one
/// report at a time, so memory stays flat whatever `n` is. The writer is not flushed.
pub fn write_jsonl<W: Write>(seed: u64, n: usize, mut out: W) -> io::Result<Written> {
    let mut written = Written::default();
    let mut buf = Vec::with_capacity(8192);
    for r in generate(seed, n) {
        buf.clear();
        let p = &r.patient;
        let line = Line {
            id: &r.id,
            text: &r.text,
            age: p.age.map(|a| a as u32),
            sex: p.sex.as_deref(),
            t_score: p.t_score,
            cancer_history: p.cancer_history,
            glucocorticoids: p.glucocorticoids,
            high_energy_trauma: p.high_energy_trauma,
        };
        serde_json::to_writer(&mut buf, &line).map_err(io::Error::other)?;
        buf.push(b'\n');
        out.write_all(&buf)?;
        written.reports += 1;
        written.text_bytes += r.text.len() as u64;
        written.file_bytes += buf.len() as u64;
    }
    Ok(written)
}

/// Picks one of the listed expressions.
macro_rules! one_of {
    ($g:expr, $($s:expr),+ $(,)?) => {{
        let items = [$($s),+];
        let i = $g.rng.below(items.len());
        items[i]
    }};
}

/// How a finding is stated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Polarity {
    Affirmed,
    Negated,
    Hedged,
}

/// How section headers are written in one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeaderStyle {
    Upper,
    Title,
    Lower,
    /// No headers at all: the report is prose.
    None,
}

/// The state of one report being written.
struct Gen {
    rng: Rng,
    kind: Kind,
    headers: HeaderStyle,
    age: u32,
    female: bool,
    /// Short statements of the affirmed findings, for the impression.
    impression: Vec<String>,
    /// Set when a fracture sentence already stated retropulsion, so nothing contradicts it.
    retropulsion_stated: bool,
    /// Set when a fracture was affirmed: only then can a burst fragment be retropulsed.
    fracture_affirmed: bool,
}

impl Gen {
    fn new(mut rng: Rng, kind: Kind) -> Gen {
        let headers = match rng.below(100) {
            0..=59 => HeaderStyle::Upper,
            60..=84 => HeaderStyle::Title,
            85..=92 => HeaderStyle::Lower,
            _ => HeaderStyle::None,
        };
        let age = match kind {
            Kind::Scoliosis => rng.between(10, 40),
            Kind::Cervical | Kind::Thoracolumbar => rng.between(18, 90),
            _ => rng.between(30, 96),
        };
        let female = rng.percent(58);
        Gen {
            rng,
            kind,
            headers,
            age,
            female,
            impression: Vec::new(),
            retropulsion_stated: false,
            fracture_affirmed: false,
        }
    }

    fn patient(&mut self) -> PatientContext {
        let mut p = PatientContext::default();
        if self.rng.percent(80) {
            p.age = Some(self.age as f32);
            p.sex = Some(if self.female { "F" } else { "M" }.to_string());
        }
        if self.age >= 50 && self.rng.percent(12) {
            // One decimal, from an integer, so the value is exact and platform-independent.
            p.t_score = Some(-(self.rng.between(0, 40) as f32) / 10.0);
        }
        if self.rng.percent(5) {
            p.cancer_history = Some(self.rng.percent(60));
        }
        if self.rng.percent(3) {
            p.glucocorticoids = Some(true);
        }
        if self.kind == Kind::Thoracolumbar && self.rng.percent(30) {
            p.high_energy_trauma = Some(self.rng.percent(50));
        }
        p
    }

    // ---- levels -----------------------------------------------------------------------------

    /// A vertebra index inside the exam's span; fractures cluster at the thoracolumbar junction.
    fn vertebra(&mut self) -> usize {
        let (lo, hi) = self.kind.span();
        self.rng.between(lo as u32, hi as u32) as usize
    }

    fn fracture_vertebra(&mut self) -> usize {
        let (lo, hi) = self.kind.span();
        if self.kind != Kind::Cervical && self.rng.percent(55) {
            // T11..L2, clipped to the exam.
            let (a, b) = (17.max(lo), 20.min(hi));
            if a <= b {
                return self.rng.between(a as u32, b as u32) as usize;
            }
        }
        self.rng.between(lo as u32, hi.min(23) as u32) as usize
    }

    /// A vertebra and the one below it, both inside the span (for disc levels and listheses).
    fn pair(&mut self) -> (usize, usize) {
        if self.kind == Kind::Lumbar || self.kind == Kind::Scoliosis {
            // Lumbar disc levels: L1-2 .. L5-S1, weighted to the lower levels.
            let a = *self.rng.pick(&[19, 20, 21, 21, 22, 22, 22, 23, 23, 23]);
            return (a, a + 1);
        }
        let (lo, hi) = self.kind.span();
        let a = self.rng.between(lo as u32, hi as u32 - 1) as usize;
        (a, a + 1)
    }

    /// A disc level such as `L4-5`, `L4-L5`, `L4/5`, `L4–5`, `L5-S1`, `L5/S1`.
    fn disc(&mut self) -> String {
        let (a, b) = self.pair();
        self.fmt_pair(a, b)
    }

    fn fmt_pair(&mut self, a: usize, b: usize) -> String {
        let (na, nb) = (VERTEBRAE[a], VERTEBRAE[b]);
        if na.as_bytes()[0] == nb.as_bytes()[0] {
            let short = &nb[1..];
            match self.rng.below(10) {
                0..=4 => format!("{na}-{short}"),
                5..=6 => format!("{na}-{nb}"),
                7..=8 => format!("{na}/{short}"),
                _ => format!("{na}–{short}"),
            }
        } else {
            match self.rng.below(10) {
                0..=5 => format!("{na}-{nb}"),
                6..=8 => format!("{na}/{nb}"),
                _ => format!("{na}–{nb}"),
            }
        }
    }

    /// A multi-level range such as `T11-L2`, `T11 through L2` or `T6–T9`.
    fn range(&mut self) -> (usize, usize, String) {
        let (lo, hi) = self.kind.span();
        let len = self.rng.between(2, 4) as usize;
        let a = self
            .rng
            .between(lo as u32, (hi.saturating_sub(len)).max(lo) as u32) as usize;
        let b = (a + len).min(hi);
        let (na, nb) = (VERTEBRAE[a], VERTEBRAE[b]);
        let text = match self.rng.below(10) {
            0..=4 => format!("{na}-{nb}"),
            5..=6 => format!("{na} through {nb}"),
            7..=8 => format!("{na} to {nb}"),
            _ => format!("{na}–{nb}"),
        };
        (a, b, text)
    }

    fn date(&mut self) -> String {
        let y = self.rng.between(2012, 2023);
        let m = self.rng.between(1, 12);
        let d = self.rng.between(1, 28);
        const MONTHS: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        match self.rng.below(3) {
            0 => format!("{m:02}/{d:02}/{y}"),
            1 => format!("{y}-{m:02}-{d:02}"),
            _ => format!("{} {d}, {y}", MONTHS[m as usize - 1]),
        }
    }

    fn severity_word(&mut self) -> &'static str {
        one_of!(
            self,
            "mild",
            "mild",
            "minimal",
            "moderate",
            "moderate",
            "mild to moderate",
            "severe",
            "marked",
            "moderate to severe"
        )
    }

    // ---- findings ---------------------------------------------------------------------------

    fn fracture(&mut self, pol: Polarity) -> String {
        let v = self.fracture_vertebra();
        let lvl = VERTEBRAE[v];
        match pol {
            Polarity::Affirmed => {
                let pct = self.rng.between(12, 65);
                let sev = match pct {
                    0..=25 => one_of!(self, "Mild", "Minimal", "Mild"),
                    26..=40 => "Moderate",
                    _ => one_of!(self, "Severe", "Marked"),
                };
                let acuity = one_of!(
                    self,
                    "acute",
                    "subacute",
                    "chronic",
                    "old",
                    "healed",
                    "remote",
                    "age-indeterminate",
                    ""
                );
                let about = one_of!(self, "approximately ", "about ", "", "nearly ", "~");
                // The impression restates the finding with the same acuity.
                let (s, imp_acuity) = match self.rng.below(12) {
                    0 | 1 => {
                        let tail = match acuity {
                            "" => String::new(),
                            "age-indeterminate" => ", of indeterminate age".to_string(),
                            a => format!(", which appears {a}"),
                        };
                        (format!(
                            "{sev} compression deformity of the {lvl} vertebral body with {about}{pct}% loss of height{tail}."
                        ), acuity)
                    }
                    2 | 3 => {
                        let art = if acuity.starts_with(['a', 'o']) { "an" } else { "a" };
                        let adj = if acuity.is_empty() { String::new() } else { format!("{acuity} ") };
                        let art = if acuity.is_empty() { "a" } else { art };
                        (format!(
                            "There is {art} {adj}wedge compression fracture of {lvl} with {about}{pct}% anterior height loss."
                        ), acuity)
                    }
                    4 => {
                        let a = if acuity.is_empty() { "acute" } else { acuity };
                        (format!(
                            "{} {lvl} superior endplate fracture with {about}{pct} percent loss of vertebral body height.",
                            cap(a)
                        ), a)
                    }
                    5 => (format!(
                        "Stable {} compression deformity of {lvl}, unchanged since {}.",
                        sev.to_ascii_lowercase(),
                        self.date()
                    ), "stable"),
                    6 => (format!(
                        "No significant change in the {lvl} compression deformity compared with the prior study."
                    ), "unchanged"),
                    7 => {
                        let w = (v + self.rng.between(1, 3) as usize).min(23);
                        (format!(
                            "Chronic compression fractures of {lvl} and {}, without interval change.",
                            VERTEBRAE[w]
                        ), "chronic")
                    }
                    8 => (format!(
                        "Interval development of a {lvl} compression fracture since {}, with {pct}% height loss, consistent with an acute fracture.",
                        self.date()
                    ), "acute"),
                    9 => (format!(
                        "Fracture deformity of {lvl} ({pct}% loss of anterior height), age-indeterminate."
                    ), "age-indeterminate"),
                    10 => {
                        let (tail, a) = *self.rng.pick(&[
                            ("likely chronic", "chronic"),
                            ("new from prior", "new"),
                            ("of uncertain age", "age-indeterminate"),
                            ("healed", "healed"),
                        ]);
                        (format!("Loss of height of the {lvl} vertebral body measuring {pct}%, {tail}."), a)
                    }
                    _ => (format!("{lvl} vertebra plana, chronic."), "chronic"),
                };
                let imp = if imp_acuity.is_empty() { sev.to_string() } else { cap(imp_acuity) };
                let imp = match self.rng.below(3) {
                    0 => format!("{imp} {lvl} compression fracture"),
                    1 => format!("{imp} compression deformity of {lvl}"),
                    _ => format!("{imp} {lvl} vertebral body fracture"),
                };
                self.impression.push(imp);
                self.fracture_affirmed = true;
                if self.rng.percent(10) {
                    self.retropulsion_stated = true;
                    let mm = self.rng.between(2, 6);
                    return format!(
                        "{s} There is {mm} mm of retropulsion of the posterosuperior fragment into the spinal canal."
                    );
                }
                s
            }
            Polarity::Negated => one_of!(
                self,
                "No acute fracture.",
                "No compression fracture.",
                "No fracture or dislocation.",
                "Vertebral body heights are maintained without compression deformity.",
                "There is no evidence of vertebral compression deformity.",
                "No acute fracture or subluxation is identified.",
                "Negative for fracture.",
                "Vertebral body heights are preserved. No fracture."
            )
            .to_string(),
            Polarity::Hedged => match self.rng.below(5) {
                0 => format!("Possible mild compression deformity of {lvl}, age-indeterminate."),
                1 => format!(
                    "Questionable subtle superior endplate depression at {lvl}, which may represent a small compression fracture."
                ),
                2 => format!(
                    "Slight anterior wedging of {lvl} may be developmental or reflect an old compression fracture."
                ),
                3 => format!("A nondisplaced fracture of {lvl} cannot be excluded."),
                _ => format!("Subtle lucency through the {lvl} vertebral body, suspicious for fracture."),
            },
        }
    }

    fn retropulsion(&mut self, pol: Polarity) -> String {
        let lvl = VERTEBRAE[self.fracture_vertebra()];
        match pol {
            Polarity::Affirmed => {
                self.impression.push(format!("Retropulsion at {lvl}"));
                let mm = self.rng.between(2, 7);
                format!(
                    "Burst fracture of {lvl} with {mm} mm retropulsion of the posterior wall into the canal."
                )
            }
            Polarity::Negated => one_of!(
                self,
                "No retropulsion.",
                "No retropulsed fragment is seen.",
                "There is no retropulsion."
            )
            .to_string(),
            Polarity::Hedged => format!("Possible minimal retropulsion at {lvl}."),
        }
    }

    fn demineralization(&mut self, pol: Polarity) -> String {
        match pol {
            Polarity::Affirmed => {
                self.impression.push("Osteopenia".to_string());
                one_of!(
                    self,
                    "Diffuse osteopenia.",
                    "The bones are osteopenic.",
                    "Osseous structures are diffusely demineralized.",
                    "Decreased bone mineral density.",
                    "Marked osteoporosis limits evaluation of fine bony detail.",
                    "Generalized demineralization of the osseous structures.",
                    "Moderate osteopenia.",
                    "Bones are diffusely osteoporotic."
                )
                .to_string()
            }
            Polarity::Negated => one_of!(
                self,
                "No osteopenia.",
                "Bone mineralization is normal without osteopenia.",
                "There is no significant demineralization."
            )
            .to_string(),
            Polarity::Hedged => one_of!(
                self,
                "The bones may be mildly osteopenic.",
                "Possible osteopenia; DXA could confirm.",
                "Bone density appears slightly decreased, possibly osteopenia."
            )
            .to_string(),
        }
    }

    fn listhesis(&mut self, pol: Polarity) -> String {
        let (a, b) = self.pair();
        let (na, nb) = (VERTEBRAE[a], VERTEBRAE[b]);
        match pol {
            Polarity::Affirmed => {
                // Meyerding grade and millimetres that agree (a lumbar body is ~40 mm deep).
                let (grade, roman, mm) = match self.rng.below(10) {
                    0..=6 => (1, "I", self.rng.between(2, 9)),
                    7..=8 => (2, "II", self.rng.between(10, 18)),
                    _ => (3, "III", self.rng.between(19, 26)),
                };
                let g = if self.rng.percent(50) {
                    grade.to_string()
                } else {
                    roman.to_string()
                };
                let d = self.fmt_pair(a, b);
                let (s, imp) = match self.rng.below(7) {
                    0 | 1 => (
                        format!(
                            "Grade {g} anterolisthesis of {na} on {nb}, measuring {mm}{} mm.",
                            if self.rng.percent(20) { ".5" } else { "" }
                        ),
                        format!("Grade {g} anterolisthesis of {na} on {nb}"),
                    ),
                    2 => (
                        format!("{} mm retrolisthesis of {na} on {nb}.", mm.min(6)),
                        format!("Retrolisthesis of {na} on {nb}"),
                    ),
                    3 => (
                        format!("Grade {g} spondylolisthesis at {d}."),
                        format!("Grade {g} spondylolisthesis at {d}"),
                    ),
                    4 => (
                        format!("Trace anterolisthesis at {d}, unchanged between flexion and extension."),
                        format!("Stable trace anterolisthesis at {d} without instability"),
                    ),
                    5 => (
                        format!("Degenerative anterolisthesis of {na} relative to {nb} by approximately {mm} mm."),
                        format!("Degenerative anterolisthesis at {d}"),
                    ),
                    _ => (
                        format!("Lateral listhesis of {na} on {nb} by {} mm.", mm.min(8)),
                        format!("Lateral listhesis at {d}"),
                    ),
                };
                self.impression.push(imp);
                s
            }
            Polarity::Negated => one_of!(
                self,
                "No spondylolisthesis.",
                "No listhesis.",
                "No anterolisthesis or retrolisthesis.",
                "There is no spondylolisthesis on flexion or extension views."
            )
            .to_string(),
            Polarity::Hedged => {
                format!("Possible trace anterolisthesis of {na} on {nb}, which may be positional.")
            }
        }
    }

    fn spondylolysis(&mut self, pol: Polarity) -> String {
        let lvl = *self.rng.pick(&["L5", "L5", "L5", "L4", "L3"]);
        match pol {
            Polarity::Affirmed => {
                self.impression.push(format!("{lvl} spondylolysis"));
                match self.rng.below(3) {
                    0 => format!("Bilateral {lvl} pars interarticularis defects (spondylolysis)."),
                    1 => format!(
                        "There is a {} {lvl} pars defect.",
                        one_of!(self, "left", "right")
                    ),
                    _ => format!("Spondylolysis of {lvl}."),
                }
            }
            Polarity::Negated => {
                one_of!(self, "No pars defect.", "No evidence of spondylolysis.").to_string()
            }
            Polarity::Hedged => format!("Suspected pars defect at {lvl} on the oblique view."),
        }
    }

    fn degenerative(&mut self, pol: Polarity) -> String {
        let region = self.kind.region_word();
        match pol {
            Polarity::Affirmed => {
                let sev = self.severity_word();
                let d = self.disc();
                let s = match self.rng.below(10) {
                    0 | 1 => format!(
                        "Multilevel degenerative disc disease, most pronounced at {d} with {sev} disc space narrowing."
                    ),
                    2 | 3 => format!(
                        "{} disc space narrowing at {d} with endplate sclerosis and anterior osteophytes.",
                        cap(sev)
                    ),
                    4 => {
                        let d2 = self.disc();
                        format!("Facet arthropathy at {d} and {d2}.")
                    }
                    5 => format!("{} spondylosis of the {region} spine.", cap(sev)),
                    6 => format!("Degenerative changes of the {region} spine."),
                    7 => {
                        let (_, _, r) = self.range();
                        format!("Flowing anterior osteophytes along {r}, compatible with DISH.")
                    }
                    8 => format!("Vacuum disc phenomenon at {d}."),
                    _ => {
                        if self.kind == Kind::Cervical {
                            format!("Uncovertebral and facet hypertrophy at {d}, {sev}.")
                        } else {
                            format!("Small marginal osteophytes throughout the {region} spine.")
                        }
                    }
                };
                self.impression
                    .push(format!("{} degenerative changes", cap(sev)));
                if self.rng.percent(45) {
                    let d2 = self.disc();
                    let more = match self.rng.below(4) {
                        0 => format!("Facet hypertrophy is most notable at {d2}."),
                        1 => format!("There is also mild narrowing at {d2}."),
                        2 => "Endplate osteophytes are present at multiple levels.".to_string(),
                        _ => format!("Small anterior osteophytes at {d2}."),
                    };
                    return format!("{s} {more}");
                }
                s
            }
            Polarity::Negated => one_of!(
                self,
                "No significant degenerative change.",
                "No disc space narrowing.",
                "No degenerative disc disease."
            )
            .to_string(),
            Polarity::Hedged => {
                let d = self.disc();
                format!("Possible early degenerative disc disease at {d}.")
            }
        }
    }

    fn scoliosis(&mut self, pol: Polarity) -> String {
        let region = match self.kind {
            Kind::Lumbar => "lumbar",
            Kind::Thoracic | Kind::Chest => "thoracic",
            _ => one_of!(self, "thoracic", "thoracolumbar", "lumbar"),
        };
        match pol {
            Polarity::Affirmed => {
                let cobb = match self.kind {
                    Kind::Scoliosis => self.rng.between(8, 70),
                    Kind::Chest => self.rng.between(6, 22),
                    _ => self.rng.between(6, 40),
                };
                let sev = match cobb {
                    0..=25 => "mild",
                    26..=40 => "moderate",
                    _ => "severe",
                };
                let side = one_of!(self, "dextro", "levo");
                // End vertebrae that fit the curve's region.
                let (lo, hi) = match region {
                    "lumbar" => (17, 23),
                    "thoracic" => (9, 18),
                    _ => (15, 21),
                };
                let a = self.rng.between(lo, hi - 3) as usize;
                let b = (a + self.rng.between(3, 5) as usize).min(hi as usize);
                let r = match self.rng.below(3) {
                    0 => format!("{} to {}", VERTEBRAE[a], VERTEBRAE[b]),
                    1 => format!("{}–{}", VERTEBRAE[a], VERTEBRAE[b]),
                    _ => format!("{}-{}", VERTEBRAE[a], VERTEBRAE[b]),
                };
                let (s, imp) = match self.rng.below(7) {
                    0 | 1 => (
                        format!(
                            "{} {side}convex {region} scoliosis with a Cobb angle of {cobb}° ({r}).",
                            cap(sev)
                        ),
                        format!("{} {side}scoliosis, {cobb}°", cap(sev)),
                    ),
                    2 => (
                        format!("{}scoliosis of the {region} spine measuring {cobb} degrees.", cap(side)),
                        format!("{}scoliosis measuring {cobb}°", cap(side)),
                    ),
                    3 => {
                        let m = self.rng.between(8, 45);
                        (
                            format!(
                                "S-shaped scoliosis: right thoracic curve of {cobb}° (T5–T11) and left lumbar curve of {m}° (T12–L4)."
                            ),
                            format!("Double major scoliosis, {cobb}° and {m}°"),
                        )
                    }
                    4 => (
                        format!("Mild {side}convex curvature of the {region} spine."),
                        format!("Mild {side}scoliosis"),
                    ),
                    5 => {
                        let prev = cobb.saturating_sub(self.rng.between(0, 8));
                        (
                            format!(
                                "The {region} curve measures {cobb}° (Cobb, {r}), previously {prev}°, convex to the {}.",
                                if side == "dextro" { "right" } else { "left" }
                            ),
                            if prev + 5 <= cobb {
                                format!("Progression of {region} scoliosis from {prev}° to {cobb}°")
                            } else {
                                format!("Stable {region} scoliosis, {cobb}°")
                            },
                        )
                    }
                    _ => {
                        let apex = VERTEBRAE[(a + b) / 2];
                        (
                            format!("There is a {cobb}° {side}scoliosis with its apex at {apex}."),
                            format!("{}scoliosis, {cobb}°", cap(side)),
                        )
                    }
                };
                self.impression.push(imp);
                s
            }
            Polarity::Negated => {
                one_of!(self, "No scoliosis.", "No significant scoliosis.").to_string()
            }
            Polarity::Hedged => format!(
                "Slight curvature of the {region} spine, possibly positional rather than true scoliosis."
            ),
        }
    }

    fn kyphosis(&mut self, pol: Polarity) -> String {
        match pol {
            Polarity::Affirmed => {
                self.impression.push("Kyphosis".to_string());
                match self.rng.below(5) {
                    0 => "Exaggerated thoracic kyphosis.".to_string(),
                    1 => "Increased kyphosis of the upper thoracic spine.".to_string(),
                    2 => format!(
                        "Kyphotic angulation at {} related to the compression deformity.",
                        VERTEBRAE[self.fracture_vertebra()]
                    ),
                    3 => "Mild hyperkyphosis.".to_string(),
                    _ => format!(
                        "Thoracic kyphosis measures {}°, increased.",
                        self.rng.between(45, 75)
                    ),
                }
            }
            Polarity::Negated => {
                one_of!(self, "No abnormal kyphosis.", "No kyphotic deformity.").to_string()
            }
            Polarity::Hedged => "Thoracic kyphosis is possibly mildly increased.".to_string(),
        }
    }

    fn malalignment(&mut self, pol: Polarity) -> String {
        match pol {
            Polarity::Affirmed => {
                let (a, b) = self.pair();
                let (na, nb) = (VERTEBRAE[a], VERTEBRAE[b]);
                self.impression.push(format!("Malalignment at {na}-{nb}"));
                match self.rng.below(3) {
                    0 => format!(
                        "{} mm anterior subluxation of {na} on {nb}.",
                        self.rng.between(2, 6)
                    ),
                    1 => {
                        let d = self.fmt_pair(a, b);
                        format!("Mild malalignment at {d}.")
                    }
                    _ => format!("Rotatory subluxation at {na}-{nb}."),
                }
            }
            Polarity::Negated => one_of!(
                self,
                "Normal alignment.",
                "Alignment is anatomic.",
                "No subluxation.",
                "Alignment is maintained.",
                "Vertebral alignment is normal.",
                "Normal alignment without subluxation."
            )
            .to_string(),
            Polarity::Hedged => {
                let d = self.disc();
                format!("Questionable minimal subluxation at {d}, possibly positional.")
            }
        }
    }

    fn hardware(&mut self, pol: Polarity) -> String {
        match pol {
            Polarity::Affirmed | Polarity::Hedged => {
                self.impression.push("Postoperative changes".to_string());
                let s = match (self.kind, self.rng.below(4)) {
                    (Kind::Cervical, _) => {
                        let d = self.disc();
                        format!(
                            "Anterior cervical discectomy and fusion at {d} with plate and screws."
                        )
                    }
                    (Kind::Scoliosis, _) => {
                        let (_, _, r) = self.range();
                        format!("Posterior spinal fusion rods and pedicle screws spanning {r}.")
                    }
                    (_, 0) => {
                        let (_, _, r) = self.range();
                        format!(
                            "Postoperative changes of posterior spinal fusion from {r} with bilateral pedicle screws and rods."
                        )
                    }
                    (_, 1) => {
                        let d = self.disc();
                        format!("Interbody fusion cage at {d}.")
                    }
                    (_, 2) => format!(
                        "Vertebroplasty cement within the {} vertebral body.",
                        VERTEBRAE[self.fracture_vertebra()]
                    ),
                    _ => format!(
                        "Kyphoplasty changes at {}.",
                        VERTEBRAE[self.fracture_vertebra()]
                    ),
                };
                if self.rng.percent(50) {
                    format!("{s} Hardware is intact without evidence of loosening.")
                } else {
                    s
                }
            }
            Polarity::Negated => "No spinal hardware.".to_string(),
        }
    }

    fn lesion(&mut self, pol: Polarity) -> String {
        let lvl = VERTEBRAE[self.vertebra()];
        let region = self.kind.region_word();
        match pol {
            Polarity::Affirmed => {
                self.impression.push(format!("Osseous lesion at {lvl}"));
                match self.rng.below(4) {
                    0 => format!("Lytic lesion in the {lvl} vertebral body, concerning for metastasis."),
                    1 => format!(
                        "Multiple sclerotic foci throughout the {region} spine, compatible with osseous metastatic disease."
                    ),
                    2 => format!("Destructive lesion of the {lvl} pedicle."),
                    _ => format!("Blastic lesion in {lvl}."),
                }
            }
            Polarity::Negated => one_of!(
                self,
                "No suspicious lytic or blastic lesion.",
                "No destructive osseous lesion."
            )
            .to_string(),
            Polarity::Hedged => match self.rng.below(2) {
                0 => format!("Small sclerotic focus in {lvl}, likely a bone island."),
                _ => format!("Ill-defined lucency in {lvl}; a lytic lesion is not excluded."),
            },
        }
    }

    /// Findings about other bones and organs: not spine findings.
    fn distractor(&mut self) -> String {
        let ord = one_of!(self, "4th", "5th", "6th", "7th", "8th", "9th", "tenth", "sixth");
        let side = one_of!(self, "left", "right");
        match self.rng.below(11) {
            0 => format!("Healed fracture of the {side} {ord} rib."),
            1 => format!("Acute nondisplaced fracture of the {side} {ord} posterior rib."),
            2 => format!("Degenerative changes of the {side} acromioclavicular joint."),
            3 => "Mild glenohumeral osteoarthritis bilaterally.".to_string(),
            4 => format!("Old healed {side} clavicle fracture deformity."),
            5 => "Degenerative changes of both hips.".to_string(),
            6 => "Atherosclerotic calcification of the abdominal aorta.".to_string(),
            7 => "Cholecystectomy clips in the right upper quadrant.".to_string(),
            8 => "Median sternotomy wires are intact.".to_string(),
            9 => format!(
                "{} shoulder arthroplasty hardware is partially imaged.",
                cap(side)
            ),
            _ => "Bowel gas pattern is nonobstructive.".to_string(),
        }
    }

    /// Normal statements about the rest of a chest radiograph.
    const CHEST_FILLER: &'static [&'static str] = &[
        "The lungs are clear.",
        "Heart size is normal.",
        "The cardiomediastinal silhouette is within normal limits.",
        "No pleural effusion or pneumothorax.",
        "No focal airspace consolidation.",
        "Mild bibasilar atelectasis.",
        "Calcified granuloma in the right upper lobe.",
        "The lungs are hyperinflated, consistent with emphysema.",
        "Pulmonary vascularity is normal.",
        "Stable mild cardiomegaly.",
        "Small left pleural effusion with adjacent atelectasis.",
        "Interstitial markings are coarsened, likely chronic.",
        "The trachea is midline.",
        "Aortic knob calcification.",
        "Linear scarring at the left lung base.",
        "No evidence of pulmonary edema.",
    ];

    /// Normal statements about the rest of a cervical spine exam.
    const CERVICAL_FILLER: &'static [&'static str] = &[
        "The odontoid process is intact.",
        "Prevertebral soft tissues are within normal limits.",
        "The C1-C2 articulation is normal.",
        "Neural foramina are patent on the oblique views.",
        "Straightening of the normal cervical lordosis, which may be positional.",
        "The lateral masses of C1 are symmetric about the dens.",
        "The cervicothoracic junction is obscured by the shoulders on the lateral view.",
        "The lung apices are clear.",
    ];

    /// Normal statements about the rest of a lumbar spine exam.
    const LUMBAR_FILLER: &'static [&'static str] = &[
        "The pedicles are intact.",
        "Sacroiliac joints are unremarkable.",
        "Five lumbar-type vertebral bodies are present.",
        "Visualized pelvis is unremarkable.",
        "Paraspinal soft tissues are unremarkable.",
        "Bowel gas partially obscures the sacrum.",
        "The posterior elements are intact.",
        "Moderate stool burden in the visualized colon.",
        "The conus region is not assessed on radiographs.",
        "Lordosis is preserved.",
    ];

    /// Normal statements about the rest of a thoracic or whole-spine exam.
    const THORACIC_FILLER: &'static [&'static str] = &[
        "The pedicles are intact.",
        "Paraspinal soft tissues are unremarkable.",
        "The visualized ribs are intact.",
        "Costovertebral junctions are unremarkable.",
        "Paraspinal lines are normal.",
        "The posterior elements are intact.",
        "The visualized lungs are clear.",
        "Twelve rib-bearing vertebrae are assumed for numbering.",
    ];

    /// `k` different statements from `pool`, in a random order.
    fn fillers(&mut self, pool: &[&'static str], k: usize) -> Vec<String> {
        let mut used = 0u64;
        let mut out = Vec::with_capacity(k);
        while out.len() < k.min(pool.len()) {
            let i = self.rng.below(pool.len());
            if used & (1 << i) == 0 {
                used |= 1 << i;
                out.push(pool[i].to_string());
            }
        }
        out
    }

    fn spine_pool(&self) -> &'static [&'static str] {
        match self.kind {
            Kind::Cervical => Self::CERVICAL_FILLER,
            Kind::Lumbar => Self::LUMBAR_FILLER,
            Kind::Chest => Self::CHEST_FILLER,
            _ => Self::THORACIC_FILLER,
        }
    }

    // ---- sections ---------------------------------------------------------------------------

    fn header(&self, upper: &str) -> Option<String> {
        match self.headers {
            HeaderStyle::Upper => Some(format!("{upper}:")),
            HeaderStyle::Title => Some(format!("{}:", title(upper))),
            HeaderStyle::Lower => Some(format!("{}:", upper.to_ascii_lowercase())),
            HeaderStyle::None => None,
        }
    }

    fn exam_line(&mut self) -> String {
        let views = one_of!(
            self,
            "2 VIEWS",
            "3 VIEWS",
            "AP AND LATERAL",
            "2-3 VIEWS",
            "5 VIEWS"
        );
        let body = match self.kind {
            Kind::Lumbar => one_of!(self, "LUMBAR SPINE", "LUMBOSACRAL SPINE", "L-SPINE"),
            Kind::Thoracic => one_of!(self, "THORACIC SPINE", "T-SPINE"),
            Kind::Cervical => one_of!(self, "CERVICAL SPINE", "C-SPINE"),
            Kind::Thoracolumbar => "THORACOLUMBAR SPINE",
            Kind::Chest => one_of!(
                self,
                "CHEST PA AND LATERAL",
                "CHEST 2 VIEWS",
                "CHEST PORTABLE AP"
            ),
            Kind::Scoliosis => one_of!(self, "SCOLIOSIS SURVEY", "SPINE SCOLIOSIS STANDING"),
        };
        let views = if self.kind == Kind::Chest { "" } else { views };
        let label = one_of!(self, "EXAM", "EXAMINATION", "PROCEDURE", "");
        let line = match self.rng.below(4) {
            0 => format!("XR {body} {views}"),
            1 => format!("RADIOGRAPHS OF THE {body}, {views}"),
            2 => format!("{body} — {views}"),
            _ => format!("X-RAY {body} {views}"),
        };
        let line = line
            .trim_end_matches([' ', ',', '—'])
            .trim_end()
            .to_string();
        let line = if self.headers == HeaderStyle::Title {
            title(&line)
        } else {
            line
        };
        if label.is_empty() || self.headers == HeaderStyle::None {
            line
        } else {
            let l = self.header(label).unwrap_or_default();
            format!("{l} {line}")
        }
    }

    fn indication(&mut self) -> String {
        let who = if self.female { "woman" } else { "man" };
        let age = self.age;
        let complaint = match self.kind {
            Kind::Chest => one_of!(
                self,
                "cough",
                "shortness of breath",
                "fever and cough",
                "chest pain",
                "preoperative evaluation"
            ),
            Kind::Cervical => one_of!(
                self,
                "neck pain",
                "neck pain after a motor vehicle collision",
                "radiating arm pain",
                "neck stiffness"
            ),
            Kind::Scoliosis => one_of!(
                self,
                "known scoliosis",
                "uneven shoulders",
                "back asymmetry on screening"
            ),
            Kind::Thoracic => one_of!(
                self,
                "mid back pain",
                "thoracic pain after a fall",
                "kyphosis on examination",
                "upper back pain, osteoporosis"
            ),
            _ => one_of!(
                self,
                "low back pain",
                "back pain after a fall",
                "midline tenderness",
                "chronic back pain",
                "back pain, osteoporosis",
                "back pain with known metastatic breast cancer"
            ),
        };
        let mut s = match self.rng.below(25) {
            // De-identified archives mask ages and names.
            0 => format!("XXXX-year-old XXXX with {complaint}."),
            1..=8 => format!("{age}-year-old {who} with {complaint}."),
            9..=16 => format!("{}.", cap(complaint)),
            _ => format!(
                "{age} y/o {} with {complaint}.",
                if self.female { "F" } else { "M" }
            ),
        };
        // Hypothetical mentions: the question the exam is asked.
        if self.rng.percent(55) {
            let q = match self.kind {
                Kind::Chest => one_of!(
                    self,
                    "Evaluate for pneumonia.",
                    "Rule out effusion.",
                    "Assess for fracture after fall."
                ),
                Kind::Scoliosis => one_of!(
                    self,
                    "Evaluate for progression of scoliosis.",
                    "Assess curve magnitude."
                ),
                Kind::Cervical => one_of!(
                    self,
                    "Rule out fracture.",
                    "Evaluate for instability.",
                    "Assess for subluxation."
                ),
                _ => one_of!(
                    self,
                    "Evaluate for compression fracture.",
                    "Rule out fracture.",
                    "Assess for spondylolisthesis.",
                    "Question of pathologic fracture.",
                    "Evaluate for osteoporotic fracture."
                ),
            };
            s.push(' ');
            s.push_str(q);
        }
        if self.rng.percent(45) {
            let detail = match self.kind {
                Kind::Chest => one_of!(
                    self,
                    "Symptoms for three days.",
                    "Former smoker.",
                    "Recent admission for heart failure.",
                    "Low-grade fever since the weekend."
                ),
                Kind::Scoliosis => one_of!(
                    self,
                    "Annual follow-up; currently wearing a brace.",
                    "Family history of scoliosis.",
                    "Brace discontinued last year."
                ),
                _ => one_of!(
                    self,
                    "Pain began two weeks ago after lifting a heavy box.",
                    "No trauma.",
                    "Pain radiates to the left leg.",
                    "The patient could not stand for the lateral view.",
                    "Tenderness to palpation over the spinous processes.",
                    "Slipped on ice yesterday."
                ),
            };
            s.push(' ');
            s.push_str(detail);
        }
        // History mentions: earlier events the exam may or may not confirm.
        if self.rng.percent(20) {
            let lvl = VERTEBRAE[self.fracture_vertebra()];
            let h = match self.rng.below(4) {
                0 => format!("History of {lvl} compression fracture."),
                1 => format!("Prior kyphoplasty at {lvl}."),
                2 => "History of osteoporosis.".to_string(),
                _ => "Status post lumbar laminectomy.".to_string(),
            };
            s.push(' ');
            s.push_str(&h);
        }
        s
    }

    fn comparison(&mut self) -> String {
        match self.rng.below(7) {
            0 => "None.".to_string(),
            1 => "None available.".to_string(),
            2 => format!("{}.", self.date()),
            3 => format!(
                "Radiographs of the {} spine dated {} and MRI dated {}.",
                self.kind.region_word(),
                self.date(),
                self.date()
            ),
            4 => format!(
                "Outside study from Clinique Sainte-Thérèse, {}.",
                self.date()
            ),
            5 => format!("CT abdomen and pelvis {}.", self.date()),
            _ => format!(
                "Prior radiograph from {} months ago.",
                self.rng.between(2, 30)
            ),
        }
    }

    fn technique(&mut self) -> &'static str {
        match self.kind {
            Kind::Chest => one_of!(
                self,
                "Frontal and lateral views of the chest.",
                "Single portable AP view of the chest."
            ),
            Kind::Cervical => one_of!(
                self,
                "AP, lateral and open-mouth odontoid views.",
                "Five views of the cervical spine, including obliques.",
                "Lateral flexion and extension views were obtained."
            ),
            Kind::Scoliosis => "Standing PA and lateral views of the entire spine.",
            _ => one_of!(
                self,
                "AP and lateral views.",
                "AP, lateral and coned-down lateral views of the lumbosacral junction.",
                "Flexion and extension lateral views were also obtained.",
                "Two views."
            ),
        }
    }

    /// Chances (percent) that a concept is affirmed, negated or hedged in this kind of exam.
    fn plan(&self) -> [(u32, u32, u32); 11] {
        match self.kind {
            Kind::Lumbar => [
                (25, 35, 5),
                (3, 8, 1),
                (20, 3, 3),
                (30, 25, 3),
                (6, 4, 2),
                (65, 10, 3),
                (12, 5, 2),
                (2, 0, 0),
                (3, 40, 2),
                (12, 0, 0),
                (3, 5, 2),
            ],
            Kind::Thoracic => [
                (30, 35, 5),
                (3, 8, 1),
                (25, 3, 3),
                (1, 0, 0),
                (0, 0, 0),
                (55, 8, 3),
                (15, 5, 2),
                (25, 5, 3),
                (2, 35, 1),
                (6, 0, 0),
                (4, 5, 2),
            ],
            Kind::Cervical => [
                (8, 50, 3),
                (1, 3, 0),
                (10, 0, 1),
                (15, 15, 3),
                (0, 0, 0),
                (70, 5, 3),
                (2, 0, 0),
                (3, 0, 0),
                (8, 45, 3),
                (12, 0, 0),
                (2, 3, 1),
            ],
            Kind::Thoracolumbar => [
                (45, 30, 6),
                (12, 15, 3),
                (25, 2, 2),
                (5, 10, 1),
                (1, 0, 0),
                (40, 5, 2),
                (5, 2, 1),
                (10, 2, 1),
                (8, 30, 3),
                (8, 0, 0),
                (4, 4, 2),
            ],
            Kind::Chest => [
                (6, 8, 2),
                (0, 0, 0),
                (8, 0, 1),
                (0, 0, 0),
                (0, 0, 0),
                (30, 2, 1),
                (6, 1, 1),
                (6, 0, 1),
                (0, 0, 0),
                (3, 0, 0),
                (2, 1, 1),
            ],
            Kind::Scoliosis => [
                (3, 10, 1),
                (0, 0, 0),
                (3, 0, 0),
                (3, 5, 0),
                (2, 2, 0),
                (20, 5, 1),
                (92, 5, 3),
                (15, 3, 2),
                (2, 10, 0),
                (20, 0, 0),
                (1, 2, 0),
            ],
        }
    }

    fn finding(&mut self, concept: usize, pol: Polarity) -> String {
        match concept {
            0 => self.fracture(pol),
            1 => self.retropulsion(pol),
            2 => self.demineralization(pol),
            3 => self.listhesis(pol),
            4 => self.spondylolysis(pol),
            5 => self.degenerative(pol),
            6 => self.scoliosis(pol),
            7 => self.kyphosis(pol),
            8 => self.malalignment(pol),
            9 => self.hardware(pol),
            _ => self.lesion(pol),
        }
    }

    /// The findings sentences, in a reading order: alignment, bodies, discs, the rest.
    fn findings(&mut self) -> Vec<String> {
        const ORDER: [usize; 11] = [8, 6, 7, 3, 4, 0, 1, 5, 2, 9, 10];
        let plan = self.plan();
        let mut out = Vec::new();
        if self.kind == Kind::Chest {
            let k = self.rng.between(3, 7) as usize;
            out = self.fillers(Self::CHEST_FILLER, k);
        }
        for &c in &ORDER {
            let (aff, neg, hedge) = plan[c];
            let r = self.rng.below(100) as u32;
            let pol = if r < aff {
                Polarity::Affirmed
            } else if r < aff + neg {
                Polarity::Negated
            } else if r < aff + neg + hedge {
                Polarity::Hedged
            } else {
                continue;
            };
            if c == 1 && (self.retropulsion_stated || !self.fracture_affirmed) {
                // Retropulsion is stated only with a fracture, and at most once.
                if self.retropulsion_stated || pol != Polarity::Negated {
                    continue;
                }
            }
            out.push(self.finding(c, pol));
        }
        if self.kind != Kind::Chest {
            let k = self.rng.between(2, 5) as usize;
            let pool = self.spine_pool();
            out.extend(self.fillers(pool, k));
        }
        for _ in 0..self.rng.between(0, 2) {
            if self.rng.percent(55) {
                out.push(self.distractor());
            }
        }
        if self.rng.percent(30) {
            let change = match self.rng.below(4) {
                0 => format!("Findings are otherwise unchanged from {}.", self.date()),
                1 => "Since the prior exam, there has been no significant interval change.".to_string(),
                2 => "No new abnormality compared with the prior radiographs.".to_string(),
                _ => "Overall appearance is similar to the previous study allowing for differences in positioning.".to_string(),
            };
            out.push(change);
        }
        if out.is_empty() {
            out.push(match self.kind {
                Kind::Chest => "No acute cardiopulmonary abnormality.".to_string(),
                _ => "No acute osseous abnormality.".to_string(),
            });
        }
        out
    }

    /// A level-by-level description: the long tail of the length distribution.
    fn level_by_level(&mut self) -> Vec<String> {
        let (lo, hi) = self.kind.span();
        let mut out = Vec::new();
        for a in lo..hi {
            let d = self.fmt_pair(a, a + 1);
            let desc = one_of!(
                self,
                "Disc height is preserved. No significant facet arthropathy.",
                "Mild disc space narrowing with small anterior osteophytes.",
                "Moderate disc space narrowing, endplate sclerosis and facet hypertrophy.",
                "Normal disc height and alignment.",
                "Facet hypertrophy without listhesis.",
                "Preserved disc height; no listhesis on flexion or extension."
            );
            out.push(format!("{d}: {desc}"));
        }
        out
    }

    fn impression_text(&mut self, numbered: bool) -> String {
        let mut items = std::mem::take(&mut self.impression);
        items.dedup();
        if items.is_empty() {
            let s = match self.kind {
                Kind::Chest => one_of!(
                    self,
                    "No acute cardiopulmonary process.",
                    "No acute cardiopulmonary abnormality."
                ),
                _ => one_of!(
                    self,
                    "No acute osseous abnormality.",
                    "No acute fracture or malalignment.",
                    "Negative examination.",
                    "Unremarkable radiographs."
                ),
            };
            return s.to_string();
        }
        items.truncate(4);
        if self.rng.percent(35) {
            let advice = match self.kind {
                Kind::Chest => one_of!(
                    self,
                    "Dedicated spine radiographs could be obtained if there is focal back pain",
                    "Recommend clinical correlation",
                    "Consider DXA if not recently performed"
                ),
                _ => one_of!(
                    self,
                    "Recommend clinical correlation",
                    "If symptoms persist, MRI could evaluate for an occult fracture",
                    "MRI may be considered if there are neurologic symptoms",
                    "Consider DXA if not recently performed",
                    "Follow-up radiographs in 6 to 8 weeks may be helpful"
                ),
            };
            items.push(advice.to_string());
        }
        let mut out = String::new();
        for (i, it) in items.iter().enumerate() {
            if numbered {
                if i > 0 {
                    out.push('\n');
                }
                let _ = write!(out, "{}. {it}.", i + 1);
            } else {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(it);
                out.push('.');
            }
        }
        out
    }

    fn text(&mut self) -> String {
        let mut t = String::with_capacity(1024);
        let long = self.rng.percent(9);
        let one_line = self.rng.percent(6);
        let blank = self.rng.percent(40);
        let sep = if one_line {
            "  "
        } else if blank {
            "\n\n"
        } else {
            "\n"
        };

        let mut sections: Vec<(Option<String>, String)> = Vec::new();
        if self.rng.percent(85) {
            let e = self.exam_line();
            sections.push((None, e));
        }
        if self.rng.percent(85) {
            let label = one_of!(
                self,
                "HISTORY",
                "INDICATION",
                "CLINICAL HISTORY",
                "REASON FOR EXAM",
                "INDICATION"
            );
            let body = self.indication();
            sections.push((self.header(label), body));
        }
        if self.rng.percent(65) {
            let body = self.comparison();
            sections.push((self.header("COMPARISON"), body));
        }
        if self.rng.percent(60) {
            let body = self.technique().to_string();
            sections.push((self.header("TECHNIQUE"), body));
        }
        let mut findings = self.findings();
        if long {
            findings.extend(self.level_by_level());
            if self.kind != Kind::Chest && self.rng.percent(50) {
                findings.extend(self.level_by_level());
            }
        }
        let per_line = !one_line && (long || self.rng.percent(20));
        if per_line && !long && self.rng.percent(35) {
            for f in &mut findings {
                f.insert_str(0, "- ");
            }
        }
        let body = findings.join(if per_line { "\n" } else { " " });
        let fh = if self.rng.percent(8) {
            one_of!(self, "FINDINGS", "REPORT", "OBSERVATIONS")
        } else {
            "FINDINGS"
        };
        sections.push((self.header(fh), body));
        let imp_present = self.headers == HeaderStyle::None || self.rng.percent(88);
        if imp_present {
            let numbered = !one_line && self.rng.percent(50);
            let body = self.impression_text(numbered);
            let label = one_of!(self, "IMPRESSION", "IMPRESSION", "IMPRESSION", "CONCLUSION");
            sections.push((self.header(label), body));
        }
        if long && self.rng.percent(40) {
            let body = format!(
                "Findings were discussed with the referring clinician on {} at {:02}:{:02}.",
                self.date(),
                self.rng.between(7, 20),
                self.rng.between(0, 59)
            );
            sections.push((self.header("ADDENDUM"), body));
        }

        if self.rng.percent(35) {
            let date = self.date();
            let (h, m) = (self.rng.between(7, 22), self.rng.between(0, 59));
            let footer = match self.rng.below(3) {
                0 => format!("Electronically signed on {date} at {h:02}:{m:02}."),
                1 => "Dictated by the radiology resident; reviewed and approved by the attending radiologist.".to_string(),
                _ => format!("This report was finalized on {date}."),
            };
            sections.push((None, footer));
        }

        // Dictation systems that hard-wrap lines mid-sentence.
        if !one_line && self.rng.percent(10) {
            let width = self.rng.between(60, 80) as usize;
            for (_, body) in &mut sections {
                *body = wrap(body, width);
            }
        }
        let header_own_line = !one_line && self.rng.percent(20);
        for (i, (h, body)) in sections.iter().enumerate() {
            if i > 0 {
                t.push_str(sep);
            }
            if let Some(h) = h {
                t.push_str(h);
                t.push_str(if header_own_line { "\n" } else { " " });
            }
            t.push_str(body);
        }
        if self.rng.percent(3) {
            t = t.to_uppercase();
        }
        if self.rng.percent(2) {
            t = t.replace('\n', "\r\n");
        }
        t
    }
}

/// `s` with a line break in place of the last space before every `width` bytes of a line.
fn wrap(s: &str, width: usize) -> String {
    let mut out = String::with_capacity(s.len());
    for (k, line) in s.split('\n').enumerate() {
        if k > 0 {
            out.push('\n');
        }
        let mut col = 0usize;
        let mut first = true;
        for word in line.split(' ') {
            if !first {
                if col + 1 + word.len() > width && col > 0 {
                    out.push('\n');
                    col = 0;
                } else {
                    out.push(' ');
                    col += 1;
                }
            }
            out.push_str(word);
            col += word.len();
            first = false;
        }
    }
    out
}

/// `s` with its first character in upper case (ASCII).
fn cap(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    if let Some(c) = chars.next() {
        out.push(c.to_ascii_uppercase());
    }
    out.extend(chars);
    out
}

/// An upper-case header in title case (`CLINICAL HISTORY` -> `Clinical History`).
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.push(c.to_ascii_uppercase());
        } else {
            out.push(c.to_ascii_lowercase());
        }
        start = !c.is_ascii_alphanumeric();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FNV-1a over every report's id and text: a compact fingerprint of a generated corpus.
    fn fingerprint(seed: u64, n: usize) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for r in generate(seed, n) {
            for b in r.id.bytes().chain(r.text.bytes()) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        h
    }

    #[test]
    fn splitmix64_matches_reference_outputs() {
        // The published SplitMix64 sequence for seed 1234567.
        let mut r = Rng::new(1_234_567);
        let want: [u64; 5] = [
            6457827717110365317,
            3203168211198807973,
            9817491932198370423,
            4593380528125082431,
            16408922859458223821,
        ];
        for w in want {
            assert_eq!(r.next_u64(), w);
        }
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = Rng::new(9);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            let x = r.below(7);
            assert!(x < 7);
            seen[x] = true;
        }
        assert!(seen.iter().all(|&s| s));
        for _ in 0..1000 {
            let x = r.between(3, 5);
            assert!((3..=5).contains(&x));
        }
    }

    #[test]
    fn same_seed_same_reports() {
        let a: Vec<Report> = generate(42, 300).collect();
        let b: Vec<Report> = generate(42, 300).collect();
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.id, y.id);
            assert_eq!(x.text, y.text);
            assert_eq!(x.patient, y.patient);
        }
        assert_eq!(fingerprint(42, 300), fingerprint(42, 300));
    }

    #[test]
    fn different_seeds_differ() {
        assert_ne!(fingerprint(1, 50), fingerprint(2, 50));
        let same = generate(1, 200)
            .zip(generate(2, 200))
            .filter(|(a, b)| a.text == b.text)
            .count();
        assert!(same < 5, "{same} identical reports across seeds");
    }

    #[test]
    fn a_small_run_is_a_prefix_of_a_large_one() {
        let small: Vec<Report> = generate(5, 40).collect();
        let large: Vec<Report> = generate(5, 400).collect();
        for (s, l) in small.iter().zip(&large) {
            assert_eq!(s.text, l.text);
        }
        assert_eq!(report(5, 123).text, large[123].text);
    }

    #[test]
    fn output_is_pinned_across_platforms() {
        // Only integer arithmetic decides the text, so this fingerprint is the same everywhere.
        // It changes when a template changes on purpose: then update it in the same commit.
        assert_eq!(fingerprint(2024, 200), PINNED_FINGERPRINT);
    }
    const PINNED_FINGERPRINT: u64 = 8098928566574250834;

    #[test]
    fn lengths_look_like_real_reports() {
        let lens: Vec<usize> = generate(11, 4000).map(|r| r.text.len()).collect();
        let mean = lens.iter().sum::<usize>() / lens.len();
        assert!((600..=900).contains(&mean), "mean length {mean}");
        let long = lens.iter().filter(|&&l| l >= 1500).count();
        assert!(long >= 40, "only {long} long reports");
        assert!(lens.iter().all(|&l| l >= 40), "a report is nearly empty");
    }

    #[test]
    fn covers_the_forms_the_pipeline_reads() {
        let all: String = generate(3, 3000).map(|r| r.text + "\n").collect();
        for needle in [
            "°",
            "–",
            "é",
            "FINDINGS:",
            "Findings:",
            "findings:",
            "IMPRESSION",
            "L5-S1",
            "L5/S1",
            "L4-5",
            "compression deformity",
            "% loss of height",
            "anterolisthesis of L",
            "Cobb angle",
            "degenerative disc disease",
            "osteopenia",
            "pedicle screws",
            "Lytic lesion",
            "No acute fracture",
            "No significant change in the",
            "Possible",
            "Rule out fracture",
            "rib",
            "glenohumeral",
            "age-indeterminate",
            "XXXX-year-old",
            ".5 mm",
            "\n- ",
            "\r\n",
        ] {
            assert!(all.contains(needle), "no report contains {needle:?}");
        }
        let ids: std::collections::HashSet<String> = generate(3, 3000).map(|r| r.id).collect();
        assert_eq!(ids.len(), 3000);
    }

    #[test]
    fn wrapping_only_replaces_spaces() {
        let text = "Multilevel degenerative disc disease, most pronounced at L4-5.\nNo fracture.";
        let w = wrap(text, 20);
        assert_eq!(w.replace('\n', " "), text.replace('\n', " "));
        assert!(w.lines().all(|l| l.len() <= 20 || !l.contains(' ')));
        assert_eq!(wrap("short", 20), "short");
    }

    #[test]
    fn every_kind_appears() {
        let mut rng = Rng::new(1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..500 {
            seen.insert(Kind::draw(&mut rng).as_str());
        }
        assert_eq!(seen.len(), 6);
    }

    #[test]
    fn jsonl_round_trips() {
        let mut buf = Vec::new();
        let w = write_jsonl(8, 120, &mut buf).unwrap();
        assert_eq!(w.reports, 120);
        assert_eq!(w.file_bytes as usize, buf.len());
        let text = String::from_utf8(buf).unwrap();
        let mut text_bytes = 0u64;
        for (line, r) in text.lines().zip(generate(8, 120)) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["id"], r.id.as_str());
            assert_eq!(v["text"], r.text.as_str());
            if let Some(age) = r.patient.age {
                assert_eq!(v["age"].as_f64().unwrap() as f32, age);
            } else {
                assert!(v.get("age").is_none());
            }
            text_bytes += r.text.len() as u64;
        }
        assert_eq!(text.lines().count(), 120);
        assert_eq!(w.text_bytes, text_bytes);
    }
}
