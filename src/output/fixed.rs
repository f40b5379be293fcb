//! Texts that repeat on many rows, encoded once per run: the ids, rationales, sources and
//! conditions of the rules, the ids of the actions, the ids, messages and sources of the
//! cautions, the concept names and lexicon terms, and a mention's section with its flags. A
//! row finds its texts by index (rules, actions and cautions by id, once per report) and
//! copies their encoded bytes.

use super::enc;
use super::row::Row;
use crate::model::{
    ByAddress, Caution, ConceptId, Mention, Recommendation, SectionKind, Strength, Text, Urgency,
};
use crate::pipeline::Pipeline;
use crate::recommend::{Rule, RuleSet};

/// A text that repeats on many rows (a rule's rationale and source, a caution's message and
/// source, a concept name, a lexicon term), encoded once as a CSV cell and as a JSON string.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fixed {
    /// For a rule set's text, the rule set's handle: a row's text that is the same handle is
    /// told by its address ([`Text::is`]), without comparing bytes.
    text: Text,
    /// The CSV field after its separator (`,field`).
    csv: Vec<u8>,
    json: Vec<u8>,
    /// Whether the text holds a byte that forces CSV quotes.
    needs_quotes: bool,
}

impl Fixed {
    /// `text` encoded once. An empty text is encoded `""`, as a row of one empty field is
    /// (so a row written from it holds `""` where one written as it comes holds nothing).
    pub fn new(text: &str) -> Fixed {
        Fixed::shared(&Text::from(text))
    }

    /// As [`Fixed::new`], keeping the handle `text` (a rule set's text) rather than a copy.
    pub fn shared(text: &Text) -> Fixed {
        let mut csv = vec![b','];
        if text.is_empty() {
            csv.extend_from_slice(b"\"\"");
        } else {
            enc::csv_field(&mut csv, text.as_bytes(), true);
        }
        let mut json = Vec::new();
        enc::json_str(&mut json, text);
        Fixed {
            text: text.clone(),
            csv,
            json,
            needs_quotes: enc::find_csv_special(text.as_bytes(), 0).is_some(),
        }
    }

    /// Writes `s` as a CSV cell: these encoded bytes when `same` (`s` is this text), else
    /// `s` encoded as it comes.
    #[inline(always)]
    pub fn csv_if(&self, row: &mut Row, s: &str, same: bool) {
        if same {
            row.encoded_cells(&self.csv);
        } else {
            row.cell(s);
        }
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether `s` is this text: the same handle (told by its address, see [`Text::is`]) or
    /// the same bytes.
    #[inline]
    pub fn equals(&self, s: &str) -> bool {
        self.text == *s
    }

    /// Whether the text holds a byte that forces CSV quotes (a comma, a quote, CR or LF).
    pub fn needs_quotes(&self) -> bool {
        self.needs_quotes
    }

    /// The text as a CSV cell after its separator (`,field`).
    pub fn csv_cell(&self) -> &[u8] {
        &self.csv
    }

    /// The text as a JSON string.
    pub fn json_bytes(&self) -> &[u8] {
        &self.json
    }

    /// Appends `s` as a JSON string: these encoded bytes when `same` (`s` is this text).
    #[inline(always)]
    pub fn json_if(&self, out: &mut Vec<u8>, s: &str, same: bool) {
        if same {
            out.extend_from_slice(&self.json);
        } else {
            enc::json_str(out, s);
        }
    }
}

/// Indices keyed by rule, action or caution id: an open-addressing table (linear probing, at
/// most half full) whose hash reads only an id's length and its first and last eight bytes, a
/// few instructions without a loop or a copy. Ids that share these only probe one slot more:
/// every look-up compares the whole id. The ids come from the rule file, not from report text.
///
/// The ids of recommendations and cautions are the rule set's own handles ([`Text`]), the ones
/// the table is built from: a second table keyed by the address of each handle finds them
/// first, telling an id by its address and length without reading a byte.
#[derive(Debug, Clone, Default)]
struct ById {
    /// Per slot, the entry there plus one (0: an empty slot). Its length is a power of two.
    slots: Vec<u32>,
    /// Each distinct id with its index.
    entries: Vec<(Box<str>, u32)>,
    /// The handles the table was built from, each with its entry; as many slots as `slots`,
    /// so every handle is kept.
    by_address: ByAddress,
}

impl ById {
    /// The table of `ids`, each keyed to its position; an id given twice keeps its last one
    /// (as collecting the pairs into a map does).
    fn new<'a>(ids: impl IntoIterator<Item = &'a Text>) -> ById {
        let ids: Vec<&Text> = ids.into_iter().collect();
        let len = (2 * ids.len()).next_power_of_two().max(8);
        let mut table = ById {
            slots: vec![0; len],
            entries: Vec::with_capacity(ids.len()),
            by_address: ByAddress::with_slots(len),
        };
        for (i, id) in (0u32..).zip(ids) {
            let entry = match table.slot(id) {
                Ok(slot) => {
                    let entry = table.slots[slot] as usize - 1;
                    table.entries[entry].1 = i;
                    entry
                }
                Err(slot) => {
                    table.entries.push(((**id).into(), i));
                    table.slots[slot] = table.entries.len() as u32;
                    table.entries.len() - 1
                }
            };
            table.by_address.insert(id, entry as u32);
        }
        table
    }

