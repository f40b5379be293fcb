//! ConText over one sentence: which triggers reach which mentions.
//!
//! Semantics (medspaCy's model): a trigger's scope runs forward to the end of the sentence,
//! backward to its start, or both, optionally capped at `max_scope` tokens; a `terminate` rule
//! ("but", "however", "which") ends every scope that would cross it; `pseudo` rules ("no
//! significant change in") only consume their words so that the shorter triggers inside them
//! do not fire. Among the triggers of one category that reach a mention, the nearest wins and
//! its span is recorded. A forward negation between a hedge trigger and the mention
//! takes the mention out of the hedge's scope. One more addition: a forward negation stops at a severity word that follows
//! a comma or "and" (`No fracture, mild scoliosis`), because such a word opens an affirmed
//! finding.

use crate::lexicon::{Category, ContextRule, ScopeDirection};
use crate::model::*;

/// A trigger occurrence inside a sentence.
#[derive(Debug, Clone, Copy)]
pub struct TriggerHit {
    /// Folded start/end.
    pub fs: usize,
    /// Folded end.
    pub fe: usize,
    /// Spaces in the folded text before `fs`, so that the tokens between a trigger and a
    /// mention are a subtraction.
    pub ss: u32,
    /// Spaces in the folded text before `fe`.
    pub se: u32,
    /// Original span.
    pub span: Span,
    /// Rule index.
    pub rule: u32,
}

/// The flags of one mention.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flags {
    /// Negated.
    pub negated: Flag,
    /// Uncertain.
    pub uncertain: Flag,
    /// Historical.
    pub historical: Flag,
    /// Hypothetical.
    pub hypothetical: Flag,
}

/// Computes the flags of the mention at folded `[ms, me)` of concept `c`, with `mss` and `mse`
/// spaces in the folded text before `ms` and before `me`.
///
/// `triggers` are the sentence's trigger hits (all categories, in text order); `breaks` are the
/// folded starts of words that open an affirmed item after a comma or "and" (forward negation
/// stops there); `sent_fe_last` is the folded end of the sentence's last word (a forward
/// trigger ending there has nothing ahead of it and looks back, capped at 3 tokens).
pub fn flags(
    c: ConceptId,
    ms: usize,
    me: usize,
    mss: u32,
    mse: u32,
    triggers: &[TriggerHit],
    rules: &[ContextRule],
    breaks: &[usize],
    sent_fe_last: usize,
    state_word: bool,
) -> Flags {
    // best (distance, span) per category: negated, uncertain, historical, hypothetical
    let mut best: [Option<(usize, Span)>; 4] = [None; 4];
    let terminated = |a: usize, b: usize| {
        triggers.iter().any(|t| {
            rules[t.rule as usize].category == Category::Terminate && t.fs >= a && t.fe <= b
        })
    };
    // A forward negation between a hedge and the mention takes the mention
    // out of that trigger's scope ("possible pneumonia without effusion").
    let negation_between = |a: usize, b: usize| {
        triggers.iter().any(|t| {
            let r = &rules[t.rule as usize];
            r.category == Category::Negated
                && r.direction != ScopeDirection::Backward
                && r.applies_to(c)
                && t.fs >= a
                && t.fe <= b
        })
    };
    for t in triggers {
        let r = &rules[t.rule as usize];
        let slot = match r.category {
            Category::Negated => 0,
            Category::Uncertain => 1,
            Category::Historical => 2,
            Category::Hypothetical => 3,
            Category::Pseudo | Category::Terminate => continue,
        };
        // A concept filter keeps "normal" or "preserved" off real findings; a word that names
        // a normal state ("alignment", "disc spaces") takes every denial.
        let applies = r.applies_to(c) || (state_word && slot == 0);
        if !applies {
            continue;
        }
        let forward = matches!(
            r.direction,
            ScopeDirection::Forward | ScopeDirection::Bidirectional
        );
        let backward = matches!(
            r.direction,
            ScopeDirection::Backward | ScopeDirection::Bidirectional
        );
        // A forward trigger that ends its sentence (`Fever: no.`) looks back instead.
        let backward = backward || (forward && t.fe >= sent_fe_last && r.max_scope == 0);
        let dist = if forward && t.fe <= ms {
            let d = gap(t.fe, t.se, ms, mss);
            let blocked = terminated(t.fe, ms)
                || (slot == 0 && breaks.iter().any(|&p| p > t.fe && p < ms))
                || (slot == 1 && negation_between(t.fe, ms));
            (!blocked && (r.max_scope == 0 || d <= r.max_scope as usize)).then_some(d)
        } else if backward && me <= t.fs {
            let d = gap(me, mse, t.fs, t.ss);
            let blocked = terminated(me, t.fs);
            let cap = if r.direction == ScopeDirection::Forward {
                3
            } else {
                r.max_scope as usize
            };
            (!blocked && (cap == 0 || d <= cap)).then_some(d)
        } else {
            None
        };
        if let Some(d) = dist {
            if best[slot].map_or(true, |(bd, _)| d < bd) {
                best[slot] = Some((d, t.span));
            }
        }
    }
    Flags {
        negated: best[0].map(|x| x.1),
        uncertain: best[1].map(|x| x.1),
        historical: best[2].map(|x| x.1),
        hypothetical: best[3].map(|x| x.1),
    }
}

