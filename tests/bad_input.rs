//! Hostile and broken input, as a table: what a user gives, and the one line `aegpu`
//! answers with. Every row must end in a non-zero exit (never a panic, never a hang)
//! with exactly one `error:` line that names the problem. Read top to bottom, the table
//! is the documentation of what is refused and why; the tests after it check what the
//! refusals protect (inputs left unchanged) and what is handled rather than refused
//! (SIGTERM, an oversized `--tile`, a run killed before its model was saved).

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// One hostile input and the fragment its refusal must contain.
struct Case {
    class: &'static str,
    input: &'static str,
    args: Vec<OsString>,
    env: Vec<(&'static str, &'static str)>,
    expect: &'static str,
}

fn case(class: &'static str, input: &'static str, args: &[&str], expect: &'static str) -> Case {
    Case {
        class,
        input,
        args: args.iter().map(OsString::from).collect(),
        env: vec![],
        expect,
    }
}

impl Case {
    fn env(mut self, key: &'static str, value: &'static str) -> Case {
        self.env.push((key, value));
        self
    }
}

/// Runs `aegpu` with a deadline: a hang fails the test instead of stalling it.
fn aegpu_env(args: &[OsString], env: &[(&str, &str)], limit: Duration) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aegpu"));
    // In the test's own folder: a run that wrongly succeeded writes its files there.
    cmd.args(args)
        .current_dir(dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("aegpu starts");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("aegpu {args:?} still running after {limit:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn aegpu(args: &[&str]) -> Output {
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    aegpu_env(&args, &[], Duration::from_secs(120))
}

/// The folder of this test run's files.
fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("aegpu-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn path(name: &str) -> String {
    dir().join(name).to_str().unwrap().to_string()
}

/// `None` when the refusal is clean, else what is wrong with it.
fn refusal_problem(out: &Output, expect: &str) -> Option<String> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        return Some("it succeeded".into());
    }
    if stderr.contains("panicked") || out.status.code() == Some(101) {
        return Some(format!("it panicked: {stderr}"));
    }
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    if errors.len() != 1 {
        return Some(format!("{} error lines: {stderr}", errors.len()));
    }
    if errors[0].len() > 2100 {
        return Some(format!("a {}-byte line", errors[0].len()));
    }
    if !errors[0].contains(expect) {
        return Some(format!("`{}` does not say `{expect}`", errors[0]));
    }
    None
}

