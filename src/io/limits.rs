//! Bounds on what a file may make us allocate, checked before allocating, each with an
//! environment variable that raises it (the way Pillow's `MAX_IMAGE_PIXELS` guards
//! against decompression bombs). A refusal names the limit and the variable.
//!
//! | limit | default | variable |
//! | --- | --- | --- |
//! | bytes after decompressing a gzip file | 4 GiB | `AEGPU_MAX_DECOMPRESSED_BYTES` |
//! | bytes of one CSV line | 64 MiB | `AEGPU_MAX_LINE_BYTES` |
//! | pixels of one image | 89,478,485 (Pillow's) | `AEGPU_MAX_IMAGE_PIXELS` |
//! | bytes of a file read whole (model, config, image) | 16 GiB | `AEGPU_MAX_FILE_BYTES` |
//! | bytes of a `.npy` header | 1 MiB | `AEGPU_MAX_HEADER_BYTES` |
//! | parameters of a model | 2^30 | `AEGPU_MAX_PARAMETERS` |
//! | bytes one plan holds at once (weights, optimiser state, a batch's activations) | the machine's memory (16 GiB where unknown) | `AEGPU_MAX_MEMORY_BYTES` |
//!
//! Files read whole must also be regular files: a FIFO or `/dev/zero` would block or
//! never end.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::IoError;

/// One bound, with its default and the variable that overrides it.
#[derive(Clone, Copy, Debug)]
pub struct Limit {
    /// What is counted, for messages ("decompressed bytes").
    pub what: &'static str,
    pub variable: &'static str,
    pub default: Bound,
}

/// A limit's default.
#[derive(Clone, Copy, Debug)]
pub enum Bound {
    Fixed(u64),
    /// The machine's physical memory (`MemTotal` in `/proc/meminfo`), or the given
    /// number of bytes where it cannot be read.
    PhysicalMemory {
        otherwise: u64,
    },
}

impl Bound {
    fn value(self) -> u64 {
        match self {
            Bound::Fixed(n) => n,
            Bound::PhysicalMemory { otherwise } => physical_memory().unwrap_or(otherwise),
        }
    }
}

/// Bytes of physical memory, where the system says (Linux).
fn physical_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

pub const DECOMPRESSED_BYTES: Limit = Limit {
    what: "decompressed bytes",
    variable: "AEGPU_MAX_DECOMPRESSED_BYTES",
    default: Bound::Fixed(4 << 30),
};
pub const LINE_BYTES: Limit = Limit {
    what: "bytes in one line",
    variable: "AEGPU_MAX_LINE_BYTES",
    default: Bound::Fixed(64 << 20),
};
/// Pillow's `Image.MAX_IMAGE_PIXELS`: about a quarter of a gigabyte of RGB.
pub const IMAGE_PIXELS: Limit = Limit {
    what: "pixels in one image",
    variable: "AEGPU_MAX_IMAGE_PIXELS",
    default: Bound::Fixed(89_478_485),
};
pub const FILE_BYTES: Limit = Limit {
    what: "bytes in a file read whole",
    variable: "AEGPU_MAX_FILE_BYTES",
    default: Bound::Fixed(16 << 30),
};
pub const HEADER_BYTES: Limit = Limit {
    what: "header bytes",
    variable: "AEGPU_MAX_HEADER_BYTES",
    default: Bound::Fixed(1 << 20),
};
/// What a training step or an inference batch would hold on the device (or in host
/// memory on the CPU backend), from its plan, before anything is allocated: past the
/// machine's memory the run would only swap or be killed.
pub const MEMORY_BYTES: Limit = Limit {
    what: "bytes of memory",
    variable: "AEGPU_MAX_MEMORY_BYTES",
    default: Bound::PhysicalMemory {
        otherwise: 16 << 30,
    },
};
pub const PARAMETERS: Limit = Limit {
    what: "model parameters",
    variable: "AEGPU_MAX_PARAMETERS",
    default: Bound::Fixed(1 << 30),
};

impl Limit {
    /// The bound in force: the variable's value when it is a positive integer (with an
    /// optional `k`, `M`, `G` or `T` suffix, powers of 1024), else the default.
    pub fn get(&self) -> u64 {
        std::env::var(self.variable)
            .ok()
            .and_then(|v| parse_size(&v))
            .filter(|&n| n > 0)
            .unwrap_or_else(|| self.default.value())
    }

    /// `Ok(())` when `n` is within the bound, else the message that says how to raise it.
    pub fn check(&self, n: u64, context: &str) -> Result<(), String> {
        let limit = self.get();
        if n <= limit {
            return Ok(());
        }
        Err(self.refusal(&format!("{n}"), context, limit))
    }

    /// The message for a count known only to be over `limit` ("more than …").
    pub fn refusal(&self, found: &str, context: &str, limit: u64) -> String {
        format!(
            "{context}: {found} {} is over the limit of {limit}; set {}=N to raise it",
            self.what, self.variable
        )
    }
}

fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, shift) = match text.char_indices().last()? {
        (i, 'k' | 'K') => (&text[..i], 10),
        (i, 'm' | 'M') => (&text[..i], 20),
        (i, 'g' | 'G') => (&text[..i], 30),
        (i, 't' | 'T') => (&text[..i], 40),
        _ => (text, 0),
    };
    digits.trim().parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// Opens `path` for reading whole: it must be a regular file (not a folder, FIFO,
/// socket or device such as `/dev/zero`) of at most [`FILE_BYTES`]. Returns the open
/// file and its length.
pub fn open_regular(path: &Path) -> Result<(File, u64), IoError> {
    let io = |source| IoError::Io {
        path: path.to_path_buf(),
        source,
    };
    require_regular(path)?;
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    FILE_BYTES
        .check(len, "the file")
        .map_err(|detail| IoError::Limit {
            path: path.to_path_buf(),
            detail,
        })?;
    Ok((file, len))
}

