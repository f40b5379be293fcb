//! Reading and validating a rule file (`lexicons/rules.toml`). Every error names `path:line`
//! and, for enumerated values, lists the allowed ones. The schema is described in
//! `lexicons/RULES.md`.

use super::cond::*;
use super::cue::{CueDef, CueSpec, MAX_CUES};
use super::{ActionDef, Basis, CautionDef, Rule, RuleSet, SeedDef, WhenUnknown};
use crate::model::*;
use serde::Deserialize;
use std::collections::HashMap;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    seed: Vec<RawSeed>,
    #[serde(default)]
    action: Vec<RawAction>,
    #[serde(default)]
    caution: Vec<RawCaution>,
    #[serde(default)]
    cue: Vec<RawCue>,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCue {
    id: Spanned<String>,
    meaning: String,
    terms: Spanned<Vec<String>>,
    with: Option<Spanned<toml::Value>>,
    #[serde(default)]
    negated_by: Vec<String>,
    #[serde(default)]
    negated_after: Vec<String>,
    #[serde(default)]
    at_start: bool,
    #[serde(default)]
    voided_by: Vec<String>,
    sections: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeed {
    id: Spanned<String>,
    file: String,
    title: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    id: Spanned<String>,
    meaning: String,
    #[serde(default)]
    yields_to: Vec<Spanned<String>>,
    #[serde(default)]
    excluded_by: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCaution {
    id: Spanned<String>,
    message: String,
    seeds: Vec<Spanned<String>>,
    #[serde(default)]
    cites: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    title: String,
    basis: Option<Spanned<String>>,
    #[serde(default)]
    all: Vec<Spanned<RawFinding>>,
    #[serde(default)]
    any: Vec<Spanned<RawFinding>>,
    #[serde(default)]
    none: Vec<Spanned<RawFinding>>,
    #[serde(default)]
    text_any: Vec<Spanned<String>>,
    #[serde(default)]
    text_none: Vec<Spanned<String>>,
    patient: Option<Spanned<RawPatient>>,
    patient_any: Option<Spanned<RawPatient>>,
    patient_none: Option<Spanned<RawPatient>>,
    when_unknown: Option<Spanned<String>>,
    #[serde(default)]
    actions: Vec<Spanned<String>>,
    #[serde(default)]
    cautions: Vec<Spanned<String>>,
    strength: Option<Spanned<String>>,
    condition: Option<Spanned<String>>,
    urgency: Option<Spanned<String>>,
    rationale: String,
    seeds: Vec<Spanned<String>>,
    #[serde(default)]
    cites: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFinding {
    concept: Spanned<String>,
    status: Option<Spanned<toml::Value>>,
    acuity: Option<Spanned<toml::Value>>,
    severity: Option<Spanned<toml::Value>>,
    direction: Option<Spanned<toml::Value>>,
    genant_grade: Option<Spanned<toml::Value>>,
    height_loss_pct: Option<Spanned<toml::Value>>,
    meyerding_grade: Option<Spanned<toml::Value>>,
    slip_mm: Option<Spanned<toml::Value>>,
    cobb_degrees: Option<Spanned<toml::Value>>,
    min_levels: Option<Spanned<i64>>,
    cue: Option<Spanned<String>>,
    not_cue: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPatient {
    age: Option<Spanned<toml::Value>>,
    sex: Option<Spanned<toml::Value>>,
    t_score: Option<Spanned<toml::Value>>,
    frax_major: Option<Spanned<toml::Value>>,
    frax_hip: Option<Spanned<toml::Value>>,
    neuro_deficit: Option<Spanned<toml::Value>>,
    cancer_history: Option<Spanned<toml::Value>>,
    glucocorticoids: Option<Spanned<toml::Value>>,
    fragility_fracture_history: Option<Spanned<toml::Value>>,
    high_energy_trauma: Option<Spanned<toml::Value>>,
}

impl RawPatient {
    /// The fields that are set, in contract order.
    fn entries(&self) -> Vec<(Field, &Spanned<toml::Value>)> {
        let all = [
            &self.age,
            &self.sex,
            &self.t_score,
            &self.frax_major,
            &self.frax_hip,
            &self.neuro_deficit,
            &self.cancer_history,
            &self.glucocorticoids,
            &self.fragility_fracture_history,
            &self.high_energy_trauma,
        ];
        Field::ALL
            .into_iter()
            .zip(all)
            .filter_map(|(f, v)| v.as_ref().map(|v| (f, v)))
            .collect()
    }
}

/// Turns byte offsets into 1-based line numbers.
struct Lines<'a> {
    path: &'a str,
    /// The offset of every line break, in order.
    breaks: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn new(text: &str, path: &'a str) -> Lines<'a> {
        let breaks = text
            .bytes()
            .enumerate()
            .filter(|&(_, b)| b == b'\n')
            .map(|(i, _)| i)
            .collect();
        Lines { path, breaks }
    }

    /// The line of `offset`: one more than the line breaks before it.
    fn line(&self, offset: usize) -> usize {
        self.breaks.partition_point(|&b| b < offset) + 1
    }
    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        msg: impl Into<String>,
    ) -> Result<T, LexiconError> {
        Err(LexiconError::new(self.path, self.line(span.start), msg))
    }
}

/// Parses and validates a rule file.
pub(super) fn parse(text: &str, path: &str) -> Result<RuleSet, LexiconError> {
    let lines = Lines::new(text, path);
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| lines.line(s.start)).unwrap_or(0);
        LexiconError::new(path, line, e.message().trim().to_string())
    })?;

    // Seeds.
    let mut seeds = Vec::new();
    for s in raw.seed {
        check_id(&lines, &s.id, "seed")?;
        if seeds.iter().any(|x: &SeedDef| x.id == *s.id.get_ref()) {
            return lines.err(
                s.id.span(),
                format!("duplicate seed id {:?}", s.id.get_ref()),
            );
        }
        seeds.push(SeedDef {
            id: s.id.into_inner(),
            file: s.file,
            title: s.title,
        });
    }
    let seed_ids: Vec<&str> = seeds.iter().map(|s| s.id.as_str()).collect();
    let check_seeds = |list: &[Spanned<String>], what: &str| -> Result<Vec<usize>, LexiconError> {
        if list.is_empty() {
            return Err(LexiconError::new(
                path,
                0,
                format!("{what}: `seeds` is empty"),
            ));
        }
        list.iter()
            .map(|s| match seed_ids.iter().position(|x| x == s.get_ref()) {
                Some(i) => Ok(i),
                None => lines.err(
                    s.span(),
                    format!(
                        "unknown seed {:?} (allowed: {})",
                        s.get_ref(),
                        seed_ids.join(", ")
                    ),
                ),
            })
            .collect()
    };

    // Actions.
    let mut actions: Vec<ActionDef> = Vec::new();
    for a in &raw.action {
        check_id(&lines, &a.id, "action")?;
        if actions.iter().any(|x| x.id == *a.id.get_ref()) {
            return lines.err(
                a.id.span(),
                format!("duplicate action id {:?}", a.id.get_ref()),
            );
        }
        actions.push(ActionDef {
            id: a.id.get_ref().as_str().into(),
            meaning: a.meaning.clone(),
            yields_to: Vec::new(),
            excluded_by: Vec::new(),
        });
    }
    let action_ids: Vec<String> = actions.iter().map(|a| a.id.to_string()).collect();
    let find_action = |s: &Spanned<String>| -> Result<usize, LexiconError> {
        match action_ids.iter().position(|x| x == s.get_ref()) {
            Some(i) => Ok(i),
            None => lines.err(
                s.span(),
                format!(
                    "unknown action {:?} (allowed: {})",
                    s.get_ref(),
                    action_ids.join(", ")
                ),
            ),
        }
    };
    for (i, a) in raw.action.iter().enumerate() {
        for y in &a.yields_to {
            let j = find_action(y)?;
            if j == i {
                return lines.err(y.span(), "an action cannot yield to itself");
            }
            actions[i].yields_to.push(j);
        }
        for y in &a.excluded_by {
            let j = find_action(y)?;
            if j == i {
                return lines.err(y.span(), "an action cannot exclude itself");
            }
            actions[i].excluded_by.push(j);
        }
    }

    // Cautions.
    let mut cautions: Vec<CautionDef> = Vec::new();
    for c in raw.caution {
        check_id(&lines, &c.id, "caution")?;
        if cautions.iter().any(|x| x.id == *c.id.get_ref()) {
            return lines.err(
                c.id.span(),
                format!("duplicate caution id {:?}", c.id.get_ref()),
            );
        }
        let what = format!("caution {:?}", c.id.get_ref());
        let s = check_seeds(&c.seeds, &what).map_err(|mut e| {
            if e.line == 0 {
                e.line = lines.line(c.id.span().start);
            }
            e
        })?;
        let source = source_text(&seeds, &s, &c.cites);
        cautions.push(CautionDef {
            id: c.id.into_inner().into(),
            message: c.message.into(),
            source: source.into(),
        });
    }
    let caution_ids: Vec<String> = cautions.iter().map(|c| c.id.to_string()).collect();

    // Text cues.
    let mut cues: Vec<CueDef> = Vec::new();
    for c in raw.cue {
        check_id(&lines, &c.id, "cue")?;
        if cues.iter().any(|x| x.id == *c.id.get_ref()) {
            return lines.err(
                c.id.span(),
                format!("duplicate cue id {:?}", c.id.get_ref()),
            );
        }
        if cues.len() == MAX_CUES {
            return lines.err(c.id.span(), format!("more than {MAX_CUES} cues"));
        }
        if c.terms.get_ref().is_empty() {
            return lines.err(c.terms.span(), "`terms` is empty");
        }
        let sections = match &c.sections {
            None => None,
            Some(list) => {
                let mut out = Vec::new();
                for name in list.get_ref() {
                    match SectionKind::parse(name) {
                        Some(k) => out.push(k),
                        None => {
                            return lines.err(
                                list.span(),
                                format!(
                                    "unknown section {name:?} (allowed: {})",
                                    SectionKind::allowed()
                                ),
                            )
                        }
                    }
                }
                if out.is_empty() {
                    return lines.err(list.span(), "`sections` is empty");
                }
                Some(out)
            }
        };
        let with = match &c.with {
            None => Vec::new(),
            Some(v) => phrase_groups(&lines, v)?,
        };
        let spec = CueSpec {
            terms: c.terms.get_ref(),
            with: &with,
            negated_by: &c.negated_by,
            negated_after: &c.negated_after,
            voided_by: &c.voided_by,
            at_start: c.at_start,
            sections,
        };
        let def = CueDef::new(c.id.get_ref().clone(), c.meaning, spec)
            .or_else(|e| lines.err(c.id.span(), format!("cue {:?}: {e}", c.id.get_ref())))?;
        cues.push(def);
    }
    let cue_ids: Vec<String> = cues.iter().map(|c| c.id.clone()).collect();
    let find_cue = |s: &Spanned<String>| -> Result<(usize, String), LexiconError> {
        match cue_ids.iter().position(|x| x == s.get_ref()) {
            Some(i) => Ok((i, s.get_ref().clone())),
            None => lines.err(
                s.span(),
                format!(
                    "unknown cue {:?} (allowed: {})",
                    s.get_ref(),
                    if cue_ids.is_empty() {
                        "none defined".to_string()
                    } else {
                        cue_ids.join(", ")
                    }
                ),
            ),
        }
    };

    // Rules.
    let mut rules: Vec<Rule> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in raw.rule {
        let line = lines.line(r.id.span().start);
        check_id(&lines, &r.id, "rule")?;
        if let Some(prev) = seen.get(r.id.get_ref()) {
            return lines.err(
                r.id.span(),
                format!(
                    "duplicate rule id {:?} (first at line {prev})",
                    r.id.get_ref()
                ),
            );
        }
        seen.insert(r.id.get_ref().clone(), line);
        let rule_err = |msg: String| LexiconError::new(path, line, msg);
        let id = r.id.get_ref().clone();

        let all = findings(&lines, &r.all, &find_cue)?;
        let any = findings(&lines, &r.any, &find_cue)?;
        let none = findings(&lines, &r.none, &find_cue)?;
        let text_any = r
            .text_any
            .iter()
            .map(|c| find_cue(c).map(|x| x.0))
            .collect::<Result<Vec<_>, _>>()?;
        let text_none = r
            .text_none
            .iter()
            .map(|c| find_cue(c).map(|x| x.0))
            .collect::<Result<Vec<_>, _>>()?;
        let basis = match &r.basis {
            None => Basis::Findings,
            Some(b) => match b.get_ref().as_str() {
                "findings" => Basis::Findings,
                "patient" => Basis::Patient,
                other => {
                    return lines.err(
                        b.span(),
                        format!("unknown basis {other:?} (allowed: findings, patient)"),
                    )
                }
            },
        };
        let patient = patient_conds(&lines, r.patient.as_ref())?;
        let patient_any = patient_conds(&lines, r.patient_any.as_ref())?;
        let patient_none = patient_conds(&lines, r.patient_none.as_ref())?;
        match basis {
            Basis::Findings => {
                if !all.iter().chain(&any).any(|c| c.statuses.only_findings()) {
                    return Err(rule_err(format!(
                        "rule {id:?}: needs at least one `all` or `any` condition whose status is \
                         only present and/or uncertain, so that it fires on a finding the report \
                         states (or `basis = \"patient\"` for a rule on the patient context alone)"
                    )));
                }
            }
            Basis::Patient => {
                if !all.is_empty() || !any.is_empty() {
                    return Err(rule_err(format!(
                        "rule {id:?}: a rule with `basis = \"patient\"` acts on the patient \
                         context alone and takes no `all` or `any` finding condition"
                    )));
                }
                if patient.is_empty() && patient_any.is_empty() {
                    return Err(rule_err(format!(
                        "rule {id:?}: a rule with `basis = \"patient\"` needs a `patient` or \
                         `patient_any` condition"
                    )));
                }
            }
        }

        let when_unknown = match &r.when_unknown {
            None => WhenUnknown::Conditional,
            Some(w) => match w.get_ref().as_str() {
                "conditional" => WhenUnknown::Conditional,
                "skip" => WhenUnknown::Skip,
                other => {
                    return lines.err(
                        w.span(),
                        format!("unknown when_unknown {other:?} (allowed: conditional, skip)"),
                    )
                }
            },
        };

        let acts = r
            .actions
            .iter()
            .map(&find_action)
            .collect::<Result<Vec<_>, _>>()?;
        for (k, a) in acts.iter().enumerate() {
            if acts[..k].contains(a) {
                return lines.err(r.actions[k].span(), "action listed twice");
            }
        }
        let cauts = r
            .cautions
            .iter()
            .map(
                |c| match caution_ids.iter().position(|x| x == c.get_ref()) {
                    Some(i) => Ok(i),
                    None => lines.err(
                        c.span(),
                        format!(
                            "unknown caution {:?} (allowed: {})",
                            c.get_ref(),
                            caution_ids.join(", ")
                        ),
                    ),
                },
            )
            .collect::<Result<Vec<_>, _>>()?;
        if acts.is_empty() && cauts.is_empty() {
            return Err(rule_err(format!(
                "rule {id:?}: emits neither actions nor cautions"
            )));
        }

        let strength = match &r.strength {
            Some(s) => match Strength::parse(s.get_ref()) {
                Some(v) => Some(v),
                None => {
                    return lines.err(
                        s.span(),
                        format!(
                            "unknown strength {:?} (allowed: {})",
                            s.get_ref(),
                            Strength::allowed()
                        ),
                    )
                }
            },
            None => None,
        };
        let urgency = match &r.urgency {
            Some(s) => match Urgency::parse(s.get_ref()) {
                Some(v) => Some(v),
                None => {
                    return lines.err(
                        s.span(),
                        format!(
                            "unknown urgency {:?} (allowed: {})",
                            s.get_ref(),
                            Urgency::allowed()
                        ),
                    )
                }
            },
            None => None,
        };
        let can_be_unknown = [&patient, &patient_any, &patient_none]
            .iter()
            .flat_map(|v| v.iter())
            .any(|c| !matches!(c.test, Test::Known | Test::Unknown));
        let (strength, urgency) = if acts.is_empty() {
            if let Some(s) = r.strength.as_ref().or(r.urgency.as_ref()) {
                return lines.err(
                    s.span(),
                    "strength and urgency only apply to a rule with actions",
                );
            }
            (Strength::Conditional, Urgency::Routine)
        } else {
            let s = strength.ok_or_else(|| {
                rule_err(format!(
                    "rule {id:?}: missing `strength` (allowed: {})",
                    Strength::allowed()
                ))
            })?;
            let u = urgency.ok_or_else(|| {
                rule_err(format!(
                    "rule {id:?}: missing `urgency` (allowed: {})",
                    Urgency::allowed()
                ))
            })?;
            (s, u)
        };
        let needs_condition = !acts.is_empty()
            && (strength == Strength::Conditional
                || (can_be_unknown && when_unknown == WhenUnknown::Conditional));
        let condition = r.condition.as_ref().map(|c| c.get_ref().trim().to_string());
        match (&condition, needs_condition) {
            (None, true) => {
                return Err(rule_err(format!(
                    "rule {id:?}: missing `condition` (the words a conditional action carries: \
                     needed when strength is conditional or a patient value may be unknown)"
                )))
            }
            (Some(c), _) if c.is_empty() => {
                return lines.err(r.condition.as_ref().unwrap().span(), "empty `condition`")
            }
            (Some(_), false) => {
                return lines.err(
                    r.condition.as_ref().unwrap().span(),
                    "`condition` is never used: the rule is recommended and cannot be unknown",
                )
            }
            _ => {}
        }
        if basis == Basis::Patient && can_be_unknown && when_unknown != WhenUnknown::Skip {
            return Err(rule_err(format!(
                "rule {id:?}: a rule with `basis = \"patient\"` needs `when_unknown = \"skip\"`: \
                 it would otherwise ask for missing values on every report"
            )));
        }
        if r.when_unknown.is_some() && !can_be_unknown {
            return lines.err(
                r.when_unknown.as_ref().unwrap().span(),
                "`when_unknown` has no effect: no patient condition can be unknown",
            );
        }
        if r.title.trim().is_empty() || r.rationale.trim().is_empty() {
            return Err(rule_err(format!("rule {id:?}: empty title or rationale")));
        }
        let s = check_seeds(&r.seeds, &format!("rule {id:?}")).map_err(|mut e| {
            if e.line == 0 {
                e.line = line;
            }
            e
        })?;
        rules.push(Rule {
            id: id.into(),
            title: r.title.trim().to_string(),
            basis,
            gate: StatusGate::new(&all, &any),
            all,
            any,
            none,
            text_any,
            text_none,
            patient,
            patient_any,
            patient_none,
            when_unknown,
            actions: acts,
            cautions: cauts,
            strength,
            condition: condition.map(Text::from),
            urgency,
            rationale: r.rationale.trim().into(),
            source: source_text(&seeds, &s, &r.cites).into(),
            line,
        });
    }
    if rules.is_empty() {
        return Err(LexiconError::new(path, 0, "no [[rule]] entries"));
    }
    let cue_reader = super::cue::CueReader::new(&cues);
    Ok(RuleSet {
        path: path.to_string(),
        seeds,
        actions,
        cautions,
        cue_reader,
        cues,
        gates: GateIndex::new(rules.iter().map(|r| &r.gate)),
        rules,
    })
}

