//! Report-level status per concept, from the mentions that count.
//!
//! A mention counts when it is about this exam: neither hypothetical nor history the exam does
//! not confirm. Among the mentions that count, any affirmed one makes the concept `present`;
//! otherwise any hedged one makes it `uncertain`; otherwise an explicitly negated one makes it
//! `absent`. Levels are the union over the mentions that set the status; severity is the
//! highest among them; acuity prefers acute over subacute over indeterminate over chronic.

use crate::model::*;

/// Computes one [`ConceptResult`] per concept.
pub fn statuses(mentions: &[Mention], n_concepts: usize, out: &mut Vec<ConceptResult>) {
    out.clear();
    out.resize(n_concepts, ConceptResult::default());
    // rank: 3 affirmed, 2 uncertain, 1 negated
    let mut rank = vec![0u8; n_concepts];
    for m in mentions.iter().filter(|m| m.counts()) {
        let r = if m.negated.is_none() && m.uncertain.is_none() {
            3
        } else if m.uncertain.is_some() {
            2
        } else {
            1
        };
        let i = m.concept.index();
        if i >= n_concepts || r < rank[i] {
            continue;
        }
        let res = &mut out[i];
        if r > rank[i] {
            rank[i] = r;
            *res = ConceptResult::default();
        }
        res.status = Some(match r {
            3 => Status::Present,
            2 => Status::Uncertain,
            _ => Status::Absent,
        });
        res.levels = res.levels.union(m.attrs.levels);
        if let Some(s) = m.attrs.severity {
            res.severity = Some(res.severity.map_or(s, |t| t.max(s)));
        }
        if let Some(a) = m.attrs.acuity {
            res.acuity = Some(res.acuity.map_or(a, |b| more_urgent(a, b)));
        }
    }
}

fn more_urgent(a: Acuity, b: Acuity) -> Acuity {
    let k = |x: Acuity| match x {
        Acuity::Acute => 3,
        Acuity::Subacute => 2,
        Acuity::Indeterminate => 1,
        Acuity::Chronic => 0,
    };
    if k(a) >= k(b) {
        a
    } else {
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(concept: ConceptId, neg: bool, unc: bool, hyp: bool, levels: &[usize]) -> Mention {
        let mut lv = Levels::EMPTY;
        for &i in levels {
            lv.insert(i);
        }
        let flag = |b: bool| b.then_some(Span::new(0, 1));
        Mention {
            concept,
            span: Span::new(0, 1),
            section: SectionKind::Findings,
            sentence: 0,
            term: 0,
            negated: flag(neg),
            uncertain: flag(unc),
            historical: None,
            hypothetical: flag(hyp),
            attrs: Attributes {
                levels: lv,
                ..Attributes::default()
            },
        }
    }

    fn run(ms: &[Mention]) -> Vec<ConceptResult> {
        let mut out = Vec::new();
        statuses(ms, 11, &mut out);
        out
    }

    #[test]
    fn affirmed_beats_hedged_beats_negated() {
        let fx = ConceptId::VERTEBRAL_FRACTURE;
        let r = run(&[
            m(fx, true, false, false, &[18]),
            m(fx, false, true, false, &[19]),
        ]);
        assert_eq!(r[0].status, Some(Status::Uncertain));
        assert_eq!(r[0].levels.to_string(), "L1");
        let r = run(&[
            m(fx, true, false, false, &[17]),
            m(fx, false, false, false, &[18]),
        ]);
        assert_eq!(r[0].status, Some(Status::Present));
        assert_eq!(r[0].levels.to_string(), "T12");
        let r = run(&[m(fx, true, false, false, &[])]);
        assert_eq!(r[0].status, Some(Status::Absent));
    }

    #[test]
    fn hypothetical_mentions_do_not_count() {
        let r = run(&[m(ConceptId::SCOLIOSIS, false, false, true, &[])]);
        assert_eq!(r[ConceptId::SCOLIOSIS.index()].status, None);
    }

    #[test]
    fn levels_union_over_the_mentions_that_set_the_status() {
        let d = ConceptId::DEGENERATIVE_CHANGES;
        let r = run(&[
            m(d, false, false, false, &[22, 23]),
            m(d, false, false, false, &[23, 24]),
        ]);
        assert_eq!(r[d.index()].levels.to_string(), "L4;L5;S1");
    }
}
