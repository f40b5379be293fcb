//! The baseline the pipeline is measured against: one raw Aho-Corasick pass (leftmost-longest,
//! ASCII case-insensitive) with a few hundred spine patterns over generated reports, counting
//! matches and doing nothing else. End-to-end extraction should run at a fair fraction of this
//! speed (the "Archive scale" target is at least a quarter of it on one thread).

use aho_corasick::{AhoCorasick, MatchKind};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

/// Reports in the benchmark corpus (about 1.3 MB of text).
const REPORTS: usize = 2_000;
const SEED: u64 = 20_240_601;

/// Finding words and phrases.
const FINDINGS: &[&str] = &[
    "compression fracture",
    "compression deformity",
    "compression deformities",
    "wedge deformity",
    "wedge compression",
    "wedging",
    "burst fracture",
    "endplate fracture",
    "endplate depression",
    "vertebra plana",
    "fracture deformity",
    "loss of height",
    "height loss",
    "loss of vertebral body height",
    "vertebral body height",
    "fracture",
    "fractures",
    "retropulsion",
    "retropulsed",
    "posterior displacement",
    "osteopenia",
    "osteopenic",
    "osteoporosis",
    "osteoporotic",
    "demineralization",
    "demineralized",
    "decreased bone density",
    "decreased bone mineral density",
    "low bone density",
    "decreased mineralization",
    "bone mineralization",
    "anterolisthesis",
    "retrolisthesis",
    "spondylolisthesis",
    "listhesis",
    "lateral listhesis",
    "pars defect",
    "pars defects",
    "pars interarticularis",
    "spondylolysis",
    "spondylosis",
    "degenerative disc disease",
    "degenerative change",
    "degenerative changes",
    "disc space narrowing",
    "disc height",
    "osteophyte",
    "osteophytes",
    "osteophytosis",
    "facet arthropathy",
    "facet hypertrophy",
    "facet arthrosis",
    "uncovertebral hypertrophy",
    "endplate sclerosis",
    "vacuum disc",
    "vacuum phenomenon",
    "dish",
    "diffuse idiopathic skeletal hyperostosis",
    "scoliosis",
    "dextroscoliosis",
    "levoscoliosis",
    "dextroconvex",
    "levoconvex",
    "curvature",
    "cobb angle",
    "kyphosis",
    "hyperkyphosis",
    "kyphotic",
    "kyphotic angulation",
    "kyphotic deformity",
    "lordosis",
    "malalignment",
    "subluxation",
    "dislocation",
    "translation",
    "alignment",
    "fusion",
    "instrumentation",
    "pedicle screw",
    "pedicle screws",
    "rods",
    "rod",
    "cage",
    "interbody cage",
    "fusion cage",
    "plate and screws",
    "hardware",
    "vertebroplasty",
    "kyphoplasty",
    "cement",
    "laminectomy",
    "discectomy",
    "lytic",
    "blastic",
    "sclerotic",
    "destructive",
    "lesion",
    "lesions",
    "metastasis",
    "metastases",
    "metastatic",
    "bone island",
    "lucency",
    "sclerotic focus",
    "pathologic fracture",
    "schmorl node",
    "schmorl's node",
    "spinal canal",
    "neural foramina",
    "pedicle",
    "pedicles",
    "posterior elements",
    "odontoid",
    "dens",
    "sacroiliac",
    "vertebral body",
    "vertebral bodies",
];

