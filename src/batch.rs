//! The batch driver: reads records in chunks, analyzes each chunk in parallel, and hands the
//! results to a [`Sink`] strictly in input order.
//!
//! With more than one thread, `threads` workers each take the next chunk (up to
//! [`BatchOptions::chunk_records`] records or [`BatchOptions::chunk_bytes`] bytes of text,
//! whichever comes first; reading is done under a lock, in input order), analyze and render it
//! on their own, and hand it to the writing side, where whichever worker completes the chunk
//! whose turn it is writes it and every later chunk that is already done. Nothing waits on a
//! thread that does nothing but read or write, and each chunk is written from the cache of the
//! core that rendered it. A worker more than two chunks per thread ahead of the writing waits,
//! so memory is bounded by a few small chunks, not by the corpus; written chunks give their
//! output buffers back to be reused. With one thread everything runs in order on the calling
//! thread.
//!
//! (Workers that take whole chunks replaced a rayon `par_iter` over each chunk's reports with
//! separate reader and writer threads: on two cores that spent about 28% more CPU time than
//! one thread, against about 9% for the workers, mostly in threads waiting for one another.)

use crate::input::{InputError, Record};
use crate::model::{Analysis, ConceptResult, Report};
use crate::output::{OutputError, Rendered, Renderer, Sink, Summary};
use crate::pipeline::Pipeline;
use std::fmt;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

/// How a batch runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    /// Analysis threads; `0` means every available core, `1` is the sequential path.
    pub threads: usize,
    /// Most records in one chunk.
    pub chunk_records: usize,
    /// Most bytes of report text in one chunk (a chunk always holds at least one record).
    pub chunk_bytes: usize,
}

impl Default for BatchOptions {
    fn default() -> BatchOptions {
        BatchOptions {
            threads: 0,
            chunk_records: 16,
            chunk_bytes: 1 << 20,
        }
    }
}

impl BatchOptions {
    /// The number of analysis threads this will use.
    pub fn resolved_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        }
    }
}

/// Where a run stands, after each chunk is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Records read and written so far.
    pub records: u64,
    /// Reports written so far.
    pub reports: u64,
    /// Record errors so far.
    pub errors: u64,
    /// Bytes of report text so far.
    pub text_bytes: u64,
}

/// Why a run stopped.
#[derive(Debug)]
pub enum BatchError {
    /// An input could not be read.
    Input(InputError),
    /// An output could not be written.
    Output(OutputError),
    /// The thread pool could not be built.
    Threads(String),
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::Input(e) => e.fmt(f),
            BatchError::Output(e) => e.fmt(f),
            BatchError::Threads(e) => write!(f, "cannot start analysis threads: {e}"),
        }
    }
}

impl std::error::Error for BatchError {}

impl From<InputError> for BatchError {
    fn from(e: InputError) -> BatchError {
        BatchError::Input(e)
    }
}

impl From<OutputError> for BatchError {
    fn from(e: OutputError) -> BatchError {
        BatchError::Output(e)
    }
}

/// Analyzes every record of `records` with `pipeline` and writes the results to `sink` in input
/// order. `progress` is called after each chunk (from the thread that writes). Returns the counts
/// and timing; the caller then calls [`Sink::finish`].
///
/// A record error is written with [`Sink::error`] and counted; the run stops at the first
/// [`InputError`] or [`OutputError`].
pub fn run<I>(
    pipeline: &Pipeline,
    records: I,
    sink: &mut (dyn Sink + Send),
    options: &BatchOptions,
    progress: &(dyn Fn(&Progress) + Sync),
) -> Result<Summary, BatchError>
where
    I: Iterator<Item = Result<Record, InputError>> + Send,
{
    let start = Instant::now();
    let threads = options.resolved_threads();
    let mut summary = Summary::new(pipeline.concept_names());
    let renderer = Renderer::new(pipeline, sink.parts());
    if threads <= 1 {
        sequential(
            pipeline,
            &renderer,
            records,
            sink,
            options,
            progress,
            &mut summary,
        )?;
    } else {
        parallel(
            (pipeline, &renderer),
            records,
            sink,
            options,
            progress,
            &mut summary,
            threads,
        )?;
    }
    summary.finish(start.elapsed().as_secs_f64(), threads);
    Ok(summary)
}

/// The warning on a report whose analysis failed.
pub const ANALYSIS_FAILED_WARNING: &str =
    "not analyzed: internal error (statuses left blank; please report it)";

