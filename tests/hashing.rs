//! Semantic hashing: the code noise drives the sigmoid code to saturate, training agrees
//! on the CPU and GPU backends, and `aegpu train --text-column` makes documents into
//! bags of words whose vocabulary travels with the model to `encode` and `search`.

#[path = "common/gpu.rs"]
mod gpu;

#[path = "common/cli.rs"]
mod cli;
use cli::*;

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::Backend;
use aegpu::data::Dataset;
use aegpu::models::hashing::{HashAutoencoder, HashConfig};
use aegpu::models::Autoencoder;
use aegpu::ops::Activation;
use aegpu::train::{fit, run_rows, RowOutput, TrainConfig};

/// 64 bags of 24 words: four topics, each drawing its words from its own six.
fn topics() -> Dataset {
    let mut values = vec![0.0f32; 64 * 24];
    for (r, row) in values.chunks_mut(24).enumerate() {
        let topic = r % 4;
        for k in 0..6 {
            row[topic * 6 + k] = ((r * 7 + k * 3) % 4) as f32 + 1.0;
        }
    }
    let mut d = Dataset::new(64, 24, values).unwrap();
    d.labels = Some((0..64).map(|r| (r % 4) as u32).collect());
    d
}

fn config(noise: f32) -> HashConfig {
    HashConfig {
        input: 24,
        hidden: vec![16],
        bits: 6,
        code_noise: noise,
        output_activation: Activation::Linear,
        words: true,
    }
}

fn train(backend: &mut dyn Backend, noise: f32, epochs: usize) -> (HashAutoencoder, f32) {
    let mut model = HashAutoencoder::new(config(noise), 1).unwrap();
    let cfg = TrainConfig {
        epochs,
        batch: 16,
        lr: 1e-2,
        seed: 2,
        ..TrainConfig::default()
    };
    let report = fit(&mut model, backend, &topics(), None, &cfg, &mut |_| {}).unwrap();
    (model, report.epochs.last().unwrap().train_loss)
}

/// On 600 of the bundled Austen paragraphs (300 words, TF-IDF), noise σ = 4 on the code
/// units' inputs leaves most code values within 0.1 of 0 or 1; without it, far fewer.
#[test]
fn code_noise_saturates_the_code() {
    use aegpu::data::text::read_documents;
    use aegpu::data::{Vocabulary, VocabularyOptions};
    let docs = read_documents(
        std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/text/austen_paragraphs.csv.gz"
        )),
        "text",
        None,
    )
    .unwrap();
    let texts: Vec<String> = docs
        .texts
        .into_iter()
        .filter(|t| t.len() > 200)
        .take(600)
        .collect();
    let opts = VocabularyOptions {
        size: 300,
        ..VocabularyOptions::default()
    };
    let data = Vocabulary::fit(&texts, &opts)
        .unwrap()
        .transform(&texts)
        .unwrap();
    let mut cpu = CpuBackend::<f32>::new();
    let share = |noise: f32, cpu: &mut CpuBackend<f32>| {
        let mut model = HashAutoencoder::new(
            HashConfig {
                input: 300,
                hidden: vec![64],
                bits: 8,
                ..config(noise)
            },
            1,
        )
        .unwrap();
        let cfg = TrainConfig {
            epochs: 80,
            batch: 16,
            lr: 3e-3,
            seed: 2,
            ..TrainConfig::default()
        };
        fit(&mut model, cpu, &data, None, &cfg, &mut |_| {}).unwrap();
        let codes = run_rows(&model, cpu, &data, RowOutput::Code).unwrap();
        codes.iter().filter(|&&c| !(0.1..=0.9).contains(&c)).count() as f64 / codes.len() as f64
    };
    let (with, without) = (share(4.0, &mut cpu), share(0.0, &mut cpu));
    assert!(with > 0.7, "with noise {with}");
    assert!(with > without + 0.2, "with noise {with}, without {without}");
}

/// The same steps (Philox noise, the softmax cross-entropy, relu layers) on both
/// backends: the same loss and weights up to f32 rounding.
#[test]
fn training_agrees_on_cpu_and_gpu() {
    let Some(mut gpu) = gpu::gpu_backend() else {
        return;
    };
    let (a, la) = train(&mut CpuBackend::<f32>::new(), 4.0, 2);
    let (b, lb) = train(&mut gpu, 4.0, 2);
    assert!((la - lb).abs() < 1e-4 * la.abs().max(1.0), "{la} vs {lb}");
    for (&p, &q) in a.parameters().iter().zip(&b.parameters()) {
        for (x, y) in a.store.values(p).iter().zip(b.store.values(q)) {
            assert!((x - y).abs() < 1e-3, "{} {x} vs {y}", a.store.get(p).name);
        }
    }
}

