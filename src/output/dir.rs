//! An output directory: every table, `results.jsonl` and `summary.json`, written atomically.

use super::render::{Parts, Rendered};
use super::row::Row;
use super::tables::*;
use super::{OutputError, Sink, Summary};
use crate::input::RecordError;
use crate::model::{Analysis, Report};
use crate::pipeline::Pipeline;
use std::fs::File;
use std::io::{IoSlice, Write};
use std::path::{Path, PathBuf};

/// The files of an output directory, in the order they are listed.
pub const FILES: [&str; 8] = [
    "reports.csv",
    "mentions.csv",
    "recommendations.csv",
    "cautions.csv",
    "audit.csv",
    "errors.csv",
    "results.jsonl",
    "summary.json",
];

const REPORTS: usize = 0;
const MENTIONS: usize = 1;
const RECOMMENDATIONS: usize = 2;
const CAUTIONS: usize = 3;
const AUDIT: usize = 4;
const ERRORS: usize = 5;
const RESULTS: usize = 6;
const SUMMARY: usize = 7;

/// Writes an output directory. Files are written as `NAME.tmp` and renamed by [`Sink::finish`];
/// dropped unfinished, it removes them.
pub struct OutDir<'p> {
    dir: PathBuf,
    tables: Tables<'p>,
    scratch: Vec<u8>,
    /// One per file of [`FILES`] but `summary.json`.
    files: Vec<FileOut>,
    /// The buffer each table is being filled in, reports rendered straight into them (see
    /// [`Sink::render_target`]): the unqueued tail of each file's bytes, queued once it is
    /// nearly full ([`FileOut::queue_tail`]).
    tails: Rendered,
    finished: bool,
}

/// The file of each part of a [`Rendered`], in the order of [`Rendered::parts_mut`].
const PART_FILES: [usize; 6] = [REPORTS, MENTIONS, RECOMMENDATIONS, CAUTIONS, AUDIT, RESULTS];

fn tmp_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.tmp"))
}

