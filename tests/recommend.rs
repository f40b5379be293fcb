//! The recommendation engine on hand-built analyses: the five seed scenarios, the table of
//! patient-context variations (`tests/data/recommend_cases.tsv`), the rule-file lint and the
//! properties every output keeps.

use proptest::prelude::*;
use spinex::recommend::{RuleSet, CONTRACT_ACTIONS};
use spinex::*;
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// The shipped rules, read once for the whole test binary.
fn rules() -> &'static RuleSet {
    static RULES: OnceLock<RuleSet> = OnceLock::new();
    RULES.get_or_init(RuleSet::builtin)
}

// ---------------------------------------------------------------------------------------------
// Building analyses by hand.
// ---------------------------------------------------------------------------------------------

/// One mention to put in a hand-built report.
#[derive(Debug, Clone)]
struct Spec {
    concept: ConceptId,
    kind: Kind,
    attrs: Attributes,
    /// Words written before the concept name in the mention's sentence (for text cues).
    words: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Present,
    Uncertain,
    Absent,
    Hypothetical,
    Historical,
}

fn concept_id(name: &str) -> ConceptId {
    let i = BUILTIN_CONCEPTS
        .iter()
        .position(|c| *c == name)
        .unwrap_or_else(|| panic!("concept {name}"));
    ConceptId(i as u16)
}

/// Builds an analysis whose text is the concept names, one sentence each, with report-level
/// results derived as the contract says (present > uncertain > absent; hypothetical and
/// historical mentions do not count).
fn build(specs: &[Spec]) -> (Analysis, String) {
    build_with(specs, &[])
}

/// As [`build`], each mention's sentence led by its `words`, then `extra` sentences that hold
/// no mention.
fn build_with(specs: &[Spec], extra: &[String]) -> (Analysis, String) {
    let mut text = String::from("FINDINGS: ");
    let mut a = Analysis {
        report_id: "case".into(),
        concepts: vec![ConceptResult::default(); BUILTIN_CONCEPTS.len()],
        ..Analysis::default()
    };
    for (n, s) in specs.iter().enumerate() {
        if !s.words.is_empty() {
            text.push_str(&s.words);
            text.push(' ');
        }
        let start = text.len();
        text.push_str(BUILTIN_CONCEPTS[s.concept.index()]);
        let span = Span::new(start, text.len());
        text.push_str(". ");
        let flag = Some(Span::new(start, start));
        a.mentions.push(Mention {
            concept: s.concept,
            span,
            section: SectionKind::Findings,
            sentence: n as u32,
            term: 0,
            negated: (s.kind == Kind::Absent).then_some(flag).flatten(),
            uncertain: (s.kind == Kind::Uncertain).then_some(flag).flatten(),
            historical: (s.kind == Kind::Historical).then_some(flag).flatten(),
            hypothetical: (s.kind == Kind::Hypothetical).then_some(flag).flatten(),
            attrs: s.attrs,
        });
    }
    for e in extra {
        text.push_str(e);
        text.push_str(". ");
    }
    for (i, c) in a.concepts.iter_mut().enumerate() {
        let ms: Vec<&Mention> = a
            .mentions
            .iter()
            .filter(|m| m.concept.index() == i)
            .collect();
        let status = if ms.iter().any(|m| m.affirmed()) {
            Some(Status::Present)
        } else if ms.iter().any(|m| m.counts() && m.negated.is_none()) {
            Some(Status::Uncertain)
        } else if ms.iter().any(|m| m.counts()) {
            Some(Status::Absent)
        } else {
            None
        };
        c.status = status;
        let setting = ms.iter().filter(|m| match status {
            Some(Status::Present) => m.affirmed(),
            Some(Status::Uncertain) => m.counts() && m.negated.is_none(),
            Some(Status::Absent) => m.counts(),
            None => false,
        });
        for m in setting {
            c.levels = c.levels.union(m.attrs.levels);
            c.severity = c.severity.max(m.attrs.severity);
            c.acuity = match (c.acuity, m.attrs.acuity) {
                (None, x) | (x, None) => x,
                (Some(x), Some(y)) => Some(if acuity_rank(y) > acuity_rank(x) {
                    y
                } else {
                    x
                }),
            };
        }
    }
    (a, text)
}

fn acuity_rank(a: Acuity) -> u8 {
    match a {
        Acuity::Chronic => 0,
        Acuity::Indeterminate => 1,
        Acuity::Subacute => 2,
        Acuity::Acute => 3,
    }
}

fn levels(s: &str) -> Levels {
    let mut l = Levels::EMPTY;
    for part in s.split('+') {
        let ends: Vec<&str> = part.split('-').collect();
        let idx = |v: &str| Levels::index_of(v).unwrap_or_else(|| panic!("level {v}"));
        match ends.as_slice() {
            [one] => l.insert(idx(one)),
            [a, b] => l.insert_range(idx(a), idx(b)),
            _ => panic!("levels {s}"),
        }
    }
    l
}

