//! `spinex extract`: the batch run.

use super::{Fatal, InputArgs, LexiconArgs, Outcome};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use spinex::batch::{self, BatchError, BatchOptions, Progress};
use spinex::input::{self, RecordError, Records};
use spinex::output::{
    OutDir, OutputError, Parts, Rendered, Sink, StreamFormat, StreamSink, Summary,
};
use spinex::{Analysis, Pipeline, Report};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Options of `spinex extract`.
#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// CSV/TSV, JSONL or .txt files, or directories of .txt files; none or `-` reads standard input.
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    input: InputArgs,
    /// Directory for the output tables.
    #[arg(long, value_name = "DIR", default_value = "spinex-out")]
    out: PathBuf,
    /// Stream one table to standard output instead of writing the output directory.
    #[arg(long, value_enum, value_name = "FORMAT")]
    stdout: Option<StdoutArg>,
    /// Analysis threads (default: all cores; 1 runs everything in order on one thread).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    #[command(flatten)]
    lexicons: LexiconArgs,
    /// Also write review.html, a self-contained review page, to the output directory.
    #[arg(long)]
    html: bool,
    /// Print nothing but fatal errors.
    #[arg(long, short)]
    quiet: bool,
    /// Most records per chunk (tuning and tests).
    #[arg(long, hide = true, value_name = "N", default_value_t = BatchOptions::default().chunk_records)]
    chunk_records: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StdoutArg {
    Jsonl,
    ReportsCsv,
    MentionsCsv,
}

impl From<StdoutArg> for StreamFormat {
    fn from(f: StdoutArg) -> StreamFormat {
        match f {
            StdoutArg::Jsonl => StreamFormat::Jsonl,
            StdoutArg::ReportsCsv => StreamFormat::ReportsCsv,
            StdoutArg::MentionsCsv => StreamFormat::MentionsCsv,
        }
    }
}

/// Prints each record error on standard error (the streamed tables have no errors table).
struct ReportErrors<S> {
    inner: S,
    quiet: bool,
}

impl<S: Sink> Sink for ReportErrors<S> {
    fn parts(&self) -> Parts {
        self.inner.parts()
    }
    fn report(
        &mut self,
        report: &Report,
        a: &Analysis,
        r: &mut Rendered,
    ) -> Result<(), OutputError> {
        self.inner.report(report, a, r)
    }
    fn render_target(&mut self) -> Option<&mut Rendered> {
        self.inner.render_target()
    }
    fn error(&mut self, error: &RecordError) -> Result<(), OutputError> {
        if !self.quiet {
            eprintln!("spinex: {error}");
        }
        self.inner.error(error)
    }
    fn chunk_done(&mut self) -> Result<(), OutputError> {
        self.inner.chunk_done()
    }
    fn finish(&mut self, summary: &Summary) -> Result<(), OutputError> {
        self.inner.finish(summary)
    }
}

/// Feeds every analyzed report to the review page as well as to the tables.
struct WithReview<'p, S> {
    inner: S,
    review: Option<spinex::review::ReviewWriter>,
    path: std::path::PathBuf,
    pipeline: &'p Pipeline,
}

impl<S: Sink> Sink for WithReview<'_, S> {
    fn parts(&self) -> Parts {
        self.inner.parts()
    }
    fn report(
        &mut self,
        report: &Report,
        a: &Analysis,
        r: &mut Rendered,
    ) -> Result<(), OutputError> {
        self.inner.report(report, a, r)?;
        if let Some(review) = self.review.as_mut() {
            review
                .add(report, a, self.pipeline)
                .map_err(|e| OutputError::io(self.path.display().to_string(), &e))?;
        }
        Ok(())
    }
    fn render_target(&mut self) -> Option<&mut Rendered> {
        self.inner.render_target()
    }
    fn error(&mut self, error: &RecordError) -> Result<(), OutputError> {
        self.inner.error(error)
    }
    fn chunk_done(&mut self) -> Result<(), OutputError> {
        self.inner.chunk_done()
    }
    fn finish(&mut self, summary: &Summary) -> Result<(), OutputError> {
        self.inner.finish(summary)?;
        if let Some(review) = self.review.take() {
            review
                .finish()
                .map_err(|e| OutputError::io(self.path.display().to_string(), &e))?;
        }
        Ok(())
    }
}

