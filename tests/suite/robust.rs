//! Hostile text through the whole pipeline: generated reports that mix spine vocabulary,
//! ConText triggers, levels, numbers, headers, punctuation, `XXXX`, line breaks, non-ASCII
//! characters (°, –, é, emoji, combining marks, U+FFFD, NUL, direction marks) and very long
//! tokens. For every text: no panic; every span (mention, flag trigger, section, sentence) is
//! inside the text, ordered and on character boundaries; evidence points at real mentions; the
//! rendered rows and JSON line agree with the text; and a second run gives the same result.
//!
//! Case counts are bounded so that the suite stays quick; `PROPTEST_CASES=5000 cargo test
//! --test suite robust` runs longer.

use proptest::prelude::*;
use spinex::output::{Parts, Renderer};
use spinex::{Analysis, Pipeline, Report, Span};
use std::path::Path;
use std::sync::OnceLock;

fn builtin() -> &'static Pipeline {
    static P: OnceLock<Pipeline> = OnceLock::new();
    P.get_or_init(Pipeline::builtin)
}

fn with_targets() -> &'static Pipeline {
    static P: OnceLock<Pipeline> = OnceLock::new();
    P.get_or_init(|| {
        let targets = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/general_targets.csv");
        Pipeline::builder()
            .targets_file(targets)
            .build()
            .expect("targets load")
    })
}

const SPINE: &[&str] = &[
    "compression deformity",
    "compression fracture",
    "fracture",
    "wedge deformity",
    "loss of vertebral body height",
    "vertebra plana",
    "burst fracture",
    "retropulsion",
    "osteopenia",
    "osteopenic",
    "demineralization",
    "anterolisthesis",
    "retrolisthesis",
    "spondylolisthesis",
    "spondylolysis",
    "pars defect",
    "degenerative disc disease",
    "disc space narrowing",
    "osteophytes",
    "facet arthropathy",
    "DISH",
    "scoliosis",
    "dextroscoliosis",
    "levoconvex curvature",
    "kyphosis",
    "hyperkyphosis",
    "malalignment",
    "subluxation",
    "alignment is normal",
    "pedicle screws",
    "fusion",
    "kyphoplasty",
    "lytic lesion",
    "sclerotic lesion",
    "metastasis",
    "spine",
    "thoracic spine",
    "lumbar",
    "vertebral body",
    "disc",
    "rib",
    "ribs",
    "shoulder",
    "clavicle",
    "lungs",
    "heart",
];

const TRIGGERS: &[&str] = &[
    "no",
    "No",
    "NO",
    "without",
    "negative for",
    "free of",
    "possible",
    "probable",
    "cannot exclude",
    "may represent",
    "versus",
    "?",
    "history of",
    "prior",
    "s/p",
    "status post",
    "evaluate for",
    "rule out",
    "r/o",
    "if",
    "but",
    "however",
    "which",
    "no significant change in",
    "stable",
    "unchanged",
    "old",
    "healed",
    "acute",
    "chronic",
    "age-indeterminate",
    "mild",
    "moderate",
    "severe",
    "marked",
    "minimal",
    "mild to moderate",
    "grade",
    "and",
    "of",
    "at",
];

const LEVELS: &[&str] = &[
    "T12",
    "L1",
    "L4-5",
    "L4-L5",
    "L5-S1",
    "L5/S1",
    "T11-L2",
    "C5–6",
    "T11 through L2",
    "L4 on L5",
    "T1-weighted",
    "T2 hyperintense",
    "L9",
    "S6",
    "C0",
    "T99999",
    "L4-",
    "-L5",
];

const NUMBERS: &[&str] = &[
    "30%",
    "30 percent",
    "4 mm",
    "0.4 cm",
    "12°",
    "45 degrees",
    "grade II",
    "Grade 1",
    "grade v",
    "2.5",
    "1.2.3",
    "99999999999999999999999999999999999999999",
    "-7%",
    "1e400 mm",
];

const HEADERS: &[&str] = &[
    "FINDINGS:",
    "IMPRESSION:",
    "Impression:",
    "INDICATION:",
    "HISTORY:",
    "COMPARISON:",
    "TECHNIQUE:",
    "EXAM:",
    "\nIMPRESSION\n",
    "\nFINDINGS\n",
    "1.",
    "2)",
    "- ",
    "• ",
    "LUMBAR SPINE 3 VIEWS\n",
];