/// Parses `concept=status[attr=value,...]`; `words=a_b_c` puts "a b c" before the concept name.
fn spec(item: &str) -> Spec {
    let (head, attrs) = match item.split_once('[') {
        Some((h, rest)) => (h, rest.strip_suffix(']').expect("closing ]")),
        None => (item, ""),
    };
    let (concept, status) = head.split_once('=').expect("concept=status");
    let kind = match status {
        "present" => Kind::Present,
        "uncertain" => Kind::Uncertain,
        "absent" => Kind::Absent,
        "hypothetical" => Kind::Hypothetical,
        "historical" => Kind::Historical,
        other => panic!("status {other}"),
    };
    let mut a = Attributes::default();
    let mut words = String::new();
    for kv in attrs.split(',').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').expect("attr=value");
        match k {
            "words" => words = v.replace('_', " "),
            "levels" => a.levels = levels(v),
            "acuity" => a.acuity = Some(Acuity::parse(v).expect("acuity")),
            "severity" => a.severity = Some(Severity::parse(v).expect("severity")),
            "genant" => a.genant_grade = Some(v.parse().unwrap()),
            "height" => a.height_loss_pct = Some(v.parse().unwrap()),
            "meyerding" => a.meyerding_grade = Some(v.parse().unwrap()),
            "slip" => a.slip_mm = Some(v.parse().unwrap()),
            "cobb" => a.cobb_degrees = Some(v.parse().unwrap()),
            "dir" => a.direction = Some(Direction::parse(v).expect("direction")),
            other => panic!("attribute {other}"),
        }
    }
    Spec {
        concept: concept_id(concept),
        kind,
        attrs: a,
        words,
    }
}

/// The seed articles' findings, as a radiologist would state them.
fn seed_findings(n: &str) -> &'static str {
    match n {
        // Thoracic degenerative change, generalized osteopenia, aligned, no acute fracture.
        "000" => "degenerative_changes=present[levels=T4-T10] demineralization=present malalignment=absent vertebral_fracture=absent",
        // Osteopenia of the spine.
        "001" => "demineralization=present",
        // No acute fracture or significant listhesis; mild T12 compression deformity without
        // retropulsion; moderate demineralization; multilevel degenerative change.
        "002" => "vertebral_fracture=absent vertebral_fracture=present[levels=T12,severity=mild] retropulsion=absent spondylolisthesis=absent demineralization=present[severity=moderate] degenerative_changes=present",
        // Mild dextroscoliosis, L4 anterolisthesis, disc narrowing and facet hypertrophy, mildly
        // decreased mineralization.
        "003" => "scoliosis=present[dir=dextro,severity=mild] spondylolisthesis=present[levels=L4,dir=anterior] degenerative_changes=present[levels=L1-S1] demineralization=present[severity=mild]",
        // Osteopenia with a compression fracture (atraumatic: given in the patient context).
        "004" => "demineralization=present vertebral_fracture=present[levels=L1]",
        other => panic!("seed {other}"),
    }
}

/// The mentions of a findings cell, and its `text:a_b_c` items as sentences of their own.
fn findings(s: &str) -> (Vec<Spec>, Vec<String>) {
    let mut out = Vec::new();
    let mut extra = Vec::new();
    for item in s.split_whitespace() {
        if let Some(n) = item.strip_prefix('$') {
            out.extend(findings(seed_findings(n)).0);
        } else if let Some(t) = item.strip_prefix("text:") {
            extra.push(t.replace('_', " "));
        } else {
            out.push(spec(item));
        }
    }
    (out, extra)
}

fn patient(s: &str) -> PatientContext {
    let mut p = PatientContext::default();
    if s != "-" {
        for kv in s.split(',') {
            let (k, v) = kv.split_once('=').expect("field=value");
            assert!(
                p.set(k, v).expect("patient value"),
                "unknown patient field {k}"
            );
        }
    }
    p
}

/// Builds the analysis for a findings cell and applies the rules, reading its text.
fn run(findings_text: &str, patient_text: &str) -> (Analysis, String, PatientContext) {
    let (specs, extra) = findings(findings_text);
    let (mut a, text) = build_with(&specs, &extra);
    let p = patient(patient_text);
    rules().apply_with_text(&mut a, &p, &text);
    (a, text, p)
}

fn rec<'a>(a: &'a Analysis, action: &str) -> Option<&'a Recommendation> {
    a.recommendations.iter().find(|r| r.action == action)
}

fn actions(a: &Analysis) -> Vec<&str> {
    a.recommendations
        .iter()
        .map(|r| r.action.as_str())
        .collect()
}