/// Runs `spinex extract`.
pub fn run(args: ExtractArgs) -> Result<Outcome, Fatal> {
    let options = args.input.options();
    let inputs = input::resolve(&args.inputs, &options)?;
    let pipeline = args.lexicons.pipeline()?;
    let batch_options = BatchOptions {
        threads: args.threads.map(usize::from).unwrap_or(0),
        chunk_records: args.chunk_records.max(1),
        ..BatchOptions::default()
    };
    let records = Records::new(inputs, options);
    let bar = progress_bar(args.quiet);
    let on_progress = |p: &Progress| {
        if let Some(bar) = &bar {
            bar.set_position(p.records);
        }
    };

    let result = match args.stdout {
        Some(format) => {
            if args.html {
                return Err(Fatal::new(
                    "--html needs an output directory; it cannot be used with --stdout",
                ));
            }
            let stdout = std::io::stdout();
            let writer = std::io::BufWriter::with_capacity(1 << 16, stdout);
            let sink = StreamSink::new(writer, "<stdout>", format.into(), &pipeline);
            let sink = match sink {
                Ok(s) => s,
                Err(e) if e.is_broken_pipe() => return Ok(Outcome::ClosedPipe),
                Err(e) => return Err(e.into()),
            };
            let mut sink = ReportErrors {
                inner: sink,
                quiet: args.quiet,
            };
            finish(
                batch::run(&pipeline, records, &mut sink, &batch_options, &on_progress),
                &mut sink,
            )
        }
        None => {
            let inner = OutDir::create(&args.out, &pipeline)?;
            let path = args.out.join("review.html");
            let review =
                if args.html {
                    Some(spinex::review::ReviewWriter::create(&path).map_err(|e| {
                        Fatal::new(format!("{}: cannot write: {e}", path.display()))
                    })?)
                } else {
                    None
                };
            let mut sink = WithReview {
                inner,
                review,
                path,
                pipeline: &pipeline,
            };
            finish(
                batch::run(&pipeline, records, &mut sink, &batch_options, &on_progress),
                &mut sink,
            )
        }
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(summary) => {
            if !args.quiet {
                print_summary(
                    &summary,
                    args.stdout.is_none().then_some(args.out.as_path()),
                );
            }
            Ok(Outcome::Done)
        }
        Err(Stop::ClosedPipe) => Ok(Outcome::ClosedPipe),
        Err(Stop::Fatal(f)) => Err(f),
    }
}

enum Stop {
    ClosedPipe,
    Fatal(Fatal),
}

fn finish(run: Result<Summary, BatchError>, sink: &mut dyn Sink) -> Result<Summary, Stop> {
    let output = |e: OutputError| {
        if e.is_broken_pipe() {
            Stop::ClosedPipe
        } else {
            Stop::Fatal(e.into())
        }
    };
    let summary = match run {
        Ok(s) => s,
        Err(BatchError::Output(e)) => return Err(output(e)),
        Err(e) => return Err(Stop::Fatal(e.into())),
    };
    sink.finish(&summary).map_err(output)?;
    Ok(summary)
}

fn progress_bar(quiet: bool) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{spinner} {pos} records  {per_sec}  {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    bar.set_style(style);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(bar)
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn print_summary(s: &Summary, out: Option<&Path>) {
    let mut e = std::io::stderr().lock();
    let duplicates = match s.duplicate_ids {
        0 => String::new(),
        n => format!(" ({} with an id used before)", plural(n, "report")),
    };
    let _ = writeln!(
        e,
        "spinex: {} read: {} written, {}, {}{duplicates}",
        plural(s.records_read, "record"),
        plural(s.reports_written, "report"),
        plural(s.errors, "error"),
        plural(s.warnings, "warning"),
    );
    let present: Vec<String> = s
        .concepts
        .iter()
        .map(|(name, c)| format!("{name} {}", c.present))
        .collect();
    let _ = writeln!(e, "spinex: present: {}", present.join(", "));
    let counts = |m: &spinex::output::Tally| {
        let mut v: Vec<(&str, u64)> = m.iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        if v.is_empty() {
            "none".to_string()
        } else {
            v.iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let _ = writeln!(e, "spinex: actions: {}", counts(&s.actions));
    let _ = writeln!(e, "spinex: audit flags: {}", counts(&s.flags));
    let _ = writeln!(
        e,
        "spinex: {:.2} s, {:.2} MB/s, {:.0} reports/s, {}",
        s.elapsed_seconds,
        s.mb_per_second,
        s.reports_per_second,
        plural(s.threads as u64, "thread"),
    );
    if let Some(dir) = out {
        let _ = writeln!(e, "spinex: tables in {}", dir.display());
    }
}