/// Tokens between folded positions `a` and `b` that have `sa` and `sb` spaces before them,
/// as [`crate::text::Folded::tokens_between`] counts them (0 unless `a < b`).
#[inline]
pub(crate) fn gap(a: usize, sa: u32, b: usize, sb: u32) -> usize {
    if a >= b {
        0
    } else {
        sb.saturating_sub(sa).saturating_sub(1) as usize
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{ConceptId, Report, Status};
    use crate::Pipeline;

    fn flags(text: &str, word: &str) -> (bool, bool, bool, bool) {
        let p = Pipeline::builtin();
        let a = p.analyze(&Report::new("t", text));
        let m = a
            .mentions
            .iter()
            .find(|m| m.span.slice(text) == word)
            .unwrap_or_else(|| panic!("{word:?} not found in {text:?}"));
        (
            m.negated.is_some(),
            m.uncertain.is_some(),
            m.historical.is_some(),
            m.hypothetical.is_some(),
        )
    }

    #[test]
    fn forward_lists_and_terminators() {
        let t = "No fracture, subluxation, or spondylolisthesis.";
        assert!(flags(t, "subluxation").0 && flags(t, "spondylolisthesis").0);
        let t = "No acute fracture, but there is mild levoscoliosis.";
        assert!(!flags(t, "levoscoliosis").0);
    }

    #[test]
    fn backward_and_pseudo() {
        assert!(flags("Spondylolysis is not seen.", "Spondylolysis").0);
        let t = "No significant change in the T12 compression deformity.";
        assert_eq!(
            flags(t, "compression deformity"),
            (false, false, false, false)
        );
    }

    #[test]
    fn without_after_an_affirmed_finding() {
        let t = "Mild T12 compression fracture without retropulsion.";
        assert!(!flags(t, "compression fracture").0);
        assert!(flags(t, "retropulsion").0);
    }

    #[test]
    fn hedges_history_and_hypotheticals() {
        assert!(flags("Pars defect at L5 cannot be excluded.", "Pars defect").1);
        assert!(
            flags(
                "History of T12 compression fracture.",
                "compression fracture"
            )
            .2
        );
        assert!(flags("INDICATION: r/o fracture.\nFINDINGS: Normal.", "fracture").3);
    }

    #[test]
    fn trigger_spans_point_at_the_trigger() {
        let text = "FINDINGS: No spondylolisthesis.";
        let a = Pipeline::builtin().analyze(&Report::new("t", text));
        let m = &a.mentions[0];
        assert_eq!(m.negated.unwrap().slice(text), "No");
        assert_eq!(a.status(ConceptId::SPONDYLOLISTHESIS), Some(Status::Absent));
    }
}