/// Checks every row carries a rule, a rationale, a source and evidence from mentions that
/// count and are not negated.
fn rows_are_complete(a: &Analysis, seed: &str) {
    let rs = rules();
    for r in &a.recommendations {
        assert!(
            rs.rule(&r.rule).is_some(),
            "{}: unknown rule {}",
            r.action,
            r.rule
        );
        assert!(r.rationale.len() > 40, "{}: rationale too short", r.action);
        assert!(
            r.source.contains("seed 00"),
            "{}: source {}",
            r.action,
            r.source
        );
        assert!(
            !r.evidence.is_empty() || rs.rule(&r.rule).unwrap().is_patient_only(),
            "{}: no evidence",
            r.action
        );
        for &e in &r.evidence {
            let m = &a.mentions[e as usize];
            assert!(
                m.counts() && m.negated.is_none(),
                "{}: evidence #{e} does not count",
                r.action
            );
        }
        assert_eq!(
            r.strength == Strength::Conditional,
            r.condition.is_some(),
            "{}",
            r.action
        );
    }
    assert!(
        a.recommendations
            .iter()
            .any(|r| r.source.contains(&format!("seed {seed}"))),
        "no row cites seed {seed}"
    );
}

// ---------------------------------------------------------------------------------------------
// The five seed scenarios.
// ---------------------------------------------------------------------------------------------

#[test]
fn seed_000_degeneration_with_osteopenia_is_conservative() {
    let (a, _, _) = run("$000", "-");
    rows_are_complete(&a, "000");
    for (action, strength) in [
        ("conservative_management", Strength::Recommended),
        ("reassess_followup", Strength::Recommended),
        ("calcium_vitamin_d", Strength::Recommended),
        ("weight_bearing_exercise", Strength::Recommended),
        ("dxa", Strength::Recommended),
        ("fracture_risk_assessment", Strength::Recommended),
        (
            "pharmacologic_osteoporosis_treatment",
            Strength::Conditional,
        ),
        ("avoid_routine_imaging", Strength::Conditional),
    ] {
        let r = rec(&a, action).unwrap_or_else(|| panic!("{action} missing: {:?}", actions(&a)));
        assert_eq!(r.strength, strength, "{action}");
    }
    // No imaging without red flags; MRI is named as the study if they appear.
    let avoid = rec(&a, "avoid_routine_imaging").unwrap();
    let cond = avoid.condition.as_deref().unwrap();
    assert!(
        cond.contains("neurologic examination") && cond.contains("MRI without contrast"),
        "{cond}"
    );
    assert!(rec(&a, "reassess_followup")
        .unwrap()
        .rationale
        .contains("4-6 weeks"));
    for forbidden in [
        "mri_without_contrast",
        "mri_with_and_without_contrast",
        "spine_surgery_referral",
    ] {
        assert!(
            rec(&a, forbidden).is_none(),
            "{forbidden} for degeneration and osteopenia alone"
        );
    }
    // The evidence of the conservative row is the degenerative mention, not the negated ones.
    let e = &rec(&a, "conservative_management").unwrap().evidence;
    assert_eq!(e, &vec![0]);
}

#[test]
fn seed_001_osteopenia_supplements_frax_and_treatment_thresholds() {
    let (a, _, _) = run("$001", "-");
    rows_are_complete(&a, "001");
    let cal = rec(&a, "calcium_vitamin_d").unwrap();
    assert!(cal.rationale.contains("1000-1200 mg") && cal.rationale.contains("600-800 IU"));
    assert!(rec(&a, "fracture_risk_assessment").is_some());
    assert!(rec(&a, "secondary_cause_workup").is_some());
    let t = rec(&a, "pharmacologic_osteoporosis_treatment").unwrap();
    assert_eq!(t.strength, Strength::Conditional);
    let c = t.condition.as_deref().unwrap();
    for part in ["DXA T-score", "20%", "3%", "fragility"] {
        assert!(c.contains(part), "{part} missing from {c}");
    }
    for drug in ["alendronate", "risedronate", "ibandronate", "denosumab"] {
        assert!(t.rationale.contains(drug), "{drug}");
    }
    let repeat = rec(&a, "repeat_dxa").unwrap();
    assert!(repeat.condition.as_deref().unwrap().contains("2-3 years"));

    // Criteria met by each threshold in turn.
    for p in [
        "frax_major=20",
        "frax_hip=3",
        "t_score=-2.5",
        "fragility_fracture_history=yes",
    ] {
        let (a, _, _) = run("$001", p);
        let t = rec(&a, "pharmacologic_osteoporosis_treatment").expect(p);
        assert_eq!(t.strength, Strength::Recommended, "{p}");
    }
}

