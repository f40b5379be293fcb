//! The command line: flags, terminals, progress bars and exit codes live here and nowhere else.
//!
//! Exit status: 0 when the run completed (even when some records failed: they are in
//! `errors.csv`), 2 for a fatal error, printed as one line `spinex: <file>:<line>: <message>`.

mod explain;
mod extract;

use clap::{Args, Parser, Subcommand, ValueEnum};
use spinex::input::{InputFormat, ReadOptions};
use spinex::{LexiconError, Pipeline};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Reads spine and chest radiograph reports and writes tables of spine findings, their context
/// and attributes, and guideline-based next steps.
#[derive(Debug, Parser)]
#[command(name = "spinex", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyze reports and write the output tables.
    Extract(extract::ExtractArgs),
    /// Show, for one report, its sections, every mention with its context and attributes, the
    /// statuses, and each recommendation, caution and flag with the reason for it.
    Explain(explain::ExplainArgs),
    /// List the recommendation rules, or print one with its conditions, actions, rationale
    /// and source.
    Rules(RulesArgs),
    /// Measure accuracy against gold-annotated reports (JSONL, the format of corpus/README.md):
    /// per-concept precision, recall and F1, status agreement, negation and uncertainty
    /// recall, attribute agreement, actions, and every disagreement with its context.
    Eval(EvalArgs),
    /// Write N deterministic synthetic spine and chest radiograph reports as JSONL (for
    /// benchmarks and scale tests).
    Generate(GenerateArgs),
}

/// Arguments of `spinex generate`.
#[derive(Debug, Args)]
struct GenerateArgs {
    /// How many reports.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    reports: u64,
    /// Seed: the same seed and N give the same bytes on every machine.
    #[arg(long, value_name = "S", default_value_t = 42)]
    seed: u64,
    /// Output file, or `-` for standard output.
    #[arg(value_name = "OUT", default_value = "-")]
    out: PathBuf,
}

fn generate(args: GenerateArgs) -> Result<Outcome, Fatal> {
    use std::io::{BufWriter, Write};
    let to_stdout = args.out.as_os_str() == "-";
    let sink: Box<dyn Write> = if to_stdout {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(
            std::fs::File::create(&args.out)
                .map_err(|e| Fatal::new(format!("{}: cannot create: {e}", args.out.display())))?,
        )
    };
    let mut w = BufWriter::with_capacity(1 << 16, sink);
    let n = usize::try_from(args.reports).unwrap_or(usize::MAX);
    let written = spinex::gen::write_jsonl(args.seed, n, &mut w).and_then(|_| w.flush());
    outcome(written, &args.out.display().to_string())
}

/// Writes `text` to standard output; a reader that went away (`| head`) ends quietly.
fn print_stdout(text: &str) -> Result<Outcome, Fatal> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    outcome(
        out.write_all(text.as_bytes()).and_then(|_| out.flush()),
        "standard output",
    )
}

/// The outcome of writing to `what`: done, a closed pipe (quiet), or a fatal error naming it.
fn outcome<T>(written: std::io::Result<T>, what: &str) -> Result<Outcome, Fatal> {
    match written {
        Ok(_) => Ok(Outcome::Done),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Outcome::ClosedPipe),
        Err(e) => Err(Fatal::new(format!("{what}: {e}"))),
    }
}

/// Arguments of `spinex eval`.
#[derive(Debug, Args)]
struct EvalArgs {
    /// Gold JSONL file(s); ids must be unique across them.
    #[arg(long, value_name = "FILE", required = true, num_args = 1..)]
    gold: Vec<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Worker threads (default: all cores).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    #[command(flatten)]
    lexicons: LexiconArgs,
}

fn eval(args: EvalArgs) -> Result<Outcome, Fatal> {
    let pipeline = args.lexicons.pipeline()?;
    let gold = spinex::eval::load_gold_files(&args.gold).map_err(|e| Fatal::new(e.to_string()))?;
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(n) = args.threads {
        pool = pool.num_threads(n.max(1));
    }
    let pool = pool
        .build()
        .map_err(|e| Fatal::new(format!("cannot start threads: {e}")))?;
    let report = pool.install(|| spinex::eval::evaluate(&pipeline, &gold));
    let text = if args.json {
        serde_json::to_string_pretty(&report).map_err(|e| Fatal::new(e.to_string()))? + "\n"
    } else {
        report.to_string()
    };
    print_stdout(&text)
}