/// A cue's `with`: one list of phrases (one group) or a list of such lists (several groups).
fn phrase_groups(
    lines: &Lines,
    v: &Spanned<toml::Value>,
) -> Result<Vec<Vec<String>>, LexiconError> {
    let strings = |items: &[toml::Value]| -> Option<Vec<String>> {
        if items.is_empty() {
            return None;
        }
        items
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect()
    };
    let groups = match v.get_ref().as_array() {
        Some(items) if items.iter().all(|i| i.is_str()) => strings(items).map(|g| vec![g]),
        Some(items) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_array().and_then(|g| strings(g)))
            .collect(),
        _ => None,
    };
    match groups {
        Some(g) => Ok(g),
        None => lines.err(
            v.span(),
            "`with`: expected a non-empty list of phrases, or a list of such lists",
        ),
    }
}

/// Ids are lowercase ASCII words joined by `_` and `.`.
fn check_id(lines: &Lines, id: &Spanned<String>, what: &str) -> Result<(), LexiconError> {
    let s = id.get_ref();
    let ok = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
        && !s.starts_with('.')
        && !s.ends_with('.')
        && !s.contains("..");
    if ok {
        Ok(())
    } else {
        lines.err(
            id.span(),
            format!("{what} id {s:?}: use lowercase letters, digits, `_` and `.`"),
        )
    }
}

