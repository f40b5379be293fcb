//! spinex reads free-text spine radiograph reports (and chest radiograph reports that mention
//! the spine), finds the spine findings they state, decides whether each is affirmed, negated,
//! hedged, historical or hypothetical, reads levels, severity, age and grades, and turns the
//! result into guideline-based next steps with the evidence and the source for each.
//!
//! # Stages
//! A [`Pipeline`] is built once from [`lexicon::Lexicons`] and then only read (`Send + Sync`):
//!
//! 1. sections (`INDICATION:`, `FINDINGS:`, `IMPRESSION:` ...),
//! 2. sentences,
//! 3. concept matching (one Aho-Corasick pass over a whitespace- and case-folded view of the
//!    text; leftmost-longest, token-bounded),
//! 4. context (ConText: negated, uncertain, historical, hypothetical, each with its trigger),
//! 5. attributes (levels, ranges, severity, acuity, grades, direction),
//! 6. report-level status per concept,
//! 7. recommendations and audit flags.
//!
//! # Offsets
//! Every [`Span`] is a half-open byte range into the original text. Output tables convert to
//! character offsets with [`span::CharIndex`].
//!
//! # Example
//! ```ignore
//! use spinex::{Pipeline, Report, Status, ConceptId};
//! let pipeline = Pipeline::builtin();
//! let report = Report::new("r1", "FINDINGS: Mild T12 compression deformity. No spondylolisthesis.");
//! let a = pipeline.analyze(&report);
//! assert_eq!(a.status(ConceptId::VERTEBRAL_FRACTURE), Some(Status::Present));
//! assert_eq!(a.status(ConceptId::SPONDYLOLISTHESIS), Some(Status::Absent));
//! assert_eq!(a.concept(ConceptId::VERTEBRAL_FRACTURE).levels.to_string(), "T12");
//! ```ignore
#![deny(missing_docs)]

pub mod gen;
pub mod model;
pub mod pipeline;
pub mod span;

pub use pipeline::Pipeline;

pub use model::*;
