//! The batch driver: reads records in chunks, analyzes each chunk in parallel, and hands the
//! results to a [`Sink`] strictly in input order.
//!
//! With more than one thread, reading, analysis and writing overlap: a reader thread fills chunks
//! (up to [`BatchOptions::chunk_records`] records or [`BatchOptions::chunk_bytes`] bytes of text,
//! whichever comes first), the calling thread analyzes and renders each chunk on a local rayon
//! pool (`par_iter` over the chunk's reports, each into its own slot, which keeps the order), and
//! a writer thread writes it. The channels between them hold one chunk each and the writer hands
//! the used slots back, so memory is bounded by a few small chunks, not by the corpus, and the
//! output buffers are reused instead of grown again for every report. With one thread everything
//! runs in order on the calling thread and no pool is built.

use crate::input::{InputError, Record};
use crate::model::Analysis;
use crate::output::{OutputError, Rendered, Renderer, Sink, Summary};
use crate::pipeline::Pipeline;
use rayon::prelude::*;
use std::fmt;
use std::sync::mpsc::{channel, sync_channel};
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
            chunk_records: 64,
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

fn write_one(
    sink: &mut (dyn Sink + Send),
    summary: &mut Summary,
    record: &Record,
    done: Option<(&Analysis, &Rendered)>,
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
    for item in records {
        let record = item?;
        let analysis = record.as_ref().ok().map(|r| {
            let a = pipeline.analyze(r);
            rendered.clear();
            renderer.render_into(r, &a, &mut rendered);
            a
        });
        bytes += record.as_ref().map(|r| r.text.len()).unwrap_or(0);
        write_one(
            sink,
            summary,
            &record,
            analysis.as_ref().map(|a| (a, &rendered)),
        )?;
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

impl<I: Iterator<Item = Result<Record, InputError>>> Iterator for Chunks<I> {
    type Item = Result<Vec<Record>, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.pending_error.take() {
            return Some(Err(e));
        }
        if self.done {
            return None;
        }
        let mut chunk = Vec::with_capacity(self.max_records.min(4096));
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

/// One report's place in a chunk: its analysis and its rendered rows. Slots go round between
/// the analysis threads and the writer, so their buffers are reused from chunk to chunk.
#[derive(Default)]
struct Slot {
    analysis: Option<Analysis>,
    rendered: Rendered,
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
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("spinex-analyze-{i}"))
        .build()
        .map_err(|e| BatchError::Threads(e.to_string()))?;
    let chunks = Chunks {
        records,
        max_records: options.chunk_records.max(1),
        max_bytes: options.chunk_bytes.max(1),
        pending_error: None,
        done: false,
    };
    std::thread::scope(|scope| {
        let (read_tx, read_rx) = sync_channel::<Result<Vec<Record>, InputError>>(1);
        let (write_tx, write_rx) = sync_channel::<(Vec<Record>, Vec<Slot>)>(1);
        // Used slots back from the writer; at most the few chunks in flight.
        let (free_tx, free_rx) = channel::<Vec<Slot>>();
        std::thread::Builder::new()
            .name("spinex-read".into())
            .spawn_scoped(scope, move || {
                for chunk in chunks {
                    if read_tx.send(chunk).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| BatchError::Threads(e.to_string()))?;
        let writer = std::thread::Builder::new()
            .name("spinex-write".into())
            .spawn_scoped(scope, move || -> Result<(), OutputError> {
                for (records, slots) in write_rx {
                    for (record, slot) in records.iter().zip(&slots) {
                        let done = slot.analysis.as_ref().map(|a| (a, &slot.rendered));
                        write_one(sink, summary, record, done)?;
                    }
                    sink.chunk_done()?;
                    progress(&progress_of(summary));
                    drop(records);
                    // The analyses are dropped when the slots are filled again, on the threads
                    // that made them. The analysis side may be gone already; the slots are then
                    // dropped here.
                    let _ = free_tx.send(slots);
                }
                Ok(())
            })
            .map_err(|e| BatchError::Threads(e.to_string()))?;
        let mut input_error = None;
        for chunk in read_rx {
            let records = match chunk {
                Ok(r) => r,
                Err(e) => {
                    input_error = Some(e);
                    break;
                }
            };
            let mut slots = free_rx.try_recv().unwrap_or_default();
            slots.resize_with(records.len(), Slot::default);
            pool.install(|| {
                records
                    .par_iter()
                    .zip(slots.par_iter_mut())
                    .with_min_len(4)
                    .for_each(|(r, slot)| {
                        slot.rendered.clear();
                        slot.analysis = r.as_ref().ok().map(|r| {
                            let a = pipeline.analyze(r);
                            renderer.render_into(r, &a, &mut slot.rendered);
                            a
                        });
                    })
            });
            if write_tx.send((records, slots)).is_err() {
                break; // the writer stopped; its error is reported below
            }
        }
        drop(write_tx);
        match writer.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(BatchError::Output(e)),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        match input_error {
            Some(e) => Err(BatchError::Input(e)),
            None => Ok(()),
        }
    })
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
            r: &Rendered,
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
        fn report(&mut self, _: &Report, _: &Analysis, _: &Rendered) -> Result<(), OutputError> {
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
}