    /// The hash of an id: its length, and its first and last eight bytes (all of them when it
    /// is shorter), mixed by multiplication.
    #[inline]
    fn hash(id: &[u8]) -> u64 {
        let n = id.len();
        let word = |w: &[u8]| {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            u64::from_le_bytes(b)
        };
        let (first, last) = match n.checked_sub(8) {
            Some(from) => (word(&id[..8]), word(&id[from..])),
            None => (id.iter().rev().fold(0, |w, &b| w << 8 | u64::from(b)), 0),
        };
        let h = (first ^ (n as u64).rotate_left(56)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ last.wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        h ^ (h >> 29)
    }

    /// The slot of `id`: `Ok` where it is, or `Err` with the empty slot where it would go.
    #[inline]
    fn slot(&self, id: &str) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let mut at = ById::hash(id.as_bytes()) as usize & mask;
        loop {
            let entry = match self.slots[at] {
                0 => return Err(at),
                e => e as usize - 1,
            };
            if *self.entries[entry].0 == *id {
                return Ok(at);
            }
            at = (at + 1) & mask;
        }
    }

    /// The index of `id`, if it is in the table: found by address when it is one of the
    /// handles the table was built from, else by its bytes. The look-up by address is a few
    /// instructions, inline at the caller; the one by bytes is a call.
    #[inline(always)]
    fn get(&self, id: &str) -> Option<u32> {
        match self.by_address.get(id) {
            Some(entry) => Some(self.entries[entry as usize].1),
            None => self.get_by_bytes(id),
        }
    }

    /// The index of `id`, if it is in the table, found by its bytes.
    #[inline(never)]
    fn get_by_bytes(&self, id: &str) -> Option<u32> {
        let slot = self.slot(id).ok()?;
        Some(self.entries[self.slots[slot] as usize - 1].1)
    }
}

/// The texts of one rule, encoded once.
#[derive(Debug, Clone)]
pub(crate) struct RuleTexts {
    pub id: Fixed,
    pub rationale: Fixed,
    pub source: Fixed,
    /// Its condition in words. A row's condition may differ (it may hold what to obtain for
    /// this patient): then it is encoded as it comes.
    pub condition: Fixed,
}

/// The parts of a recommendation's row and of its `results.jsonl` object that come from its
/// rule, each encoded once per rule as CSV cells and as JSON (`[csv, json]`): a recommendation
/// whose texts are all its rule's is written in a few copies. Each part is the encoded texts it
/// stands for, back to back, exactly as they are written one by one.
#[derive(Debug, Clone, Default)]
pub(crate) struct RuleParts {
    /// The action and the rule id, per action of the rule (in the order of
    /// `FixedTexts::rule_actions`): `,action,rule` and `{"action":"a","rule":"r"`.
    heads: Vec<[Vec<u8>; 2]>,
    /// Strength, urgency and rationale, per strength and urgency (see [`RuleParts::body`]):
    /// `,strength,urgency,rationale` and `,"strength":"s","urgency":"u","rationale":"..."`.
    bodies: Vec<[Vec<u8>; 2]>,
    /// Source and condition, with no condition and with the rule's own: `,source,` (an empty
    /// condition cell) or `,source,condition`, and `,"source":"..."}` or
    /// `,"source":"...","condition":"..."}` (the end of the object).
    tails: Vec<[Vec<u8>; 2]>,
    /// The strength and urgency the rule gives (none for the texts of no known rule).
    own: Option<(Strength, Urgency)>,
    /// Per action of the rule, its head and the body of the rule's own strength and urgency,
    /// back to back: all that comes before the evidence of the usual recommendation, copied
    /// at once.
    prefixes: Vec<[Vec<u8>; 2]>,
    /// Per caution the rule raises (in the order of `FixedTexts::rule_cautions`), what comes
    /// before the evidence of a caution whose id, rule id and message are theirs:
    /// `,caution,rule,message` and `{"caution":"c","rule":"r","message":"..."` (no message
    /// key for an empty message, as the object leaves it out).
    caution_heads: Vec<[Vec<u8>; 2]>,
}