const PUNCTUATION: &[&str] = &[
    ".", ". ", ",", ";", ":", "!", "?", "(", ")", "[", "]", "/", "-", "--", "\"", "'", "`", "_",
    "...", "&", "<b>", "</b>", "<script>", "=", "+", "@", "|", "\\",
];

const BREAKS: &[&str] = &["\n", "\r\n", "\r", "\n\n", "\t", "\x0b", "\x0c", "\u{2028}"];

const ODD: &[&str] = &[
    "XXXX",
    "XXXX XXXX",
    "°",
    "–",
    "—",
    "‐",
    "−",
    "é",
    "É",
    "ß",
    "İ",
    "ﬁ",
    "Σ",
    "ǅ",
    "\u{1F600}",
    "\u{1F9B4}",
    "e\u{301}",
    "\u{301}",
    "\u{FFFD}",
    "\u{0}",
    "\u{200F}",
    "\u{202E}",
    "\u{200B}",
    "\u{FEFF}",
    "\u{00AD}",
    "\u{00A0}",
    "\u{3000}",
    "骨折",
    "كسر",
    "\u{7F}",
    "\u{1B}[31m",
];

/// One piece of a generated report.
fn piece(general: &'static [&'static str]) -> impl Strategy<Value = String> {
    let pick = |list: &'static [&'static str]| {
        proptest::sample::select(list).prop_map(|s: &str| s.to_string())
    };
    prop_oneof![
        6 => pick(SPINE),
        5 => pick(TRIGGERS),
        3 => pick(LEVELS),
        2 => pick(NUMBERS),
        2 => pick(HEADERS),
        3 => pick(PUNCTUATION),
        2 => pick(BREAKS),
        3 => pick(ODD),
        2 => pick(general),
        // Very long tokens: a word, a glued term, digits, a level-like run.
        1 => (pick(SPINE), 20usize..200).prop_map(|(w, n)| w.replace(' ', "").repeat(n)),
        1 => (1usize..600).prop_map(|n| "9".repeat(n)),
        1 => (1usize..400).prop_map(|n| format!("L{}", "4-".repeat(n))),
        1 => (pick(ODD), 1usize..400).prop_map(|(w, n)| w.repeat(n)),
        // Anything at all, short.
        2 => any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

/// Pieces joined by separators; sometimes repeated so that sentences grow past the cap.
fn report_text(general: &'static [&'static str]) -> impl Strategy<Value = String> {
    let sep = proptest::sample::select(&[" ", " ", " ", "", "\n", ", ", ". "][..]);
    (
        proptest::collection::vec((piece(general), sep), 0..60),
        prop_oneof![8 => Just(1usize), 1 => 2usize..40],
    )
        .prop_map(|(parts, times)| {
            let mut s = String::new();
            for (p, sep) in &parts {
                s.push_str(p);
                s.push_str(sep);
            }
            s.repeat(times)
        })
}

const GENERAL: &[&str] = &[
    "shortness of breath",
    "SOB",
    "dyspnea",
    "pneumonia",
    "PNA",
    "fever",
    "chills",
    "chest pain",
    "night sweats",
];

fn check_span(text: &str, sp: Span, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(sp.start <= sp.end, "{what}: {sp:?} is reversed");
    prop_assert!(
        sp.end <= text.len(),
        "{what}: {sp:?} ends past {}",
        text.len()
    );
    prop_assert!(
        text.is_char_boundary(sp.start) && text.is_char_boundary(sp.end),
        "{what}: {sp:?} splits a character"
    );
    Ok(())
}