#[test]
fn seed_002_t12_deformity_gets_mri_dxa_and_bone_treatment_not_augmentation() {
    let (a, text, p) = run("$002", "-");
    rows_are_complete(&a, "002");
    let mri = rec(&a, "mri_without_contrast").expect("MRI to date the deformity");
    assert_eq!(
        (mri.strength, mri.rule.as_str()),
        (Strength::Recommended, "fracture.mri_undated")
    );
    assert!(mri.rationale.contains("STIR"));
    // The evidence is the affirmed T12 mention (index 1), not "no acute fracture" (index 0).
    assert_eq!(mri.evidence, vec![1]);
    assert_eq!(rec(&a, "dxa").unwrap().strength, Strength::Recommended);
    assert_eq!(
        rec(&a, "calcium_vitamin_d").unwrap().strength,
        Strength::Recommended
    );
    assert_eq!(
        rec(&a, "secondary_cause_workup").unwrap().strength,
        Strength::Recommended
    );
    let t = rec(&a, "pharmacologic_osteoporosis_treatment").unwrap();
    assert_eq!(t.strength, Strength::Conditional);
    assert!(t.condition.as_deref().unwrap().contains("-2.5"));
    assert!(rec(&a, "avoid_routine_imaging").is_none());
    assert!(
        rec(&a, "mri_with_and_without_contrast").is_none(),
        "no contrast to date a fracture"
    );
    assert!(a
        .cautions
        .iter()
        .any(|c| c.id == "no_augmentation_on_radiographs"));

    // With a T-score of -2.7 the treatment becomes recommended and no new DXA is asked for.
    let (b, _, _) = run("$002", "t_score=-2.7");
    assert_eq!(
        rec(&b, "pharmacologic_osteoporosis_treatment")
            .unwrap()
            .strength,
        Strength::Recommended
    );
    assert!(rec(&b, "dxa").is_none());

    // `explain` quotes the evidence and names every rule behind an action.
    let x = rules().explain(&a, &p, &text);
    assert!(
        x.contains("mri_without_contrast — recommended (routine)"),
        "{x}"
    );
    assert!(x.contains("rule fracture.mri_undated"), "{x}");
    assert!(x.contains("\"vertebral_fracture\""), "{x}");
    assert!(x.contains("also fracture.fragility_treatment"), "{x}");
}

#[test]
fn seed_003_listhesis_with_low_mineralization_gets_contrast_mri() {
    let (a, _, _) = run("$003", "-");
    rows_are_complete(&a, "003");
    let mri = rec(&a, "mri_with_and_without_contrast").expect("seed-003 MRI");
    assert_eq!(
        (mri.strength, mri.urgency),
        (Strength::Recommended, Urgency::Routine)
    );
    assert!(rec(&a, "mri_without_contrast").is_none());
    assert!(rec(&a, "dxa").is_some() && rec(&a, "fracture_risk_assessment").is_some());
    let c = rec(&a, "conservative_management").unwrap();
    assert_eq!(c.strength, Strength::Recommended);
    let surgery = rec(&a, "spine_surgery_referral").unwrap();
    assert_eq!(surgery.strength, Strength::Conditional);
    assert!(surgery
        .condition
        .as_deref()
        .unwrap()
        .contains("instability"));
    assert!(rec(&a, "avoid_routine_imaging").is_none());
}

#[test]
fn seed_004_atraumatic_fracture_is_managed_medically_and_treated() {
    let (a, _, _) = run("$004", "high_energy_trauma=no");
    rows_are_complete(&a, "004");
    for action in [
        "conservative_management",
        "pharmacologic_osteoporosis_treatment",
        "calcium_vitamin_d",
        "reassess_followup",
        "mri_without_contrast",
    ] {
        let r = rec(&a, action).unwrap_or_else(|| panic!("{action}: {:?}", actions(&a)));
        assert_eq!(r.strength, Strength::Recommended, "{action}");
    }
    let c = rec(&a, "conservative_management").unwrap();
    assert_eq!(c.rule, "fracture.medical_management");
    for part in ["3 months", "calcitonin", "4 weeks", "brace", "mobilization"] {
        assert!(c.rationale.contains(part), "{part}");
    }
    assert!(
        rec(&a, "spine_surgery_referral").is_none(),
        "no surgery without instability or deficit"
    );
    assert!(a
        .cautions
        .iter()
        .any(|c| c.id == "no_augmentation_on_radiographs"));
    assert!(a
        .cautions
        .iter()
        .any(|c| c.id == "avoid_prolonged_immobilization"));
}

// ---------------------------------------------------------------------------------------------
// The case table.
// ---------------------------------------------------------------------------------------------