/// Refuses a path that is not a regular file, by its type on disk, before anything
/// opens it (opening a FIFO blocks until a writer comes).
pub fn require_regular(path: &Path) -> Result<(), IoError> {
    let meta = std::fs::metadata(path).map_err(|source| IoError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a folder"
        } else {
            "not a regular file (a pipe, socket or device)"
        };
        return Err(IoError::Limit {
            path: path.to_path_buf(),
            detail: format!("it is {what}; give a regular file"),
        });
    }
    Ok(())
}

/// Reads a regular file whole (see [`open_regular`]).
pub fn read_regular(path: &Path) -> Result<Vec<u8>, IoError> {
    let (file, len) = open_regular(path)?;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // One byte past the length seen: a file that grows while read is still bounded.
    file.take(len.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| IoError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(bytes)
}

/// Reads everything `reader` yields, refusing to go past `limit` bytes: the count is
/// checked as the bytes arrive, so a gzip bomb stops at the limit, not at the end of
/// memory. `context` names the source in the refusal.
pub fn read_bounded(mut reader: impl Read, limit: Limit, context: &str) -> Result<Vec<u8>, String> {
    let max = limit.get();
    let mut out = Vec::new();
    let read = reader
        .by_ref()
        .take(max.saturating_add(1))
        .read_to_end(&mut out);
    read.map_err(|e| e.to_string())?;
    if out.len() as u64 > max {
        return Err(limit.refusal(&format!("more than {max}"), context, max));
    }
    Ok(out)
}

/// A reader that yields at most `limit` bytes of `inner` and then fails with the
/// limit's refusal (an [`std::io::Error`] wrapping [`LimitExceeded`]) if more would
/// come: the streaming form of [`read_bounded`], for a gzip stream parsed as it is
/// decompressed.
pub struct BoundedReader<R> {
    inner: R,
    left: u64,
    limit: Limit,
    context: &'static str,
}

impl<R: Read> BoundedReader<R> {
    pub fn new(inner: R, limit: Limit, context: &'static str) -> Self {
        BoundedReader {
            inner,
            left: limit.get(),
            limit,
            context,
        }
    }
}

/// The refusal a [`BoundedReader`] fails with, whole, for the caller to show.
#[derive(Debug)]
pub struct LimitExceeded(pub String);

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LimitExceeded {}

impl<R: Read> Read for BoundedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // At the limit: one more byte means the stream is longer than allowed.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    let max = self.limit.get();
                    let refusal =
                        self.limit
                            .refusal(&format!("more than {max}"), self.context, max);
                    Err(std::io::Error::other(LimitExceeded(refusal)))
                }
            };
        }
        let room = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..room])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// `text` cut to at most `max` characters (with the count of what was left out), so a
/// 10 MB field is never echoed whole in a message, and with control characters escaped
/// (`\n`, `\u{1b}`), so a message stays one line and cannot drive the terminal.
pub fn shorten(text: &str, max: usize) -> String {
    let count = text.chars().count();
    let head: String = text
        .chars()
        .take(max)
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect();
    if count <= max {
        head
    } else {
        format!("{head}… ({} more characters)", count - max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("2k"), Some(2048));
        assert_eq!(parse_size("3G"), Some(3 << 30));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("99999999999T"), None);
    }

    #[test]
    fn a_bounded_stream_yields_up_to_its_limit_and_then_refuses() {
        let limit = Limit {
            what: "bytes",
            variable: "AEGPU_TEST_STREAM_BYTES",
            default: Bound::Fixed(8),
        };
        let mut exact = String::new();
        BoundedReader::new(&b"12345678"[..], limit, "reading it")
            .read_to_string(&mut exact)
            .unwrap();
        assert_eq!(exact, "12345678");
        let mut long = String::new();
        let err = BoundedReader::new(&b"123456789"[..], limit, "reading it")
            .read_to_string(&mut long)
            .unwrap_err();
        let refusal = err
            .get_ref()
            .unwrap()
            .downcast_ref::<LimitExceeded>()
            .unwrap();
        assert!(refusal.0.contains("AEGPU_TEST_STREAM_BYTES"), "{refusal}");
        assert_eq!(long.len(), 8);
    }

    #[test]
    fn a_reader_past_the_bound_is_refused_without_reading_it_all() {
        let limit = Limit {
            what: "bytes",
            variable: "AEGPU_TEST_UNSET_LIMIT",
            default: Bound::Fixed(10),
        };
        assert_eq!(read_bounded(&[1u8; 10][..], limit, "x").unwrap().len(), 10);
        let e = read_bounded(std::io::repeat(0), limit, "x").unwrap_err();
        assert!(
            e.contains("more than 10 bytes") && e.contains("AEGPU_TEST_UNSET_LIMIT"),
            "{e}"
        );
    }

    #[test]
    fn the_memory_bound_defaults_to_the_machines_memory() {
        let limit = Limit {
            variable: "AEGPU_TEST_UNSET_MEMORY",
            ..MEMORY_BYTES
        };
        let bytes = limit.get();
        match physical_memory() {
            Some(total) => assert_eq!(bytes, total),
            None => assert_eq!(bytes, 16 << 30),
        }
        assert!(bytes > 1 << 20, "{bytes}");
    }

    #[test]
    fn long_text_is_cut() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcdef", 2), "ab… (4 more characters)");
        assert_eq!(shorten("a\nb\u{1b}", 9), "a\\nb\\u{1b}");
    }
}
