//! Data-driven audit cases: `tests/data/audit_cases.tsv`. Each row is a crafted report with the
//! flags it must raise (`expect`, optionally `flag:severity`) and the flags it must not raise
//! (`forbid`; `*` means no flag other than the expected ones). Every row is checked and all
//! failures are reported together.

use spinex::audit::{audit, FLAGS};
use spinex::{Pipeline, Report};
use std::collections::BTreeSet;
use std::path::Path;

struct Case {
    line: usize,
    id: String,
    text: String,
    expect: Vec<(String, Option<String>)>,
    /// `None` for `*`.
    forbid: Option<Vec<String>>,
}

fn list(s: &str) -> Vec<String> {
    match s.trim() {
        "-" | "" => Vec::new(),
        s => s.split(',').map(|x| x.trim().to_string()).collect(),
    }
}

fn read_cases(path: &Path) -> Vec<Case> {
    let data = std::fs::read_to_string(path).unwrap();
    let known: BTreeSet<&str> = FLAGS.iter().map(|f| f.id).collect();
    let mut out = Vec::new();
    let mut ids = BTreeSet::new();
    for (i, line) in data.lines().enumerate().skip(1) {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{}:{}", path.display(), i + 1);
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 5, "{at}: expected 5 tab-separated columns");
        assert!(ids.insert(f[0].to_string()), "{at}: duplicate case id");
        let expect: Vec<(String, Option<String>)> = list(f[2])
            .into_iter()
            .map(|x| match x.split_once(':') {
                Some((a, b)) => (a.to_string(), Some(b.to_string())),
                None => (x, None),
            })
            .collect();
        let forbid = (f[3].trim() != "*").then(|| list(f[3]));
        for name in expect.iter().map(|x| &x.0).chain(forbid.iter().flatten()) {
            assert!(known.contains(name.as_str()), "{at}: unknown flag {name:?}");
        }
        out.push(Case {
            line: i + 1,
            id: f[0].to_string(),
            text: f[1].replace("\\n", "\n"),
            expect,
            forbid,
        });
    }
    out
}

#[test]
fn audit_cases() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/audit_cases.tsv");
    let cases = read_cases(&path);
    assert!(cases.len() >= 30, "only {} cases", cases.len());
    let p = Pipeline::builtin();
    let mut failures = Vec::new();
    for c in &cases {
        let a = p.analyze(&Report::new(c.id.clone(), c.text.clone()));
        let got = audit(&c.text, &a, &p);
        let raised: Vec<String> = got
            .iter()
            .map(|f| format!("{}:{}", f.flag, f.severity))
            .collect();
        let mut problems = Vec::new();
        for (flag, sev) in &c.expect {
            match got.iter().find(|f| &f.flag == flag) {
                None => problems.push(format!("missing {flag}")),
                Some(f) if sev.as_deref().is_some_and(|s| s != f.severity.as_str()) => {
                    problems.push(format!("{flag} raised as {}", f.severity))
                }
                Some(f) if f.evidence.is_empty() => {
                    problems.push(format!("{flag} without evidence"))
                }
                _ => {}
            }
        }
        for f in &got {
            let forbidden = match &c.forbid {
                None => !c.expect.iter().any(|(e, _)| e == &f.flag),
                Some(list) => list.contains(&f.flag),
            };
            if forbidden {
                problems.push(format!("unexpected {}", f.flag));
            }
            if f.evidence.iter().any(|&e| e as usize >= a.mentions.len()) {
                problems.push(format!("{}: evidence out of range", f.flag));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}:{} {}: {} (raised: {})",
                path.display(),
                c.line,
                c.id,
                problems.join("; "),
                if raised.is_empty() {
                    "none".to_string()
                } else {
                    raised.join(", ")
                }
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} audit cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Every flag is shown firing by at least one case and shown not firing (forbidden, by name
/// or by `*`) by at least two.
#[test]
fn audit_cases_cover_every_flag() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/audit_cases.tsv");
    let cases = read_cases(&path);
    for f in FLAGS {
        let fires = cases
            .iter()
            .filter(|c| c.expect.iter().any(|e| e.0 == f.id))
            .count();
        let held = cases
            .iter()
            .filter(|c| {
                !c.expect.iter().any(|e| e.0 == f.id)
                    && c.forbid
                        .as_ref()
                        .map_or(true, |l| l.iter().any(|x| x == f.id))
            })
            .count();
        assert!(fires >= 1, "no case expects {}", f.id);
        assert!(held >= 2, "fewer than two cases forbid {}", f.id);
    }
}

/// Flags about a finding never fire when every mention of it is denied or hypothetical.
#[test]
fn denied_and_hypothetical_findings_raise_nothing() {
    let p = Pipeline::builtin();
    for text in [
        "FINDINGS: No compression fracture, retropulsion, spondylolisthesis or lytic lesion. Normal bone mineralization.\nIMPRESSION: Normal.",
        "INDICATION: Evaluate for compression fracture, retropulsion or metastasis.\nFINDINGS: Normal alignment.\nIMPRESSION: Negative.",
        "FINDINGS: If symptoms persist, MRI could exclude an occult fracture.\nIMPRESSION: No acute abnormality.",
    ] {
        let a = p.analyze(&Report::new("t", text));
        let got: Vec<String> = audit(text, &a, &p).into_iter().map(|f| f.flag).collect();
        assert!(got.is_empty(), "{text:?} raised {got:?}");
    }
}