impl RuleParts {
    fn new(
        rule: &RuleTexts,
        actions: &[&Fixed],
        cautions: &[&CautionTexts],
        own: Option<(Strength, Urgency)>,
    ) -> RuleParts {
        // A JSON key and its value, left out when the text is empty (as the object leaves it).
        let field = |key: &[u8], text: &Fixed| match text.text().is_empty() {
            true => Vec::new(),
            false => [key, text.json_bytes()].concat(),
        };
        let heads: Vec<[Vec<u8>; 2]> = (actions.iter())
            .map(|action| {
                [
                    [action.csv_cell(), rule.id.csv_cell()].concat(),
                    [
                        b"{\"action\":",
                        action.json_bytes(),
                        b",\"rule\":",
                        rule.id.json_bytes(),
                    ]
                    .concat(),
                ]
            })
            .collect();
        let rationale = field(b",\"rationale\":", &rule.rationale);
        let mut bodies = Vec::with_capacity(Strength::ALL.len() * Urgency::ALL.len());
        for &strength in Strength::ALL {
            for &urgency in Urgency::ALL {
                debug_assert_eq!(bodies.len(), RuleParts::body_at(strength, urgency));
                let (s, u) = (strength.as_str().as_bytes(), urgency.as_str().as_bytes());
                bodies.push([
                    [b",", s, b",", u, rule.rationale.csv_cell()].concat(),
                    [
                        b",\"strength\":\"",
                        s,
                        b"\",\"urgency\":\"",
                        u,
                        b"\"",
                        &rationale,
                    ]
                    .concat(),
                ]);
            }
        }
        let source = field(b",\"source\":", &rule.source);
        let condition = field(b",\"condition\":", &rule.condition);
        let tails = vec![
            [
                [rule.source.csv_cell(), b","].concat(),
                [&source, &b"}"[..]].concat(),
            ],
            [
                [rule.source.csv_cell(), rule.condition.csv_cell()].concat(),
                [&source, &condition, &b"}"[..]].concat(),
            ],
        ];
        let prefixes = match own {
            Some((s, u)) => (heads.iter())
                .map(|head| {
                    let body = &bodies[RuleParts::body_at(s, u)];
                    [0, 1].map(|f| [&head[f][..], &body[f][..]].concat())
                })
                .collect(),
            None => Vec::new(),
        };
        let caution_heads = (cautions.iter())
            .map(|c| {
                [
                    [c.id.csv_cell(), rule.id.csv_cell(), c.message.csv_cell()].concat(),
                    [
                        b"{\"caution\":",
                        c.id.json_bytes(),
                        b",\"rule\":",
                        rule.id.json_bytes(),
                        &field(b",\"message\":", &c.message)[..],
                    ]
                    .concat(),
                ]
            })
            .collect();
        RuleParts {
            heads,
            bodies,
            tails,
            own,
            prefixes,
            caution_heads,
        }
    }

    /// The caution id, rule id and message of a caution that matched `m`, when all three are
    /// theirs (and the caution one the rule raises); see [`RuleParts::caution_heads`].
    #[inline]
    pub fn caution_head(&self, m: &CautionMatch, json: bool) -> Option<&[u8]> {
        let both = self.caution_heads.get(m.head? as usize)?;
        Some(&both[usize::from(json)])
    }

    /// Its head and body at once ([`RuleParts::prefixes`]), when both are its rule's and its
    /// strength and urgency the rule's own.
    #[inline]
    pub fn prefix(&self, m: &RuleMatch, s: Strength, u: Urgency, json: bool) -> Option<&[u8]> {
        if !m.rationale || self.own != Some((s, u)) {
            return None;
        }
        let both = self.prefixes.get(m.head? as usize)?;
        Some(&both[usize::from(json)])
    }

    /// The action and rule id of a recommendation that matched `m`, when both are its rule's
    /// (and the action one of the rule's own).
    #[inline]
    pub fn head(&self, m: &RuleMatch, json: bool) -> Option<&[u8]> {
        let both = self.heads.get(m.head? as usize)?;
        Some(&both[usize::from(json)])
    }

    /// Its strength, urgency and rationale, when the rationale is its rule's.
    #[inline]
    pub fn body(&self, m: &RuleMatch, s: Strength, u: Urgency, json: bool) -> Option<&[u8]> {
        let both = self
            .bodies
            .get(RuleParts::body_at(s, u))
            .filter(|_| m.rationale)?;
        Some(&both[usize::from(json)])
    }

    /// Its source and condition, when the source is its rule's, with no condition or with its
    /// rule's own (`own`); see [`RuleParts::tails`] for what "no condition" is in each format.
    #[inline]
    pub fn tail(&self, m: &RuleMatch, own: bool, json: bool) -> Option<&[u8]> {
        let both = self.tails.get(usize::from(own)).filter(|_| m.source)?;
        Some(&both[usize::from(json)])
    }

    /// Where the body of `strength` and `urgency` is in `bodies`.
    #[inline]
    fn body_at(strength: Strength, urgency: Urgency) -> usize {
        strength as usize * Urgency::ALL.len() + urgency as usize
    }
}