/// The files the table refers to, made once.
fn fixtures() {
    let d = dir();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/small/iris.csv"),
        d.join("data.csv"),
    )
    .unwrap();
    // A small trained model, its checkpoint and a copy with a NaN weight.
    let trained = aegpu(&[
        "train",
        "--data",
        &path("data.csv"),
        "--label-column",
        "target",
        "--layers",
        "4,2",
        "--epochs",
        "2",
        "--batch",
        "32",
        "--checkpoint-every",
        "1",
        "--backend",
        "cpu",
        "--out",
        &path("model.safetensors"),
    ]);
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    let (mut tensors, meta) = aegpu::io::load_safetensors(&d.join("model.safetensors")).unwrap();
    tensors[0].values[1] = f32::NAN;
    aegpu::io::save_safetensors(&d.join("nan.safetensors"), &tensors, &meta).unwrap();
    // The same model with one weight's low byte changed after it was written.
    let mut bytes = std::fs::read(d.join("model.safetensors")).unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    bytes[8 + header] ^= 1;
    std::fs::write(d.join("tampered.safetensors"), bytes).unwrap();
    // A checkpoint whose position is far past its epochs (the shuffle replay would run
    // for ever).
    let ckpt = d.join("model.ckpt.safetensors");
    let (tensors, mut meta) = aegpu::io::load_safetensors(&ckpt).unwrap();
    let mut state: serde_json::Value = serde_json::from_str(&meta["aegpu.checkpoint"]).unwrap();
    state["position"]["next_epoch"] = 4_000_000_000u64.into();
    meta.insert("aegpu.checkpoint".into(), state.to_string());
    aegpu::io::save_safetensors(&d.join("far.ckpt.safetensors"), &tensors, &meta).unwrap();

    std::fs::write(d.join("bad.toml"), "epochs = 3\nlayers = [4,\n").unwrap();
    std::fs::write(d.join("run.toml"), "epochs = 1\n").unwrap();
    // A CSV whose second field is 10 MB of letters.
    let mut long = b"a,b\n1,".to_vec();
    long.extend(std::iter::repeat_n(b'x', 10 << 20));
    long.extend_from_slice(b"\n");
    std::fs::write(d.join("long-field.csv"), long).unwrap();
    // A gzip bomb: 64 MiB of one CSV row repeated, a few hundred KB compressed.
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(d.join("bomb.csv.gz")).unwrap(),
        flate2::Compression::best(),
    );
    let row = b"0,0,0,0\n";
    for _ in 0..(64 << 20) / row.len() {
        gz.write_all(row).unwrap();
    }
    gz.finish().unwrap();
    // One line of 4 MB (the streamed CSV reads a line at a time).
    let mut line = b"1".to_vec();
    line.extend(std::iter::repeat_n(b",1".as_slice(), 2 << 20).flatten());
    std::fs::write(d.join("wide.csv"), line).unwrap();
    // .npy headers: nested 100,000 levels deep, and one that says it is 4 GB long.
    let deep = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': {}1{}, }}",
        "(".repeat(100_000),
        ",)".repeat(100_000)
    );
    let mut npy = b"\x93NUMPY\x02\x00".to_vec();
    npy.extend((deep.len() as u32 + 1).to_le_bytes());
    npy.extend(deep.as_bytes());
    npy.push(b'\n');
    std::fs::write(d.join("deep.npy"), npy).unwrap();
    let mut npy = b"\x93NUMPY\x02\x00".to_vec();
    npy.extend(u32::MAX.to_le_bytes());
    npy.extend(b"{'descr': '<f4'");
    std::fs::write(d.join("huge-header.npy"), npy).unwrap();
    // A PNG that declares 16,000 × 16,000 pixels in a few bytes.
    std::fs::write(d.join("huge.png"), png_header(16_000, 16_000)).unwrap();
    tiny_denoiser(&d.join("denoiser.safetensors"));
    // A photo, its clean original, and a result already sitting in the output folder.
    for sub in ["photos", "clean", "results"] {
        std::fs::create_dir_all(d.join(sub)).unwrap();
        small_image(&d.join(sub).join("photo.png"), 12, 14);
    }
    // A FIFO named like data: reading it whole would block for ever.
    let _ = std::fs::remove_file(d.join("fifo.csv"));
    let made = Command::new("mkfifo").arg(d.join("fifo.csv")).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
}

/// The signature and IHDR chunk of a grey 8-bit PNG of `width × height` (then IEND):
/// enough for a decoder to read the size.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        png.extend((data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        png.extend(kind);
        png.extend(data);
        png.extend(crc.sum().to_be_bytes());
    };
    let mut ihdr = vec![];
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    let mut idat = flate2::write::ZlibEncoder::new(vec![], flate2::Compression::default());
    idat.write_all(&[0; 64]).unwrap();
    chunk(b"IDAT", &idat.finish().unwrap());
    chunk(b"IEND", &[]);
    png
}

fn tiny_denoiser(path: &Path) {
    use aegpu::models::{ConvAutoencoder, ConvConfig};
    let mut config = ConvConfig::denoiser(1, 8, 2, 2);
    config.noise_sigma = Some(0.1);
    ConvAutoencoder::new(config, 0)
        .unwrap()
        .save(path, &Default::default())
        .unwrap();
}

fn small_image(path: &Path, h: usize, w: usize) {
    use aegpu::imaging::{Image, ImageShape};
    let values = (0..h * w).map(|i| (i % 7) as f32 / 7.0).collect();
    Image::new(ImageShape::new(1, h, w), values)
        .unwrap()
        .save_png(path)
        .unwrap();
}

