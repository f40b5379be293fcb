//! End-to-end `Pipeline::analyze` over generated reports: one thread first, then two threads
//! through rayon to show how the library scales (the machines have two cores), then the stages
//! the library exposes on their own (folding, the whole-token phrase scan over folded text,
//! sections, sentences, levels, status), and the
//! edges `spinex extract` adds around the pipeline: reading JSONL and rendering every table. The
//! `extract/in_memory` bench chains them (read, analyze, render) on one thread, which is
//! `spinex extract --threads 1` without the file system.
//!
//! The corpus is generated and the pipeline compiled outside the timed closures; every bench
//! checks the number of mentions it found against a count taken once before timing, so it
//! cannot silently measure an empty run.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rayon::prelude::*;
use spinex::input::{JsonlReader, ReadOptions};
use spinex::lexicon::Lexicons;
use spinex::output::{Parts, Rendered, Renderer};
use spinex::phrase::PhraseSet;
use spinex::text::Folded;
use spinex::{Pipeline, Report};
use std::hint::black_box;
use std::time::Duration;

/// Reports in the benchmark corpus (about 1.3 MB of text).
const REPORTS: usize = 2_000;
const SEED: u64 = 20_240_601;

/// Mentions found in the whole corpus, sequentially.
fn mentions(p: &Pipeline, corpus: &[Report]) -> usize {
    corpus.iter().map(|r| p.analyze(r).mentions.len()).sum()
}

fn bench_pipeline(c: &mut Criterion) {
    let corpus: Vec<Report> = spinex::gen::generate(SEED, REPORTS).collect();
    let bytes: u64 = corpus.iter().map(|r| r.text.len() as u64).sum();
    let pipeline = Pipeline::builtin();

    let expected = mentions(&pipeline, &corpus);
    assert!(
        expected > 0,
        "the pipeline finds no mention in {REPORTS} generated reports"
    );
    eprintln!("pipeline: {REPORTS} reports, {bytes} bytes, {expected} mentions");

    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    g.throughput(Throughput::Bytes(bytes));

    g.bench_function("analyze_1_thread", |b| {
        b.iter(|| {
            let n = mentions(&pipeline, black_box(&corpus));
            assert_eq!(n, expected);
            n
        })
    });

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("thread pool");
    g.bench_function("analyze_2_threads", |b| {
        b.iter(|| {
            let n: usize = pool.install(|| {
                black_box(&corpus)
                    .par_iter()
                    .with_min_len(16)
                    .map(|r| pipeline.analyze(r).mentions.len())
                    .sum()
            });
            assert_eq!(n, expected);
            n
        })
    });
    g.finish();
}

/// One stage at a time over the same corpus, each with its own expected count.
fn bench_stages(c: &mut Criterion) {
    let corpus: Vec<Report> = spinex::gen::generate(SEED, REPORTS).collect();
    let bytes: u64 = corpus.iter().map(|r| r.text.len() as u64).sum();
    let lex = Lexicons::builtin();
    let pipeline = Pipeline::builtin();

    // Inputs of the later stages, built outside the timed closures.
    let mut sections = Vec::with_capacity(corpus.len());
    let mut analyses = Vec::with_capacity(corpus.len());
    for r in &corpus {
        let mut s = Vec::new();
        spinex::section::sections(&r.text, &lex.sections, &mut s);
        sections.push(s);
        analyses.push(pipeline.analyze(r));
    }

    // The lexicon phrases as the pipeline matches them: folded, with a leading space, once each.
    let mut phrases: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let literals = lex
        .terms
        .iter()
        .map(|t| t.text.as_str())
        .chain(lex.context.iter().map(|r| r.literal.as_str()))
        .chain(lex.modifiers.iter().map(|m| m.text.as_str()));
    for l in literals {
        let p = format!(" {}", spinex::text::fold_str(l));
        if seen.insert(p.clone()) {
            phrases.push(p);
        }
    }
    let phrase_set = PhraseSet::new(&phrases).expect("the shipped phrases compile");
    let folded_corpus: Vec<Vec<u8>> = corpus
        .iter()
        .map(|r| {
            let mut f = Folded::default();
            f.fold(&r.text);
            f.bytes
        })
        .collect();
    let scan_phrases = |folded: &[Vec<u8>]| {
        let mut n = 0usize;
        for hay in folded {
            phrase_set.for_each_match(hay, |_, _, _| n += 1);
        }
        n
    };

    let fold = |corpus: &[Report]| {
        let mut f = Folded::default();
        corpus
            .iter()
            .map(|r| {
                f.fold(&r.text);
                f.bytes.len()
            })
            .sum::<usize>()
    };
    let split_sections = |corpus: &[Report]| {
        let mut out = Vec::new();
        corpus
            .iter()
            .map(|r| {
                out.clear();
                spinex::section::sections(&r.text, &lex.sections, &mut out);
                out.len()
            })
            .sum::<usize>()
    };
    let split_sentences = |corpus: &[Report]| {
        let mut out = Vec::new();
        corpus
            .iter()
            .zip(&sections)
            .map(|(r, s)| {
                out.clear();
                spinex::sentence::sentences(&r.text, s, &mut out);
                out.len()
            })
            .sum::<usize>()
    };
    let read_levels = |corpus: &[Report]| {
        let mut out = Vec::new();
        corpus
            .iter()
            .map(|r| {
                out.clear();
                spinex::attribute::levels(&r.text, 0, r.text.len(), &mut out);
                out.len()
            })
            .sum::<usize>()
    };
    let set_status = |analyses: &[spinex::Analysis]| {
        let mut out = Vec::new();
        analyses
            .iter()
            .map(|a| {
                out.clear();
                spinex::status::statuses(&a.mentions, pipeline.concept_names().len(), &mut out);
                out.iter().filter(|c| c.status.is_some()).count()
            })
            .sum::<usize>()
    };

    let expect = |what: &str, n: usize| {
        assert!(
            n > 0,
            "stage {what} found nothing in {REPORTS} generated reports"
        );
        eprintln!("stage {what}: {n}");
        n
    };
    let folded = expect("fold (bytes)", fold(&corpus));
    let n_phrases = expect("phrase matches", scan_phrases(&folded_corpus));
    let n_sections = expect("sections", split_sections(&corpus));
    let n_sentences = expect("sentences", split_sentences(&corpus));
    let n_levels = expect("levels", read_levels(&corpus));
    let n_status = expect("statuses set", set_status(&analyses));

    let mut g = c.benchmark_group("stage");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("fold", |b| {
        b.iter(|| assert_eq!(fold(black_box(&corpus)), folded))
    });
    g.bench_function("phrase_scan", |b| {
        b.iter(|| assert_eq!(scan_phrases(black_box(&folded_corpus)), n_phrases))
    });
    g.bench_function("sections", |b| {
        b.iter(|| assert_eq!(split_sections(black_box(&corpus)), n_sections))
    });
    g.bench_function("sentences", |b| {
        b.iter(|| assert_eq!(split_sentences(black_box(&corpus)), n_sentences))
    });
    g.bench_function("levels", |b| {
        b.iter(|| assert_eq!(read_levels(black_box(&corpus)), n_levels))
    });
    g.bench_function("status", |b| {
        b.iter(|| assert_eq!(set_status(black_box(&analyses)), n_status))
    });
    g.finish();
}

