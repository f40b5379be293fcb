//! Lexicons: the data that drives detection and context, read from TSV files with a header
//! row, validated with `path:line` errors, and compiled into the binary as defaults.
//!
//! Files (schema in `lexicons/README.md`): `concepts.tsv`, `context.tsv`, `modifiers.tsv`,
//! `sections.tsv`; an optional user targets CSV (`term,concept`) adds concepts at run time.

use crate::model::*;
use std::path::Path;

/// Where a term may count as a spine finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The words are spinal by themselves.
    Intrinsic,
    /// Needs a spine word, level or region nearby, or a spine exam.
    Spine,
    /// Counts unless another bone or joint is named nearer than any spine word.
    NotOther,
}

/// One concept term.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// The term as written in the lexicon.
    pub text: String,
    /// Concept it names.
    pub concept: ConceptId,
    /// Anchoring rule.
    pub anchor: Anchor,
    /// Direction implied by the term (dextroscoliosis, anterolisthesis).
    pub direction: Option<Direction>,
    /// Acuity implied by the term.
    pub acuity: Option<Acuity>,
    /// Severity implied by the term.
    pub severity: Option<Severity>,
    /// The term only means something when denied ("alignment is normal").
    pub only_negated: bool,
    /// A denial near the term is about a property, not the thing ("no hardware complication").
    pub only_affirmed: bool,
    /// The words themselves deny the finding ("normal in height").
    pub denial: bool,
    /// Vertebrae the words name ("odontoid fracture" is C2).
    pub levels: Levels,
    /// Added from a user targets file (matched apart from the shipped patterns).
    pub from_targets: bool,
    /// Genant grade the words imply ("vertebra plana" is grade 3).
    pub genant: Option<u8>,
}

str_enum! {
    /// ConText category of a rule.
    Category {
        /// Denies the finding.
        Negated => "negated",
        /// Hedges the finding.
        Uncertain => "uncertain",
        /// Places the finding in past history.
        Historical => "historical",
        /// Places the finding in a hypothetical (indication, "if", "evaluate for").
        Hypothetical => "hypothetical",
        /// Looks like a trigger but is not one ("no significant change in").
        Pseudo => "pseudo",
        /// Ends the scope of every trigger ("but", "however").
        Terminate => "terminate",
    }
}

str_enum! {
    /// Which way a ConText rule's scope runs.
    ScopeDirection {
        /// From the trigger to the end of the sentence.
        Forward => "forward",
        /// From the start of the sentence to the trigger.
        Backward => "backward",
        /// Both ways.
        Bidirectional => "bidirectional",
        /// No scope (pseudo and terminate rows).
        None => "none",
    }
}

/// One ConText rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextRule {
    /// Literal as written.
    pub literal: String,
    /// Category.
    pub category: Category,
    /// Direction.
    pub direction: ScopeDirection,
    /// Cap on scope in tokens; 0 = to the sentence edge.
    pub max_scope: u16,
    /// Concepts the rule applies to (empty = all).
    pub allowed: Vec<ConceptId>,
    /// Concepts the rule never applies to.
    pub excluded: Vec<ConceptId>,
}

impl ContextRule {
    /// Whether the rule may modify a mention of `c`.
    pub fn applies_to(&self, c: ConceptId) -> bool {
        (self.allowed.is_empty() || self.allowed.contains(&c)) && !self.excluded.contains(&c)
    }
}

str_enum! {
    /// Kind of a modifier word.
    ModifierKind {
        /// Severity word.
        Severity => "severity",
        /// Acuity word.
        Acuity => "acuity",
        /// Region word (also a spine anchor).
        Region => "region",
        /// Spine anchor word.
        Spine => "spine",
        /// A disc word: a spine anchor, except that height loss tied to it is disc
        /// degeneration rather than a vertebral fracture.
        Disc => "disc",
        /// Another bone or joint.
        Other => "other",
        /// Direction of a curve or slip.
        Direction => "direction",
    }
}