impl<'p> OutDir<'p> {
    /// Creates `dir` if needed and opens every table for writing (header rows included).
    pub fn create(dir: &Path, pipeline: &'p Pipeline) -> Result<OutDir<'p>, OutputError> {
        let dir_name = dir.display().to_string();
        if dir.exists() && !dir.is_dir() {
            return Err(OutputError {
                path: dir_name,
                kind: std::io::ErrorKind::AlreadyExists,
                message: "exists and is not a directory".into(),
            });
        }
        std::fs::create_dir_all(dir).map_err(|e| OutputError::io(&dir_name, &e))?;
        let mut out = OutDir {
            dir: dir.to_path_buf(),
            tables: Tables::new(pipeline),
            scratch: Vec::new(),
            files: Vec::with_capacity(RESULTS + 1),
            tails: Rendered::default(),
            finished: false,
        };
        for name in FILES {
            // summary.json is written at the end; creating it now proves that it can be.
            let f =
                File::create(tmp_path(dir, name)).map_err(|e| OutputError::io(&dir_name, &e))?;
            if name != FILES[SUMMARY] {
                out.files.push(FileOut::new(f));
            }
        }
        let headers: [Vec<String>; 6] = [
            out.tables.report_columns(),
            owned(&MENTION_COLUMNS),
            owned(&RECOMMENDATION_COLUMNS),
            owned(&CAUTION_COLUMNS),
            owned(&AUDIT_COLUMNS),
            owned(&ERROR_COLUMNS),
        ];
        for (i, header) in headers.iter().enumerate() {
            out.scratch.clear();
            Row::header(&mut out.scratch, header);
            let result = out.files[i].copy(&out.scratch);
            result.map_err(|e| out.io_err(i, e))?;
        }
        Ok(out)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io_err(&self, file: usize, e: std::io::Error) -> OutputError {
        OutputError::io(self.dir.join(FILES[file]).display().to_string(), &e)
    }

    /// Adds the parts of `r` (rendered by the driver) after the bytes of each file's tail, and
    /// queues every tail that is nearly full (every one that holds bytes when `all`).
    fn put(&mut self, r: &mut Rendered, all: bool) -> Result<(), OutputError> {
        let (tails, parts) = (self.tails.parts_mut(), r.parts_mut());
        for k in 0..PART_FILES.len() {
            let (tail, part) = (&mut *tails[k], &mut *parts[k]);
            // The usual case, a report rendered into the tails: nothing to add, room left.
            if part.is_empty() && !all && tail.capacity() - tail.len() >= TAIL_ROOM {
                continue;
            }
            let file = PART_FILES[k];
            let out = &mut self.files[file];
            let result = out
                .append(tail, part)
                .and_then(|()| out.queue_tail(tail, all));
            if let Err(e) = result {
                return Err(OutputError::io(
                    self.dir.join(FILES[file]).display().to_string(),
                    &e,
                ));
            }
        }
        Ok(())
    }
}

/// Bytes gathered for one file before they are written.
const FLUSH_BYTES: usize = 256 << 10;
/// Buffers gathered for one file before they are written.
const FLUSH_BUFFERS: usize = 128;
/// A rendered part at least this long is taken whole; a shorter one is copied.
const TAKE_BYTES: usize = 2 << 10;
/// The room a buffer that short parts are copied into is made with.
const COPY_BYTES: usize = 64 << 10;
/// A written buffer with more room than this is dropped rather than kept for reuse.
const KEEP_BYTES: usize = 1 << 20;
/// The room a tail buffer (see [`OutDir::tails`]) is made with.
const TAIL_BYTES: usize = 64 << 10;
/// A tail buffer with less room left than this is queued before another report is rendered
/// into it: a report that does not fit only grows it.
const TAIL_ROOM: usize = 16 << 10;
/// Disk space is reserved for a file ahead of its writes, at least this much at a time, and
/// then as much again as the file already holds, up to [`MAX_RESERVE`].
const MIN_RESERVE: u64 = 1 << 20;
const MAX_RESERVE: u64 = 64 << 20;

/// One file of an output directory and the bytes waiting to be written to it. A table's rows
/// are mostly rendered straight into its tail buffer (see [`OutDir::tails`]), which is queued
/// once it is nearly full. Parts rendered elsewhere (by the analysis threads) are not copied
/// when long: the buffer is taken (an empty one from earlier writes given back in its place)
/// and queued after the tail; short parts are copied into the tail. The queue goes to the file
/// in one vectored write once it holds [`FLUSH_BYTES`].
///
/// Where the file system can, the file's blocks are reserved ahead of the writes, megabytes at
/// a time, without changing its length ([`FileOut::reserve`]): a write into reserved blocks
/// costs the kernel much less than one that must reserve them page by page, and an archive
/// run writes about seventeen bytes for each byte it reads. [`FileOut::finish`] gives back
/// what was reserved past the end.
struct FileOut {
    file: File,
    /// Buffers to write, in order.
    queued: Vec<Vec<u8>>,
    /// Bytes in `queued`.
    bytes: usize,
    /// Written buffers, emptied, to be given back for parts taken or filled with copies.
    spare: Vec<Vec<u8>>,
    /// Bytes written to the file.
    written: u64,
    /// Bytes of the file whose blocks are reserved; `u64::MAX` once reserving has failed (the
    /// file system cannot), so that it is not tried again.
    reserved: u64,
}

impl FileOut {
    fn new(file: File) -> FileOut {
        // Memory-backed file systems have no blocks to reserve: there `fallocate` takes and
        // zeroes pages that the writes then fill again (about a fifth more kernel time for an
        // archive run written to tmpfs), so nothing is reserved.
        let reserved = if in_memory(&file) { u64::MAX } else { 0 };
        FileOut {
            file,
            queued: Vec::new(),
            bytes: 0,
            spare: Vec::new(),
            written: 0,
            reserved,
        }
    }

    /// Queues the bytes of `part`: its buffer itself when it is long (leaving an empty one in
    /// its place), else a copy.
    fn take(&mut self, part: &mut Vec<u8>) -> std::io::Result<()> {
        if part.len() < TAKE_BYTES {
            return self.copy(part);
        }
        let len = part.len();
        // The part's next rows are likely to be about as long: a smaller buffer would only be
        // grown (and copied) while they are rendered.
        let spare = match self.spare.pop() {
            Some(buf) if buf.capacity() >= len => buf,
            _ => Vec::with_capacity(len.next_power_of_two()),
        };
        self.queued.push(std::mem::replace(part, spare));
        self.queued_bytes(len)
    }

    /// Adds the bytes of `part` after those of `tail` (the file's buffer being filled, see
    /// [`OutDir::tails`]). A short part is copied into a tail that holds bytes. Otherwise the
    /// tail's bytes are copied to the queue (the tail keeps its room) and the part goes after
    /// them as [`FileOut::take`] queues it: so parts that all come rendered elsewhere (with
    /// more than one thread) are copied or taken as they come, and no tail buffer is swapped
    /// in and out for each.
    fn append(&mut self, tail: &mut Vec<u8>, part: &mut Vec<u8>) -> std::io::Result<()> {
        if part.is_empty() {
            return Ok(());
        }
        if part.len() < TAKE_BYTES && !tail.is_empty() {
            tail.extend_from_slice(part);
            return Ok(());
        }
        if !tail.is_empty() {
            self.copy(tail)?;
            tail.clear();
        }
        self.take(part)
    }

    /// Queues `tail` once it has less than [`TAIL_ROOM`] left (once it holds any byte when
    /// `all`), leaving an empty buffer in its place.
    fn queue_tail(&mut self, tail: &mut Vec<u8>, all: bool) -> std::io::Result<()> {
        let len = tail.len();
        if len == 0 || (!all && tail.capacity() - len >= TAIL_ROOM) {
            return Ok(());
        }
        let room = match self.spare.pop() {
            Some(buf) if buf.capacity() >= TAIL_BYTES => buf,
            _ => Vec::with_capacity(TAIL_BYTES),
        };
        self.queued.push(std::mem::replace(tail, room));
        self.queued_bytes(len)
    }

    /// Queues a copy of `bytes`.
    fn copy(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        match self.queued.last_mut() {
            Some(last) if last.capacity() - last.len() >= bytes.len() => {
                last.extend_from_slice(bytes)
            }
            _ => {
                // A spare buffer with too little room is dropped, not grown: growing an empty
                // buffer would copy all of its old room.
                let room = COPY_BYTES.max(bytes.len());
                let mut buf = match self.spare.pop() {
                    Some(buf) if buf.capacity() >= room => buf,
                    _ => Vec::with_capacity(room),
                };
                buf.extend_from_slice(bytes);
                self.queued.push(buf);
            }
        }
        self.queued_bytes(bytes.len())
    }

    /// Counts `len` more bytes queued, and writes the queue when it is long enough.
    fn queued_bytes(&mut self, len: usize) -> std::io::Result<()> {
        self.bytes += len;
        if self.bytes >= FLUSH_BYTES || self.queued.len() >= FLUSH_BUFFERS {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes every queued byte, and keeps the buffers for reuse.
    fn flush(&mut self) -> std::io::Result<()> {
        let end = self.written + self.bytes as u64;
        if end > self.reserved {
            self.reserve(end);
        }
        write_all_vectored(&mut self.file, &self.queued)?;
        self.written = end;
        for mut buf in self.queued.drain(..) {
            if buf.capacity() <= KEEP_BYTES {
                buf.clear();
                self.spare.push(buf);
            }
        }
        self.bytes = 0;
        Ok(())
    }

    /// Reserves the file's blocks up to at least `end` bytes, and ahead of it, without changing
    /// its length. Only an optimization: where the file system cannot, nothing is reserved
    /// and the writes reserve their own blocks as usual.
    #[cfg(target_os = "linux")]
    fn reserve(&mut self, end: u64) {
        use std::os::fd::AsRawFd;
        let ahead = self.reserved.clamp(MIN_RESERVE, MAX_RESERVE);
        let want = end.max(self.reserved + ahead);
        let (Ok(offset), Ok(len)) = (
            libc::off_t::try_from(self.reserved),
            libc::off_t::try_from(want - self.reserved),
        ) else {
            self.reserved = u64::MAX;
            return;
        };
        // SAFETY: `fallocate` only reads its integer arguments; the descriptor is the open
        // file's own, and with `FALLOC_FL_KEEP_SIZE` the file's length and contents are left
        // as they are.
        let done = unsafe {
            libc::fallocate(
                self.file.as_raw_fd(),
                libc::FALLOC_FL_KEEP_SIZE,
                offset,
                len,
            )
        };
        self.reserved = if done == 0 { want } else { u64::MAX };
    }

    #[cfg(not(target_os = "linux"))]
    fn reserve(&mut self, _end: u64) {
        self.reserved = u64::MAX;
    }

    /// Writes every queued byte and gives back the blocks reserved past the end of the file.
    fn finish(&mut self) -> std::io::Result<()> {
        self.flush()?;
        if self.reserved != u64::MAX && self.reserved > self.written {
            // Cutting the file to its own length frees the blocks reserved past it.
            self.file.set_len(self.written)?;
            self.reserved = self.written;
        }
        Ok(())
    }
}

/// Whether `file` is on a memory-backed file system (tmpfs or ramfs).
#[cfg(target_os = "linux")]
fn in_memory(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    const TMPFS_MAGIC: u64 = 0x0102_1994;
    const RAMFS_MAGIC: u64 = 0x8584_58f6;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `fstatfs` writes a `statfs` into the buffer it is given, which is large enough
    // for one; it is read only when the call succeeds.
    let st = unsafe {
        if libc::fstatfs(file.as_raw_fd(), st.as_mut_ptr()) != 0 {
            return false;
        }
        st.assume_init()
    };
    // The field's type differs between C libraries and word sizes.
    #[allow(clippy::unnecessary_cast)]
    let kind = st.f_type as u64;
    kind == TMPFS_MAGIC || kind == RAMFS_MAGIC
}

#[cfg(not(target_os = "linux"))]
fn in_memory(_file: &File) -> bool {
    false
}

/// Writes every byte of `bufs`, in order, with as few vectored writes as the file takes.
fn write_all_vectored(file: &mut File, bufs: &[Vec<u8>]) -> std::io::Result<()> {
    // The first buffer not written in full, and how much of it is.
    let (mut i, mut done) = (0, 0);
    loop {
        while bufs.get(i).is_some_and(|b| done == b.len()) {
            i += 1;
            done = 0;
        }
        let Some(first) = bufs.get(i) else {
            return Ok(());
        };
        let slices: Vec<IoSlice> = std::iter::once(IoSlice::new(&first[done..]))
            .chain(bufs[i + 1..].iter().map(|b| IoSlice::new(b)))
            .collect();
        let mut n = match file.write_vectored(&slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        while n > 0 {
            let left = bufs[i].len() - done;
            if n < left {
                done += n;
                break;
            }
            n -= left;
            i += 1;
            done = 0;
        }
    }
}

fn owned(cols: &[&str]) -> Vec<String> {
    cols.iter().map(|s| s.to_string()).collect()
}

impl Sink for OutDir<'_> {
    fn parts(&self) -> Parts {
        Parts::ALL
    }

    fn report(&mut self, _: &Report, _: &Analysis, r: &mut Rendered) -> Result<(), OutputError> {
        self.put(r, false)
    }

    fn render_target(&mut self) -> Option<&mut Rendered> {
        Some(&mut self.tails)
    }

    fn error(&mut self, error: &RecordError) -> Result<(), OutputError> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        let mut row = Row::new(&mut buf);
        self.tables.error_row(&mut row, error);
        row.end();
        let result = self.files[ERRORS].copy(&buf);
        self.scratch = buf;
        result.map_err(|e| self.io_err(ERRORS, e))
    }

    fn finish(&mut self, summary: &Summary) -> Result<(), OutputError> {
        self.put(&mut Rendered::default(), true)?;
        for i in 0..self.files.len() {
            if let Err(e) = self.files[i].finish() {
                return Err(self.io_err(i, e));
            }
        }
        let mut json =
            serde_json::to_vec_pretty(summary).map_err(|e| self.io_err(SUMMARY, e.into()))?;
        json.push(b'\n');
        std::fs::write(tmp_path(&self.dir, FILES[SUMMARY]), json)
            .map_err(|e| self.io_err(SUMMARY, e))?;
        for (i, name) in FILES.iter().enumerate() {
            std::fs::rename(tmp_path(&self.dir, name), self.dir.join(name))
                .map_err(|e| self.io_err(i, e))?;
        }
        self.finished = true;
        Ok(())
    }
}

impl Drop for OutDir<'_> {
    fn drop(&mut self) {
        if !self.finished {
            for name in FILES {
                let _ = std::fs::remove_file(tmp_path(&self.dir, name));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parts of every length class, taken or copied, come out in order, byte for byte, and
    /// every part is left empty to be rendered into again.
    #[test]
    fn queued_parts_are_written_in_order() {
        let path = std::env::temp_dir().join(format!("spinex-fileout-{}", std::process::id()));
        let mut out = FileOut::new(File::create(&path).unwrap());
        let mut expected = Vec::new();
        let mut part = Vec::new();
        let lens = [
            0,
            1,
            100,
            TAKE_BYTES - 1,
            TAKE_BYTES,
            5000,
            70_000,
            3,
            FLUSH_BYTES + 7,
        ];
        for round in 0..40usize {
            for (k, &len) in lens.iter().enumerate() {
                part.clear();
                part.extend((0..len).map(|i| (i * 7 + k * 13 + round) as u8));
                expected.extend_from_slice(&part);
                if round % 3 == 0 {
                    out.copy(&part).unwrap();
                } else {
                    out.take(&mut part).unwrap();
                    assert!(part.is_empty() || part.len() < TAKE_BYTES);
                }
            }
        }
        out.finish().unwrap();
        drop(out);
        let written = std::fs::read(&path).unwrap();
        let blocks = block_bytes(&path);
        let _ = std::fs::remove_file(&path);
        assert!(
            written == expected,
            "{} bytes, {} expected",
            written.len(),
            expected.len()
        );
        // Nothing reserved ahead is kept past the end (a file system block or two of slack).
        assert!(
            blocks <= written.len() as u64 + (64 << 10),
            "{blocks} bytes of blocks for {} bytes",
            written.len()
        );
    }

    /// Reports rendered into the tails of an output directory, given to it rendered by the
    /// driver, or each way in turn, make the files that the rendered parts of every report,
    /// one after another, make: reports long enough to outgrow a tail or to be taken whole
    /// included.
    #[test]
    fn reports_rendered_into_the_tails_match_reports_given_rendered() {
        use crate::output::Renderer;
        let p = Pipeline::builtin();
        let renderer = Renderer::new(&p, Parts::ALL);
        let mut reports: Vec<Report> = crate::gen::generate(7, 300).collect();
        for k in [5, 120, 121, 250] {
            let long = reports[k].text.repeat(40 + k % 3 * 20);
            reports[k] = Report::new(reports[k].id.clone(), long);
        }
        let root = std::env::temp_dir().join(format!("spinex-tails-{}", std::process::id()));
        // 0: into the tails; 1: rendered by the driver; 2: each way in turn.
        let mut simple = vec![Vec::new(); PART_FILES.len()];
        for way in 0..3 {
            let dir = root.join(way.to_string());
            let mut out = OutDir::create(&dir, &p).unwrap();
            for (i, report) in reports.iter().enumerate() {
                let a = p.analyze(report);
                let mut rendered = renderer.render(report, &a);
                if way == 0 {
                    for (all, part) in simple.iter_mut().zip(rendered.parts_mut()) {
                        all.extend_from_slice(part);
                    }
                }
                if way == 0 || (way == 2 && i % 2 == 0) {
                    let target = out.render_target().unwrap();
                    renderer.render_into(report, &a, target);
                    rendered.clear();
                }
                out.report(report, &a, &mut rendered).unwrap();
            }
            out.finish(&Summary::default()).unwrap();
            for (k, &file) in PART_FILES.iter().enumerate() {
                let bytes = std::fs::read(dir.join(FILES[file])).unwrap();
                // Every table but results.jsonl starts with its header row.
                let header = match file {
                    RESULTS => 0,
                    _ => bytes.iter().position(|&b| b == b'\n').unwrap() + 1,
                };
                assert!(
                    bytes[header..] == simple[k][..],
                    "{} written {way}",
                    FILES[file]
                );
            }
        }
        let _ = std::fs::remove_dir_all(&root);
    }

    /// Bytes of disk blocks the file holds, where the platform tells.
    fn block_bytes(path: &Path) -> u64 {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(path).unwrap().blocks() * 512
        }
        #[cfg(not(unix))]
        {
            std::fs::metadata(path).unwrap().len()
        }
    }

    /// Blocks are reserved ahead of the writes and given back at the end, and a file that is
    /// flushed many times over comes out whole.
    #[test]
    fn reserved_blocks_are_given_back() {
        let path = std::env::temp_dir().join(format!("spinex-reserve-{}", std::process::id()));
        let mut out = FileOut::new(File::create(&path).unwrap());
        let mut part = vec![b'x'; 3 << 20];
        out.take(&mut part).unwrap();
        out.flush().unwrap();
        assert_eq!(out.written, 3 << 20);
        assert!(out.reserved >= out.written);
        out.copy(b"tail").unwrap();
        out.finish().unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        let blocks = block_bytes(&path);
        let _ = std::fs::remove_file(&path);
        assert_eq!(len, (3 << 20) + 4);
        assert!(
            blocks <= len + (64 << 10),
            "{blocks} bytes of blocks for {len}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn nothing_is_reserved_on_a_memory_file_system() {
        let shm = Path::new("/dev/shm");
        if !shm.is_dir() {
            return;
        }
        let path = shm.join(format!("spinex-reserve-{}", std::process::id()));
        let Ok(file) = File::create(&path) else {
            return;
        };
        assert!(in_memory(&file), "/dev/shm is tmpfs");
        let mut out = FileOut::new(file);
        let mut part = vec![b'x'; 3 << 20];
        out.take(&mut part).unwrap();
        out.finish().unwrap();
        let len = std::fs::metadata(&path).unwrap().len();
        let _ = std::fs::remove_file(&path);
        assert_eq!(out.reserved, u64::MAX);
        assert_eq!(len, 3 << 20);
    }
}
