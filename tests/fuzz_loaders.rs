//! A deterministic, in-tree fuzz harness over every loader of user files: `.npy`, CSV,
//! IDX, safetensors, TOML configs and PNG/JPEG images. It runs the same target
//! functions as the `cargo fuzz` targets in `fuzz/` ([`aegpu::fuzzing`]), which need
//! `cargo-fuzz` and a nightly (or `RUSTC_BOOTSTRAP=1`) toolchain; this harness needs
//! neither and runs with the tests.
//!
//! Each loader gets the seed files of its corpus (`fuzz/corpus/<loader>/`, committed) and
//! mutations of them drawn from a fixed-seed generator: bit flips, bytes set to 0x00,
//! 0xff or 0x7f, runs deleted, duplicated or inserted, truncation, and big-endian
//! integers set to boundary values. A loader may accept or refuse a mutant; it must not
//! panic, and whatever it refuses must be refused in one line. A panicking input is
//! written to `fuzz/crashes/` so it can be added to the corpus once fixed.
//!
//! `cargo test --release --test fuzz_loaders` runs 300 mutants per seed; set
//! `AEGPU_FUZZ_ITERATIONS` for a longer run (and `AEGPU_FUZZ_SEED` for another stream).

use std::path::{Path, PathBuf};

use aegpu::fuzzing::{check_refusal, Loader};

/// xorshift64*: small, fast and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four mutations of `seed`.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = b.len();
        let at = rng.below(len);
        match rng.below(8) {
            0 if len > 0 => b[at] ^= 1 << rng.below(8),
            1 if len > 0 => b[at] = [0x00, 0xff, 0x7f, b'(', b',', b'9'][rng.below(6)],
            2 if len > 0 => {
                let n = rng.below(16).min(len - at);
                b.drain(at..at + n);
            }
            3 => {
                let n = rng.below(64).min(len - at);
                let run: Vec<u8> = b[at..at + n].to_vec();
                let times = 1 + rng.below(8);
                for _ in 0..times {
                    b.splice(at..at, run.iter().copied());
                }
            }
            4 => {
                let junk: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
                b.splice(at..at, junk);
            }
            5 => b.truncate(at),
            6 if len >= 4 => {
                let at = at.min(len - 4);
                let v: u32 = [0, 1, 0x7fff_ffff, 0xffff_ffff, 0x8000_0000][rng.below(5)];
                let bytes = if rng.below(2) == 0 {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                };
                b[at..at + 4].copy_from_slice(&bytes);
            }
            _ if len > 0 => b[at] = rng.next() as u8,
            _ => b.push(rng.next() as u8),
        }
    }
    b
}

fn corpus(loader: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(loader);
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the {loader} corpus {}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "the {loader} corpus is empty");
    seeds
}

fn env_number(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `loader` on every seed of its corpus and on its mutants.
/// Returns (inputs tried, inputs refused).
fn fuzz(loader: Loader) -> (usize, usize) {
    let iterations = env_number("AEGPU_FUZZ_ITERATIONS", 300);
    let mut rng = Rng(env_number("AEGPU_FUZZ_SEED", 0x9e37_79b9_7f4a_7c15) | 1);
    let name = loader.name();
    let dir = std::env::temp_dir().join(format!("aegpu-fuzz-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut tried, mut refused) = (0, 0);
    for (seed_name, seed) in corpus(name) {
        for i in 0..=iterations {
            let input = if i == 0 {
                seed.clone()
            } else {
                mutate(&seed, &mut rng)
            };
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                loader.load_bytes(&dir, &input)
            }));
            tried += 1;
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(message)) => {
                    refused += 1;
                    check_refusal(loader, &message);
                }
                Err(_) => {
                    let crashes = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/crashes");
                    std::fs::create_dir_all(&crashes).unwrap();
                    let saved: PathBuf = crashes.join(format!("{name}-{seed_name}-{i}"));
                    std::fs::write(&saved, &input).unwrap();
                    panic!(
                        "{name} panicked on mutant {i} of {seed_name}: saved as {}",
                        saved.display()
                    );
                }
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    eprintln!("{name}: {tried} inputs, {refused} refused, no panic");
    (tried, refused)
}

#[test]
fn npy_loader() {
    fuzz(Loader::Npy);
}

#[test]
fn csv_loader() {
    fuzz(Loader::Csv);
}

#[test]
fn idx_loader() {
    fuzz(Loader::Idx);
}

#[test]
fn safetensors_loader() {
    fuzz(Loader::Safetensors);
}

#[test]
fn toml_config() {
    fuzz(Loader::Toml);
}

#[test]
fn image_loader() {
    fuzz(Loader::Image);
}

/// Every cargo-fuzz target has a seed corpus here.
#[test]
fn every_loader_has_a_corpus_and_a_cargo_fuzz_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for loader in Loader::ALL {
        assert!(!corpus(loader.name()).is_empty());
        let target = root.join(format!("fuzz_targets/{}.rs", loader.name()));
        assert!(target.is_file(), "{} is missing", target.display());
    }
}

/// Writes the seed corpus (run once with `--ignored`; the files are committed).
#[test]
#[ignore]
fn write_seed_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let dir = |name: &str| {
        let d = root.join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let d = dir("npy");
    aegpu::data::save_npy(
        &d.join("f4-2x3.npy"),
        2,
        3,
        &[0.0, 1.5, -2.0, 3.0, 4.25, 5.0],
    )
    .unwrap();
    let header = b"{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 2), }";
    let mut u1 = b"\x93NUMPY\x01\x00".to_vec();
    u1.extend((header.len() as u16 + 1).to_le_bytes());
    u1.extend(header);
    u1.push(b'\n');
    u1.extend([0, 1, 2, 3, 250, 251, 252, 253]);
    std::fs::write(d.join("u1-2x2x2.npy"), u1).unwrap();

    let d = dir("csv");
    std::fs::write(
        d.join("header.csv"),
        "a,b,label\n0.5,1e-3,0\n-2,3.25,1\n7,8,2\n",
    )
    .unwrap();
    std::fs::write(d.join("plain.csv"), "1,2,3\n4,5,6\n\n7,8,9\r\n").unwrap();

    let d = dir("idx");
    let mut images = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 3];
    images.extend((0..18).map(|i| (i * 14) as u8));
    std::fs::write(d.join("t-images-idx3-ubyte"), images).unwrap();
    std::fs::write(
        d.join("t-labels-idx1-ubyte"),
        [0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 9],
    )
    .unwrap();

    let d = dir("safetensors");
    let model = aegpu::models::DenseAutoencoder::new(aegpu::models::DenseConfig::new(&[3, 2]), 0);
    model
        .unwrap()
        .save(&d.join("dense-3-2.safetensors"), &Default::default())
        .unwrap();

    let d = dir("toml");
    std::fs::write(
        d.join("run.toml"),
        "layers = [784, 256, 64]\nepochs = 20\noptimizer = \"adamw\"\nweight-decay = 1e-4\nsparse-kl = \"0.05,3\"\ntied = true\n",
    )
    .unwrap();

    let d = dir("image");
    use aegpu::imaging::{Image, ImageShape};
    let values = (0..3 * 5 * 4).map(|i| (i % 11) as f32 / 11.0).collect();
    Image::new(ImageShape::new(3, 5, 4), values)
        .unwrap()
        .save_png(d.join("rgb-5x4.png"))
        .unwrap();
    let grey = (0..6 * 7).map(|i| (i % 5) as f32 / 5.0).collect();
    Image::new(ImageShape::new(1, 6, 7), grey)
        .unwrap()
        .save_png(d.join("grey-6x7.png"))
        .unwrap();
}