/// The texts of one caution, encoded once.
#[derive(Debug, Clone)]
pub(crate) struct CautionTexts {
    pub id: Fixed,
    pub message: Fixed,
    pub source: Fixed,
}

/// Which texts of a recommendation are its rule's and its action's, found once per report for
/// every table and `results.jsonl`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RuleMatch {
    /// The rule's texts (see [`FixedTexts::rule_at`]).
    pub rule: u32,
    /// The action's id (see [`FixedTexts::action_at`]).
    pub action: u32,
    /// Whether the action id is that action's (a non-empty one).
    pub action_id: bool,
    /// Where the action is among its rule's, when the action id and the rule id are both
    /// theirs (see [`RuleParts::head`]).
    pub head: Option<u32>,
    /// Whether the rule id is the rule's (a non-empty one).
    pub id: bool,
    /// Whether the rationale is the rule's.
    pub rationale: bool,
    /// Whether the source is the rule's.
    pub source: bool,
    /// Whether the condition is the rule's (a non-empty one).
    pub condition: bool,
}

/// Which texts of a caution are its definition's, found once per report.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CautionMatch {
    /// The caution's texts (see [`FixedTexts::caution_at`]).
    pub caution: u32,
    /// Whether the id is the caution's (a non-empty one).
    pub id: bool,
    /// Whether the message is the caution's.
    pub message: bool,
    /// Whether the source is the caution's.
    pub source: bool,
    /// The rule its rule id names (see [`FixedTexts::rule_at`]).
    pub rule: u32,
    /// Whether its rule id is that rule's (a non-empty one).
    pub rule_id: bool,
    /// Where the caution is among the cautions its rule raises, when its id, rule id and
    /// message are theirs (see [`RuleParts::caution_head`]).
    pub head: Option<u32>,
}

/// The texts that repeat on every row a rule or caution emits, encoded once per run: each
/// rule's id, rationale, source and condition, each caution's id, message and source, the
/// concept names (and their keys in `results.jsonl`) and the lexicon terms. A row whose text
/// differs from its rule's (or names no known rule) is encoded as it comes.
#[derive(Debug, Clone)]
pub(crate) struct FixedTexts {
    /// The texts of each rule, then empty ones (for a row that names no known rule).
    rules: Vec<RuleTexts>,
    /// The parts of the recommendations of each rule, by the same index.
    rule_parts: Vec<RuleParts>,
    rule_ids: ById,
    /// The id of each action, then an empty one.
    actions: Vec<Fixed>,
    action_ids: ById,
    /// The actions of each rule (indices into `actions`, as `action_ids` gives them), by rule
    /// index: a recommendation's action is nearly always one of its rule's, found among a few
    /// without hashing its id.
    rule_actions: Vec<Vec<u32>>,
    /// The cautions each rule raises (indices into `cautions`, as `caution_ids` gives them),
    /// by rule index.
    rule_cautions: Vec<Vec<u32>>,
    /// The texts of each caution, then empty ones.
    cautions: Vec<CautionTexts>,
    caution_ids: ById,
    /// Concept names, by concept index.
    concepts: Vec<Fixed>,
    /// How each concept's mentions start in `results.jsonl`, by concept index:
    /// `,{"concept":"name","start":` (see [`FixedTexts::mention_head`]).
    mention_heads: Vec<Vec<u8>>,
    /// The `results.jsonl` keys of each concept's status and levels, by concept index:
    /// `,"name":` and `,"name_levels":`.
    concept_keys: Vec<[Vec<u8>; 2]>,
    /// Lexicon terms, by term index.
    terms: Vec<Fixed>,
    /// The `term` key and value of each lexicon term in `results.jsonl` (`,"term":"..."`, or
    /// nothing for an empty term), by term index.
    term_fields: Vec<Vec<u8>>,
    /// What follows a mention's text in each format, by section and flags (see
    /// [`FixedTexts::section_and_flags`]).
    section_and_flags: Vec<[Vec<u8>; 2]>,
    none: Fixed,
}