/// The source line: the seeds (number and title), then the works they cite.
fn source_text(seeds: &[SeedDef], which: &[usize], cites: &[String]) -> String {
    let mut out = which
        .iter()
        .map(|&i| format!("seed {} ({})", seeds[i].id, seeds[i].title))
        .collect::<Vec<_>>()
        .join("; ");
    if !cites.is_empty() {
        out.push_str(" — citing ");
        out.push_str(&cites.join("; "));
    }
    out
}

/// Strings from a value that is one string or an array of strings.
fn strings(
    lines: &Lines,
    v: &Spanned<toml::Value>,
    key: &str,
) -> Result<Vec<String>, LexiconError> {
    match v.get_ref() {
        toml::Value::String(s) => Ok(vec![s.clone()]),
        toml::Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|i| match i {
                toml::Value::String(s) => Ok(s.clone()),
                _ => lines.err(v.span(), format!("`{key}`: expected strings")),
            })
            .collect(),
        _ => lines.err(
            v.span(),
            format!("`{key}`: expected a string or a non-empty array of strings"),
        ),
    }
}

type FindCue<'a> = dyn Fn(&Spanned<String>) -> Result<(usize, String), LexiconError> + 'a;

fn findings(
    lines: &Lines,
    raw: &[Spanned<RawFinding>],
    find_cue: &FindCue,
) -> Result<Vec<FindingCond>, LexiconError> {
    raw.iter().map(|f| finding(lines, f, find_cue)).collect()
}