/// A CSV of documents with quoted texts (commas, quotes, line breaks inside): train on
/// it, then encode other documents through the saved vocabulary and search by Hamming
/// distance.
#[test]
fn cli_trains_on_documents_and_searches_their_codes() {
    let docs = temp("docs.csv");
    let mut text = String::from("topic,text\n");
    for i in 0..40 {
        let body = if i % 2 == 0 {
            "corn wheat harvest, \"\"grain\"\" exports\nrose"
        } else {
            "space shuttle orbit launch, \"\"nasa\"\" mission\nplanned"
        };
        text += &format!("{},\"{body} {i}\"\n", i % 2);
    }
    std::fs::write(&docs, text).unwrap();
    let model = temp("hash.safetensors");
    let (d, m) = (docs.to_str().unwrap(), model.to_str().unwrap());
    let out = aegpu(&[
        "train",
        "--model",
        "hash",
        "--data",
        d,
        "--text-column",
        "text",
        "--label-column",
        "topic",
        "--words",
        "--hidden",
        "8",
        "--bits",
        "4",
        "--epochs",
        "20",
        "--batch",
        "8",
        "--lr",
        "1e-2",
        "--backend",
        "cpu",
        "--out",
        m,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["kind"], "hash");
    // The 13 topic words (each in half the texts); numbers are not words.
    assert_eq!(report["hash"]["input"], 13);

    let codes = temp("codes.csv");
    let out = aegpu(&[
        "encode",
        "--model",
        m,
        "--data",
        d,
        "--out",
        codes.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(&codes).unwrap();
    let rows: Vec<&str> = written.lines().filter(|l| l.contains(',')).collect();
    assert_eq!(rows.len(), 40);
    assert_eq!(rows[0].split(',').count(), 4);

    let out = aegpu(&[
        "search",
        "--model",
        m,
        "--index",
        d,
        "--query",
        d,
        "--label-column",
        "topic",
        "--hamming",
        "--k",
        "5",
        "--json",
    ]);
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!("{}", String::from_utf8_lossy(&out.stderr));
    });
    assert!(found["precision_at_k"].as_f64().unwrap() > 0.9, "{found}");

    // The same codes stored as bits: 4 bits in one byte per document, bit j set where
    // unit j of the float code exceeds ½ (NumPy's little-endian packbits order).
    let packed = temp("codes.npy");
    let out = aegpu(&[
        "encode",
        "--model",
        m,
        "--data",
        d,
        "--binary",
        "--out",
        packed.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&packed).unwrap();
    let header = String::from_utf8_lossy(&bytes[10..bytes.len() - 40]);
    assert!(
        header.contains("'descr': '|u1'") && header.contains("(40, 1)"),
        "{header}"
    );
    let stored = &bytes[bytes.len() - 40..];
    for (row, &byte) in rows.iter().zip(stored) {
        let bits = row
            .split(',')
            .enumerate()
            .map(|(j, v)| ((v.parse::<f32>().unwrap() > 0.5) as u8) << j)
            .sum::<u8>();
        assert_eq!(byte, bits, "{row}");
    }

    // Hamming-ball lookup: at radius 0 a document finds those with the same address,
    // itself among them.
    let out = aegpu(&[
        "search",
        "--model",
        m,
        "--index",
        d,
        "--query",
        d,
        "--label-column",
        "topic",
        "--hamming",
        "--radius",
        "0",
        "--json",
    ]);
    let ball: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!("{}", String::from_utf8_lossy(&out.stderr));
    });
    assert_eq!(ball["queries_without_match"], 0, "{ball}");
    assert!(ball["mean_matches"].as_f64().unwrap() >= 1.0, "{ball}");
    assert!(
        ball["precision_within_radius"].as_f64().unwrap() > 0.9,
        "{ball}"
    );

    // Bits go to .npy only; a radius needs --hamming.
    let csv = temp("codes-bits.csv");
    let line = one_error_line(&aegpu(&[
        "encode",
        "--model",
        m,
        "--data",
        d,
        "--binary",
        "--out",
        csv.to_str().unwrap(),
    ]));
    assert!(line.contains(".npy"), "{line}");
    let line = one_error_line(&aegpu(&[
        "search", "--model", m, "--index", d, "--query", d, "--radius", "1",
    ]));
    assert!(line.contains("--hamming"), "{line}");
}

/// Documents without a shared word, a missing text column, an empty vocabulary size and
/// a softmax decoder given an output activation: one line each.
#[test]
fn cli_refuses_bad_documents() {
    let docs = temp("unique.csv");
    std::fs::write(&docs, "text\nalpha beta\ngamma delta\nepsilon zeta\n").unwrap();
    let out_path = temp("never.safetensors");
    let (d, o) = (docs.to_str().unwrap(), out_path.to_str().unwrap());
    let base = ["train", "--model", "hash", "--data", d, "--out", o];
    for (extra, expect) in [
        (
            &["--text-column", "text"][..],
            "the vocabulary of 3 documents",
        ),
        (&["--text-column", "body"][..], "no column `body`"),
        (
            &["--text-column", "text", "--vocabulary", "0"][..],
            "--vocabulary",
        ),
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let line = one_error_line(&aegpu(&args));
        assert!(line.contains(expect), "{extra:?}: {line}");
    }
    let shared = temp("shared.csv");
    std::fs::write(
        &shared,
        "text\nalpha beta\nalpha gamma\nbeta delta\ngamma delta\n",
    )
    .unwrap();
    let line = one_error_line(&aegpu(&[
        "train",
        "--model",
        "hash",
        "--data",
        shared.to_str().unwrap(),
        "--text-column",
        "text",
        "--words",
        "--output-activation",
        "sigmoid",
        "--out",
        o,
    ]));
    assert!(line.contains("takes no --output-activation"), "{line}");
    assert!(!out_path.exists());
}