#[test]
fn case_table() {
    let data = include_str!("data/recommend_cases.tsv");
    let mut failures = Vec::new();
    let mut cases = 0;
    let mut ids = BTreeSet::new();
    for (n, line) in data.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() || line.starts_with("id\t") {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 6, "line {}: expected 6 columns", n + 1);
        let [id, f, p, expect, forbid, cautions] =
            [cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]];
        assert!(ids.insert(id), "duplicate case {id}");
        cases += 1;
        let (a, _, _) = run(f, p);
        let got = actions(&a);
        let mut fail =
            |msg: String| failures.push(format!("line {} {id}: {msg} (got {got:?})", n + 1));
        if expect == "none" {
            if !a.recommendations.is_empty() || !a.cautions.is_empty() {
                fail("expected no action and no caution".into());
            }
        } else if expect != "-" {
            for e in expect.split_whitespace() {
                let (action, want) = e.split_once('=').unwrap_or((e, ""));
                let Some(r) = rec(&a, action) else {
                    fail(format!("missing {action}"));
                    continue;
                };
                let (ws, wu) = want.split_once('/').unwrap_or((want, ""));
                if !ws.is_empty() && r.strength.as_str() != ws {
                    fail(format!("{action}: strength {} not {ws}", r.strength));
                }
                if !wu.is_empty() && r.urgency.as_str() != wu {
                    fail(format!("{action}: urgency {} not {wu}", r.urgency));
                }
            }
        }
        for action in forbid.split_whitespace().filter(|s| *s != "-") {
            if rec(&a, action).is_some() {
                fail(format!("forbidden {action}"));
            }
        }
        for c in cautions.split_whitespace().filter(|s| *s != "-") {
            if !a.cautions.iter().any(|x| x.id == c) {
                let got: Vec<&str> = a.cautions.iter().map(|c| c.id.as_str()).collect();
                fail(format!("missing caution {c} (cautions {got:?})"));
            }
        }
    }
    assert!(cases >= 50, "only {cases} cases");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Lint of the shipped rule file and its documentation.
// ---------------------------------------------------------------------------------------------

#[test]
fn lint_rule_file() {
    let rs = rules();
    let defined: Vec<&str> = rs.actions().iter().map(|a| a.id.as_str()).collect();
    for id in CONTRACT_ACTIONS {
        assert!(defined.contains(&id), "contract action {id} is not defined");
    }
    let mut used_actions = BTreeSet::new();
    let mut used_cautions = BTreeSet::new();
    for r in rs.rules() {
        for a in rs.actions_of(r) {
            assert!(defined.contains(&a));
            used_actions.insert(a);
        }
        used_cautions.extend(rs.cautions_of(r));
        for c in rs.concepts_of(r) {
            assert!(
                c.is_builtin(),
                "rule {} names a concept that does not exist",
                r.id()
            );
        }
        assert!(
            r.source().starts_with("seed 00"),
            "rule {} has no seed source",
            r.id()
        );
        assert!(
            r.source().contains("citing"),
            "rule {} cites no guideline or study",
            r.id()
        );
        let d = rs.describe_rule(r.id()).unwrap();
        assert!(d.contains(r.title()) && d.contains("Rationale") && d.contains("Source"));
    }
    for a in &defined {
        assert!(
            used_actions.contains(a),
            "action {a} is defined but no rule emits it"
        );
    }
    for c in rs.cautions() {
        assert!(
            used_cautions.contains(c.id.as_str()),
            "caution {} is never raised",
            c.id
        );
    }
    // Every seed article is the source of at least one rule.
    for s in rs.seeds() {
        let tag = format!("seed {} (", s.id);
        assert!(
            rs.rules().iter().any(|r| r.source().contains(&tag)),
            "seed {} unused",
            s.id
        );
    }
}

#[test]
fn rules_md_documents_every_rule_action_and_caution() {
    let doc = include_str!("../lexicons/RULES.md");
    let rs = rules();
    for r in rs.rules() {
        assert!(
            doc.contains(&format!("`{}`", r.id())),
            "RULES.md does not document rule {}",
            r.id()
        );
    }
    for a in rs.actions() {
        assert!(
            doc.contains(&format!("`{}`", a.id)),
            "RULES.md does not document action {}",
            a.id
        );
    }
    for c in rs.cautions() {
        assert!(
            doc.contains(&format!("`{}`", c.id)),
            "RULES.md does not document caution {}",
            c.id
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------------------------

fn arb_kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Present),
        Just(Kind::Uncertain),
        Just(Kind::Absent),
        Just(Kind::Hypothetical),
        Just(Kind::Historical),
    ]
}

fn arb_attrs() -> impl Strategy<Value = Attributes> {
    (
        0u32..(1 << 29),
        prop::option::of(prop::sample::select(Acuity::ALL.to_vec())),
        prop::option::of(prop::sample::select(Severity::ALL.to_vec())),
        prop::option::of(1u8..=3),
    )
        .prop_map(|(lv, acuity, severity, genant)| Attributes {
            levels: Levels(lv & 0x0F_0000 | lv & 0x3F), // a few thoracolumbar and cervical levels
            acuity,
            severity,
            genant_grade: genant,
            ..Attributes::default()
        })
}

fn arb_specs(kind: BoxedStrategy<Kind>) -> impl Strategy<Value = Vec<Spec>> {
    prop::collection::vec(
        (0u16..11, kind, arb_attrs(), arb_words()).prop_map(|(c, kind, attrs, words)| Spec {
            concept: ConceptId(c),
            kind,
            attrs,
            words,
        }),
        0..8,
    )
}