/// Runs `work` (analysis and rendering of `report`). [`Pipeline::analyze`] does not panic on any
/// text, and property tests hold it to that; should a defect make `work` panic all the same, this
/// returns the analysis to write instead (blank statuses and [`ANALYSIS_FAILED_WARNING`]), so
/// that the report is still accounted for and the run goes on.
fn guarded<T>(
    pipeline: &Pipeline,
    report: &Report,
    work: impl FnOnce() -> T,
) -> Result<T, Box<Analysis>> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
        Ok(done) => Ok(done),
        Err(_) => {
            let mut warnings = report.warnings.clone();
            warnings.push(ANALYSIS_FAILED_WARNING.to_string());
            let a = Analysis {
                report_id: report.id.clone(),
                concepts: vec![ConceptResult::default(); pipeline.concept_names().len()],
                warnings,
                ..Analysis::default()
            };
            Err(Box::new(a))
        }
    }
}

/// Analyzes `report` into `analysis` (emptied first) and renders it into `rendered`, after
/// what its parts hold, [`guarded`]: should that panic, the analysis and rows written are
/// those of the failure (what was rendered of the report is dropped).
fn analyze_and_render(
    pipeline: &Pipeline,
    renderer: &Renderer,
    report: &Report,
    analysis: &mut Analysis,
    rendered: &mut Rendered,
) {
    let before = rendered.lens();
    let work = || {
        pipeline.analyze_into(report, analysis);
        renderer.render_into(report, analysis, rendered);
    };
    if let Err(failed) = guarded(pipeline, report, work) {
        *analysis = *failed;
        rendered.truncate(before);
        renderer.render_into(report, analysis, rendered);
    }
}

fn write_one(
    sink: &mut (dyn Sink + Send),
    summary: &mut Summary,
    record: &Record,
    done: Option<(&Analysis, &mut Rendered)>,
) -> Result<(), OutputError> {
    match (record, done) {
        (Ok(report), Some((a, rendered))) => {
            summary.add_report(report, a);
            sink.report(report, a, rendered)
        }
        (Err(e), _) => {
            summary.add_error(e);
            sink.error(e)
        }
        (Ok(_), None) => unreachable!("every report is analyzed"),
    }
}

fn progress_of(s: &Summary) -> Progress {
    Progress {
        records: s.records_read,
        reports: s.reports_written,
        errors: s.errors,
        text_bytes: s.text_bytes,
    }
}

fn sequential<I>(
    pipeline: &Pipeline,
    renderer: &Renderer,
    records: I,
    sink: &mut (dyn Sink + Send),
    options: &BatchOptions,
    progress: &(dyn Fn(&Progress) + Sync),
    summary: &mut Summary,
) -> Result<(), BatchError>
where
    I: Iterator<Item = Result<Record, InputError>>,
{
    let mut in_chunk = 0usize;
    let mut bytes = 0usize;
    let mut rendered = Rendered::default();
    // One analysis, refilled for each report.
    let mut analysis = Analysis::default();
    for item in records {
        let record = item?;
        rendered.clear();
        if let Ok(r) = &record {
            // Into the sink's own buffers when it offers them (its part of `rendered` stays
            // empty), else into the driver's.
            let into = match sink.render_target() {
                Some(target) => target,
                None => &mut rendered,
            };
            analyze_and_render(pipeline, renderer, r, &mut analysis, into);
        }
        bytes += record.as_ref().map(|r| r.text.len()).unwrap_or(0);
        let done = record.is_ok().then_some((&analysis, &mut rendered));
        write_one(sink, summary, &record, done)?;
        analysis.recycle(KEEP_BYTES);
        in_chunk += 1;
        if in_chunk >= options.chunk_records.max(1) || bytes >= options.chunk_bytes {
            sink.chunk_done()?;
            progress(&progress_of(summary));
            in_chunk = 0;
            bytes = 0;
        }
    }
    sink.chunk_done()?;
    progress(&progress_of(summary));
    Ok(())
}

/// Fills chunks from `records`; the last item may be the error that stopped reading.
struct Chunks<I> {
    records: I,
    max_records: usize,
    max_bytes: usize,
    pending_error: Option<InputError>,
    done: bool,
}