fn table() -> Vec<Case> {
    let data = path("data.csv");
    let model = path("model.safetensors");
    let iris = |extra: &[&str]| -> Vec<String> {
        // The case's own flags come last, so they override these defaults.
        let mut a = [
            "train",
            "--data",
            &data,
            "--label-column",
            "target",
            "--backend",
            "cpu",
            "--epochs",
            "1",
        ]
        .map(String::from)
        .to_vec();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let train = |class, input, extra: &[&str], expect| {
        let a = iris(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        case(class, input, &a, expect)
    };
    // `aegpu denoise` of a saved denoiser on a large image, with `extra` flags.
    let denoise = |class, input, extra: &[&str], expect| {
        let mut a = vec![
            "denoise".to_string(),
            "--model".to_string(),
            path("denoiser.safetensors"),
            "--input".to_string(),
            path("huge.png"),
            "--output".to_string(),
            path("out"),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        case(class, input, &a, expect)
    };
    let non_utf8 = {
        use std::os::unix::ffi::OsStringExt;
        OsString::from_vec(b"data-\xff.csv".to_vec())
    };
    let mut cases = vec![
        // Messages: the argument parser's refusals are one line too.
        train(
            "message",
            "an unknown flag",
            &["--bogus"],
            "unexpected argument '--bogus'",
        ),
        case("message", "no --data", &["train"], "--data"),
        case("message", "no subcommand", &[], "subcommand"),
        train(
            "message",
            "a missing output folder (found before training)",
            &["--out", "/no/such/folder/m.safetensors"],
            "does not exist",
        ),
        train(
            "message",
            "an output that is a folder",
            &["--out", "/tmp"],
            "is a folder",
        ),
        case(
            "message",
            "a TOML config with a syntax error",
            &["train", "--config", &path("bad.toml")],
            "bad.toml: line 2, column",
        ),
        case(
            "message",
            "a CSV field of 10 MB (cut, not echoed)",
            &[
                "train",
                "--data",
                &path("long-field.csv"),
                "--backend",
                "cpu",
            ],
            "more characters",
        ),
        // Ranges: every numeric option, negative numbers parsed as values first.
        train(
            "range",
            "a negative learning rate",
            &["--lr", "-1"],
            "must be a finite number > 0, got -1",
        ),
        train(
            "range",
            "an infinite learning rate",
            &["--lr", "inf"],
            "must be a finite number > 0",
        ),
        train(
            "range",
            "momentum of 1",
            &["--optimizer", "momentum", "--momentum", "1"],
            "must be in [0, 1), got 1",
        ),
        train(
            "range",
            "negative momentum",
            &["--momentum", "-0.5"],
            "must be in [0, 1)",
        ),
        train(
            "range",
            "negative weight decay",
            &["--weight-decay", "-1e-4"],
            "must be a finite number ≥ 0",
        ),
        train(
            "range",
            "a NaN validation fraction",
            &["--validation", "nan"],
            "got NaN",
        ),
        train(
            "range",
            "zero epochs",
            &["--epochs", "0"],
            "whole number ≥ 1",
        ),
        train("range", "batch 0", &["--batch", "0"], "whole number ≥ 1"),
        train("range", "dropout of 1", &["--dropout", "1"], "[0, 1)"),
        train(
            "range",
            "masking noise with p = 2",
            &["--noise", "mask:2"],
            "[0, 1)",
        ),
        train(
            "range",
            "a negative clip norm",
            &["--clip-norm", "-3"],
            "> 0",
        ),
        case(
            "range",
            "classify --labels 0",
            &[
                "classify",
                "--data",
                &data,
                "--label-column",
                "target",
                "--labels",
                "0",
            ],
            "whole number ≥ 1",
        ),
        case(
            "silent wrong answer",
            "classify on labelled rows of one class",
            &[
                "classify",
                "--data",
                &data,
                "--label-column",
                "target",
                "--layers",
                "4,2",
                "--labels",
                "1",
            ],
            "at least two classes",
        ),
        case(
            "range",
            "encode --chunk-rows 0",
            &[
                "encode",
                "--model",
                &model,
                "--data",
                &data,
                "--label-column",
                "target",
                "--out",
                &path("codes.csv"),
                "--chunk-rows",
                "0",
            ],
            "whole number ≥ 1",
        ),
        case(
            "range",
            "search -k -3",
            &["search", "--index", &data, "--query", &data, "--k", "-3"],
            "not a whole number",
        ),
        denoise(
            "range",
            "a denoise tile of 0",
            &["--tile", "0"],
            "whole number ≥ 1",
        ),
        denoise(
            "range",
            "a self-ensemble of 3 symmetries",
            &["--ensemble", "3"],
            "takes 1, 2, 4 or 8",
        ),
        // Never overwrite an input.
        train(
            "overwrite",
            "--out is the --data file",
            &["--out", &data],
            "same file as --data",
        ),
        train(
            "overwrite",
            "--checkpoint is the --data file",
            &["--checkpoint", &data],
            "same file as --data",
        ),
        train(
            "overwrite",
            "--log is the --data file",
            &["--log", &data],
            "same file as --data",
        ),
        train(
            "overwrite",
            "--out is the --config file",
            &["--config", &path("run.toml"), "--out", &path("run.toml")],
            "same file as --config",
        ),
        train(
            "overwrite",
            "--out is the --data file spelled with ./",
            &["--out", &format!("{}/./data.csv", dir().display())],
            "same file as --data",
        ),
        train(
            "overwrite",
            "--out and --log are one file",
            &["--out", &path("same.out"), "--log", &path("same.out")],
            "both",
        ),
        case(
            "overwrite",
            "encode --out is the --data file",
            &[
                "encode",
                "--model",
                &model,
                "--data",
                &data,
                "--label-column",
                "target",
                "--out",
                &data,
            ],
            "same file as --data",
        ),
        case(
            "overwrite",
            "encode --out is the --model file",
            &[
                "encode",
                "--model",
                &model,
                "--data",
                &data,
                "--label-column",
                "target",
                "--out",
                &model,
            ],
            "same file as --model",
        ),
        case(
            "overwrite",
            "denoise --output is the inputs' folder",
            &[
                "denoise",
                "--model",
                &path("denoiser.safetensors"),
                "--input",
                &path("photos/photo.png"),
                "--output",
                &path("photos"),
                "--backend",
                "cpu",
            ],
            "same file as --input",
        ),
        case(
            "overwrite",
            "denoise --clean is --output (the originals would be replaced)",
            &[
                "denoise",
                "--model",
                &path("denoiser.safetensors"),
                "--input",
                &path("photos/photo.png"),
                "--clean",
                &path("clean"),
                "--output",
                &path("clean"),
                "--backend",
                "cpu",
                "--overwrite",
            ],
            "same file as --clean",
        ),
        case(
            "overwrite",
            "denoise into a folder holding a file of the result's name",
            &[
                "denoise",
                "--model",
                &path("denoiser.safetensors"),
                "--input",
                &path("photos/photo.png"),
                "--output",
                &path("results"),
                "--backend",
                "cpu",
            ],
            "pass --overwrite",
        ),
        // Bounded resources, checked before allocating.
        case(
            "bounds",
            "a gzip bomb (64 MiB from a few hundred KB)",
            &["train", "--data", &path("bomb.csv.gz"), "--backend", "cpu"],
            "decompressed bytes",
        )
        .env("AEGPU_MAX_DECOMPRESSED_BYTES", "16M"),
        case(
            "bounds",
            "a 4 MB line in a streamed CSV",
            &[
                "encode",
                "--model",
                &model,
                "--data",
                &path("wide.csv"),
                "--out",
                &path("w.csv"),
            ],
            "bytes in one line",
        )
        .env("AEGPU_MAX_LINE_BYTES", "1M"),
        case(
            "bounds",
            "a .npy header nested 100,000 deep",
            &["train", "--data", &path("deep.npy"), "--backend", "cpu"],
            "nested more than 32",
        ),
        case(
            "bounds",
            "a .npy header claiming 4 GB",
            &[
                "train",
                "--data",
                &path("huge-header.npy"),
                "--backend",
                "cpu",
            ],
            "header bytes",
        ),
        denoise(
            "bounds",
            "a PNG declaring 16,000 × 16,000 pixels",
            &["--backend", "cpu"],
            "pixels in one image",
        ),
        case(
            "bounds",
            "a FIFO as --data",
            &["train", "--data", &path("fifo.csv")],
            "not a regular file",
        ),
        case(
            "bounds",
            "/dev/zero as --model",
            &["eval", "--model", "/dev/zero", "--data", &data],
            "not a regular file",
        ),
        case(
            "bounds",
            "/dev/zero as --config",
            &["train", "--config", "/dev/zero"],
            "not a regular file",
        ),
        case(
            "bounds",
            "a dense model of 10^10 parameters",
            &[
                "train",
                "--data",
                &data,
                "--label-column",
                "target",
                "--layers",
                "4,100000,100000,100000",
                "--backend",
                "cpu",
            ],
            "parameters",
        ),
        // Divergence: a loss that blows up, and weights that do behind a finite loss.
        train(
            "divergence",
            "SGD at lr 5 on a linear output, raw iris (the loss grows 1000×)",
            &[
                "--scale",
                "none",
                "--layers",
                "4,3,2",
                "--output-activation",
                "linear",
                "--optimizer",
                "sgd",
                "--lr",
                "5",
                "--batch",
                "16",
                "--epochs",
                "30",
            ],
            "the loss blew up",
        ),
        train(
            "divergence",
            "--lr 1e6, raw iris (the sigmoid saturates, the loss stays finite)",
            &[
                "--scale", "none", "--layers", "4,3,2", "--lr", "1e6", "--batch", "16", "--epochs",
                "5",
            ],
            "training blew up",
        ),
        // Installation: a binary away from its source tree.
        case(
            "installation",
            "--data mnist with the training digits nowhere to be found",
            &["train", "--data", "mnist", "--backend", "cpu"],
            "inside the binary",
        )
        .env("AEGPU_DATA_DIR", "/nonexistent-aegpu-data"),
        case(
            "bounds",
            "a conv model of 10^11 parameters",
            &[
                "train",
                "--data",
                "mnist:test",
                "--model",
                "conv",
                "--channels",
                "100000,100000",
                "--backend",
                "cpu",
            ],
            "past 1073741824 parameters",
        ),
        // Memory a plan would hold (weights, optimiser state, a batch's activations),
        // estimated from the plan before anything is allocated; the default bound is
        // the machine's memory, lowered here so the rows hold on any machine.
        case(
            "bounds",
            "a dense model under the parameter cap whose batch needs ~1 GB",
            &[
                "train",
                "--data",
                "mnist:test",
                "--layers",
                "784,4096",
                "--batch",
                "10000",
                "--backend",
                "cpu",
                "--out",
                &path("never.safetensors"),
            ],
            "AEGPU_MAX_MEMORY_BYTES",
        )
        .env("AEGPU_MAX_MEMORY_BYTES", "256M"),
        case(
            "bounds",
            "inference batches over the memory bound",
            &[
                "eval",
                "--model",
                &model,
                "--data",
                &data,
                "--label-column",
                "target",
                "--backend",
                "cpu",
            ],
            "bytes of memory is over the limit",
        )
        .env("AEGPU_MAX_MEMORY_BYTES", "1k"),
        // Model files and checkpoints.
        case(
            "model file",
            "a NaN weight",
            &[
                "eval",
                "--model",
                &path("nan.safetensors"),
                "--data",
                &data,
                "--label-column",
                "target",
            ],
            "holds NaN",
        ),
        case(
            "model file",
            "a weight changed after saving",
            &[
                "eval",
                "--model",
                &path("tampered.safetensors"),
                "--data",
                &data,
                "--label-column",
                "target",
            ],
            "checksum",
        ),
        train(
            "model file",
            "a checkpoint whose position is past its epochs",
            &[
                "--layers",
                "4,2",
                "--batch",
                "32",
                "--resume",
                &path("far.ckpt.safetensors"),
                "--epochs",
                "4000000001",
            ],
            "does not follow its 2 epoch reports",
        ),
    ];
    let mut non_utf8_case = case(
        "message",
        "a path that is not UTF-8",
        &["train", "--data"],
        "UTF-8",
    );
    non_utf8_case.args.push(non_utf8);
    cases.push(non_utf8_case);
    cases
}

#[test]
fn every_hostile_input_is_refused_in_one_line() {
    ready();
    let cases = table();
    let mut problems = vec![];
    for c in &cases {
        let out = aegpu_env(&c.args, &c.env, Duration::from_secs(120));
        if let Some(p) = refusal_problem(&out, c.expect) {
            problems.push(format!("[{}] {}: {p}", c.class, c.input));
        }
    }
    eprintln!(
        "{} hostile inputs, {} refused cleanly",
        cases.len(),
        cases.len() - problems.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Nothing a refusal touched was changed.
    let original =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/small/iris.csv")).unwrap();
    assert_eq!(std::fs::read(dir().join("data.csv")).unwrap(), original);
    assert_eq!(
        std::fs::read_to_string(dir().join("run.toml")).unwrap(),
        "epochs = 1\n"
    );
}

/// The table's files exist (each test may run alone).
fn ready() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(fixtures);
}

fn no_temporaries_in(folder: &Path) -> Vec<String> {
    std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn sigterm_saves_a_checkpoint_that_resumes_and_leaves_no_temporary_file() {
    ready();
    let run = dir().join("term");
    std::fs::create_dir_all(&run).unwrap();
    let model = run.join("m.safetensors");
    let ckpt = run.join("m.ckpt.safetensors");
    let data = path("data.csv");
    let args = |epochs: &str| {
        [
            "train",
            "--data",
            &data,
            "--label-column",
            "target",
            "--layers",
            "4,2",
            "--batch",
            "1",
            "--backend",
            "cpu",
            "--epochs",
            epochs,
            "--out",
            model.to_str().unwrap(),
        ]
        .map(String::from)
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_aegpu"))
        .args(args("1000000"))
        .current_dir(&run)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(killed.is_ok_and(|s| s.success()));
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("checkpoint saved") && stderr.contains("--resume"),
        "{stderr}"
    );
    assert!(
        no_temporaries_in(&run).is_empty(),
        "{:?}",
        no_temporaries_in(&run)
    );
    // The checkpoint resumes: finishing the epoch it was in produces the model.
    let (_, meta) = aegpu::io::load_safetensors(&ckpt).unwrap();
    let state: serde_json::Value = serde_json::from_str(&meta["aegpu.checkpoint"]).unwrap();
    let epoch = state["position"]["next_epoch"]
        .as_u64()
        .unwrap()
        .to_string();
    let mut resume: Vec<String> = args(&epoch).to_vec();
    resume.extend(["--resume".to_string(), ckpt.to_str().unwrap().to_string()]);
    let out = aegpu(&resume.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(model.is_file());
}

#[test]
fn a_run_killed_after_its_last_epoch_resumes_into_its_saved_model() {
    ready();
    // The fixture's 2-epoch run wrote its checkpoint after epoch 2; without its model
    // (as if killed before the save) --resume finishes the job instead of refusing.
    let run = dir().join("finished");
    std::fs::create_dir_all(&run).unwrap();
    let ckpt = run.join("m.ckpt.safetensors");
    std::fs::copy(dir().join("model.ckpt.safetensors"), &ckpt).unwrap();
    let model = run.join("m.safetensors");
    let out = aegpu(&[
        "train",
        "--data",
        &path("data.csv"),
        "--label-column",
        "target",
        "--layers",
        "4,2",
        "--epochs",
        "2",
        "--batch",
        "32",
        "--checkpoint-every",
        "1",
        "--backend",
        "cpu",
        "--out",
        model.to_str().unwrap(),
        "--resume",
        ckpt.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(model.is_file());
}

#[test]
fn a_tile_far_larger_than_the_image_is_capped_at_the_image() {
    ready();
    let out_dir = dir().join("tiled");
    let out = aegpu(&[
        "denoise",
        "--model",
        &path("denoiser.safetensors"),
        "--input",
        &path("photos/photo.png"),
        "--output",
        out_dir.to_str().unwrap(),
        "--tile",
        "1000000",
        "--backend",
        "cpu",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out_dir.join("photo.png").is_file());
}

#[test]
fn the_bundled_test_digits_load_from_inside_the_binary() {
    // As an installed binary sees it: no data folder anywhere.
    let out = aegpu_env(
        &[
            "train",
            "--data",
            "mnist:test",
            "--layers",
            "784,8",
            "--epochs",
            "1",
            "--backend",
            "cpu",
            "--out",
            &path("digits.safetensors"),
            "--json",
        ]
        .map(OsString::from),
        &[("AEGPU_DATA_DIR", "/nonexistent-aegpu-data")],
        Duration::from_secs(120),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
