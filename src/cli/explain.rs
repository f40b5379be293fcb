//! `spinex explain`: one report, explained for a person.

use super::{Fatal, InputArgs, LexiconArgs, Outcome};
use clap::Args;
use spinex::input::{self, Records};
use spinex::span::CharIndex;
use spinex::{
    Analysis, Attributes, Mention, PatientContext, Pipeline, Report, Span, BUILTIN_CONCEPTS,
    PATIENT_FIELDS,
};
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

/// Options of `spinex explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Input files (as for `extract`); the report is chosen with --id.
    #[arg(value_name = "INPUT", conflicts_with = "text")]
    inputs: Vec<PathBuf>,
    /// Explain this text instead of reading inputs.
    #[arg(long, value_name = "TEXT")]
    text: Option<String>,
    /// Id of the report to explain (needed when the input holds several).
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    lexicons: LexiconArgs,
}

/// Runs `spinex explain`.
pub fn run(args: ExplainArgs) -> Result<Outcome, Fatal> {
    let report = match &args.text {
        Some(text) => Report::new(
            args.id.clone().unwrap_or_else(|| "text".into()),
            text.clone(),
        ),
        None => find_report(&args)?,
    };
    let pipeline = args.lexicons.pipeline()?;
    let analysis = pipeline.analyze(&report);
    let text = explain(&pipeline, &report, &analysis);
    let mut out = std::io::stdout().lock();
    super::outcome(
        out.write_all(text.as_bytes()).and_then(|_| out.flush()),
        "<stdout>: cannot write",
    )
}

fn find_report(args: &ExplainArgs) -> Result<Report, Fatal> {
    let options = args.input.options();
    let inputs = input::resolve(&args.inputs, &options)?;
    let names: Vec<String> = inputs.iter().map(|i| i.source.name()).collect();
    let where_ = names.join(", ");
    let mut found: Option<Report> = None;
    for item in Records::new(inputs, options) {
        let record = item?;
        match (&args.id, record) {
            (Some(id), Ok(r)) if &r.id == id => return Ok(r),
            (Some(id), Err(e)) if e.id.as_deref() == Some(id.as_str()) => {
                return Err(Fatal::new(e.to_string()))
            }
            (Some(_), _) => {}
            (None, Ok(r)) => {
                if found.is_some() {
                    return Err(Fatal::new(format!(
                        "{where_}: the input holds several reports; choose one with --id"
                    )));
                }
                found = Some(r);
            }
            (None, Err(e)) => return Err(Fatal::new(e.to_string())),
        }
    }
    match (&args.id, found) {
        (_, Some(r)) => Ok(r),
        (Some(id), None) => Err(Fatal::new(format!("{where_}: no report with id {id:?}"))),
        (None, None) => Err(Fatal::new(format!("{where_}: no report in the input"))),
    }
}

/// A span as character offsets and its text, quoted.
fn show(text: &str, chars: &CharIndex, span: Span) -> String {
    format!(
        "{}-{} {:?}",
        chars.char_offset(span.start),
        chars.char_offset(span.end),
        text.get(span.start..span.end).unwrap_or("")
    )
}

fn concept_name(pipeline: &Pipeline, m: &Mention) -> String {
    pipeline
        .concept_names()
        .get(m.concept.index())
        .cloned()
        .unwrap_or_else(|| format!("#{}", m.concept.0))
}

/// Known patient values, `name value` pairs.
fn patient_line(p: &PatientContext) -> String {
    let value = serde_json::to_value(p).unwrap_or_default();
    let mut parts = Vec::new();
    if let Some(map) = value.as_object() {
        for field in PATIENT_FIELDS {
            match map.get(field) {
                None | Some(serde_json::Value::Null) => {}
                Some(serde_json::Value::String(s)) => parts.push(format!("{field} {s}")),
                // Patient numbers are f32: show them as such (-2.9, not -2.900000095).
                Some(serde_json::Value::Number(n)) => match n.as_f64() {
                    Some(x) => parts.push(format!("{field} {}", x as f32)),
                    None => parts.push(format!("{field} {n}")),
                },
                Some(v) => parts.push(format!("{field} {v}")),
            }
        }
    }
    parts.join(", ")
}

/// The attributes that are set, in words.
fn attributes_line(at: &Attributes) -> String {
    let mut parts = Vec::new();
    if !at.levels.is_empty() {
        parts.push(format!("levels {}", at.levels));
    }
    if let Some(r) = at.region {
        parts.push(format!("region {r}"));
    }
    if let Some(s) = at.severity {
        parts.push(format!("severity {s}"));
    }
    if let Some(a) = at.acuity {
        parts.push(format!("acuity {a}"));
    }
    if let Some(h) = at.height_loss_pct {
        parts.push(format!("height loss {h}%"));
    }
    if let Some(g) = at.genant_grade {
        parts.push(format!("Genant grade {g}"));
    }
    if let Some(g) = at.meyerding_grade {
        parts.push(format!("Meyerding grade {g}"));
    }
    if let Some(mm) = at.slip_mm {
        parts.push(format!("slip {mm} mm"));
    }
    if let Some(c) = at.cobb_degrees {
        parts.push(format!("Cobb {c} degrees"));
    }
    if let Some(d) = at.direction {
        parts.push(format!("direction {d}"));
    }
    parts.join(", ")
}