impl<I: Iterator<Item = Result<Record, InputError>>> Chunks<I> {
    /// The next chunk, in `chunk` (an emptied chunk given back, or a new vector); `None` at the
    /// end of the records.
    fn next_in(&mut self, mut chunk: Vec<Record>) -> Option<Result<Vec<Record>, InputError>> {
        if let Some(e) = self.pending_error.take() {
            return Some(Err(e));
        }
        if self.done {
            return None;
        }
        chunk.clear();
        chunk.reserve(self.max_records.min(4096));
        let mut bytes = 0usize;
        while chunk.len() < self.max_records && bytes < self.max_bytes {
            match self.records.next() {
                Some(Ok(r)) => {
                    bytes += r.as_ref().map(|r| r.text.len()).unwrap_or(0);
                    chunk.push(r);
                }
                Some(Err(e)) => {
                    self.done = true;
                    self.pending_error = Some(e);
                    break;
                }
                None => {
                    self.done = true;
                    break;
                }
            }
        }
        if chunk.is_empty() {
            return self.pending_error.take().map(Err);
        }
        Some(Ok(chunk))
    }
}

/// Capacity a slot keeps for its next report, per output table and per part of its analysis:
/// an unusually long report's buffers are given back, so that memory follows the typical
/// report, not the longest one seen so far.
const KEEP_BYTES: usize = 32 << 10;

/// One report's place in a chunk: its analysis and its rendered rows. Slots go back to the
/// workers once written, so their buffers are reused from chunk to chunk.
#[derive(Default)]
struct Slot {
    /// Whether `analysis` and `rendered` hold the slot's report (not so for a record error).
    analyzed: bool,
    analysis: Analysis,
    rendered: Rendered,
}

/// A chunk taken by a worker: its sequence number, its records and their slots.
struct Taken {
    seq: u64,
    records: Vec<Record>,
    slots: Vec<Slot>,
}

/// What the workers share on the reading side.
struct ReadSide<I> {
    chunks: Chunks<I>,
    next_seq: u64,
    /// Set when reading stopped on an input error or writing failed: no more chunks are taken.
    stop: bool,
    input_error: Option<InputError>,
}

/// Where chunks are written, held by the one worker writing at a time.
struct Out<'s> {
    sink: &'s mut (dyn Sink + Send),
    summary: &'s mut Summary,
}

/// What the workers share on the writing side. The lock is held only to hand over or take
/// chunks, never while writing: a worker that finishes a chunk while another writes leaves it
/// in `pending` and goes back to work, and the writer takes it before it stops writing.
struct WriteSide {
    /// The next chunk to take for writing.
    next: u64,
    /// A worker is writing: others leave their chunks in `pending`.
    writing: bool,
    /// Chunks done before their turn, by sequence number.
    pending: Vec<Taken>,
    /// The record vectors (emptied) and the slots of written chunks, to be filled again.
    free: Vec<(Vec<Record>, Vec<Slot>)>,
    error: Option<OutputError>,
    /// A worker unwound: the chunk it held will never come.
    abandoned: bool,
}

/// Wakes the other workers when a worker unwinds, so that none waits for the chunk it held;
/// the panic itself is raised again when the workers are joined.
struct OnUnwind<'a, I> {
    read: &'a Mutex<ReadSide<I>>,
    write: &'a Mutex<WriteSide>,
    written: &'a Condvar,
}

impl<I> Drop for OnUnwind<'_, I> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut w = self.write.lock().unwrap_or_else(|e| e.into_inner());
            w.abandoned = true;
            self.read.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
            self.written.notify_all();
        }
    }
}

