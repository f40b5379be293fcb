//! Accuracy floors on the gold corpus (`corpus/*.jsonl`). Each floor is a measured figure
//! rounded down; raise a floor when accuracy rises, never lower one. The figures and how to
//! reproduce them are in `docs/ACCURACY.md`.

use spinex::eval::{evaluate, load_gold_files, EvalReport, GoldReport};
use spinex::Pipeline;
use std::path::Path;

/// (figure, floor). Presence is micro-F1 over the 11 concepts.
const FLOORS: [(&str, f64); 10] = [
    ("presence micro-F1", 0.99),
    ("negation recall", 0.98),
    ("uncertainty recall", 0.96),
    ("levels exact", 0.95),
    ("fracture acuity", 0.98),
    ("status agreement", 0.98),
    ("fracture levels exact", 0.96),
    ("severity", 0.97),
    ("negation precision", 1.0),
    ("required actions recall", 0.98),
];

/// (count, ceiling): counts that may only fall. Lower a ceiling when the count falls, never
/// raise one.
const CEILINGS: [(&str, usize); 1] = [
    // Forbidden action ids emitted over the gold reports' `actions.forbidden` lists.
    ("forbidden actions emitted", 4),
];

fn figure(r: &EvalReport, name: &str) -> Option<f64> {
    match name {
        "presence micro-F1" => r.presence_micro.f1(),
        "negation recall" => r.negation.recall.rate(),
        "uncertainty recall" => r.uncertainty.recall.rate(),
        "levels exact" => r.attributes.levels_exact.rate(),
        "fracture acuity" => r.attributes.fracture_acuity.rate(),
        "status agreement" => r.status_agreement.rate(),
        "fracture levels exact" => r.attributes.levels_exact_fracture.rate(),
        "severity" => r.attributes.severity.rate(),
        "negation precision" => r.negation.precision.rate(),
        "required actions recall" => r.actions.required_recall.rate(),
        other => panic!("no figure named {other}"),
    }
}

fn count(r: &EvalReport, name: &str) -> Option<usize> {
    match name {
        "forbidden actions emitted" => {
            (r.actions.forbidden_emitted.total > 0).then_some(r.actions.forbidden_emitted.hits)
        }
        other => panic!("no count named {other}"),
    }
}

fn corpus() -> Vec<GoldReport> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no gold files in {}", dir.display());
    load_gold_files(&files).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn accuracy_stays_above_the_floors() {
    let gold = corpus();
    let report = evaluate(&Pipeline::builtin(), &gold);
    let mut failures = Vec::new();
    for (name, floor) in FLOORS {
        match figure(&report, name) {
            Some(v) if v >= floor => {}
            Some(v) => failures.push(format!("{name}: {v:.4} is below the floor {floor}")),
            None => failures.push(format!("{name}: nothing to measure")),
        }
    }
    for (name, ceiling) in CEILINGS {
        match count(&report, name) {
            Some(v) if v <= ceiling => {}
            Some(v) => failures.push(format!("{name}: {v} is above the ceiling {ceiling}")),
            None => failures.push(format!("{name}: nothing to measure")),
        }
    }
    assert!(
        failures.is_empty(),
        "{report}\n\noutside the floors or ceilings:\n  {}",
        failures.join("\n  ")
    );
}