/// Arguments of `spinex rules`.
#[derive(Debug, Args)]
struct RulesArgs {
    /// A rule id (`spinex rules` lists them).
    id: Option<String>,
    #[command(flatten)]
    lexicons: LexiconArgs,
}

fn rules(args: RulesArgs) -> Result<Outcome, Fatal> {
    let pipeline = args.lexicons.pipeline()?;
    let set = pipeline.rules();
    let text = match &args.id {
        None => set.list_rules(),
        Some(id) => set.describe_rule(id).ok_or_else(|| {
            Fatal::new(format!("no rule {id:?}; `spinex rules` lists the rule ids"))
        })?,
    };
    print_stdout(&text)
}

/// Input format names for `--input-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    Csv,
    Tsv,
    Jsonl,
    Txt,
}

impl From<FormatArg> for InputFormat {
    fn from(f: FormatArg) -> InputFormat {
        match f {
            FormatArg::Csv => InputFormat::Csv,
            FormatArg::Tsv => InputFormat::Tsv,
            FormatArg::Jsonl => InputFormat::Jsonl,
            FormatArg::Txt => InputFormat::Txt,
        }
    }
}

/// How inputs are read (shared by the subcommands).
#[derive(Debug, Clone, Args)]
struct InputArgs {
    /// Format of every input (default: from the file extension; standard input: csv).
    #[arg(long, value_enum, value_name = "FORMAT")]
    input_format: Option<FormatArg>,
    /// Column (CSV/TSV) or key (JSONL) holding the report id.
    #[arg(long, value_name = "NAME", default_value = "id")]
    id_column: String,
    /// Column (CSV/TSV) or key (JSONL) holding the report text.
    #[arg(long, value_name = "NAME", default_value = "text")]
    text_column: String,
}

impl InputArgs {
    fn options(&self) -> ReadOptions {
        ReadOptions {
            id_column: self.id_column.clone(),
            text_column: self.text_column.clone(),
            format: self.input_format.map(InputFormat::from),
        }
    }
}

/// Which lexicons the pipeline is built from (shared by the subcommands).
#[derive(Debug, Clone, Args)]
struct LexiconArgs {
    /// Replace the shipped lexicons with the ones in DIR.
    #[arg(long, value_name = "DIR")]
    lexicons: Option<PathBuf>,
    /// Add user concepts from a CSV file with columns `term,concept`.
    #[arg(long, value_name = "FILE")]
    targets: Option<PathBuf>,
}

impl LexiconArgs {
    fn pipeline(&self) -> Result<Pipeline, Fatal> {
        build_pipeline(self.lexicons.as_deref(), self.targets.as_deref()).map_err(Fatal::from)
    }
}

/// Builds the pipeline: the shipped lexicons, or the ones the user names.
fn build_pipeline(
    lexicons: Option<&Path>,
    targets: Option<&Path>,
) -> Result<Pipeline, LexiconError> {
    if lexicons.is_none() && targets.is_none() {
        return Ok(Pipeline::builtin());
    }
    let mut builder = Pipeline::builder();
    if let Some(dir) = lexicons {
        builder = builder.lexicons_dir(dir);
    }
    if let Some(file) = targets {
        builder = builder.targets_file(file);
    }
    builder.build()
}

/// A fatal error: printed as one line, exit status 2.
#[derive(Debug)]
pub struct Fatal(String);

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for Fatal {
    fn from(e: E) -> Fatal {
        Fatal(e.to_string())
    }
}

impl Fatal {
    fn new(message: impl Into<String>) -> Fatal {
        Fatal(message.into())
    }
}

/// What a subcommand ended with.
pub enum Outcome {
    /// The run completed.
    Done,
    /// The reader of standard output went away (`| head`): end quietly.
    ClosedPipe,
}

/// Parses the command line and runs it; returns the exit status.
pub fn main() -> ExitCode {
    // A panic message can quote the text it was working on (a slicing panic shows the string),
    // so an internal error is reported by its place in the code only.
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "spinex: internal error{at} (details are not shown, as they may quote report text)"
        );
    }));
    let cli = Cli::parse();
    match run(cli) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("spinex: {}", one_line(&e.0));
            ExitCode::from(2)
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<Outcome, Fatal> {
    match cli.command {
        Command::Extract(args) => extract::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Rules(args) => rules(args),
        Command::Eval(args) => eval(args),
        Command::Generate(args) => generate(args),
    }
}

/// A message on one line (newlines, for instance from a nested error, become spaces).
fn one_line(s: &str) -> String {
    s.split(['\n', '\r'])
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
