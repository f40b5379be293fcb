//! Writes a review page for a JSONL file of reports (`{"id": ..., "text": ...}` per line):
//!
//! ```text
//! cargo run --example review_demo -- tests/browser/reports.jsonl OUT_DIR
//! ```
//!
//! Each report is analyzed, audited and added to a `ReviewWriter`; the page is `OUT_DIR/review.html`.

use spinex::review::ReviewWriter;
use spinex::{Pipeline, Report};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, out] = args.as_slice() else {
        eprintln!("usage: review_demo INPUT.jsonl OUT_DIR");
        return ExitCode::from(2);
    };
    match run(input, out) {
        Ok(n) => {
            eprintln!("review_demo: {n} reports -> {out}/review.html");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("review_demo: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(input: &str, out: &str) -> Result<u64, String> {
    let data = std::fs::read_to_string(input).map_err(|e| format!("{input}: {e}"))?;
    std::fs::create_dir_all(out).map_err(|e| format!("{out}: {e}"))?;
    let pipeline = Pipeline::builtin();
    let page = std::path::Path::new(out).join("review.html");
    let mut writer = ReviewWriter::create(&page).map_err(|e| format!("{}: {e}", page.display()))?;
    for (i, line) in data.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{input}:{}: {e}", i + 1))?;
        let field = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .ok_or_else(|| format!("{input}:{}: no string {k:?}", i + 1))
        };
        let report = Report::new(field("id")?, field("text")?);
        let mut analysis = pipeline.analyze(&report);
        analysis.flags = spinex::audit::audit(&report.text, &analysis, &pipeline);
        writer
            .add(&report, &analysis, &pipeline)
            .map_err(|e| format!("{}: {e}", page.display()))?;
    }
    let summary = writer
        .finish()
        .map_err(|e| format!("{}: {e}", page.display()))?;
    Ok(summary.reports)
}