/// A modifier's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModifierValue {
    /// No value (spine, other).
    None,
    /// Severity.
    Severity(Severity),
    /// Acuity.
    Acuity(Acuity),
    /// Region.
    Region(Region),
    /// Direction.
    Direction(Direction),
}

/// One modifier word.
#[derive(Debug, Clone, PartialEq)]
pub struct Modifier {
    /// Literal as written.
    pub text: String,
    /// Kind.
    pub kind: ModifierKind,
    /// Value.
    pub value: ModifierValue,
}

/// The lexicons, validated.
#[derive(Debug, Clone, Default)]
pub struct Lexicons {
    /// Concept names: built-ins then user concepts.
    pub concepts: Vec<String>,
    /// Concept terms (built-in and user).
    pub terms: Vec<Term>,
    /// ConText rules.
    pub context: Vec<ContextRule>,
    /// Modifier words.
    pub modifiers: Vec<Modifier>,
    /// Section headers (lowercase, single-spaced) to kinds.
    pub sections: crate::section::HeaderMap,
}

/// The shipped lexicon files, compiled in.
pub const BUILTIN_FILES: [(&str, &str); 4] = [
    ("concepts.tsv", include_str!("../lexicons/concepts.tsv")),
    ("context.tsv", include_str!("../lexicons/context.tsv")),
    ("modifiers.tsv", include_str!("../lexicons/modifiers.tsv")),
    ("sections.tsv", include_str!("../lexicons/sections.tsv")),
];

impl Lexicons {
    /// The shipped lexicons. They are validated by the test suite, so this cannot fail in a
    /// released build.
    pub fn builtin() -> Lexicons {
        let mut lx = Lexicons::empty();
        for (name, text) in BUILTIN_FILES {
            lx.add_file(&format!("lexicons/{name}"), name, text)
                .unwrap_or_else(|e| panic!("shipped lexicon is invalid: {e}"));
        }
        lx
    }

    /// Lexicons read from a directory holding the four files.
    pub fn from_dir(dir: &Path) -> Result<Lexicons, LexiconError> {
        let mut lx = Lexicons::empty();
        if !dir.is_dir() {
            return Err(LexiconError::new(
                dir.display().to_string(),
                0,
                "not a directory",
            ));
        }
        for (name, _) in BUILTIN_FILES {
            let path = dir.join(name);
            let shown = path.display().to_string();
            let bytes = std::fs::read(&path).map_err(|e| {
                LexiconError::new(
                    &shown,
                    0,
                    format!("cannot read: {}", crate::input::io_reason(&e)),
                )
            })?;
            let text = String::from_utf8(bytes).map_err(|e| {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = 1 + valid.iter().filter(|&&b| b == b'\n').count();
                LexiconError::new(&shown, line, "not valid UTF-8")
            })?;
            lx.add_file(&shown, name, &text)?;
        }
        Ok(lx)
    }

    fn empty() -> Lexicons {
        Lexicons {
            concepts: BUILTIN_CONCEPTS.iter().map(|s| s.to_string()).collect(),
            ..Lexicons::default()
        }
    }

    fn add_file(&mut self, shown: &str, name: &str, text: &str) -> Result<(), LexiconError> {
        match name {
            "concepts.tsv" => self.read_concepts(shown, text),
            "context.tsv" => self.read_context(shown, text),
            "modifiers.tsv" => self.read_modifiers(shown, text),
            "sections.tsv" => self.read_sections(shown, text),
            _ => Err(LexiconError::new(shown, 0, "unknown lexicon file")),
        }
    }

    /// Index of a concept name.
    pub fn concept_id(&self, name: &str) -> Option<ConceptId> {
        self.concepts
            .iter()
            .position(|c| c == name)
            .map(|i| ConceptId(i as u16))
    }

