//! Lints on the shipped lexicons and on lexicon errors.

use spinex::lexicon::{Lexicons, BUILTIN_FILES};
use spinex::Pipeline;
use std::collections::HashSet;

#[test]
fn shipped_lexicons_load_and_compile() {
    let lx = Lexicons::from_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons"))
        .unwrap();
    assert!(lx.terms.len() > 200 && lx.context.len() > 100 && lx.modifiers.len() > 100);
    Pipeline::from_lexicons(lx).unwrap();
}

#[test]
fn no_duplicate_rows() {
    for (name, text) in BUILTIN_FILES {
        let mut seen = HashSet::new();
        for (i, line) in text.lines().enumerate() {
            if spinex::lexicon::is_comment(line) || line.trim().is_empty() {
                continue;
            }
            let key = spinex::text::fold_str(line.split('\t').next().unwrap());
            assert!(
                seen.insert(key.clone()),
                "lexicons/{name}:{}: duplicate term {key:?}",
                i + 1
            );
        }
    }
}

#[test]
fn every_concept_has_terms() {
    let lx = Lexicons::builtin();
    for (i, c) in lx.concepts.iter().enumerate() {
        assert!(
            lx.terms.iter().any(|t| t.concept.index() == i),
            "no terms for {c}"
        );
    }
}

fn broken(file: &str, text: &str) -> String {
    let dir = std::env::temp_dir().join(format!("spinex-lex-{}-{}", std::process::id(), file));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, t) in BUILTIN_FILES {
        std::fs::write(dir.join(name), if name == file { text } else { t }).unwrap();
    }
    let e = Lexicons::from_dir(&dir).unwrap_err().to_string();
    std::fs::remove_dir_all(&dir).ok();
    e
}

#[test]
fn errors_name_file_line_and_allowed_values() {
    let e = broken(
        "concepts.tsv",
        "term\tconcept\tanchor\tattrs\nfoo\tnot_a_concept\tintrinsic\t\n",
    );
    assert!(
        e.contains("concepts.tsv:2:") && e.contains("vertebral_fracture"),
        "{e}"
    );
    let e = broken(
        "context.tsv",
        "literal\tcategory\tdirection\tmax_scope\tconcepts\nno\tnegative\tforward\t0\t\n",
    );
    assert!(
        e.contains("context.tsv:2:") && e.contains("negated, uncertain"),
        "{e}"
    );
    let e = broken(
        "context.tsv",
        "literal\tcategory\tdirection\tmax_scope\tconcepts\nbut\tterminate\tforward\t0\t\n",
    );
    assert!(
        e.contains("context.tsv:2:") && e.contains("direction none"),
        "{e}"
    );
    let e = broken(
        "modifiers.tsv",
        "term\tkind\tvalue\nmild\tseverity\tsmall\n",
    );
    assert!(
        e.contains("modifiers.tsv:2:") && e.contains("mild, moderate, severe"),
        "{e}"
    );
    let e = broken("sections.tsv", "wrong header\n");
    assert!(e.contains("sections.tsv:1:") && e.contains("header"), "{e}");
}
