//! The loaders of user files as fuzz targets: each takes the bytes of one file and
//! loads them the way the CLI would, accepting or refusing them. The `cargo fuzz`
//! targets in `fuzz/` and the in-repo harness `tests/fuzz_loaders.rs` call the same
//! functions, so what one finds the other keeps checking.
//!
//! A target may refuse its input; it must not panic, hang or allocate without bound,
//! and its refusal must be one line (checked by [`check_refusal`]).

use std::path::{Path, PathBuf};

/// One loader under fuzzing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loader {
    Npy,
    Csv,
    Idx,
    Safetensors,
    Toml,
    Image,
}

impl Loader {
    pub const ALL: [Loader; 6] = [
        Loader::Npy,
        Loader::Csv,
        Loader::Idx,
        Loader::Safetensors,
        Loader::Toml,
        Loader::Image,
    ];

    /// The name of its corpus folder (`fuzz/corpus/<name>/`) and its fuzz target.
    pub fn name(self) -> &'static str {
        match self {
            Loader::Npy => "npy",
            Loader::Csv => "csv",
            Loader::Idx => "idx",
            Loader::Safetensors => "safetensors",
            Loader::Toml => "toml",
            Loader::Image => "image",
        }
    }

    /// The file name the bytes are written under (loaders that go by the extension
    /// see the right one).
    fn file_name(self) -> &'static str {
        match self {
            Loader::Npy => "input.npy",
            Loader::Csv => "input.csv",
            Loader::Idx => "input-idx3-ubyte",
            Loader::Safetensors => "input.safetensors",
            Loader::Toml => "input.toml",
            Loader::Image => "input.png",
        }
    }

    /// Loads the file at `path`: `Ok` when accepted, the refusal's text when refused.
    pub fn load(self, path: &Path) -> Result<(), String> {
        match self {
            Loader::Npy => {
                text(crate::data::load_npy(path))?;
                // The streaming reader parses the same header on its own path.
                let mut rows = crate::data::NpyRows::open(path).map_err(|e| e.to_string())?;
                while rows.next_chunk(3).map_err(|e| e.to_string())?.is_some() {}
                Ok(())
            }
            Loader::Csv => {
                text(crate::data::load_csv(path, &Default::default()))?;
                let labelled = crate::data::CsvOptions {
                    label_column: Some("0".into()),
                    ..Default::default()
                };
                text(crate::data::load_csv(path, &labelled))
            }
            Loader::Idx => {
                let images = crate::data::load_idx_images(path);
                let labels = crate::data::load_idx_labels(path);
                match (images, labels) {
                    (Err(e), Err(_)) => Err(e.to_string()),
                    _ => Ok(()),
                }
            }
            Loader::Safetensors => {
                text(crate::io::load_safetensors(path))?;
                text(crate::models::registry::load(path))
            }
            Loader::Toml => {
                let bytes = crate::io::limits::read_regular(path).map_err(|e| e.to_string())?;
                let s = String::from_utf8(bytes).map_err(|e| e.to_string())?;
                text(crate::cli::flags_from_toml(&s))
            }
            Loader::Image => text(crate::imaging::Image::load(path)),
        }
    }

    /// Writes `bytes` to this loader's file in `dir` and loads it.
    pub fn load_bytes(self, dir: &Path, bytes: &[u8]) -> Result<(), String> {
        let path: PathBuf = dir.join(self.file_name());
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        self.load(&path)
    }
}

/// The entry point of the `cargo fuzz` targets: loads `bytes` in a folder of this
/// process's own and panics if a refusal is not one line.
pub fn fuzz_one(loader: Loader, bytes: &[u8]) {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!(
            "aegpu-cargo-fuzz-{}-{}",
            loader.name(),
            std::process::id()
        ));
        std::fs::create_dir_all(&d).expect("a temporary folder for fuzz inputs");
        d
    });
    if let Err(message) = loader.load_bytes(dir, bytes) {
        check_refusal(loader, &message);
    }
}

/// A refusal is one line of at most 2,000 bytes.
///
/// # Panics
/// When it is not: that is the finding.
pub fn check_refusal(loader: Loader, message: &str) {
    assert!(
        !message.contains('\n') && message.len() < 2000,
        "{}: a refusal of {} bytes or several lines: {message}",
        loader.name(),
        message.len()
    );
}

fn text<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<(), String> {
    r.map(drop).map_err(|e| e.to_string())
}