fn finding(
    lines: &Lines,
    raw: &Spanned<RawFinding>,
    find_cue: &FindCue,
) -> Result<FindingCond, LexiconError> {
    let f = raw.get_ref();
    let name = f.concept.get_ref();
    let concept = match BUILTIN_CONCEPTS.iter().position(|c| c == name) {
        Some(i) => ConceptId(i as u16),
        None => {
            return lines.err(
                f.concept.span(),
                format!(
                    "unknown concept {name:?} (allowed: {})",
                    BUILTIN_CONCEPTS.join(", ")
                ),
            )
        }
    };
    let mut statuses = StatusSet::default();
    match &f.status {
        None => {
            statuses.insert_name("present");
        }
        Some(v) => {
            for s in strings(lines, v, "status")? {
                if !statuses.insert_name(&s) {
                    return lines.err(
                        v.span(),
                        format!(
                            "unknown status {s:?} (allowed: {})",
                            StatusSet::NAMES.join(", ")
                        ),
                    );
                }
            }
        }
    }
    let acuity = match &f.acuity {
        None => None,
        Some(v) => Some(enum_list(
            lines,
            v,
            "acuity",
            Acuity::parse,
            &Acuity::allowed(),
        )?),
    };
    let severity = match &f.severity {
        None => None,
        Some(v) => Some(enum_list(
            lines,
            v,
            "severity",
            Severity::parse,
            &Severity::allowed(),
        )?),
    };
    let direction = match &f.direction {
        None => None,
        Some(v) => {
            let mut out = Vec::new();
            for s in strings(lines, v, "direction")? {
                match Direction::parse(&s) {
                    Some(d) => out.push(d),
                    None => {
                        return lines.err(
                            v.span(),
                            format!(
                                "unknown direction {s:?} (allowed: {})",
                                Direction::allowed()
                            ),
                        )
                    }
                }
            }
            Some(out)
        }
    };
    let mut numeric = Vec::new();
    let nums = [
        &f.genant_grade,
        &f.height_loss_pct,
        &f.meyerding_grade,
        &f.slip_mm,
        &f.cobb_degrees,
    ];
    for ((attr, key), v) in NumAttr::ALL.iter().zip(nums) {
        if let Some(v) = v {
            numeric.push((*attr, comparison(lines, v, key)?));
        }
    }
    let min_levels = match &f.min_levels {
        None => None,
        Some(n) if (1..=29).contains(n.get_ref()) => Some(*n.get_ref() as u32),
        Some(n) => return lines.err(n.span(), "`min_levels`: expected 1 to 29"),
    };
    let cue = f.cue.as_ref().map(find_cue).transpose()?;
    let not_cue = f.not_cue.as_ref().map(find_cue).transpose()?;
    let cond = FindingCond {
        concept,
        statuses,
        acuity,
        severity,
        direction,
        numeric,
        min_levels,
        cue,
        not_cue,
    };
    if (cond.has_filters() || cond.min_levels.is_some()) && !cond.statuses.only_findings() {
        return lines.err(
            raw.span(),
            "attribute and cue filters and `min_levels` need a status of present and/or \
             uncertain only",
        );
    }
    Ok(cond)
}