/// Reports read from JSONL bytes (the reader's own parsing, no disk, no copy).
fn read_jsonl(jsonl: &'static [u8]) -> impl Iterator<Item = Report> {
    let reader = JsonlReader::new(
        Box::new(jsonl),
        "bench.jsonl".to_string(),
        &ReadOptions::default(),
    );
    reader.map(|item| {
        item.expect("in-memory input cannot fail")
            .expect("generated records are valid")
    })
}

/// Reading, rendering and the three chained, as `spinex extract` does on one thread.
fn bench_extract(c: &mut Criterion) {
    let mut buf = Vec::new();
    let written = spinex::gen::write_jsonl(SEED, REPORTS, &mut buf).expect("in memory");
    // The reader takes a `'static` source; the corpus lives as long as the bench anyway.
    let jsonl: &'static [u8] = Box::leak(buf.into_boxed_slice());
    let bytes = written.text_bytes;
    let corpus: Vec<Report> = read_jsonl(jsonl).collect();
    assert_eq!(corpus.len(), REPORTS);
    let pipeline = Pipeline::builtin();
    let renderer = Renderer::new(&pipeline, Parts::ALL);
    let analyses: Vec<spinex::Analysis> = corpus.iter().map(|r| pipeline.analyze(r)).collect();

    let rendered_len = |out: &Rendered| {
        out.reports.len()
            + out.mentions.len()
            + out.recommendations.len()
            + out.cautions.len()
            + out.audit.len()
            + out.results.len()
    };
    let read = |jsonl: &'static [u8]| read_jsonl(jsonl).map(|r| r.text.len()).sum::<usize>();
    let render = |corpus: &[Report], analyses: &[spinex::Analysis]| {
        let mut out = Rendered::default();
        corpus
            .iter()
            .zip(analyses)
            .map(|(r, a)| {
                out.clear();
                renderer.render_into(r, a, &mut out);
                rendered_len(&out)
            })
            .sum::<usize>()
    };
    let extract = |jsonl: &'static [u8]| {
        let mut out = Rendered::default();
        read_jsonl(jsonl)
            .map(|r| {
                let a = pipeline.analyze(&r);
                out.clear();
                renderer.render_into(&r, &a, &mut out);
                rendered_len(&out)
            })
            .sum::<usize>()
    };

    let text_read = read(jsonl);
    assert_eq!(text_read as u64, bytes, "the reader lost text");
    let out_bytes = render(&corpus, &analyses);
    assert!(out_bytes > 0, "nothing rendered");
    assert_eq!(extract(jsonl), out_bytes);
    eprintln!(
        "extract: {REPORTS} reports, {} bytes of JSONL, {bytes} bytes of text, {out_bytes} bytes rendered",
        jsonl.len()
    );

    let mut g = c.benchmark_group("extract");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("read_jsonl", |b| {
        b.iter(|| assert_eq!(read(black_box(jsonl)), text_read))
    });
    g.bench_function("render_all_tables", |b| {
        b.iter(|| assert_eq!(render(black_box(&corpus), &analyses), out_bytes))
    });
    g.bench_function("in_memory", |b| {
        b.iter(|| assert_eq!(extract(black_box(jsonl)), out_bytes))
    });
    g.finish();
}

criterion_group!(benches, bench_pipeline, bench_stages, bench_extract);
criterion_main!(benches);
