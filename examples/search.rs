//! Similarity search on MNIST: the 10 nearest training digits (60,000, the index) of
//! each test digit (the queries), by Euclidean distance between autoencoder codes,
//! between raw pixels, and between PCA codes of the same size. Precision@10 is the
//! fraction of the 10 neighbours showing the query's digit; queries/s counts the
//! search alone (encoding is timed apart). A second autoencoder with a sigmoid code
//! gives binary codes (each unit thresholded at ½) searched by Hamming distance.
//!
//! `cargo run --release --example search [QUERIES] [EPOCHS] [CODE]`
//! (defaults: all 10,000 test digits, 3 epochs, 784-256-32 autoencoders). The models
//! are saved to `target/search-784-256-CODE-ACTIVATION-eEPOCHS.safetensors` and loaded
//! from there on the next run.

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::Backend;
use aegpu::data::Dataset;
use aegpu::linalg::Pca;
use aegpu::models::{DenseAutoencoder, DenseConfig};
use aegpu::neighbours::hamming::{k_nearest_hamming, BinaryCodes};
use aegpu::neighbours::{k_nearest, Neighbours, Rows, SelfMatch};
use aegpu::ops::Activation;
use aegpu::train::{fit, run_rows, RowOutput, TrainConfig};

const K: usize = 10;

/// Runs `search` (the queries' neighbours among the index) and prints one line of
/// figures.
fn report(
    what: &str,
    dim: usize,
    train: &Dataset,
    test: &Dataset,
    encode_s: f64,
    search: impl FnOnce() -> Neighbours,
) {
    let t = Instant::now();
    let found = search();
    let search_s = t.elapsed().as_secs_f64();
    let precision = found.precision_at_k(
        test.labels.as_deref().expect("MNIST labels"),
        train.labels.as_deref().expect("MNIST labels"),
    );
    println!(
        "{what:<26} {dim:>4} | {precision:>14.4} | {:>10.0} | {search_s:>8.2} | {encode_s:>8.2}",
        test.rows as f64 / search_s
    );
}

/// The 784-256-`code` autoencoder with `code_activation`, loaded from `target/` when a
/// previous run saved it, else trained (Adam defaults) and saved; its parameters are
/// left on `cpu`.
fn autoencoder(
    cpu: &mut CpuBackend,
    train: &Dataset,
    code: usize,
    code_activation: Activation,
    epochs: usize,
) -> DenseAutoencoder {
    let path = PathBuf::from(format!(
        "target/search-784-256-{code}-{code_activation}-e{epochs}.safetensors"
    ));
    if let Ok((model, _)) = DenseAutoencoder::load(&path) {
        eprintln!("loaded {}", path.display());
        cpu.upload_store(&model.store).expect("upload");
        return model;
    }
    let mut config = DenseConfig::new(&[784, 256, code]);
    config.activations[1] = code_activation;
    let mut model = DenseAutoencoder::new(config, 1).expect("valid config");
    let cfg = TrainConfig {
        epochs,
        ..TrainConfig::default()
    };
    let t = Instant::now();
    fit(&mut model, cpu, train, None, &cfg, &mut |_| {}).expect("training");
    eprintln!(
        "trained 784-256-{code} ({code_activation} code) for {epochs} epochs in {:.1}s",
        t.elapsed().as_secs_f64()
    );
    model.save(&path, &BTreeMap::new()).expect("save the model");
    model
}

fn main() {
    let (queries, epochs, code) = (common::arg(1, 0), common::arg(2, 3), common::arg(3, 32));
    let (train, test) = common::mnist(0, queries);
    let mut cpu = CpuBackend::<f32>::new();
    let model = autoencoder(&mut cpu, &train, code, Activation::Linear, epochs);
    let t = Instant::now();
    let index = run_rows(&model, &mut cpu, &train, RowOutput::Code).expect("codes");
    let query = run_rows(&model, &mut cpu, &test, RowOutput::Code).expect("codes");
    let ae_encode_s = t.elapsed().as_secs_f64();
    let hashing = autoencoder(&mut cpu, &train, code, Activation::Sigmoid, epochs);
    let t = Instant::now();
    let mut bits = |d: &Dataset| {
        let codes = run_rows(&hashing, &mut cpu, d, RowOutput::Code).expect("codes");
        BinaryCodes::threshold(&codes, code, 0.5).expect("codes")
    };
    let (index_bits, query_bits) = (bits(&train), bits(&test));
    let hashing_encode_s = t.elapsed().as_secs_f64();

    println!(
        "{} queries (test digits) × {} index rows (training digits), k = {K}",
        test.rows, train.rows
    );
    println!(
        "{:<26} {:>4} | {:>14} | {:>10} | {:>8} | {:>8}",
        "space", "dim", "precision@10", "queries/s", "search s", "encode s"
    );
    let euclidean = |index: &[f32], query: &[f32], dim: usize| {
        k_nearest(
            Rows::new(index, dim),
            Rows::new(query, dim),
            K,
            SelfMatch::Allow,
        )
        .expect("valid search")
    };
    report(
        "autoencoder codes",
        code,
        &train,
        &test,
        ae_encode_s,
        || euclidean(&index, &query, code),
    );
    report(
        "sigmoid codes, Hamming",
        code,
        &train,
        &test,
        hashing_encode_s,
        || k_nearest_hamming(&index_bits, &query_bits, K, SelfMatch::Allow).expect("valid search"),
    );

    let t = Instant::now();
    let pca = Pca::fit(&train.values, train.rows, train.cols, code, 100);
    eprintln!("PCA fitted in {:.1}s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let (index, query) = (
        pca.encode(&train.values, train.rows),
        pca.encode(&test.values, test.rows),
    );
    let encode_s = t.elapsed().as_secs_f64();
    report("PCA codes", code, &train, &test, encode_s, || {
        euclidean(&index, &query, code)
    });
    report("raw pixels", 784, &train, &test, 0.0, || {
        euclidean(&train.values, &test.values, 784)
    });
}
