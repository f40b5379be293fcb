//! The `spinex` command, run as a user runs it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_spinex");

/// A fresh scratch directory for one test.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "spinex-cli-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, bytes).unwrap();
        p
    }
    fn out(&self) -> PathBuf {
        self.path("out")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn spinex(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn spinex_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `extract` into `scratch/out` and checks it succeeded.
fn extract(scratch: &Scratch, inputs: &[&Path], extra: &[&str]) -> Output {
    let out = scratch.out();
    let mut args = vec!["extract", "--out", s(&out), "--quiet"];
    args.extend(inputs.iter().map(|p| s(p)));
    args.extend(extra);
    let o = spinex(&args);
    assert!(o.status.success(), "exit {:?}: {}", o.status, stderr(&o));
    assert!(o.stderr.is_empty(), "quiet run printed: {}", stderr(&o));
    o
}

/// A CSV table as (header, rows).
fn table(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

fn column(path: &Path, name: &str) -> Vec<String> {
    let (header, rows) = table(path);
    let i = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name}"));
    rows.into_iter().map(|r| r[i].clone()).collect()
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

/// Every record is a row of reports.csv or errors.csv, and summary.json agrees.
fn assert_reconciles(dir: &Path, records: u64) {
    let reports = column(&dir.join("reports.csv"), "report_id").len() as u64;
    let errors = column(&dir.join("errors.csv"), "record").len() as u64;
    let sum = summary(dir);
    assert_eq!(
        reports + errors,
        records,
        "reports {reports} + errors {errors}"
    );
    assert_eq!(sum["records_read"], records);
    assert_eq!(sum["reports_written"], reports);
    assert_eq!(sum["errors"], errors);
    let results = std::fs::read_to_string(dir.join("results.jsonl")).unwrap();
    assert_eq!(results.lines().count() as u64, reports);
}

const REPORTS_COLUMNS: [&str; 26] = [
    "report_id",
    "vertebral_fracture",
    "retropulsion",
    "demineralization",
    "spondylolisthesis",
    "spondylolysis",
    "degenerative_changes",
    "scoliosis",
    "kyphosis",
    "malalignment",
    "hardware",
    "osseous_lesion",
    "vertebral_fracture_levels",
    "retropulsion_levels",
    "demineralization_levels",
    "spondylolisthesis_levels",
    "spondylolysis_levels",
    "degenerative_changes_levels",
    "scoliosis_levels",
    "kyphosis_levels",
    "malalignment_levels",
    "hardware_levels",
    "osseous_lesion_levels",
    "vertebral_fracture_severity",
    "vertebral_fracture_acuity",
    "actions",
];

#[test]
fn sample_writes_every_table_with_the_contract_columns() {
    let sc = Scratch::new("sample");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/reports.csv");
    extract(&sc, &[&sample], &[]);
    let out = sc.out();
    let (header, rows) = table(&out.join("reports.csv"));
    assert_eq!(header[..26], REPORTS_COLUMNS.map(String::from));
    assert!(rows.len() >= 10);
    let (header, _) = table(&out.join("mentions.csv"));
    let required = [
        "report_id",
        "concept",
        "start",
        "end",
        "text",
        "section",
        "negated",
        "uncertain",
        "historical",
        "hypothetical",
        "levels",
        "severity",
        "acuity",
        "trigger",
    ];
    assert_eq!(header[..14], required.map(String::from));
    let (header, _) = table(&out.join("recommendations.csv"));
    assert_eq!(
        header[..8],
        [
            "report_id",
            "action",
            "rule",
            "strength",
            "urgency",
            "rationale",
            "evidence",
            "source"
        ]
        .map(String::from)
    );
    let (header, _) = table(&out.join("audit.csv"));
    assert_eq!(
        header,
        ["report_id", "flag", "severity", "message", "evidence"]
    );
    let (header, _) = table(&out.join("errors.csv"));
    assert_eq!(
        header[..4],
        ["source", "record", "report_id", "error"].map(String::from)
    );
    assert_reconciles(&out, rows.len() as u64);
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn csv_with_bom_crlf_and_multiline_fields() {
    let sc = Scratch::new("bom");
    let input = sc.write(
        "in.csv",
        "\u{FEFF}id,age,text\r\nr1,70,\"FINDINGS:\r\nMild T12 compression deformity.\r\nIMPRESSION: Stable.\"\r\nr2,,plain text\r\n",
    );
    extract(&sc, &[&input], &[]);
    assert_eq!(
        column(&sc.out().join("reports.csv"), "report_id"),
        ["r1", "r2"]
    );
    assert_reconciles(&sc.out(), 2);
    let line = std::fs::read_to_string(sc.out().join("results.jsonl")).unwrap();
    assert!(!line.contains("\u{FEFF}"));
}

#[test]
fn short_and_long_rows_are_errors_and_the_rest_is_kept() {
    let sc = Scratch::new("short");
    let input = sc.write(
        "in.csv",
        "id,text\nr1,one\nr2\nr3,three\nr4,four,extra\nr5,five\n",
    );
    extract(&sc, &[&input], &[]);
    let out = sc.out();
    assert_eq!(
        column(&out.join("reports.csv"), "report_id"),
        ["r1", "r3", "r5"]
    );
    let (_, errors) = table(&out.join("errors.csv"));
    assert_eq!(errors.len(), 2);
    assert_eq!(
        errors[0][..3],
        [s(&input).to_string(), "2".into(), "r2".into()]
    );
    assert!(errors[0][3].contains("1 field"), "{:?}", errors[0]);
    assert_eq!(errors[0][4], "3", "physical line");
    assert_eq!(errors[1][1], "4");
    assert_reconciles(&out, 5);
}

#[test]
fn tsv_input() {
    let sc = Scratch::new("tsv");
    let input = sc.write(
        "in.tsv",
        "report\tbody\tsex\nt1\tNo fracture.\tF\nt2\tNormal alignment.\tM\n",
    );
    extract(
        &sc,
        &[&input],
        &["--id-column", "report", "--text-column", "body"],
    );
    assert_eq!(
        column(&sc.out().join("reports.csv"), "report_id"),
        ["t1", "t2"]
    );
}

#[test]
fn jsonl_input_with_a_broken_line() {
    let sc = Scratch::new("jsonl");
    let input = sc.write(
        "in.jsonl",
        concat!(
            "{\"id\": 101, \"text\": \"Mild scoliosis.\", \"patient\": {\"age\": 60}}\n",
            "{\"id\": \"b\", \"text\": \"unterminated\n",
            "\n",
            "{\"id\": \"c\", \"text\": \"Normal.\", \"age\": \"old\"}\n",
        ),
    );
    extract(&sc, &[&input], &[]);
    let out = sc.out();
    assert_eq!(column(&out.join("reports.csv"), "report_id"), ["101", "c"]);
    let (_, errors) = table(&out.join("errors.csv"));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0][1], "2");
    assert_eq!(errors[0][4], "2");
    assert!(errors[0][3].starts_with("invalid JSON"), "{:?}", errors[0]);
    let warnings = column(&out.join("reports.csv"), "warnings");
    assert_eq!(warnings[0], "");
    assert!(warnings[1].contains("age"), "{warnings:?}");
    assert_reconciles(&out, 3);
}

#[test]
fn txt_files_and_directories() {
    let sc = Scratch::new("txt");
    sc.write("dir/b.txt", "Second report.");
    sc.write("dir/a.txt", "First report.");
    sc.write("dir/notes.md", "not a report");
    let single = sc.write("single.txt", "FINDINGS: Normal.");
    extract(&sc, &[&single, &sc.path("dir")], &[]);
    assert_eq!(
        column(&sc.out().join("reports.csv"), "report_id"),
        ["single", "a", "b"]
    );
}

#[test]
fn standard_input_in_each_format() {
    let o = spinex_stdin(
        &["extract", "--stdout", "reports-csv", "-q"],
        b"id,text\ns1,abc\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.starts_with("report_id,vertebral_fracture,"));
    assert!(text.lines().nth(1).unwrap().starts_with("s1,"));

    let o = spinex_stdin(
        &[
            "extract",
            "-",
            "--input-format",
            "jsonl",
            "--stdout",
            "jsonl",
            "-q",
        ],
        b"{\"id\":\"j1\",\"text\":\"x\"}\n{\"id\":\"j2\",\"text\":\"y\"}\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let ids: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["report_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids, ["j1", "j2"]);

    let o = spinex_stdin(
        &[
            "extract",
            "--input-format",
            "txt",
            "--stdout",
            "reports-csv",
            "-q",
        ],
        b"Normal.",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("stdin,"));
}

#[test]
fn invalid_utf8_is_replaced_and_warned() {
    let sc = Scratch::new("utf8");
    let input = sc.write(
        "in.csv",
        b"id,text\nu1,T12 fracture \xFF\xFE here\nu2,fine\n",
    );
    extract(&sc, &[&input], &[]);
    let out = sc.out();
    assert_eq!(column(&out.join("reports.csv"), "report_id"), ["u1", "u2"]);
    let warnings = column(&out.join("reports.csv"), "warnings");
    assert!(warnings[0].contains("UTF-8"), "{warnings:?}");
    assert_eq!(warnings[1], "");
    assert_eq!(summary(&out)["warnings"], 1);
}

#[test]
fn empty_text_is_a_report_with_blank_statuses() {
    let sc = Scratch::new("empty");
    let input = sc.write("in.csv", "id,text\ne1,\ne2,\"\"\n");
    extract(&sc, &[&input], &[]);
    let (header, rows) = table(&sc.out().join("reports.csv"));
    assert_eq!(rows.len(), 2);
    for row in rows {
        for (h, v) in header.iter().zip(&row).skip(1).take(11) {
            assert_eq!(v, "", "{h}");
        }
    }
}

#[test]
fn missing_text_column_is_fatal_and_lists_the_columns() {
    let sc = Scratch::new("nocol");
    let input = sc.write("in.csv", "id,report_text,age\n1,abc,50\n");
    let o = spinex(&["extract", s(&input), "--out", s(&sc.out())]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("spinex: {}:1: ", s(&input))),
        "{err}"
    );
    assert!(
        err.contains("\"text\"") && err.contains("\"report_text\"") && err.contains("\"age\""),
        "{err}"
    );
    assert!(!sc.out().join("reports.csv").exists());
}

#[test]
fn fatal_error_in_a_later_input_leaves_no_tables() {
    let sc = Scratch::new("later");
    let good = sc.write("a.csv", "id,text\n1,abc\n");
    let bad = sc.write("b.csv", "id,body\n2,abc\n");
    let o = spinex(&["extract", s(&good), s(&bad), "--out", s(&sc.out())]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("b.csv:1:"), "{}", stderr(&o));
    let left: Vec<_> = std::fs::read_dir(sc.out()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn missing_file_is_fatal() {
    let sc = Scratch::new("nofile");
    let missing = sc.path("nope.csv");
    let o = spinex(&["extract", s(&missing), "--out", s(&sc.out())]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("spinex: {}: ", s(&missing))),
        "{err}"
    );
}

#[test]
fn unwritable_output_directory_is_fatal() {
    let sc = Scratch::new("noout");
    let input = sc.write("in.csv", "id,text\n1,abc\n");
    let blocker = sc.write("file", "x");
    let out = blocker.join("sub");
    let o = spinex(&["extract", s(&input), "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(s(&out)), "{err}");
}

#[test]
fn closed_pipe_ends_quietly() {
    let sc = Scratch::new("pipe");
    let mut data = String::from("id,text\n");
    for i in 0..20_000 {
        data.push_str(&format!(
            "r{i},\"FINDINGS: Mild L{} compression deformity. No retropulsion.\"\n",
            i % 5 + 1
        ));
    }
    let input = sc.write("big.csv", data);
    let mut child = Command::new(BIN)
        .args(["extract", s(&input), "--stdout", "jsonl"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("{\"report_id\":\"r0\""), "{line}");
    drop(reader);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stderr(&o), "");
}

#[test]
fn formula_like_cells_are_neutralized() {
    let sc = Scratch::new("formula");
    let input = sc.write(
        "in.csv",
        "id,text\n=HYPERLINK(\"x\"),abc\n+1,abc\n-2,abc\n@x,abc\nplain,abc\n",
    );
    extract(&sc, &[&input], &[]);
    assert_eq!(
        column(&sc.out().join("reports.csv"), "report_id"),
        ["'=HYPERLINK(\"x\")", "'+1", "'-2", "'@x", "plain"]
    );
    let line = std::fs::read_to_string(sc.out().join("results.jsonl")).unwrap();
    assert!(
        line.starts_with("{\"report_id\":\"=HYPERLINK"),
        "JSON is not altered"
    );
}

#[test]
fn one_and_two_threads_write_identical_tables() {
    let sc = Scratch::new("threads");
    let sample =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/reports.csv"))
            .unwrap();
    let (header, body) = sample.split_once('\n').unwrap();
    let mut data = format!("{header}\n");
    for copy in 0..25 {
        // Fresh ids per copy, one short row per copy.
        let mut r = csv::Reader::from_reader(body.as_bytes());
        r.set_headers(csv::StringRecord::from(
            header.split(',').collect::<Vec<_>>(),
        ));
        let mut w = csv::Writer::from_writer(Vec::new());
        for rec in r.records() {
            let rec = rec.unwrap();
            let mut fields: Vec<String> = rec.iter().map(String::from).collect();
            fields[0] = format!("{}-{copy}", fields[0]);
            w.write_record(&fields).unwrap();
        }
        data.push_str(&String::from_utf8(w.into_inner().unwrap()).unwrap());
        data.push_str(&format!("short-{copy}\n"));
    }
    let input = sc.write("in.csv", data);
    let mut outs = Vec::new();
    for threads in ["1", "2"] {
        let out = sc.path(&format!("out{threads}"));
        let o = spinex(&[
            "extract",
            s(&input),
            "--out",
            s(&out),
            "--threads",
            threads,
            "--chunk-records",
            "7",
            "-q",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(summary(&out)["threads"], threads.parse::<u64>().unwrap());
        outs.push(out);
    }
    for name in [
        "reports.csv",
        "mentions.csv",
        "recommendations.csv",
        "cautions.csv",
        "audit.csv",
        "errors.csv",
        "results.jsonl",
    ] {
        let a = std::fs::read(outs[0].join(name)).unwrap();
        let b = std::fs::read(outs[1].join(name)).unwrap();
        assert!(a == b, "{name} differs between 1 and 2 threads");
    }
    assert_reconciles(&outs[1], 25 * 13);
    assert_eq!(column(&outs[1].join("errors.csv"), "record").len(), 25);
}

#[test]
fn mention_offsets_are_character_offsets() {
    let sc = Scratch::new("offsets");
    let text = "FINDINGS: 30° thoracic kyphosis – mild T12 compression fracture.\nGrade 1 anterolisthesis of L4 on L5 (L4–5), 4 mm.\nIMPRESSION: Compression fracture of T12. Osteopenia.";
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["id", "text"]).unwrap();
    w.write_record(["o1", text]).unwrap();
    let input = sc.write("in.csv", w.into_inner().unwrap());
    extract(&sc, &[&input], &[]);
    let chars: Vec<char> = text.chars().collect();
    let (header, rows) = table(&sc.out().join("mentions.csv"));
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let concepts: Vec<&str> = rows.iter().map(|r| r[col("concept")].as_str()).collect();
    for c in [
        "kyphosis",
        "vertebral_fracture",
        "spondylolisthesis",
        "demineralization",
    ] {
        assert!(concepts.contains(&c), "{c} not found in {concepts:?}");
    }
    let after_dash = rows
        .iter()
        .filter(|r| r[col("start")].parse::<usize>().unwrap() > text.find('–').unwrap())
        .count();
    assert!(after_dash > 0, "no mention after the non-ASCII characters");
    for row in &rows {
        let start: usize = row[col("start")].parse().unwrap();
        let end: usize = row[col("end")].parse().unwrap();
        assert!(start < end && end <= chars.len(), "{row:?}");
        assert_eq!(
            chars[start..end].iter().collect::<String>(),
            row[col("text")],
            "{row:?}"
        );
    }
    let line = std::fs::read_to_string(sc.out().join("results.jsonl")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let mentions = v["mentions"].as_array().unwrap();
    assert_eq!(mentions.len(), rows.len());
    for m in mentions {
        let (start, end) = (
            m["start"].as_u64().unwrap() as usize,
            m["end"].as_u64().unwrap() as usize,
        );
        assert_eq!(
            chars[start..end].iter().collect::<String>(),
            m["text"].as_str().unwrap()
        );
    }
}

#[test]
fn stdout_mentions_csv_and_record_errors_on_stderr() {
    let o = spinex_stdin(
        &["extract", "--stdout", "mentions-csv"],
        b"id,text\nm1,Mild scoliosis.\nm2\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout.clone()).unwrap();
    assert!(
        out.starts_with("report_id,concept,start,end,text,"),
        "{out}"
    );
    let err = stderr(&o);
    assert!(
        err.contains("<stdin>:3: record 2: row has 1 field"),
        "{err}"
    );
    assert!(err.contains("1 error"), "{err}");
}

#[test]
fn end_of_run_summary_on_stderr() {
    let sc = Scratch::new("summary");
    let input = sc.write("in.csv", "id,text\n1,Mild scoliosis.\n2\n");
    let o = spinex(&["extract", s(&input), "--out", s(&sc.out())]);
    assert!(o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("2 records read: 1 report written, 1 error"),
        "{err}"
    );
    assert!(err.contains("present: vertebral_fracture "), "{err}");
    assert!(err.contains("reports/s"), "{err}");
}

#[test]
fn explain_one_report() {
    let o = spinex(&[
        "explain",
        "--text",
        "FINDINGS: Mild T12 compression deformity. No spondylolisthesis.",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    for part in [
        "report text",
        "sections",
        "mentions",
        "statuses",
        "vertebral_fracture",
        "recommendations",
        "audit flags",
    ] {
        assert!(out.contains(part), "{part} missing from:\n{out}");
    }

    let sc = Scratch::new("explain");
    let input = sc.write("in.csv", "id,text\na,Normal.\nb,Mild scoliosis.\n");
    let o = spinex(&["explain", s(&input)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--id"), "{}", stderr(&o));
    let o = spinex(&["explain", s(&input), "--id", "b"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8(o.stdout)
        .unwrap()
        .starts_with("report b "));
    let o = spinex(&["explain", s(&input), "--id", "zz"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn user_concepts_get_columns_after_the_required_ones() {
    let sc = Scratch::new("targets");
    let targets = sc.write(
        "targets.csv",
        "term,concept\nschmorl node,schmorl_node\nlimbus vertebra,limbus_vertebra\n",
    );
    let input = sc.write(
        "in.csv",
        "id,text\nt1,FINDINGS: Small Schmorl node at L2. No limbus vertebra.\n",
    );
    extract(&sc, &[&input], &["--targets", s(&targets)]);
    let (header, rows) = table(&sc.out().join("reports.csv"));
    assert_eq!(header[..26], REPORTS_COLUMNS.map(String::from));
    assert_eq!(
        header[26..30],
        [
            "schmorl_node",
            "limbus_vertebra",
            "schmorl_node_levels",
            "limbus_vertebra_levels"
        ]
    );
    assert_eq!(rows[0][26..29], ["present", "absent", "L2"]);
    let concepts = column(&sc.out().join("mentions.csv"), "concept");
    assert!(
        concepts.contains(&"schmorl_node".to_string()),
        "{concepts:?}"
    );
    assert_eq!(summary(&sc.out())["concepts"]["schmorl_node"]["present"], 1);
}

#[test]
fn invalid_targets_file_is_fatal_with_its_line() {
    let sc = Scratch::new("badtargets");
    let targets = sc.write("targets.csv", "term,concept\nschmorl node,Schmorl Node\n");
    let input = sc.write("in.csv", "id,text\nt1,abc\n");
    let o = spinex(&[
        "extract",
        s(&input),
        "--targets",
        s(&targets),
        "--out",
        s(&sc.out()),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("spinex: {}:2: ", s(&targets))),
        "{err}"
    );
}

#[test]
fn readme_documents_every_column_and_file() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let p = spinex::Pipeline::builtin();
    let mut names: Vec<String> = spinex::output::Tables::new(&p)
        .report_columns()
        .into_iter()
        .filter(|c| !c.ends_with("_levels"))
        .collect();
    for cols in [
        &spinex::output::MENTION_COLUMNS[..],
        &spinex::output::RECOMMENDATION_COLUMNS[..],
        &spinex::output::CAUTION_COLUMNS[..],
        &spinex::output::AUDIT_COLUMNS[..],
        &spinex::output::ERROR_COLUMNS[..],
        &spinex::output::FILES[..],
    ] {
        names.extend(cols.iter().map(|c| c.to_string()));
    }
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !readme.contains(&format!("`{n}`")))
        .collect();
    assert!(missing.is_empty(), "README does not name {missing:?}");
}

#[test]
fn readme_quick_start_is_what_ci_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let quick = readme.split("## Quick start").nth(1).unwrap();
    let block = quick
        .split("```sh\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let commands: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        commands,
        [
            "cargo run --release -- extract samples/reports.csv --out spinex-out --html",
            "cargo test"
        ]
    );
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    for c in commands {
        assert!(ci.lines().any(|l| l.trim() == c), "{c} not in .ci/run");
    }
}

// The hostile-input check (also `scripts/hostile_check.sh`, run by `.ci/run` on the release
// binary): dirty inputs, each with the outcome it must have.

/// A report for building inputs.
const REPORT: &str = "FINDINGS: Mild T12 compression deformity, chronic. No spondylolisthesis.\n\
                      Mild degenerative disc disease at L4-5.\n\
                      IMPRESSION: Chronic T12 compression fracture. ";

/// The mixed CSV: good rows, invalid UTF-8, an empty text, a 4 MB report (`big_bytes`), a short
/// row, non-ASCII text, markup and formula-like ids. Returns the bytes and the short row's line.
fn hostile_csv(big_bytes: usize) -> (Vec<u8>, usize) {
    let big = REPORT.repeat(big_bytes / REPORT.len() + 1);
    let mut d: Vec<u8> = b"id,text\n".to_vec();
    d.extend_from_slice(b"good-1,\"FINDINGS: Moderate L1 wedge compression deformity.\"\n");
    d.extend_from_slice(b"bad-utf8,\"FINDINGS: Mild scoliosis \xff\xfe and \xe9 latin-1.\"\n");
    d.extend_from_slice(b"empty,\n");
    d.extend_from_slice(format!("big,\"{big}\"\n").as_bytes());
    let short_line = 1 + d.iter().filter(|&&b| b == b'\n').count();
    d.extend_from_slice(b"short-row\n");
    d.extend_from_slice(
        "non-ascii,\"FINDINGS: 30° levoscoliosis – L2–L3, é 😀 e\u{301} \u{200f} kyphosis.\"\n"
            .as_bytes(),
    );
    d.extend_from_slice(
        b"markup,\"FINDINGS: <script>alert(1)</script> <b>L4 fracture</b> & <img src=x>\"\n",
    );
    d.extend_from_slice(
        b"\"=HYPERLINK(\"\"http://example.invalid\"\",\"\"open\"\")\",\"FINDINGS: No fracture.\"\n",
    );
    d.extend_from_slice(b"@SUM(1+1),\"IMPRESSION: Grade 1 anterolisthesis of L4 on L5.\"\n");
    d.extend_from_slice(b"good-2,\"IMPRESSION: Grade 1 anterolisthesis of L5 on S1.\"\n");
    (d, short_line)
}

#[test]
fn hostile_csv_every_record_is_accounted_for_and_safe_to_open() {
    let sc = Scratch::new("hostile");
    let (data, short_line) = hostile_csv(4_000_000);
    let input = sc.write("mixed.csv", &data);
    let out = sc.out();
    let o = spinex(&["extract", s(&input), "--out", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Nothing from the reports on standard error (only the end-of-run summary).
    let err = stderr(&o);
    for word in [
        "FINDINGS",
        "IMPRESSION",
        "script",
        "latin",
        "wedge",
        "levoscoliosis",
    ] {
        assert!(!err.contains(word), "{word} on stderr: {err}");
    }
    assert_reconciles(&out, 10);
    let (_, errors) = table(&out.join("errors.csv"));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0][..3], [s(&input), "5", "short-row"]);
    assert_eq!(errors[0][4], short_line.to_string());
    let (header, rows) = table(&out.join("reports.csv"));
    let ids: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        ids,
        [
            "good-1",
            "bad-utf8",
            "empty",
            "big",
            "non-ascii",
            "markup",
            "'=HYPERLINK(\"http://example.invalid\",\"open\")",
            "'@SUM(1+1)",
            "good-2"
        ]
    );
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    assert!(rows[1][col("warnings")].contains("invalid UTF-8 in the text"));
    assert_eq!(rows[1][col("scoliosis")], "present");
    assert!(rows[2][1..12].iter().all(String::is_empty), "{:?}", rows[2]);
    assert_eq!(rows[3][col("vertebral_fracture")], "present");
    assert_eq!(rows[3][col("vertebral_fracture_levels")], "T12");
    assert_eq!(rows[4][col("scoliosis")], "present");
    assert_eq!(rows[4][col("kyphosis")], "present");
    assert_eq!(summary(&out)["warnings"], 1);
    // No cell of any table starts a formula; markup stays text.
    for name in [
        "reports.csv",
        "mentions.csv",
        "recommendations.csv",
        "cautions.csv",
        "audit.csv",
        "errors.csv",
    ] {
        let (_, rows) = table(&out.join(name));
        for row in rows {
            for cell in row {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                    "{name}: {cell:?}"
                );
            }
        }
    }
    let sentences = column(&out.join("mentions.csv"), "sentence");
    assert!(sentences
        .iter()
        .any(|x| x.contains("<script>alert(1)</script> <b>L4 fracture</b>")));
    // Offsets of the non-ASCII report are character offsets.
    let text = "FINDINGS: 30° levoscoliosis – L2–L3, é 😀 e\u{301} \u{200f} kyphosis.";
    let chars: Vec<char> = text.chars().collect();
    let (mh, mrows) = table(&out.join("mentions.csv"));
    let mc = |name: &str| mh.iter().position(|h| h == name).unwrap();
    let mut seen = 0;
    for r in mrows.iter().filter(|r| r[0] == "non-ascii") {
        let (a, b): (usize, usize) = (
            r[mc("start")].parse().unwrap(),
            r[mc("end")].parse().unwrap(),
        );
        assert_eq!(chars[a..b].iter().collect::<String>(), r[mc("text")]);
        seen += 1;
    }
    assert_eq!(seen, 2);
}

#[test]
fn hostile_inputs_give_the_same_tables_for_any_thread_count() {
    let sc = Scratch::new("hostile-threads");
    let (data, _) = hostile_csv(20_000);
    let inputs = [
        sc.write("mixed.csv", &data),
        sc.write(
            "broken.jsonl",
            "{\"id\": \"j1\", \"text\": \"No fracture.\"}\n\n{\"id\": \"j2\", \"text\": \"mild\n{\"id\": \"j3\", \"text\": \"Scoliosis.\"}\n",
        ),
        sc.write("stray.csv", "id,text\nq1,\"No fracture.\"\nq2,\"Mild L1 wedge\nq3,\"Scoliosis.\"\nq4,plain\n"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/reports.csv"),
    ];
    let mut outs = Vec::new();
    for threads in ["1", "2", "3"] {
        let out = sc.path(&format!("out{threads}"));
        let mut args = vec![
            "extract",
            "--out",
            s(&out),
            "--threads",
            threads,
            "--chunk-records",
            "2",
            "-q",
        ];
        args.extend(inputs.iter().map(|p| s(p)));
        let o = spinex(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        outs.push(out);
    }
    assert_reconciles(&outs[0], 10 + 3 + 3 + 12);
    for name in &spinex::output::FILES[..7] {
        let first = std::fs::read(outs[0].join(name)).unwrap();
        for out in &outs[1..] {
            assert!(
                first == std::fs::read(out.join(name)).unwrap(),
                "{name} differs"
            );
        }
    }
}

#[test]
fn broken_quoting_is_an_error_naming_the_lines() {
    let sc = Scratch::new("quoting");
    let stray = sc.write(
        "stray.csv",
        "id,text\r\nq1,\"No fracture.\"\r\nq2,\"Mild L1 wedge\r\nq3,\"Scoliosis.\"\r\nq4,plain\r\n",
    );
    let truncated = sc.write(
        "truncated.csv",
        "id,text\nt1,ok\nt2,\"FINDINGS: Mild L1 wedge compres",
    );
    extract(&sc, &[&stray, &truncated], &[]);
    let out = sc.out();
    assert_reconciles(&out, 5);
    assert_eq!(
        column(&out.join("reports.csv"), "report_id"),
        ["q1", "q4", "t1"]
    );
    let (_, errors) = table(&out.join("errors.csv"));
    assert_eq!(errors[0][..3], [s(&stray), "2", "q2"]);
    assert!(
        errors[0][3].contains("the row on line 4 may be inside it"),
        "{:?}",
        errors[0]
    );
    assert_eq!(errors[0][4], "3");
    assert_eq!(errors[1][..3], [s(&truncated), "2", "t2"]);
    assert!(
        errors[1][3].contains("not closed before the end of the input"),
        "{:?}",
        errors[1]
    );
    assert_eq!(errors[1][4], "3");
}

#[test]
fn duplicate_ids_are_kept_warned_and_counted() {
    let sc = Scratch::new("dup");
    let a = sc.write(
        "a.csv",
        "id,text\nd1,No fracture.\nd2,Scoliosis.\nd1,Kyphosis.\n",
    );
    let b = sc.write("b.jsonl", "{\"id\": \"d2\", \"text\": \"Osteopenia.\"}\n");
    extract(&sc, &[&a, &b], &[]);
    let out = sc.out();
    assert_eq!(
        column(&out.join("reports.csv"), "report_id"),
        ["d1", "d2", "d1", "d2"]
    );
    let warnings = column(&out.join("reports.csv"), "warnings");
    assert_eq!(warnings[..2], ["", ""]);
    assert_eq!(
        warnings[2],
        "duplicate report id: an earlier record has the same id".to_string()
    );
    assert_eq!(
        warnings[3],
        "duplicate report id: an earlier record has the same id".to_string()
    );
    let sum = summary(&out);
    assert_eq!(
        (sum["duplicate_ids"].as_u64(), sum["warnings"].as_u64()),
        (Some(2), Some(2))
    );
}

#[test]
fn broken_lexicon_folder_or_rules_is_fatal_with_path_and_line() {
    let sc = Scratch::new("badlex");
    let input = sc.write("in.csv", "id,text\n1,No fracture.\n");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("lexicons");
    let copy = |name: &str| {
        let dir = sc.path(name);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&shipped).unwrap() {
            let p = entry.unwrap().path();
            std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
        dir
    };
    let append = |path: &Path, bytes: &[u8]| {
        let mut data = std::fs::read(path).unwrap();
        data.extend_from_slice(bytes);
        std::fs::write(path, &data).unwrap();
        1 + data[..data.len() - 1]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    };
    let cases = [
        ("context", "context.tsv", &b"no tabs on this line\n"[..]),
        ("category", "context.tsv", b"nope\tnegatedd\tforward\n"),
        ("utf8", "modifiers.tsv", b"caf\xe9\tseverity\tmild\n"),
        ("rules", "rules.toml", b"[[rule]\nid = \n"),
    ];
    for (name, file, bytes) in cases {
        let dir = copy(name);
        let path = dir.join(file);
        let last = append(&path, bytes);
        let o = spinex(&[
            "extract",
            s(&input),
            "--lexicons",
            s(&dir),
            "--out",
            s(&sc.out()),
        ]);
        assert_eq!(o.status.code(), Some(2), "{name}");
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        let line: usize = err
            .strip_prefix(&format!("spinex: {}:", s(&path)))
            .and_then(|rest| rest.split(':').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{name}: {err}"));
        // The TSV errors name the added line; the TOML parser names where it gave up.
        if file.ends_with(".tsv") {
            assert_eq!(line, last, "{name}: {err}");
        } else {
            assert!(line + 2 >= last && line <= last, "{name}: {err}");
        }
    }
    assert!(!sc.out().join("reports.csv").exists());
}

#[test]
fn closed_pipe_ends_quietly_for_every_stream() {
    let sc = Scratch::new("pipes");
    let mut data = String::from("id,text\n");
    for i in 0..3000 {
        data.push_str(&format!("r{i},\"{REPORT}\"\n"));
    }
    let input = sc.write("many.csv", data);
    for format in ["jsonl", "reports-csv", "mentions-csv"] {
        let mut child = Command::new(BIN)
            .args(["extract", s(&input), "--stdout", format])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "{format}");
        drop(reader);
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{format}");
        assert_eq!(stderr(&o), "", "{format}");
    }
}