/// The explanation of one analyzed report, as plain text.
fn explain(pipeline: &Pipeline, report: &Report, a: &Analysis) -> String {
    let text = report.text.as_str();
    let chars = CharIndex::new(text);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "report {} ({} characters)",
        report.id,
        text.chars().count()
    );
    if !report.patient.is_empty() {
        let _ = writeln!(o, "patient {}", patient_line(&report.patient));
    }
    for w in &report.warnings {
        let _ = writeln!(o, "warning: {w}");
    }

    let _ = writeln!(o, "\nsections");
    if a.sections.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for s in &a.sections {
        let header = if s.header.is_empty() {
            String::new()
        } else {
            format!("  header {}", show(text, &chars, s.header))
        };
        let _ = writeln!(
            o,
            "  {:<14} chars {}-{}{header}",
            s.kind.as_str(),
            chars.char_offset(s.body.start),
            chars.char_offset(s.body.end)
        );
    }

    let _ = writeln!(o, "\nmentions");
    if a.mentions.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for (i, m) in a.mentions.iter().enumerate() {
        let _ = writeln!(
            o,
            "  [{i}] {} {} in {}",
            concept_name(pipeline, m),
            show(text, &chars, m.span),
            m.section.as_str()
        );
        let mut flags = Vec::new();
        for (name, flag) in [
            ("negated", m.negated),
            ("uncertain", m.uncertain),
            ("historical", m.historical),
            ("hypothetical", m.hypothetical),
        ] {
            if let Some(span) = flag {
                flags.push(format!("{name} by {}", show(text, &chars, span)));
            }
        }
        let verdict = if m.affirmed() {
            "affirmed, counts"
        } else if !m.counts() {
            "does not count (hypothetical or unconfirmed history)"
        } else if m.uncertain.is_some() {
            "hedged, counts"
        } else {
            "negated, counts"
        };
        let _ = writeln!(
            o,
            "      {verdict}{}{}",
            if flags.is_empty() { "" } else { ": " },
            flags.join("; ")
        );
        let attrs = attributes_line(&m.attrs);
        let _ = writeln!(
            o,
            "      term {:?}{}{attrs}",
            pipeline.term_text(m),
            if attrs.is_empty() { "" } else { "; " }
        );
        if let Some(s) = a.sentences.get(m.sentence as usize) {
            let _ = writeln!(o, "      sentence {}", show(text, &chars, s.span));
        }
    }

    let _ = writeln!(o, "\nstatuses");
    for (i, name) in pipeline.concept_names().iter().enumerate() {
        let r = a.concepts.get(i).copied().unwrap_or_default();
        let Some(status) = r.status else {
            if i < BUILTIN_CONCEPTS.len() {
                let _ = writeln!(o, "  {name:<22} (not mentioned)");
            }
            continue;
        };
        let mut line = format!("  {name:<22} {status}");
        if !r.levels.is_empty() {
            let _ = write!(line, "  levels {}", r.levels);
        }
        if let Some(s) = r.severity {
            let _ = write!(line, "  severity {s}");
        }
        if let Some(s) = r.acuity {
            let _ = write!(line, "  acuity {s}");
        }
        let _ = writeln!(o, "{line}");
    }

    let evidence = |idx: &[u32]| -> String {
        idx.iter()
            .filter_map(|&i| {
                a.mentions
                    .get(i as usize)
                    .map(|m| format!("[{i}] {}", show(text, &chars, m.span)))
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let _ = writeln!(o, "\nrecommendations");
    if a.recommendations.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for r in &a.recommendations {
        let _ = writeln!(
            o,
            "  {} ({}, {}) by rule {}",
            r.action, r.strength, r.urgency, r.rule
        );
        if let Some(c) = &r.condition {
            let _ = writeln!(o, "      condition: {c}");
        }
        let _ = writeln!(o, "      why: {}", r.rationale);
        let _ = writeln!(o, "      evidence: {}", evidence(&r.evidence));
        let _ = writeln!(o, "      source: {}", r.source);
    }
    let _ = writeln!(o, "\ncautions");
    if a.cautions.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for c in &a.cautions {
        let _ = writeln!(o, "  {} by rule {}", c.id, c.rule);
        let _ = writeln!(o, "      why: {}", c.message);
        let _ = writeln!(o, "      evidence: {}", evidence(&c.evidence));
        let _ = writeln!(o, "      source: {}", c.source);
    }
    let _ = writeln!(o, "\naudit flags");
    if a.flags.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for f in &a.flags {
        let _ = writeln!(o, "  {} ({})", f.flag, f.severity);
        let _ = writeln!(o, "      why: {}", f.message);
        let _ = writeln!(o, "      evidence: {}", evidence(&f.evidence));
    }
    o
}