impl FixedTexts {
    pub fn new(pipeline: &Pipeline) -> FixedTexts {
        let rules = pipeline.rules();
        let key = |name: &str, suffix: &str| {
            let mut k = b",\"".to_vec();
            enc::json_escape(&mut k, name.as_bytes());
            k.extend_from_slice(suffix.as_bytes());
            k.extend_from_slice(b"\":");
            k
        };
        let mut rule_texts: Vec<RuleTexts> = rules
            .rules()
            .iter()
            .map(|r| {
                let (id, rationale, source, condition) = r.texts();
                RuleTexts {
                    id: Fixed::shared(id),
                    rationale: Fixed::shared(rationale),
                    source: Fixed::shared(source),
                    condition: condition.map_or_else(|| Fixed::new(""), Fixed::shared),
                }
            })
            .collect();
        rule_texts.push(RuleTexts {
            id: Fixed::new(""),
            rationale: Fixed::new(""),
            source: Fixed::new(""),
            condition: Fixed::new(""),
        });
        let mut caution_texts: Vec<CautionTexts> = rules
            .cautions()
            .iter()
            .map(|c| CautionTexts {
                id: Fixed::shared(&c.id),
                message: Fixed::shared(&c.message),
                source: Fixed::shared(&c.source),
            })
            .collect();
        caution_texts.push(CautionTexts {
            id: Fixed::new(""),
            message: Fixed::new(""),
            source: Fixed::new(""),
        });
        let action_ids = ById::new(rules.actions().iter().map(|a| &a.id));
        // Per rule, the positions in `ids` of the ids `of` lists for it (those it knows).
        type IdsOf = for<'a, 'b> fn(&'a RuleSet, &'b Rule) -> Vec<&'a str>;
        let per_rule = |ids: &ById, of: IdsOf| -> Vec<Vec<u32>> {
            (rules.rules().iter())
                .map(|r| {
                    of(rules, r)
                        .into_iter()
                        .filter_map(|id| ids.get(id))
                        .collect()
                })
                .collect()
        };
        let rule_actions = per_rule(&action_ids, RuleSet::actions_of);
        let actions: Vec<Fixed> = (rules.actions().iter())
            .map(|a| Fixed::shared(&a.id))
            .chain([Fixed::new("")])
            .collect();
        let caution_ids = ById::new(rules.cautions().iter().map(|c| &c.id));
        let rule_cautions = per_rule(&caution_ids, RuleSet::cautions_of);
        // The empty texts that stand for no known rule have parts too, with no actions and no
        // cautions.
        let rule_parts = (rule_texts.iter().enumerate())
            .map(|(i, texts)| {
                let of_rule = rule_actions.get(i).map_or(&[][..], Vec::as_slice);
                let of_rule: Vec<&Fixed> = of_rule.iter().map(|&a| &actions[a as usize]).collect();
                let raised = rule_cautions.get(i).map_or(&[][..], Vec::as_slice);
                let raised: Vec<&CautionTexts> =
                    raised.iter().map(|&c| &caution_texts[c as usize]).collect();
                let own = (rules.rules().get(i)).map(|r| (r.strength(), r.urgency()));
                RuleParts::new(texts, &of_rule, &raised, own)
            })
            .collect();
        let terms: Vec<Fixed> = (pipeline.lexicons().terms.iter())
            .map(|t| Fixed::new(&t.text))
            .collect();
        FixedTexts {
            rule_ids: ById::new(rules.rules().iter().map(|r| r.texts().0)),
            rules: rule_texts,
            rule_parts,
            action_ids,
            rule_actions,
            actions,
            caution_ids,
            rule_cautions,
            cautions: caution_texts,
            concepts: pipeline
                .concept_names()
                .iter()
                .map(|c| Fixed::new(c))
                .collect(),
            mention_heads: pipeline
                .concept_names()
                .iter()
                .map(|c| mention_head(&Fixed::new(c)))
                .collect(),
            concept_keys: pipeline
                .concept_names()
                .iter()
                .map(|c| [key(c, ""), key(c, "_levels")])
                .collect(),
            term_fields: (terms.iter())
                .map(|t| match t.text().is_empty() {
                    true => Vec::new(),
                    false => [&b",\"term\":"[..], t.json_bytes()].concat(),
                })
                .collect(),
            terms,
            section_and_flags: SectionKind::ALL
                .iter()
                .flat_map(|&section| (0..16).map(move |bits| section_and_flags(section, bits)))
                .collect(),
            none: Fixed::new(""),
        }
    }

    /// Finds the rule of a recommendation and which of its texts are the rule's. An id found in
    /// its table is that entry's text: it is not compared again.
    pub fn match_rule(&self, r: &Recommendation) -> RuleMatch {
        let found = self.rule_ids.get(&r.rule);
        let rule = found.unwrap_or(self.rules.len() as u32 - 1);
        let t = self.rule_at(rule);
        let (action, action_found, of_rule) = self.find_action(rule, &r.action);
        let action_id = action_found && !r.action.is_empty();
        let id = found.is_some() && !r.rule.is_empty();
        RuleMatch {
            rule,
            action,
            action_id,
            head: of_rule.filter(|_| action_id && id),
            id,
            rationale: r.rationale == t.rationale.text(),
            source: r.source == t.source.text(),
            condition: (r.condition.as_ref())
                .is_some_and(|c| !c.is_empty() && *c == t.condition.text()),
        }
    }