fn parallel<I>(
    (pipeline, renderer): (&Pipeline, &Renderer),
    records: I,
    sink: &mut (dyn Sink + Send),
    options: &BatchOptions,
    progress: &(dyn Fn(&Progress) + Sync),
    summary: &mut Summary,
    threads: usize,
) -> Result<(), BatchError>
where
    I: Iterator<Item = Result<Record, InputError>> + Send,
{
    let read = Mutex::new(ReadSide {
        chunks: Chunks {
            records,
            max_records: options.chunk_records.max(1),
            max_bytes: options.chunk_bytes.max(1),
            pending_error: None,
            done: false,
        },
        next_seq: 0,
        stop: false,
        input_error: None,
    });
    let out = Mutex::new(Out { sink, summary });
    let write = Mutex::new(WriteSide {
        writing: false,
        next: 0,
        pending: Vec::new(),
        free: Vec::new(),
        error: None,
        abandoned: false,
    });
    // Signalled after each chunk is written, for workers that are too far ahead.
    let written = Condvar::new();
    // A worker may run this many chunks ahead of the writer before it waits.
    let ahead = 2 * threads as u64;
    let worker = || {
        let _unwind = OnUnwind {
            read: &read,
            write: &write,
            written: &written,
        };
        loop {
            // Take the next chunk, unless this worker is too far ahead of the writing.
            let (spare, mut slots) = {
                let mut w = write.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    let next_seq = read.lock().unwrap_or_else(|e| e.into_inner()).next_seq;
                    if next_seq < w.next + ahead || w.error.is_some() || w.abandoned {
                        break;
                    }
                    w = written.wait(w).unwrap_or_else(|e| e.into_inner());
                }
                w.free.pop().unwrap_or_default()
            };
            let (seq, records) = {
                let mut r = read.lock().unwrap_or_else(|e| e.into_inner());
                if r.stop {
                    return;
                }
                match r.chunks.next_in(spare) {
                    Some(Ok(records)) => {
                        let seq = r.next_seq;
                        r.next_seq += 1;
                        (seq, records)
                    }
                    Some(Err(e)) => {
                        r.stop = true;
                        r.input_error = Some(e);
                        return;
                    }
                    None => {
                        r.stop = true;
                        return;
                    }
                }
            };
            // Analyze and render it.
            slots.resize_with(records.len(), Slot::default);
            for (r, slot) in records.iter().zip(slots.iter_mut()) {
                slot.analyzed = r.is_ok();
                slot.rendered.clear();
                if let Ok(r) = r {
                    analyze_and_render(
                        pipeline,
                        renderer,
                        r,
                        &mut slot.analysis,
                        &mut slot.rendered,
                    );
                }
            }
            // Hand it to the writing side; unless another worker is writing, write every chunk
            // whose turn has come, including those handed over meanwhile.
            let mut w = write.lock().unwrap_or_else(|e| e.into_inner());
            let at = w.pending.partition_point(|t| t.seq < seq);
            w.pending.insert(
                at,
                Taken {
                    seq,
                    records,
                    slots,
                },
            );
            if w.writing {
                continue;
            }
            w.writing = true;
            loop {
                let mut ready = Vec::new();
                while w.error.is_none() && w.pending.first().is_some_and(|t| t.seq == w.next) {
                    ready.push(w.pending.remove(0));
                    w.next += 1;
                }
                if ready.is_empty() {
                    w.writing = false;
                    break;
                }
                drop(w);
                let mut failed = None;
                let mut done = Vec::with_capacity(ready.len());
                {
                    let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
                    let o = &mut *o;
                    for mut t in ready {
                        if failed.is_none() {
                            let result = (|| {
                                for (record, slot) in t.records.iter().zip(&mut t.slots) {
                                    let done = slot
                                        .analyzed
                                        .then_some((&slot.analysis, &mut slot.rendered));
                                    write_one(o.sink, o.summary, record, done)?;
                                }
                                o.sink.chunk_done()
                            })();
                            match result {
                                Ok(()) => progress(&progress_of(o.summary)),
                                Err(e) => failed = Some(e),
                            }
                        }
                        for slot in &mut t.slots {
                            slot.rendered.trim(KEEP_BYTES);
                            slot.analysis.recycle(KEEP_BYTES);
                        }
                        t.records.clear();
                        done.push((t.records, t.slots));
                    }
                }
                w = write.lock().unwrap_or_else(|e| e.into_inner());
                w.free.extend(done);
                if let Some(e) = failed {
                    w.error = Some(e);
                    read.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
                }
                written.notify_all();
            }
        }
    };
    std::thread::scope(|scope| {
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            let h = std::thread::Builder::new()
                .name(format!("spinex-work-{i}"))
                .spawn_scoped(scope, worker)
                .map_err(|e| BatchError::Threads(e.to_string()))?;
            handles.push(h);
        }
        for h in handles {
            if let Err(panic) = h.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Ok::<(), BatchError>(())
    })?;
    let w = write.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = w.error {
        return Err(BatchError::Output(e));
    }
    let r = read.into_inner().unwrap_or_else(|e| e.into_inner());
    match r.input_error {
        Some(e) => Err(BatchError::Input(e)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::RecordError;
    use crate::model::Report;
    use crate::output::Parts;

    #[derive(Default)]
    struct Collect {
        ids: Vec<String>,
        errors: Vec<u64>,
        chunks: usize,
    }

    impl Sink for Collect {
        fn parts(&self) -> Parts {
            Parts::REPORTS
        }
        fn report(
            &mut self,
            report: &Report,
            a: &Analysis,
            r: &mut Rendered,
        ) -> Result<(), OutputError> {
            assert_eq!(report.id, a.report_id);
            assert!(r.reports.starts_with(report.id.as_bytes()));
            assert!(r.mentions.is_empty() && r.results.is_empty());
            self.ids.push(report.id.clone());
            Ok(())
        }
        fn error(&mut self, e: &RecordError) -> Result<(), OutputError> {
            self.errors.push(e.record);
            Ok(())
        }
        fn chunk_done(&mut self) -> Result<(), OutputError> {
            self.chunks += 1;
            Ok(())
        }
        fn finish(&mut self, _: &Summary) -> Result<(), OutputError> {
            Ok(())
        }
    }

    fn records(n: u64) -> impl Iterator<Item = Result<Record, InputError>> + Send {
        (1..=n).map(|i| {
            Ok(if i % 7 == 0 {
                Err(RecordError {
                    source: "t".into(),
                    record: i,
                    line: None,
                    id: None,
                    reason: "bad".into(),
                })
            } else {
                Ok(Report::new(
                    format!("r{i}"),
                    "FINDINGS: normal.".repeat(i as usize % 5),
                ))
            })
        })
    }

    /// Reports that exercise every part of an analysis: generated spine and chest reports
    /// (mentions, recommendations, cautions, audit flags, patient context), with an empty one,
    /// one with warnings and a long one among them.
    fn varied_reports() -> Vec<Report> {
        let mut reports: Vec<Report> = crate::gen::generate(7, 300).collect();
        reports.insert(3, Report::new("empty", ""));
        let mut warned = crate::gen::report(7, 1000);
        warned.warnings = vec!["first".into(), "second".into()];
        reports.insert(5, warned);
        let long = (0..40)
            .map(|i| crate::gen::report(8, i).text)
            .collect::<Vec<_>>();
        reports.insert(10, Report::new("long", long.join("\n\n")));
        reports
    }

    #[test]
    fn analyze_into_a_reused_analysis_equals_analyze() {
        let p = Pipeline::builtin();
        let mut reused = Analysis::default();
        let mut seen = [false; 3];
        for (i, r) in varied_reports().iter().enumerate() {
            p.analyze_into(r, &mut reused);
            let fresh = p.analyze(r);
            assert_eq!(reused, fresh, "report {}", r.id);
            seen[0] |= !fresh.recommendations.is_empty();
            seen[1] |= !fresh.cautions.is_empty();
            seen[2] |= !fresh.flags.is_empty();
            // Now and then, as the batch driver does after writing a report.
            if i % 7 == 0 {
                reused.recycle(KEEP_BYTES);
                assert_eq!(reused, Analysis::default());
            }
        }
        assert_eq!(seen, [true; 3], "the reports exercise every part");
    }

    proptest::proptest! {
        /// Whatever the report analyzed before, analyzing into the same analysis gives what a
        /// fresh one gives.
        #[test]
        fn analyze_into_forgets_the_previous_report(
            before in 0..2000usize,
            after in 0..2000usize,
            cut in 0..4000usize,
        ) {
            let p = pipeline();
            let first = crate::gen::report(11, before);
            let mut second = crate::gen::report(11, after);
            // A cut report: the text ends anywhere (on a character boundary).
            let mut end = cut.min(second.text.len());
            while !second.text.is_char_boundary(end) {
                end -= 1;
            }
            second.text.truncate(end);
            let mut a = Analysis::default();
            p.analyze_into(&first, &mut a);
            p.analyze_into(&second, &mut a);
            proptest::prop_assert_eq!(a, p.analyze(&second));
        }
    }

    /// The built-in pipeline, built once for every test case.
    fn pipeline() -> &'static Pipeline {
        static P: std::sync::OnceLock<Pipeline> = std::sync::OnceLock::new();
        P.get_or_init(Pipeline::builtin)
    }

    #[test]
    fn order_is_kept_with_any_thread_count() {
        let p = Pipeline::builtin();
        let mut expected = None;
        for threads in [1, 2, 3] {
            let opts = BatchOptions {
                threads,
                chunk_records: 10,
                chunk_bytes: 1 << 20,
            };
            let mut sink = Collect::default();
            let s = run(&p, records(95), &mut sink, &opts, &|_| {}).unwrap();
            assert_eq!(s.records_read, 95);
            assert_eq!(s.errors, 13);
            assert_eq!(s.reports_written, 82);
            assert_eq!(s.threads, threads);
            assert!(sink.chunks >= 10, "{} chunks", sink.chunks);
            let got = (sink.ids, sink.errors);
            match &expected {
                None => expected = Some(got),
                Some(e) => assert_eq!(&got, e, "threads {threads}"),
            }
        }
        let (ids, errors) = expected.unwrap();
        assert_eq!(ids[..3], ["r1", "r2", "r3"]);
        assert_eq!(errors[..2], [7, 14]);
    }

    #[test]
    fn byte_limit_cuts_chunks() {
        let p = Pipeline::builtin();
        let opts = BatchOptions {
            threads: 2,
            chunk_records: 1000,
            chunk_bytes: 40,
        };
        let mut sink = Collect::default();
        run(&p, records(20), &mut sink, &opts, &|_| {}).unwrap();
        assert!(sink.chunks >= 5, "{} chunks", sink.chunks);
    }

    #[test]
    fn input_error_stops_the_run() {
        let p = Pipeline::builtin();
        for threads in [1, 2] {
            let items = records(30)
                .take(12)
                .chain(std::iter::once(Err(InputError::new("t", Some(9), "gone"))));
            let opts = BatchOptions {
                threads,
                chunk_records: 5,
                chunk_bytes: 1 << 20,
            };
            let mut sink = Collect::default();
            match run(&p, items, &mut sink, &opts, &|_| {}) {
                Err(BatchError::Input(e)) => assert_eq!(e.message, "gone"),
                other => panic!("expected an input error, got {other:?}"),
            }
        }
    }

    struct Failing(usize);

    impl Sink for Failing {
        fn parts(&self) -> Parts {
            Parts::NONE
        }
        fn report(
            &mut self,
            _: &Report,
            _: &Analysis,
            _: &mut Rendered,
        ) -> Result<(), OutputError> {
            if self.0 == 0 {
                return Err(OutputError::io(
                    "out",
                    &std::io::ErrorKind::BrokenPipe.into(),
                ));
            }
            self.0 -= 1;
            Ok(())
        }
        fn error(&mut self, _: &RecordError) -> Result<(), OutputError> {
            Ok(())
        }
        fn finish(&mut self, _: &Summary) -> Result<(), OutputError> {
            Ok(())
        }
    }

    #[test]
    fn output_error_stops_the_run() {
        let p = Pipeline::builtin();
        for threads in [1, 2] {
            let opts = BatchOptions {
                threads,
                chunk_records: 4,
                chunk_bytes: 1 << 20,
            };
            match run(&p, records(10_000), &mut Failing(9), &opts, &|_| {}) {
                Err(BatchError::Output(e)) => assert!(e.is_broken_pipe()),
                other => panic!("expected an output error, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_panic_in_analysis_still_writes_the_report_with_a_warning() {
        let p = Pipeline::builtin();
        let mut report = Report::new("r1", "FINDINGS: Mild T12 compression deformity.");
        report.warnings.push("earlier".into());
        assert!(guarded(&p, &report, || 7).is_ok_and(|v| v == 7));
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let got = guarded(&p, &report, || -> Analysis { panic!("defect") });
        std::panic::set_hook(hook);
        let a = got.unwrap_err();
        assert_eq!(a.report_id, "r1");
        assert_eq!(a.warnings, ["earlier", ANALYSIS_FAILED_WARNING]);
        assert_eq!(a.concepts.len(), p.concept_names().len());
        assert!(a.concepts.iter().all(|c| c.status.is_none()));
        assert!(a.mentions.is_empty() && a.recommendations.is_empty());
    }

    struct Panicking(usize);

    impl Sink for Panicking {
        fn parts(&self) -> Parts {
            Parts::REPORTS
        }
        fn report(
            &mut self,
            _: &Report,
            _: &Analysis,
            _: &mut Rendered,
        ) -> Result<(), OutputError> {
            assert!(self.0 > 0, "sink gives up");
            self.0 -= 1;
            Ok(())
        }
        fn error(&mut self, _: &RecordError) -> Result<(), OutputError> {
            Ok(())
        }
        fn finish(&mut self, _: &Summary) -> Result<(), OutputError> {
            Ok(())
        }
    }

    #[test]
    fn a_panic_ends_the_run_instead_of_hanging_it() {
        let p = Pipeline::builtin();
        for threads in [2, 3] {
            let opts = BatchOptions {
                threads,
                chunk_records: 2,
                chunk_bytes: 1 << 20,
            };
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run(&p, records(500), &mut Panicking(7), &opts, &|_| {})
            }));
            assert!(result.is_err(), "threads {threads}");
        }
    }
}