/// Context triggers (negation, hedging, history, hypothetical, pseudo-negation, terminators).
const TRIGGERS: &[&str] = &[
    "no",
    "not",
    "without",
    "negative for",
    "no evidence of",
    "no significant",
    "absence of",
    "free of",
    "resolved",
    "ruled out",
    "denies",
    "unremarkable",
    "within normal limits",
    "no acute",
    "no new",
    "no change",
    "no significant change",
    "no interval change",
    "not only",
    "possible",
    "possibly",
    "probable",
    "probably",
    "likely",
    "questionable",
    "suspected",
    "suspicious for",
    "concerning for",
    "may represent",
    "may be",
    "cannot be excluded",
    "not excluded",
    "cannot exclude",
    "versus",
    "vs",
    "equivocal",
    "indeterminate",
    "age-indeterminate",
    "history of",
    "prior",
    "previous",
    "previously",
    "status post",
    "s/p",
    "known",
    "old",
    "remote",
    "healed",
    "chronic",
    "acute",
    "subacute",
    "stable",
    "unchanged",
    "interval",
    "new",
    "evaluate for",
    "evaluation for",
    "rule out",
    "r/o",
    "assess for",
    "question of",
    "if",
    "consider",
    "recommend",
    "follow-up",
    "but",
    "however",
    "although",
    "except",
    "which",
    "mild",
    "minimal",
    "moderate",
    "severe",
    "marked",
    "advanced",
    "slight",
    "trace",
    "grade",
    "grade i",
    "grade ii",
    "grade iii",
    "grade 1",
    "grade 2",
    "grade 3",
    "percent",
    "degrees",
    "mm",
    "compatible with",
    "consistent with",
    "suggestive of",
    "compared with",
];

/// Vertebra names and disc-level forms (`L4-5`, `L4/5`, `L5-S1`).
fn levels() -> Vec<String> {
    const V: [&str; 29] = [
        "C1", "C2", "C3", "C4", "C5", "C6", "C7", "T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8",
        "T9", "T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5", "S1", "S2", "S3", "S4", "S5",
    ];
    let mut out: Vec<String> = V.iter().map(|s| s.to_string()).collect();
    for w in V.windows(2) {
        let (a, b) = (w[0], w[1]);
        out.push(format!("{a}-{b}"));
        if a.as_bytes()[0] == b.as_bytes()[0] {
            out.push(format!("{a}-{}", &b[1..]));
            out.push(format!("{a}/{}", &b[1..]));
        } else {
            out.push(format!("{a}/{b}"));
        }
    }
    out
}

fn patterns() -> Vec<String> {
    let mut p: Vec<String> = FINDINGS
        .iter()
        .chain(TRIGGERS)
        .map(|s| s.to_string())
        .collect();
    p.extend(levels());
    p.sort();
    p.dedup();
    p
}

fn count(ac: &AhoCorasick, corpus: &[String]) -> usize {
    corpus.iter().map(|t| ac.find_iter(t).count()).sum()
}

fn bench_scan(c: &mut Criterion) {
    let corpus: Vec<String> = spinex::gen::generate(SEED, REPORTS)
        .map(|r| r.text)
        .collect();
    let bytes: usize = corpus.iter().map(String::len).sum();
    let joined = corpus.join("\n");
    let patterns = patterns();
    assert!(patterns.len() >= 250, "only {} patterns", patterns.len());
    let ac = AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostLongest)
        .ascii_case_insensitive(true)
        .build(&patterns)
        .expect("patterns compile");

    // The expected count, computed once outside the timed closures.
    let expected = count(&ac, &corpus);
    assert!(expected > 0, "the scan finds nothing");
    let expected_joined = ac.find_iter(&joined).count();
    assert!(expected_joined >= expected, "joining lost matches");
    eprintln!(
        "scan: {} patterns, {REPORTS} reports, {bytes} bytes, {expected} matches",
        patterns.len()
    );

    let mut g = c.benchmark_group("scan");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("aho_corasick_per_report", |b| {
        b.iter(|| {
            let n = count(&ac, black_box(&corpus));
            assert_eq!(n, expected);
            n
        })
    });
    g.throughput(Throughput::Bytes(joined.len() as u64));
    g.bench_function("aho_corasick_one_haystack", |b| {
        b.iter(|| {
            let n = ac.find_iter(black_box(joined.as_str())).count();
            assert_eq!(n, expected_joined);
            n
        })
    });
    g.finish();

    let mut g = c.benchmark_group("generate");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("reports", |b| {
        b.iter(|| {
            let n: usize = spinex::gen::generate(black_box(SEED), REPORTS)
                .map(|r| r.text.len())
                .sum();
            assert_eq!(n, bytes);
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench_scan);
criterion_main!(benches);