    /// Finds the definition of a caution and which of its texts are the definition's.
    pub fn match_caution(&self, c: &Caution) -> CautionMatch {
        let found = self.caution_ids.get(&c.id);
        let caution = found.unwrap_or(self.cautions.len() as u32 - 1);
        let t = self.caution_at(caution);
        let rule = self.rule_ids.get(&c.rule);
        let id = found.is_some() && !c.id.is_empty();
        let message = c.message == t.message.text();
        let rule_id = rule.is_some() && !c.rule.is_empty();
        let rule = rule.unwrap_or(self.rules.len() as u32 - 1);
        let raised = (self.rule_cautions.get(rule as usize)).map_or(&[][..], Vec::as_slice);
        CautionMatch {
            caution,
            id,
            message,
            source: c.source == t.source.text(),
            rule,
            rule_id,
            head: (id && rule_id && message)
                .then(|| raised.iter().position(|&k| k == caution))
                .flatten()
                .map(|k| k as u32),
        }
    }

    /// The index of action `id`, looked for first among the actions of rule `rule` (the last
    /// entry, the empty text, when there is no such action); whether it was found; and where it
    /// is among the rule's if it is one.
    #[inline]
    fn find_action(&self, rule: u32, id: &str) -> (u32, bool, Option<u32>) {
        let of_rule = self
            .rule_actions
            .get(rule as usize)
            .map_or(&[][..], Vec::as_slice);
        match (of_rule.iter()).position(|&a| self.action_at(a).equals(id)) {
            Some(k) => (of_rule[k], true, Some(k as u32)),
            None => match self.action_ids.get(id) {
                Some(a) => (a, true, None),
                None => (self.actions.len() as u32 - 1, false, None),
            },
        }
    }

    /// The index of `id` in `ids`, or the last entry of a table of `len` (the empty texts): the
    /// simple look-up, for tests.
    #[cfg(test)]
    fn find(&self, ids: &ById, id: &str, len: usize) -> u32 {
        ids.get_by_bytes(id).unwrap_or(len as u32 - 1)
    }

    /// The same texts without the parts of recommendations and cautions: every
    /// recommendation and caution is written field by field (the simple way, for tests).
    #[cfg(test)]
    pub fn without_rule_parts(mut self) -> FixedTexts {
        self.rule_parts.fill(RuleParts::default());
        self
    }

    /// The parts of the recommendations of a rule (see [`RuleMatch::rule`]).
    #[inline]
    pub fn rule_parts(&self, i: u32) -> &RuleParts {
        &self.rule_parts[(i as usize).min(self.rule_parts.len() - 1)]
    }

    /// The texts of a rule (see [`RuleMatch::rule`]).
    #[inline]
    pub fn rule_at(&self, i: u32) -> &RuleTexts {
        &self.rules[(i as usize).min(self.rules.len() - 1)]
    }

    /// The id of an action (see [`RuleMatch::action`]).
    #[inline]
    pub fn action_at(&self, i: u32) -> &Fixed {
        &self.actions[(i as usize).min(self.actions.len() - 1)]
    }

    /// The texts of a caution (see [`CautionMatch::caution`]).
    #[inline]
    pub fn caution_at(&self, i: u32) -> &CautionTexts {
        &self.cautions[(i as usize).min(self.cautions.len() - 1)]
    }

    /// The name of a concept.
    #[inline]
    pub fn concept(&self, id: ConceptId) -> &Fixed {
        self.concepts.get(id.index()).unwrap_or(&self.none)
    }

    /// How a mention of concept `id` starts in `results.jsonl`, with the comma that comes
    /// before every mention but the first: `,{"concept":"name","start":`.
    #[inline]
    pub fn mention_head(&self, id: ConceptId) -> &[u8] {
        self.mention_heads
            .get(id.index())
            .map_or(b",{\"concept\":\"\",\"start\":", Vec::as_slice)
    }

    /// The `results.jsonl` key of concept `i`'s status (`,"name":`), or of its levels.
    #[inline]
    pub fn concept_key(&self, i: usize, levels: bool) -> &[u8] {
        self.concept_keys
            .get(i)
            .map_or(b",\"\":", |k| &k[usize::from(levels)])
    }

    /// The lexicon term that matched a mention.
    #[inline]
    pub fn term(&self, m: &Mention) -> &Fixed {
        self.terms.get(m.term as usize).unwrap_or(&self.none)
    }

