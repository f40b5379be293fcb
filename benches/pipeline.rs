//! End-to-end `Pipeline::analyze` over generated reports: one thread first, then two threads
//! through rayon to show how the library scales (the machines have two cores).
//!
//! The corpus is generated and the pipeline compiled outside the timed closures; every bench
//! checks the number of mentions it found against a count taken once before timing, so it
//! cannot silently measure an empty run.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rayon::prelude::*;
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

criterion_group!(benches, bench_pipeline);
criterion_main!(benches);
