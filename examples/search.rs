//! Similarity search on MNIST: the 10 nearest training digits (60,000, the index) of
//! each test digit (the queries), by Euclidean distance between autoencoder codes,
//! between raw pixels, and between PCA codes of the same size. Precision@10 is the
//! fraction of the 10 neighbours showing the query's digit; queries/s counts the
//! search alone (encoding is timed apart).
//!
//! `cargo run --release --example search [QUERIES] [EPOCHS] [CODE]`
//! (defaults: all 10,000 test digits, 3 epochs, a 784-256-32 autoencoder). The model
//! is saved to `target/search-784-256-CODE-eEPOCHS.safetensors` and loaded from there
//! on the next run.

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
use aegpu::neighbours::{k_nearest, Rows, SelfMatch};
use aegpu::train::{fit, run_rows, RowOutput, TrainConfig};

const K: usize = 10;

/// Searches `query` among `index` (both `dim` wide) and prints one line of figures.
fn report(
    what: &str,
    index: &[f32],
    query: &[f32],
    dim: usize,
    train: &Dataset,
    test: &Dataset,
    encode_s: f64,
) {
    let t = Instant::now();
    let found = k_nearest(
        Rows::new(index, dim),
        Rows::new(query, dim),
        K,
        SelfMatch::Allow,
    )
    .expect("valid search");
    let search_s = t.elapsed().as_secs_f64();
    let precision = found.precision_at_k(
        test.labels.as_deref().expect("MNIST labels"),
        train.labels.as_deref().expect("MNIST labels"),
    );
    println!(
        "{what:<22} {dim:>4} | {precision:>14.4} | {:>10.0} | {search_s:>8.2} | {encode_s:>8.2}",
        test.rows as f64 / search_s
    );
}

fn main() {
    let (queries, epochs, code) = (common::arg(1, 0), common::arg(2, 3), common::arg(3, 32));
    let (train, test) = common::mnist(0, queries);
    let path = PathBuf::from(format!(
        "target/search-784-256-{code}-e{epochs}.safetensors"
    ));
    let mut cpu = CpuBackend::<f32>::new();
    let model = match DenseAutoencoder::load(&path) {
        Ok((model, _)) => {
            eprintln!("loaded {}", path.display());
            cpu.upload_store(&model.store).expect("upload");
            model
        }
        Err(_) => {
            let mut model = DenseAutoencoder::new(DenseConfig::new(&[784, 256, code]), 1)
                .expect("valid config");
            let cfg = TrainConfig {
                epochs,
                ..TrainConfig::default()
            };
            let t = Instant::now();
            fit(&mut model, &mut cpu, &train, None, &cfg, &mut |_| {}).expect("training");
            eprintln!(
                "trained 784-256-{code} for {epochs} epochs in {:.1}s",
                t.elapsed().as_secs_f64()
            );
            model.save(&path, &BTreeMap::new()).expect("save the model");
            model
        }
    };

    println!(
        "{} queries (test digits) × {} index rows (training digits), k = {K}",
        test.rows, train.rows
    );
    println!(
        "{:<22} {:>4} | {:>14} | {:>10} | {:>8} | {:>8}",
        "space", "dim", "precision@10", "queries/s", "search s", "encode s"
    );
    let t = Instant::now();
    let index = run_rows(&model, &mut cpu, &train, RowOutput::Code).expect("codes");
    let query = run_rows(&model, &mut cpu, &test, RowOutput::Code).expect("codes");
    let encode_s = t.elapsed().as_secs_f64();
    report(
        "autoencoder codes",
        &index,
        &query,
        code,
        &train,
        &test,
        encode_s,
    );

    let t = Instant::now();
    let pca = Pca::fit(&train.values, train.rows, train.cols, code, 100);
    let fit_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (index, query) = (
        pca.encode(&train.values, train.rows),
        pca.encode(&test.values, test.rows),
    );
    let encode_s = t.elapsed().as_secs_f64();
    eprintln!("PCA fitted in {fit_s:.1}s");
    report("PCA codes", &index, &query, code, &train, &test, encode_s);

    report(
        "raw pixels",
        &train.values,
        &test.values,
        784,
        &train,
        &test,
        0.0,
    );
}