/// Words before a mention: none, or a text cue, plain or denied.
fn arb_words() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "",
        "",
        "",
        "unstable",
        "without instability",
        "typical hemangioma",
        "bone island versus metastasis",
        "concern for myelopathy",
        "no myelopathy",
        "radicular pain",
        "MRI recommended",
        "if pain persists MRI could be considered",
    ])
    .prop_map(str::to_string)
}

fn arb_bool() -> impl Strategy<Value = Option<bool>> {
    prop::option::of(any::<bool>())
}

fn arb_patient() -> impl Strategy<Value = PatientContext> {
    (
        prop::option::of(-4.0f32..1.0),
        prop::option::of(1.0f32..40.0),
        prop::option::of(0.1f32..10.0),
        (arb_bool(), arb_bool(), arb_bool(), arb_bool(), arb_bool()),
    )
        .prop_map(|(t, major, hip, (nd, ca, gc, ff, het))| PatientContext {
            t_score: t,
            frax_major: major,
            frax_hip: hip,
            neuro_deficit: nd,
            cancer_history: ca,
            glucocorticoids: gc,
            fragility_fracture_history: ff,
            high_energy_trauma: het,
            ..PatientContext::default()
        })
}

/// The words before a mention in its sentence of a hand-built report.
fn lead_words<'t>(text: &'t str, m: &Mention) -> &'t str {
    let before = &text[..m.span.start];
    let from = before.rfind(". ").map_or(0, |i| i + 2);
    before[from..].trim_start_matches("FINDINGS: ").trim_end()
}