/// A list of enum values where `unknown` stands for "not stated".
fn enum_list<T: Copy>(
    lines: &Lines,
    v: &Spanned<toml::Value>,
    key: &str,
    parse: fn(&str) -> Option<T>,
    allowed: &str,
) -> Result<Vec<Option<T>>, LexiconError> {
    let mut out = Vec::new();
    for s in strings(lines, v, key)? {
        if s == "unknown" {
            out.push(None);
        } else {
            match parse(&s) {
                Some(x) => out.push(Some(x)),
                None => {
                    return lines.err(
                        v.span(),
                        format!("unknown {key} {s:?} (allowed: {allowed}, unknown)"),
                    )
                }
            }
        }
    }
    Ok(out)
}

fn comparison(lines: &Lines, v: &Spanned<toml::Value>, key: &str) -> Result<Cmp, LexiconError> {
    let c = match v.get_ref() {
        toml::Value::String(s) => Cmp::parse(s),
        toml::Value::Integer(i) => Some(Cmp {
            op: Op::Eq,
            value: *i as f32,
        }),
        toml::Value::Float(x) if x.is_finite() => Some(Cmp {
            op: Op::Eq,
            value: *x as f32,
        }),
        _ => None,
    };
    match c {
        Some(c) => Ok(c),
        None => lines.err(
            v.span(),
            format!("`{key}`: expected a number or a comparison such as \">= 2\" (operators <, <=, ==, >=, >)"),
        ),
    }
}

