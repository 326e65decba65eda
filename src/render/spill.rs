//! Texts of a rendering kept in an unnamed temp file rather than in memory, so that a project's
//! first `apply` renders each text once at any size (see [`super::render_hashes_keeping`]).
//!
//! A first apply writes every file. Its planning rendering hashes every text; the texts it
//! cannot keep in memory (beyond [`super::TEXTS_KEPT`]) used to be rendered a second time as
//! they were written, which at N = 5,000 entities was a tenth of the apply's CPU. Here they are
//! appended to one temp file as they are made ([`Spill::put`], buffered: a write of
//! [`BUFFER`] bytes at a time), and apply reads each back when it writes it
//! ([`Spilled::take`], [`Spilled::next`]), checking it against its planned hash like any text
//! rendered again.
//!
//! The file is made in the temp folder (`TMPDIR`), the way `sort` spills what it cannot hold,
//! and is unnamed (unlinked at once): nothing is left behind whatever happens to the process.
//! Its pages are the system's page cache, not restack's memory. Dropping it frees them without
//! writing them back: [`Spilled::close`] is called once its texts are taken, before the
//! `syncfs` of a large batch, which would otherwise write them back too when the temp folder
//! shares the project's file system. Where no temp file can be made or written, the texts are
//! rendered again as before: a spill is only ever a saving.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};

/// How many bytes of texts a [`Spill`] gathers before it writes them out.
const BUFFER: usize = 256 << 10;

/// Texts being spilled, while a rendering makes them (shared by its threads).
#[derive(Debug)]
pub struct Spill {
    file: File,
    writing: Mutex<Writing>,
}

/// The part of a [`Spill`] not yet written out, and where each text is.
#[derive(Debug, Default)]
struct Writing {
    /// The texts gathered since the last write.
    buffer: Vec<u8>,
    /// Where the buffer goes in the file: the length of what was written before it.
    start: u64,
    /// Each text spilled: path, offset, length (in the order they came).
    index: Vec<(String, u64, usize)>,
    /// A write failed: nothing more is spilled.
    failed: bool,
}

impl Writing {
    /// Writes the buffer out to `file`; when that fails, forgets the texts it held (they are
    /// rendered again) and spills nothing more.
    fn write_out(&mut self, file: &File) {
        let start = self.start;
        if write_at(file, &self.buffer, start).is_ok() {
            self.start += self.buffer.len() as u64;
            self.buffer.clear();
        } else {
            self.failed = true;
            self.index.retain(|(_, at, _)| *at < start);
            self.buffer = Vec::new();
        }
    }
}

impl Spill {
    /// An empty spill in a new unnamed temp file.
    ///
    /// # Errors
    /// When no temp file can be made.
    pub fn new() -> io::Result<Spill> {
        Ok(Spill {
            file: tempfile::tempfile()?,
            writing: Mutex::new(Writing::default()),
        })
    }

    /// Spills the text of `path`; `false` when it is not (a write failed before), in which case
    /// the caller keeps its hash only and the text is rendered again when needed.
    pub(crate) fn put(&self, path: &str, text: &str) -> bool {
        let mut writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        if writing.failed {
            return false;
        }
        let at = writing.start + writing.buffer.len() as u64;
        writing.buffer.extend_from_slice(text.as_bytes());
        writing.index.push((path.to_owned(), at, text.len()));
        if writing.buffer.len() >= BUFFER {
            writing.write_out(&self.file);
        }
        true
    }

    /// Every text spilled, written out and ready to be read back.
    #[must_use]
    pub fn finish(self) -> Spilled {
        let mut writing = self
            .writing
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        if !writing.failed && !writing.buffer.is_empty() {
            writing.write_out(&self.file);
        }
        let mut index = writing.index;
        index.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        index.shrink_to_fit();
        let taken = (0..index.len()).map(|_| AtomicBool::new(false)).collect();
        Spilled {
            file: RwLock::new(Some(self.file)),
            index,
            taken,
            next: AtomicUsize::new(0),
        }
    }
}

/// The texts a rendering spilled, each read back once: by path ([`Spilled::take`]) or as the
/// next one not yet taken ([`Spilled::next`]). Shareable between threads.
#[derive(Debug)]
pub struct Spilled {
    /// `None` once closed.
    file: RwLock<Option<File>>,
    /// Path, offset, length; sorted by path.
    index: Vec<(String, u64, usize)>,
    /// Whether each text of `index` was taken.
    taken: Vec<AtomicBool>,
    /// Where [`Spilled::next`] looks next in `index`.
    next: AtomicUsize,
}