    /// The `term` key and value of a mention in `results.jsonl` (`,"term":"..."`), or nothing
    /// when its term is empty.
    #[inline]
    pub fn term_field(&self, m: &Mention) -> &[u8] {
        self.term_fields
            .get(m.term as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// A mention's section and its four flags, as the CSV cells that follow its text
    /// (`,findings,false,true,false,false`) or as the JSON that does, from the quote that ends
    /// the text (`","section":"findings","negated":false,...`): written once per section and
    /// combination of flags. `bits` are the mention's flags as bits (see
    /// [`super::shared::MentionOut::bits`]).
    #[inline]
    pub fn section_and_flags(&self, section: SectionKind, bits: u8, json: bool) -> &[u8] {
        let i = section as usize * 16 + usize::from(bits);
        match self.section_and_flags.get(i) {
            Some(both) => &both[usize::from(json)],
            None => &[],
        }
    }
}

/// [`FixedTexts::mention_head`] of a concept name.
fn mention_head(name: &Fixed) -> Vec<u8> {
    let mut head = b",{\"concept\":".to_vec();
    head.extend_from_slice(name.json_bytes());
    head.extend_from_slice(b",\"start\":");
    head
}

/// [`FixedTexts::section_and_flags`] of `section` and flag `bits`, CSV then JSON. Written
/// with plain appends: the run makes 128 of them before its first report.
fn section_and_flags(section: SectionKind, bits: usize) -> [Vec<u8>; 2] {
    let names = ["negated", "uncertain", "historical", "hypothetical"];
    let mut csv = Vec::with_capacity(48);
    csv.push(b',');
    csv.extend_from_slice(section.as_str().as_bytes());
    let mut json = Vec::with_capacity(112);
    json.extend_from_slice(b"\",\"section\":\"");
    json.extend_from_slice(section.as_str().as_bytes());
    json.push(b'"');
    for (i, name) in names.iter().enumerate() {
        let set: &[u8] = if bits & (1 << i) != 0 {
            b"true"
        } else {
            b"false"
        };
        csv.push(b',');
        csv.extend_from_slice(set);
        json.extend_from_slice(b",\"");
        json.extend_from_slice(name.as_bytes());
        json.extend_from_slice(b"\":");
        json.extend_from_slice(set);
    }
    [csv, json]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`FixedTexts::match_rule`] with every id looked up in its table.
    fn match_rule_by_hash(f: &FixedTexts, r: &Recommendation) -> RuleMatch {
        let rule = f.find(&f.rule_ids, &r.rule, f.rules.len());
        let t = f.rule_at(rule);
        let action = f.find(&f.action_ids, &r.action, f.actions.len());
        let condition = r.condition.as_deref().unwrap_or("");
        let action_id = !r.action.is_empty() && r.action == f.action_at(action).text();
        let id = !r.rule.is_empty() && r.rule == t.id.text();
        let of_rule = f
            .rule_actions
            .get(rule as usize)
            .map_or(&[][..], Vec::as_slice);
        RuleMatch {
            rule,
            action,
            action_id,
            head: (of_rule.iter().position(|&a| a == action))
                .filter(|_| action_id && id)
                .map(|k| k as u32),
            id,
            rationale: r.rationale == t.rationale.text(),
            source: r.source == t.source.text(),
            condition: !condition.is_empty() && condition == t.condition.text(),
        }
    }

    proptest::proptest! {
        /// Ids found in the table are those a map of the same pairs finds, however their
        /// lengths, first and last bytes and repeats collide.
        #[test]
        fn ids_found_in_the_table_match_ids_found_in_a_map(
            ids in proptest::collection::vec("(fracture|fr)[._a]{0,12}(_dxa|x)?", 0..40),
            others in proptest::collection::vec("(fracture|fr)[._a]{0,12}(_dxa|x)?", 0..20),
        ) {
            // Each id a handle of its own, as the rule set's are (an id given twice has two).
            let handles: Vec<Text> = ids.iter().map(|id| Text::from(id.as_str())).collect();
            let table = ById::new(&handles);
            let map: std::collections::HashMap<&str, u32> =
                (0u32..).zip(&ids).map(|(i, id)| (id.as_str(), i)).collect();
            // Found by address (the handles), and by bytes (copies at other addresses).
            for id in handles.iter().map(|h| &**h).chain(ids.iter().chain(&others).map(String::as_str)) {
                let want = map.get(id).copied();
                proptest::prop_assert_eq!(table.get(id), want, "{}", id);
                proptest::prop_assert_eq!(table.get_by_bytes(id), want, "{}", id);
            }
        }

        /// Actions looked for among their rule's first are the actions their ids name.
        #[test]
        fn actions_found_by_rule_match_actions_found_by_id(
            picks in proptest::collection::vec((0usize..64, 0usize..64), 1..20),
        ) {
            let p = Pipeline::builtin();
            let f = FixedTexts::new(&p);
            let rules = p.rules();
            for (rule, action) in picks {
                let none = |k: usize| if k % 2 == 0 { "" } else { "no.such.id" };
                let rule_id = rules.rules().get(rule).map_or(none(rule), |r| r.id());
                let action_id = rules.actions().get(action).map_or(none(action), |a| a.id.as_str());
                let r = Recommendation {
                    action: action_id.into(),
                    rule: rule_id.into(),
                    ..crate::recommend::blank_recommendation()
                };
                let (fast, simple) = (f.match_rule(&r), match_rule_by_hash(&f, &r));
                proptest::prop_assert_eq!(format!("{fast:?}"), format!("{simple:?}"));
                // The same ids as the rule set's handles (found by address), as rows hold them.
                let shared = Recommendation {
                    action: rules.actions().get(action).map_or(r.action.clone(), |a| a.id.clone()),
                    rule: rules.rules().get(rule).map_or(r.rule.clone(), |x| x.texts().0.clone()),
                    ..r.clone()
                };
                let (fast, simple) = (f.match_rule(&shared), match_rule_by_hash(&f, &r));
                proptest::prop_assert_eq!(format!("{fast:?}"), format!("{simple:?}"));
                // And the actions a rule gives are found among its own.
                if let Some(rule) = rules.rules().get(rule) {
                    for a in rules.actions_of(rule) {
                        let r = Recommendation { action: a.into(), ..r.clone() };
                        let (fast, simple) = (f.match_rule(&r), match_rule_by_hash(&f, &r));
                        proptest::prop_assert_eq!(format!("{fast:?}"), format!("{simple:?}"));
                    }
                }
            }
        }
    }

    /// Cautions matched to their definitions are the matches of every id looked up in its table
    /// and every text compared.
    #[test]
    fn cautions_found_by_id_match_cautions_compared_text_by_text() {
        let p = Pipeline::builtin();
        let f = FixedTexts::new(&p);
        let defined = p.rules().cautions();
        let ids = (defined.iter().map(|c| c.id.as_str())).chain(["", "no.such.caution"]);
        let rules = p.rules().rules();
        for (k, id) in ids.enumerate() {
            let own = defined.get(k);
            let texts =
                |t: fn(&crate::recommend::CautionDef) -> &str| [own.map_or("", t), "", "other"];
            // A rule that raises the caution (if one does), a rule id that names a rule, one
            // that names none, and none.
            let raising = (rules.iter())
                .find(|r| p.rules().cautions_of(r).contains(&id))
                .map_or("", |r| r.id());
            let rule_ids = [raising, rules[k % rules.len()].id(), "r", ""];
            for (rule_id, message) in rule_ids
                .iter()
                .flat_map(|r| texts(|c| &c.message).map(move |m| (*r, m)))
            {
                for source in texts(|c| &c.source) {
                    let c = Caution {
                        id: id.into(),
                        rule: rule_id.into(),
                        message: message.into(),
                        evidence: Vec::new(),
                        source: source.into(),
                    };
                    let caution = f.find(&f.caution_ids, &c.id, f.cautions.len());
                    let t = f.caution_at(caution);
                    let rule = f.find(&f.rule_ids, &c.rule, f.rules.len());
                    let same_id = !c.id.is_empty() && c.id == t.id.text();
                    let same_message = c.message == t.message.text();
                    let rule_id = !c.rule.is_empty() && c.rule == f.rule_at(rule).id.text();
                    // Where the caution's id is among those its rule raises, by name.
                    let raised =
                        (rules.get(rule as usize)).map_or(Vec::new(), |r| p.rules().cautions_of(r));
                    let simple = CautionMatch {
                        caution,
                        id: same_id,
                        message: same_message,
                        source: c.source == t.source.text(),
                        rule,
                        rule_id,
                        head: (same_id && rule_id && same_message)
                            .then(|| raised.iter().position(|r| *r == &*c.id))
                            .flatten()
                            .map(|k| k as u32),
                    };
                    assert_eq!(
                        format!("{:?}", f.match_caution(&c)),
                        format!("{simple:?}"),
                        "{id}"
                    );
                    // The same ids as the rule set's handles (found by address), as rows hold
                    // them.
                    let shared = Caution {
                        id: own.map_or(c.id.clone(), |d| d.id.clone()),
                        rule: (rules.iter().find(|r| r.id() == &*c.rule))
                            .map_or(c.rule.clone(), |r| r.texts().0.clone()),
                        ..c.clone()
                    };
                    assert_eq!(
                        format!("{:?}", f.match_caution(&shared)),
                        format!("{simple:?}"),
                        "{id}"
                    );
                }
            }
        }
    }

    /// Sections and flags as the cells and keys they stand for, written with `format!`.
    #[test]
    fn section_and_flags_match_the_formatted_texts() {
        let names = ["negated", "uncertain", "historical", "hypothetical"];
        for &section in SectionKind::ALL.iter() {
            for bits in 0..16 {
                let mut csv = format!(",{}", section.as_str());
                let mut json = format!("\",\"section\":\"{}\"", section.as_str());
                for (i, name) in names.iter().enumerate() {
                    let set = bits & (1 << i) != 0;
                    csv.push_str(&format!(",{set}"));
                    json.push_str(&format!(",\"{name}\":{set}"));
                }
                assert_eq!(
                    section_and_flags(section, bits),
                    [csv.into_bytes(), json.into_bytes()]
                );
            }
        }
    }
}