fn patient_conds(
    lines: &Lines,
    raw: Option<&Spanned<RawPatient>>,
) -> Result<Vec<PatientCond>, LexiconError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    let entries = raw.get_ref().entries();
    if entries.is_empty() {
        return lines.err(raw.span(), "empty patient condition");
    }
    let mut out = Vec::new();
    for (field, v) in entries {
        let key = field.name();
        let test = match v.get_ref() {
            toml::Value::String(s) if s == "known" => Test::Known,
            toml::Value::String(s) if s == "unknown" => Test::Unknown,
            value => match (field.kind(), value) {
                (FieldKind::Boolean, toml::Value::Boolean(b)) => Test::Bool(*b),
                (FieldKind::Boolean, _) => {
                    return lines.err(
                        v.span(),
                        format!("`{key}`: expected true, false, \"known\" or \"unknown\""),
                    )
                }
                (FieldKind::Number, _) => Test::Num(comparison(lines, v, key)?),
                (FieldKind::Text, toml::Value::String(s)) => Test::Text(s.clone()),
                (FieldKind::Text, _) => {
                    return lines.err(v.span(), format!("`{key}`: expected a string"))
                }
            },
        };
        out.push(PatientCond { field, test });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_count_the_breaks_before_an_offset() {
        let text = "a\nbc\n\nd";
        let lines = Lines::new(text, "x");
        for offset in 0..text.len() + 3 {
            let end = offset.min(text.len());
            let plain = text.as_bytes()[..end]
                .iter()
                .filter(|&&b| b == b'\n')
                .count()
                + 1;
            assert_eq!(lines.line(offset), plain, "{offset}");
        }
    }
}