/// Every invariant of one analysis of `text`.
fn check(pipeline: &Pipeline, text: &str) -> Result<(), TestCaseError> {
    let report = Report::new("r", text);
    let a = pipeline.analyze(&report);
    let b = pipeline.analyze(&report);
    prop_assert_eq!(format!("{a:?}"), format!("{b:?}"), "two runs differ");
    check_analysis(pipeline, &report, &a)?;

    let renderer = Renderer::new(pipeline, Parts::ALL);
    let first = renderer.render(&report, &a);
    prop_assert_eq!(&first, &renderer.render(&report, &b), "rendering differs");
    let line: serde_json::Value =
        serde_json::from_slice(&first.results).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let chars: Vec<char> = text.chars().collect();
    let mentions = line["mentions"].as_array().cloned().unwrap_or_default();
    prop_assert_eq!(mentions.len(), a.mentions.len());
    for m in &mentions {
        let (s, e) = (
            m["start"].as_u64().unwrap() as usize,
            m["end"].as_u64().unwrap() as usize,
        );
        prop_assert!(s <= e && e <= chars.len());
        let slice: String = chars[s..e].iter().collect();
        prop_assert_eq!(m["text"].as_str().unwrap(), slice.as_str());
    }
    Ok(())
}

fn check_analysis(pipeline: &Pipeline, report: &Report, a: &Analysis) -> Result<(), TestCaseError> {
    let text = report.text.as_str();
    for s in &a.sections {
        check_span(text, s.header, "section header")?;
        check_span(text, s.body, "section body")?;
    }
    for (i, s) in a.sentences.iter().enumerate() {
        check_span(text, s.span, "sentence")?;
        prop_assert!((s.section as usize) < a.sections.len());
        prop_assert!(
            s.span.len() <= spinex::sentence::MAX_SENTENCE,
            "sentence {i} is {} bytes",
            s.span.len()
        );
    }
    let mut last = 0usize;
    for m in &a.mentions {
        check_span(text, m.span, "mention")?;
        prop_assert!(m.span.start < m.span.end, "empty mention {:?}", m.span);
        prop_assert!(m.span.start >= last, "mentions out of text order");
        last = m.span.start;
        prop_assert!((m.sentence as usize) < a.sentences.len());
        prop_assert!(a.sentences[m.sentence as usize].span.contains(m.span));
        prop_assert!(m.concept.index() < pipeline.concept_names().len());
        for (name, flag) in [
            ("negated", m.negated),
            ("uncertain", m.uncertain),
            ("historical", m.historical),
            ("hypothetical", m.hypothetical),
        ] {
            if let Some(t) = flag {
                check_span(text, t, name)?;
            }
        }
    }
    prop_assert_eq!(a.concepts.len(), pipeline.concept_names().len());
    let n = a.mentions.len() as u32;
    for r in &a.recommendations {
        prop_assert!(r.evidence.iter().all(|&i| i < n), "{}", r.rule);
    }
    for c in &a.cautions {
        prop_assert!(c.evidence.iter().all(|&i| i < n), "{}", c.rule);
    }
    for f in &a.flags {
        prop_assert!(f.evidence.iter().all(|&i| i < n), "{}", f.flag);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_report_text_is_analyzed_safely_and_the_same_twice(text in report_text(SPINE)) {
        check(builtin(), &text)?;
    }

    #[test]
    fn user_concepts_are_analyzed_safely_too(text in report_text(GENERAL)) {
        check(with_targets(), &text)?;
    }

    #[test]
    fn arbitrary_unicode_is_analyzed_safely(text in "\\PC{0,300}|(?s).{0,300}") {
        check(builtin(), &text)?;
    }
}

/// Texts that have broken things before or sit on the edges of the readers.
#[test]
fn edge_texts() {
    let long_sentence = "no fracture, mild DDD at L4-5, possible T12 wedging, ".repeat(200);
    let texts = [
        String::new(),
        " ".into(),
        "\n".into(),
        ".".into(),
        ":".into(),
        "FINDINGS:".into(),
        "IMPRESSION\n".into(),
        "no".into(),
        "L4-".into(),
        "fracture".into(),
        "\u{0}fracture\u{0}".into(),
        "e\u{301}fracture\u{301}".into(),
        "T12\u{FFFD}compression\u{FFFD}deformity".into(),
        "grade".into(),
        "grade ".into(),
        "30".into(),
        "30°".into(),
        "L4 on".into(),
        "T11 through".into(),
        long_sentence.clone(),
        long_sentence.replace(' ', "\u{3000}"),
        "fracture/".repeat(500),
        "é".repeat(3000),
        "FINDINGS: ".repeat(300),
    ];
    for text in &texts {
        for p in [builtin(), with_targets()] {
            if let Err(e) = check(p, text) {
                panic!("{:?}: {e}", text.chars().take(60).collect::<String>());
            }
        }
    }
}