impl Spilled {
    /// Whether the text of `path` was spilled (taken or not).
    #[must_use]
    pub fn holds(&self, path: &str) -> bool {
        self.position(path).is_some()
    }

    /// How many texts were spilled.
    #[must_use]
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no text was spilled.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn position(&self, path: &str) -> Option<usize> {
        self.index
            .binary_search_by(|(it, _, _)| it.as_str().cmp(path))
            .ok()
    }

    /// The text of `path`, read back; `None` when it was not spilled or was taken already.
    pub fn take(&self, path: &str) -> Option<io::Result<String>> {
        let idx = self.position(path)?;
        if self.taken[idx].swap(true, Ordering::Relaxed) {
            return None;
        }
        let file = self.file.read().unwrap_or_else(PoisonError::into_inner);
        Some(self.read(file.as_ref(), idx))
    }

    /// The next text not yet taken whose path `wanted` accepts, in path order, with its path;
    /// `None` when there is none left, and then the file is closed (see [`Spilled::close`]).
    pub fn next(&self, wanted: impl Fn(&str) -> bool) -> Option<(String, io::Result<String>)> {
        // Held from before a text is claimed until it is read: `close` waits for every text
        // claimed, and a claim made after it finds none left.
        let file = self.file.read().unwrap_or_else(PoisonError::into_inner);
        loop {
            let idx = self.next.fetch_add(1, Ordering::Relaxed);
            let Some((path, _, _)) = self.index.get(idx) else {
                drop(file);
                self.close();
                return None;
            };
            if !wanted(path) || self.taken[idx].swap(true, Ordering::Relaxed) {
                continue;
            }
            return Some((path.clone(), self.read(file.as_ref(), idx)));
        }
    }

    fn read(&self, file: Option<&File>, idx: usize) -> io::Result<String> {
        let (_, at, len) = &self.index[idx];
        let Some(file) = file else {
            return Err(io::Error::other("the spilled texts were closed"));
        };
        let mut bytes = vec![0; *len];
        read_at(file, &mut bytes, *at)?;
        String::from_utf8(bytes).map_err(io::Error::other)
    }

    /// Closes the file: its pages are freed, never written back. Texts not taken by then can no
    /// longer be read.
    pub fn close(&self) {
        let file = self
            .file
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(file);
    }
}

#[cfg(unix)]
fn write_at(file: &File, bytes: &[u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, at)
}

#[cfg(unix)]
fn read_at(file: &File, bytes: &mut [u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, bytes, at)
}

/// Elsewhere nothing is spilled: every text is rendered again.
#[cfg(not(unix))]
fn write_at(_: &File, _: &[u8], _: u64) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(not(unix))]
fn read_at(_: &File, _: &mut [u8], _: u64) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use super::Spill;

    /// Every text put is read back once, whole, by path or in path order, across several
    /// writes of the buffer; after `close` nothing more is read.
    #[test]
    fn every_text_spilled_is_read_back_once() {
        let spill = Spill::new().expect("temp file");
        let texts: Vec<(String, String)> = (0..400)
            .map(|n| (format!("f{n:03}.py"), format!("# {n}\n").repeat(n * 7)))
            .collect();
        for (path, text) in texts.iter().rev() {
            assert!(spill.put(path, text));
        }
        let spilled = spill.finish();
        assert_eq!(spilled.len(), texts.len());
        assert!(spilled.holds("f007.py") && !spilled.holds("f7.py"));
        let by_path = spilled.take("f123.py").expect("spilled").expect("read");
        assert_eq!(by_path, texts[123].1);
        assert!(spilled.take("f123.py").is_none(), "taken once");
        let mut seen = Vec::new();
        while let Some((path, text)) = spilled.next(|it| it != "f200.py") {
            let n: usize = path[1..4].parse().expect("number");
            assert_eq!(text.expect("read"), texts[n].1, "{path}");
            seen.push(n);
        }
        let expected: Vec<usize> = (0..400).filter(|n| ![123, 200].contains(n)).collect();
        assert_eq!(seen, expected);
        // None left: the file was closed.
        assert!(spilled.take("f200.py").expect("spilled").is_err());
    }
}