    fn read_concepts(&mut self, path: &str, text: &str) -> Result<(), LexiconError> {
        for row in rows(path, text, &["term", "concept", "anchor", "attrs"], 3)? {
            let (line, f) = row;
            let err = |m: String| LexiconError::new(path, line, m);
            let term = check_literal(f[0]).map_err(err)?;
            let concept = self.concept_id(f[1]).ok_or_else(|| {
                err(format!(
                    "unknown concept {:?}; expected one of: {}",
                    f[1],
                    BUILTIN_CONCEPTS.join(", ")
                ))
            })?;
            let anchor = match f[2] {
                "intrinsic" => Anchor::Intrinsic,
                "spine" => Anchor::Spine,
                "not_other" => Anchor::NotOther,
                other => {
                    return Err(err(format!(
                        "unknown anchor {other:?}; expected one of: intrinsic, spine, not_other"
                    )))
                }
            };
            let mut t = Term {
                text: term,
                concept,
                anchor,
                direction: None,
                acuity: None,
                severity: None,
                only_negated: false,
                only_affirmed: false,
                denial: false,
                levels: Levels::EMPTY,
                from_targets: false,
                genant: None,
            };
            for kv in f.get(3).copied().unwrap_or("").split(',').map(str::trim) {
                if kv.is_empty() {
                    continue;
                }
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| err(format!("attribute {kv:?} is not key=value")))?;
                match k {
                    "direction" => t.direction = Some(parse_enum(v, Direction::parse, Direction::allowed).map_err(err)?),
                    "acuity" => t.acuity = Some(parse_enum(v, Acuity::parse, Acuity::allowed).map_err(err)?),
                    "severity" => t.severity = Some(parse_enum(v, Severity::parse, Severity::allowed).map_err(err)?),
                    "only" if v == "negated" => t.only_negated = true,
                    "only" if v == "affirmed" => t.only_affirmed = true,
                    "only" if v == "denial" => t.denial = true,
                    "genant" => {
                        t.genant = Some(v.parse::<u8>().ok().filter(|g| (1..=3).contains(g)).ok_or_else(|| {
                            err(format!("genant {v:?}: expected 1, 2 or 3"))
                        })?)
                    }
                    "level" => {
                        let i = Levels::index_of(v).ok_or_else(|| {
                            err(format!("unknown level {v:?}; expected a vertebra C1-C7, T1-T12, L1-L5 or S1-S5"))
                        })?;
                        t.levels.insert(i);
                    }
                    _ => {
                        return Err(err(format!(
                            "unknown attribute {kv:?}; expected direction=, acuity=, severity=, only=negated, only=affirmed, only=denial, level= or genant="
                        )))
                    }
                }
            }
            self.terms.push(t);
        }
        Ok(())
    }

    fn read_context(&mut self, path: &str, text: &str) -> Result<(), LexiconError> {
        let header = ["literal", "category", "direction", "max_scope", "concepts"];
        for (line, f) in rows(path, text, &header, 3)? {
            let err = |m: String| LexiconError::new(path, line, m);
            let literal = check_literal(f[0]).map_err(err)?;
            let category = parse_enum(f[1], Category::parse, Category::allowed).map_err(err)?;
            let direction =
                parse_enum(f[2], ScopeDirection::parse, ScopeDirection::allowed).map_err(err)?;
            let scoped = !matches!(category, Category::Pseudo | Category::Terminate);
            if scoped == (direction == ScopeDirection::None) {
                return Err(err(if scoped {
                    format!(
                        "a {category} rule needs a direction: forward, backward or bidirectional"
                    )
                } else {
                    format!("a {category} rule takes direction none")
                }));
            }
            let max_scope = match f.get(3).copied().unwrap_or("") {
                "" => 0,
                s => s.parse::<u16>().map_err(|_| {
                    err(format!(
                        "max_scope {s:?} is not a whole number of tokens (0 = sentence)"
                    ))
                })?,
            };
            let (mut allowed, mut excluded) = (Vec::new(), Vec::new());
            for c in f.get(4).copied().unwrap_or("").split(',').map(str::trim) {
                if c.is_empty() {
                    continue;
                }
                let (neg, name) = match c.strip_prefix('!') {
                    Some(n) => (true, n),
                    None => (false, c),
                };
                let id = self.concept_id(name).ok_or_else(|| {
                    err(format!(
                        "unknown concept {name:?}; expected one of: {}",
                        BUILTIN_CONCEPTS.join(", ")
                    ))
                })?;
                if neg {
                    excluded.push(id)
                } else {
                    allowed.push(id)
                }
            }
            self.context.push(ContextRule {
                literal,
                category,
                direction,
                max_scope,
                allowed,
                excluded,
            });
        }
        Ok(())
    }

    fn read_modifiers(&mut self, path: &str, text: &str) -> Result<(), LexiconError> {
        for (line, f) in rows(path, text, &["term", "kind", "value"], 2)? {
            let err = |m: String| LexiconError::new(path, line, m);
            let term = check_literal(f[0]).map_err(err)?;
            let kind = parse_enum(f[1], ModifierKind::parse, ModifierKind::allowed).map_err(err)?;
            let v = f.get(2).copied().unwrap_or("");
            let value = match kind {
                ModifierKind::Severity => ModifierValue::Severity(
                    parse_enum(v, Severity::parse, Severity::allowed).map_err(err)?,
                ),
                ModifierKind::Acuity => ModifierValue::Acuity(
                    parse_enum(v, Acuity::parse, Acuity::allowed).map_err(err)?,
                ),
                ModifierKind::Region => ModifierValue::Region(
                    parse_enum(v, Region::parse, Region::allowed).map_err(err)?,
                ),
                ModifierKind::Direction => ModifierValue::Direction(
                    parse_enum(v, Direction::parse, Direction::allowed).map_err(err)?,
                ),
                ModifierKind::Spine | ModifierKind::Disc | ModifierKind::Other => {
                    if !v.is_empty() {
                        return Err(err(format!("a {kind} modifier takes no value")));
                    }
                    ModifierValue::None
                }
            };
            self.modifiers.push(Modifier {
                text: term,
                kind,
                value,
            });
        }
        Ok(())
    }

    fn read_sections(&mut self, path: &str, text: &str) -> Result<(), LexiconError> {
        for (line, f) in rows(path, text, &["header", "kind"], 2)? {
            let err = |m: String| LexiconError::new(path, line, m);
            let header = check_literal(f[0]).map_err(err)?;
            let kind = parse_enum(f[1], SectionKind::parse, SectionKind::allowed).map_err(err)?;
            let key = crate::text::fold_str(&header);
            if self.sections.insert(key, kind).is_some() {
                return Err(err(format!("duplicate header {header:?}")));
            }
        }
        Ok(())
    }

    /// Adds user concepts from a `term,concept` CSV (header row required). New concept names
    /// are appended after the built-ins; terms may also extend a built-in concept.
    pub fn add_targets(&mut self, path: &str, text: &str) -> Result<(), LexiconError> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(text.as_bytes());
        let headers = rdr
            .headers()
            .map_err(|e| LexiconError::new(path, 1, format!("cannot read header: {e}")))?
            .clone();
        let ti = headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case("term"));
        let ci = headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case("concept"));
        let (Some(ti), Some(ci)) = (ti, ci) else {
            return Err(LexiconError::new(
                path,
                1,
                format!(
                    "expected a header with columns term,concept; found: {}",
                    headers.iter().collect::<Vec<_>>().join(",")
                ),
            ));
        };
        for rec in rdr.records() {
            let rec = rec.map_err(|e| {
                let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
                LexiconError::new(path, line, format!("malformed CSV: {e}"))
            })?;
            let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
            let err = |m: String| LexiconError::new(path, line, m);
            let term = check_literal(rec.get(ti).unwrap_or("").trim()).map_err(err)?;
            let name = rec.get(ci).unwrap_or("").trim();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(err(format!(
                    "concept {name:?} must be a snake_case id (a-z, 0-9, _)"
                )));
            }
            let concept = match self.concept_id(name) {
                Some(c) => c,
                None => {
                    if self.concepts.len() >= u16::MAX as usize {
                        return Err(err("too many concepts".into()));
                    }
                    self.concepts.push(name.to_string());
                    ConceptId((self.concepts.len() - 1) as u16)
                }
            };
            for text in std::iter::once(term.clone()).chain(plural(&term)) {
                if self
                    .terms
                    .iter()
                    .any(|t| t.concept == concept && t.text.eq_ignore_ascii_case(&text))
                {
                    continue;
                }
                self.terms.push(Term {
                    text,
                    concept,
                    anchor: Anchor::Intrinsic,
                    direction: None,
                    acuity: None,
                    severity: None,
                    only_negated: false,
                    only_affirmed: false,
                    denial: false,
                    levels: Levels::EMPTY,
                    from_targets: true,
                    genant: None,
                });
            }
        }
        Ok(())
    }
}

