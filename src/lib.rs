//! spinex reads free-text spine radiograph reports (and chest radiograph reports that mention
//! the spine), finds the spine findings they state, decides whether each is affirmed, negated,
//! hedged, historical or hypothetical, reads levels, severity, age and grades, and turns the
//! result into guideline-based next steps with the evidence and the source for each.
//!
//! # Stages
//! A [`Pipeline`] is built once from [`lexicon::Lexicons`] and then only read (`Send + Sync`):
//!
//! 1. sections (`INDICATION:`, `FINDINGS:`, `IMPRESSION:` ...): [`section`],
//! 2. sentences: [`sentence`],
//! 3. concept matching: one whole-token phrase pass (leftmost-longest, [`phrase`]) over a
//!    folded view of the text in which case, whitespace runs and dashes are normalized and
//!    punctuation stands apart, so matches fall on whole tokens: [`text`],
//! 4. spine anchoring (a rib fracture is not a vertebral fracture) and context (ConText:
//!    negated, uncertain, historical, hypothetical, each with its trigger): [`context`],
//! 5. attributes (levels, ranges, severity, acuity, grades, direction): [`attribute`],
//! 6. report-level status per concept: [`status`].
//!
//! # Offsets
//! Every [`Span`] is a half-open byte range into the original text. Output tables convert to
//! character offsets with [`span::CharIndex`].
//!
//! # Example
//! ```
//! use spinex::{ConceptId, Pipeline, Report, Status};
//! let pipeline = Pipeline::builtin();
//! let report = Report::new("r1", "FINDINGS: Mild T12 compression deformity. No spondylolisthesis.");
//! let a = pipeline.analyze(&report);
//! assert_eq!(a.status(ConceptId::VERTEBRAL_FRACTURE), Some(Status::Present));
//! assert_eq!(a.status(ConceptId::SPONDYLOLISTHESIS), Some(Status::Absent));
//! assert_eq!(a.concept(ConceptId::VERTEBRAL_FRACTURE).levels.to_string(), "T12");
//! ```
#![deny(missing_docs)]

pub mod attribute;
pub mod audit;
pub mod batch;
pub mod context;
pub mod eval;
pub mod gen;
pub mod input;
pub mod lexicon;
pub mod model;
pub mod output;
pub mod phrase;
pub mod pipeline;
pub mod recommend;
pub mod review;
pub mod section;
pub mod sentence;
pub mod span;
pub mod status;
pub mod text;

pub use model::*;
pub use pipeline::{Pipeline, PipelineBuilder};

/// The README's code examples, compiled and run as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