fn active(a: &Analysis, c: ConceptId) -> bool {
    matches!(a.status(c), Some(Status::Present | Status::Uncertain))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Negated, hypothetical and historical findings never produce an action or a caution,
    /// whatever the patient context and the words around them: the only rows such a report
    /// gets come from rules on the patient context alone, exactly as a report with no finding
    /// at all would, and with no evidence mention. Without bone data (T-score, FRAX, prior
    /// fragility fracture) there is no row at all.
    #[test]
    fn no_action_without_a_stated_finding(
        specs in arb_specs(prop_oneof![Just(Kind::Absent), Just(Kind::Hypothetical), Just(Kind::Historical)].boxed()),
        p in arb_patient(),
    ) {
        let rs = rules();
        let (mut a, text) = build(&specs);
        rs.apply_with_text(&mut a, &p, &text);
        let (mut empty, empty_text) = build(&[]);
        rs.apply_with_text(&mut empty, &p, &empty_text);
        prop_assert_eq!(actions(&a), actions(&empty));
        let ids = |a: &Analysis| a.cautions.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        prop_assert_eq!(ids(&a), ids(&empty));
        for r in &a.recommendations {
            prop_assert!(r.evidence.is_empty(), "{} rests on a mention", r.action);
            prop_assert!(rs.rule(&r.rule).unwrap().is_patient_only(), "{} from {}", r.action, r.rule);
        }
        for c in &a.cautions {
            prop_assert!(c.evidence.is_empty(), "caution {} rests on a mention", c.id);
        }
        let bone_data = p.t_score.is_some()
            || p.frax_major.is_some()
            || p.frax_hip.is_some()
            || p.fragility_fracture_history == Some(true);
        if !bone_data {
            prop_assert!(a.recommendations.is_empty(), "{:?}", actions(&a));
            prop_assert!(a.cautions.is_empty());
        }
    }

    /// The forbidden combinations never appear, and the rows are well formed.
    #[test]
    fn outputs_keep_their_invariants(specs in arb_specs(arb_kind().boxed()), p in arb_patient()) {
        let (mut a, text) = build(&specs);
        let rs = rules();
        rs.apply_with_text(&mut a, &p, &text);
        let got = actions(&a);
        let set: BTreeSet<&str> = got.iter().copied().collect();
        prop_assert_eq!(set.len(), got.len(), "one row per action");
        let order: Vec<&str> = rs.actions().iter().map(|d| d.id.as_str()).filter(|d| set.contains(d)).collect();
        prop_assert_eq!(&order, &got, "rows follow the action table");

        let red = [
            ConceptId::VERTEBRAL_FRACTURE,
            ConceptId::RETROPULSION,
            ConceptId::OSSEOUS_LESION,
            ConceptId::SPONDYLOLISTHESIS,
            ConceptId::SPONDYLOLYSIS,
            ConceptId::MALALIGNMENT,
        ];
        // A listhesis only hedged is read as part of the degenerative change; a lesion every
        // mention of which the report calls benign is no red flag.
        let suspicious_lesion = a.mentions.iter().any(|m| {
            m.concept == ConceptId::OSSEOUS_LESION
                && m.counts()
                && m.negated.is_none()
                && lead_words(&text, m) != "typical hemangioma"
        });
        let red_flag = red.iter().any(|&c| match c {
            ConceptId::SPONDYLOLISTHESIS => a.status(c) == Some(Status::Present),
            ConceptId::OSSEOUS_LESION => active(&a, c) && suspicious_lesion,
            _ => active(&a, c),
        });
        // Words that raise a red flag (myelopathy, radiculopathy) or advise imaging now; their
        // denied or conditional forms ("no myelopathy", "if pain persists") do not.
        let lead = |w: &[&str]| a.mentions.iter().any(|m| w.contains(&lead_words(&text, m)));
        let symptom_flag = lead(&["concern for myelopathy", "radicular pain"]);
        let text_flag = symptom_flag || lead(&["MRI recommended"]);
        if red_flag || text_flag || p.neuro_deficit == Some(true) {
            prop_assert!(!set.contains("avoid_routine_imaging"), "avoid imaging beside a red flag");
        }
        let imaging = ["mri_without_contrast", "mri_with_and_without_contrast"];
        if imaging.iter().any(|i| set.contains(i)) {
            prop_assert!(!set.contains("avoid_routine_imaging"));
        }
        // Degenerative change, demineralization, curves, hardware, a hedged listhesis and a
        // lesion called benign never lead to MRI, unless there is a neurologic deficit or the
        // report raises myelopathy or radiculopathy.
        if !red_flag && !symptom_flag && p.neuro_deficit != Some(true) {
            for i in imaging {
                prop_assert!(!set.contains(i), "{} without a red flag: {:?}", i, got);
            }
        }
        // High-energy trauma takes a fracture off the fragility pathway and is a red flag.
        if p.high_energy_trauma == Some(true) {
            prop_assert!(!set.contains("fall_prevention"));
            prop_assert!(!set.contains("avoid_routine_imaging"));
        }
        for r in &a.recommendations {
            prop_assert!(!r.rationale.is_empty() && !r.source.is_empty());
            prop_assert_eq!(r.strength == Strength::Conditional, r.condition.is_some());
            for &e in &r.evidence {
                let m = &a.mentions[e as usize];
                prop_assert!(m.counts() && m.negated.is_none());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// End to end: reports written for the seed scenarios, read by the pipeline, then the rules.
// ---------------------------------------------------------------------------------------------

#[test]
fn seed_scenarios_through_the_pipeline() {
    let pipeline = Pipeline::builtin();
    // (report text, patient context, required actions, forbidden actions)
    let cases: [(&str, &str, &str, &str); 14] = [
        (
            "EXAM: Thoracic spine, two views.\nFINDINGS: Vertebral bodies are aligned. No acute \
             fracture or dislocation. Degenerative disc changes with small anterior osteophytes \
             in the midthoracic spine. Bones are diffusely osteopenic.\nIMPRESSION: Thoracic \
             spondylosis and generalized osteopenia. No acute fracture.",
            "-",
            "conservative_management avoid_routine_imaging calcium_vitamin_d weight_bearing_exercise dxa fracture_risk_assessment pharmacologic_osteoporosis_treatment reassess_followup",
            "mri_without_contrast mri_with_and_without_contrast",
        ),
        (
            "FINDINGS: Osteopenia of the lumbar spine. Alignment is normal.\nIMPRESSION: Osteopenia.",
            "-",
            "calcium_vitamin_d fracture_risk_assessment pharmacologic_osteoporosis_treatment secondary_cause_workup repeat_dxa",
            "mri_without_contrast mri_with_and_without_contrast",
        ),
        (
            "EXAM: Thoracic and lumbosacral spine.\nFINDINGS: No acute fracture. No significant \
             spondylolisthesis. Mild compression deformity of T12 without retropulsion. Moderate \
             demineralization of the bones. Multilevel degenerative changes.\nIMPRESSION: Mild \
             T12 compression deformity. Moderate demineralization. Multilevel degenerative change.",
            "-",
            "mri_without_contrast dxa calcium_vitamin_d pharmacologic_osteoporosis_treatment secondary_cause_workup",
            "avoid_routine_imaging mri_with_and_without_contrast",
        ),
        (
            "FINDINGS: Mild dextroscoliosis of the lumbar spine. Grade 1 anterolisthesis of L4 on \
             L5. Diffuse disc space narrowing and multilevel facet hypertrophy. Mildly decreased \
             bone mineralization.\nIMPRESSION: Degenerative changes with L4 anterolisthesis.",
            "-",
            "mri_with_and_without_contrast dxa fracture_risk_assessment conservative_management spine_surgery_referral",
            "avoid_routine_imaging",
        ),
        (
            "FINDINGS: Osteopenia. Compression fracture of L1 with 30% loss of height.\n\
             IMPRESSION: L1 compression fracture.",
            "high_energy_trauma=no",
            "conservative_management pharmacologic_osteoporosis_treatment calcium_vitamin_d mri_without_contrast",
            "avoid_routine_imaging spine_surgery_referral",
        ),
        (
            "FINDINGS: No fracture. No spondylolisthesis. No osteopenia. Normal alignment.\n\
             IMPRESSION: Negative lumbar spine.",
            "neuro_deficit=yes,cancer_history=yes",
            "",
            "*",
        ),
        (
            "INDICATION: Back pain, evaluate for compression fracture.\nFINDINGS: No compression \
             fracture.\nIMPRESSION: Negative.",
            "-",
            "",
            "*",
        ),
        // The report calls the fracture unstable: surgery now, not conservative care.
        (
            "FINDINGS: Flowing anterior ossification bridges the lower thoracic spine. A \
             transverse fracture crosses the T11 vertebral body and the posterior elements.\n\
             IMPRESSION: Acute T11 fracture through all three columns of an ankylosed spine, an \
             unstable pattern.",
            "high_energy_trauma=no",
            "spine_surgery_referral mri_without_contrast",
            "conservative_management avoid_routine_imaging",
        ),
        // A lesion the report calls benign gets no contrast MRI or work-up.
        (
            "FINDINGS: Coarse vertical trabeculation of the L3 vertebral body, typical of a \
             hemangioma. Mild lumbar spondylosis.\nIMPRESSION: Benign L3 hemangioma. Mild \
             spondylosis.",
            "cancer_history=no,neuro_deficit=no",
            "conservative_management avoid_routine_imaging",
            "mri_with_and_without_contrast malignancy_workup mri_without_contrast",
        ),
        // The report raises myelopathy: MRI, never "avoid imaging".
        (
            "HISTORY: Neck pain and unsteady gait.\nFINDINGS: Severe disc space narrowing at \
             C5-C6 and C6-C7 with posterior osteophytes.\nIMPRESSION: Severe C5-C7 spondylosis. \
             Given the concern for cervical myelopathy, MRI is advised.",
            "-",
            "mri_without_contrast conservative_management",
            "avoid_routine_imaging mri_with_and_without_contrast",
        ),
        // Radiculopathy raised on a radiograph: MRI; the same story on an MRI: no further MRI.
        (
            "EXAM: Lumbar spine, three views.\nCLINICAL HISTORY: Left L5 radiculopathy.\n\
             FINDINGS: Disc space narrowing at L4-L5 with anterior osteophytes.\nIMPRESSION: \
             L4-L5 degenerative disc disease.",
            "-",
            "mri_without_contrast conservative_management",
            "avoid_routine_imaging mri_with_and_without_contrast",
        ),
        (
            "MRI LUMBAR SPINE WITHOUT CONTRAST\nCLINICAL HISTORY: Left L5 radiculopathy.\n\
             FINDINGS: Disc desiccation and height loss at L4-L5 with a broad disc bulge. Mild \
             facet arthropathy at L4-L5.\nIMPRESSION: L4-L5 degenerative disc disease.",
            "-",
            "conservative_management",
            "mri_without_contrast mri_with_and_without_contrast",
        ),
        // Imaging kept for later does not hold back the advice against routine imaging.
        (
            "FINDINGS: Mild multilevel disc space narrowing of the lumbar spine. No fracture.\n\
             IMPRESSION: Mild lumbar spondylosis. If pain persists, MRI could be considered.",
            "neuro_deficit=no,cancer_history=no,high_energy_trauma=no",
            "conservative_management avoid_routine_imaging",
            "mri_without_contrast mri_with_and_without_contrast",
        ),
        // Nothing on the film, but the patient context meets a treatment threshold.
        (
            "FINDINGS: Clear lungs. Normal heart size.\nIMPRESSION: No acute disease.",
            "t_score=-2.8",
            "pharmacologic_osteoporosis_treatment calcium_vitamin_d secondary_cause_workup",
            "mri_without_contrast mri_with_and_without_contrast spine_surgery_referral malignancy_workup dxa",
        ),
    ];
    let mut failures = Vec::new();
    for (n, (text, p, required, forbidden)) in cases.iter().enumerate() {
        let mut report = Report::new(format!("e2e-{n}"), *text);
        report.patient = patient(p);
        let mut a = pipeline.analyze(&report);
        rules().apply_with_text(&mut a, &report.patient, &report.text);
        let got = actions(&a);
        for r in required.split_whitespace() {
            if !got.contains(&r) {
                failures.push(format!("case {n}: missing {r} (got {got:?})"));
            }
        }
        if *forbidden == "*" {
            if !got.is_empty() {
                failures.push(format!("case {n}: expected no action (got {got:?})"));
            }
        } else {
            for f in forbidden.split_whitespace() {
                if got.contains(&f) {
                    failures.push(format!("case {n}: forbidden {f} (got {got:?})"));
                }
            }
        }
        for r in &a.recommendations {
            if r.evidence.is_empty() && !rules().rule(&r.rule).unwrap().is_patient_only() {
                failures.push(format!("case {n}: {} has no evidence", r.action));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