/// The regular English plural of a user term's last word (`effusion` -> `effusions`,
/// `stone` -> `stones`, `embolus` -> none): user targets match their plural too. Abbreviations
/// in capitals (`DVT`) get `s`.
fn plural(term: &str) -> Option<String> {
    let last = term.rsplit(' ').next()?;
    if last.len() < 3 || !last.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let lower = last.to_ascii_lowercase();
    let p = if lower.ends_with("us") || lower.ends_with("is") {
        return None;
    } else if lower.ends_with('s')
        || lower.ends_with('x')
        || lower.ends_with("ch")
        || lower.ends_with("sh")
    {
        format!("{term}es")
    } else if lower.ends_with('y')
        && !matches!(lower.as_bytes()[lower.len() - 2], b'a' | b'e' | b'o' | b'u')
    {
        format!("{}ies", &term[..term.len() - 1])
    } else {
        format!("{term}s")
    };
    Some(p)
}

/// A comment line: `#` followed by a space or nothing (`#<TAB>...` is a row whose first field
/// is `#`, the fracture shorthand).
pub fn is_comment(line: &str) -> bool {
    line == "#" || line.starts_with("# ") || line.starts_with("##")
}

/// Reads a TSV with a header row: skips `#` comments and blank lines, checks the header, and
/// returns (1-based line, fields) for rows with at least `min` fields.
fn rows<'t>(
    path: &str,
    text: &'t str,
    header: &[&str],
    min: usize,
) -> Result<Vec<(usize, Vec<&'t str>)>, LexiconError> {
    let mut out = Vec::new();
    let mut seen_header = false;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim_end_matches('\r');
        if l.trim().is_empty() || is_comment(l) {
            continue;
        }
        let f: Vec<&str> = l.split('\t').map(str::trim).collect();
        if !seen_header {
            let want = header.join("\t");
            if f.len() < min || f.iter().zip(header).any(|(a, b)| a != b) {
                return Err(LexiconError::new(
                    path,
                    line,
                    format!("expected the header row {want:?} (tab-separated)"),
                ));
            }
            seen_header = true;
            continue;
        }
        if f.len() < min || f.len() > header.len() {
            return Err(LexiconError::new(
                path,
                line,
                format!(
                    "expected {} to {} tab-separated fields ({}), found {}",
                    min,
                    header.len(),
                    header.join(", "),
                    f.len()
                ),
            ));
        }
        out.push((line, f));
    }
    if !seen_header {
        return Err(LexiconError::new(path, 0, "empty file: no header row"));
    }
    Ok(out)
}

fn check_literal(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("empty term".into());
    }
    if crate::text::fold_str(s).trim().is_empty() {
        return Err(format!("term {s:?} has no letters or digits"));
    }
    Ok(s.to_string())
}

fn parse_enum<T>(
    v: &str,
    parse: fn(&str) -> Option<T>,
    allowed: fn() -> String,
) -> Result<T, String> {
    parse(v).ok_or_else(|| format!("unknown value {v:?}; expected one of: {}", allowed()))
}
