//! `aegpu eval`, `encode` and `reconstruct`: a saved model applied to data.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::cli::{load_data, BackendArgs, CliError, DataArgs};
use crate::data::{BagOfWords, Dataset, RowSink, RowStream, Scaler};
use crate::models::vae::{self, evaluate_vae};
use crate::models::{downcast_ref, registry, Autoencoder, DenseAutoencoder, Vae};
use crate::train::{code_report, evaluate, run_rows, RowOutput};

/// A saved model applied to some data on some backend.
#[derive(Args, Debug)]
pub struct ModelOnData {
    /// A model saved by `aegpu train` or `aegpu pretrain` (any autoencoder kind).
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
}

impl ModelOnData {
    /// The model file and the data (when it is a path), for [`crate::cli::check_outputs`].
    pub fn inputs(&self) -> Vec<(&'static str, &Path)> {
        vec![
            ("--model", self.model.as_path()),
            ("--data", Path::new(&self.data.data)),
        ]
    }
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    input: ModelOnData,
    /// Print one JSON object with the results on stdout.
    #[arg(long)]
    json: bool,
    /// Random directions of the finite-difference Jacobian estimate (deep encoders).
    #[arg(long, default_value_t = 16, value_parser = crate::ranges::count)]
    directions: usize,
    /// VAE: the negative log-likelihood by importance sampling with K draws per row
    /// (the IWAE bound; without it, the ELBO from one draw).
    #[arg(long, value_name = "K")]
    nll_samples: Option<usize>,
    /// VAE: the seed of the importance samples (and of `--binarize`).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// VAE: measure on a fixed binarisation of the data (each value x becomes 1 with
    /// probability x, drawn with `--seed`): the test set of a model trained with
    /// `--binarize`.
    #[arg(long)]
    binarize: bool,
}

#[derive(Args, Debug)]
pub struct RowsArgs {
    #[command(flatten)]
    input: ModelOnData,
    /// Output file: `.npy` or `.csv`.
    #[arg(long)]
    out: PathBuf,
    /// Rows read, run and written at a time (default: 64 MiB of values); CSV and
    /// `.npy` inputs stream from disk, so memory stays flat whatever the file's size.
    #[arg(long, value_parser = crate::ranges::count)]
    chunk_rows: Option<usize>,
}

#[derive(Args, Debug)]
pub struct EncodeArgs {
    #[command(flatten)]
    rows: RowsArgs,
    /// Store each code unit as one bit, set where it exceeds ½ (the binary codes of a
    /// `--model hash` model), packed eight to a byte in a `.npy` of uint8:
    /// `np.unpackbits(codes, axis=1, bitorder='little')[:, :bits]` unpacks them.
    #[arg(long)]
    binary: bool,
}

/// A saved model of any kind.
pub(super) type LoadedModel = Box<dyn Autoencoder>;

/// What a model's training data went through before it reached the model, recorded
/// in its file: the scaling, and for documents the bag of words.
#[derive(Clone, Debug, Default)]
pub(super) struct Preprocessing {
    pub scaler: Option<Scaler>,
    pub text: Option<BagOfWords>,
}

/// Loads a saved model with the preprocessing recorded when it was trained.
pub(super) fn load_model(model_path: &Path) -> Result<(LoadedModel, Preprocessing), CliError> {
    let (model, meta) = registry::load(model_path)?;
    fn recorded<T: serde::de::DeserializeOwned>(
        meta: &std::collections::BTreeMap<String, String>,
        key: &str,
        what: &str,
        path: &Path,
    ) -> Result<Option<T>, CliError> {
        meta.get(key)
            .map(|s| {
                serde_json::from_str(s)
                    .map_err(|e| format!("{}: unreadable {what}: {e}", path.display()).into())
            })
            .transpose()
    }
    let scaler = recorded(&meta, "aegpu.scaler", "scaler", model_path)?;
    let text = recorded(&meta, "aegpu.bag_of_words", "vocabulary", model_path)?;
    Ok((model, Preprocessing { scaler, text }))
}

fn check_width(model_path: &Path, spec: &str, expected: usize, got: usize) -> Result<(), CliError> {
    if got != expected {
        return Err(format!(
            "the model {} expects {expected} columns, the data {spec} has {got}",
            model_path.display(),
        )
        .into());
    }
    Ok(())
}

/// Loads the model and the data, applies the scaling recorded at training time, and
/// checks that the widths agree.
pub(super) fn load(
    model_path: &Path,
    data: &DataArgs,
) -> Result<(LoadedModel, Option<Scaler>, Dataset), CliError> {
    let (model, prep) = load_model(model_path)?;
    let d = load_scaled(
        model.as_ref(),
        &prep,
        model_path,
        &data.data,
        &data.label_column,
    )?;
    Ok((model, prep.scaler, d))
}

/// The data named by `spec`, checked against the model's input width and prepared as
/// its training data was (documents as bags of its vocabulary, then scaled).
pub(super) fn load_scaled(
    model: &dyn Autoencoder,
    prep: &Preprocessing,
    model_path: &Path,
    spec: &str,
    label_column: &Option<String>,
) -> Result<Dataset, CliError> {
    let mut d = match &prep.text {
        Some(text) => text.load(Path::new(spec), label_column.as_deref())?,
        None => load_data(spec, label_column)?,
    };
    check_width(model_path, spec, model.input_width(), d.cols)?;
    if let Some(s) = &prep.scaler {
        s.apply(&mut d)?;
    }
    Ok(d)
}

pub fn eval(a: EvalArgs) -> Result<(), CliError> {
    let (model, _, data) = load(&a.input.model, &a.input.data)?;
    if let Some(vae) = downcast_ref::<Vae>(model.as_ref()) {
        return eval_vae(&a, vae, &data);
    }
    if a.nll_samples.is_some() || a.binarize {
        return Err(format!(
            "--nll-samples and --binarize need a VAE; {} is a {} model",
            a.input.model.display(),
            model.kind()
        )
        .into());
    }
    let mut selected = a.input.backend.open()?;
    let backend = selected.backend.as_mut();
    backend.upload_store(model.store())?;
    let r = evaluate(model.as_ref(), backend, &data)?;
    // The code statistics (mean activation, encoder Jacobian) are for dense models.
    let codes = match downcast_ref::<DenseAutoencoder>(model.as_ref()) {
        Some(m) => Some(code_report(m, backend, &data, a.directions, 0)?),
        None => None,
    };
    if a.json {
        let mut out = serde_json::json!({
            "test_mse": r.mse,
            "test_bce": r.bce,
            "rows": r.rows,
            "kind": model.kind(),
            "backend": backend.describe(),
        });
        if let Some(codes) = &codes {
            out["mean_code_activation"] = codes.mean_code_activation.into();
            out["jacobian_fro2"] = codes.jacobian_fro2.into();
            out["jacobian_method"] = codes.jacobian_method.into();
        }
        println!("{out}");
    } else {
        let mut line = format!(
            "{} rows: MSE {:.5}, BCE {:.5} per element",
            r.rows, r.mse, r.bce
        );
        if let Some(codes) = &codes {
            line += &format!(
                "; mean code activation {:.4}; encoder Jacobian ‖J‖²_F {:.4} ({})",
                codes.mean_code_activation, codes.jacobian_fro2, codes.jacobian_method
            );
        }
        println!("{line}");
    }
    Ok(())
}

/// `eval` of a VAE: the ELBO and its terms, the IWAE bound with `--nll-samples` draws,
/// the active units (and the MSE/BCE of its mean reconstruction when unconditional).
fn eval_vae(a: &EvalArgs, model: &Vae, data: &Dataset) -> Result<(), CliError> {
    let samples = match a.nll_samples {
        Some(0) => return Err("--nll-samples must be at least 1 (0 draws bound nothing)".into()),
        Some(k) => k,
        None => 1,
    };
    let binarized;
    let data = if a.binarize {
        binarized = vae::binarized(data, a.seed)?;
        &binarized
    } else {
        data
    };
    let mut selected = a.input.backend.open()?;
    let backend = selected.backend.as_mut();
    let r = evaluate_vae(model, backend, data, samples, a.seed)?;
    let recon = match model.config.is_conditional() {
        false => Some(evaluate(model, backend, data)?),
        true => None,
    };
    if a.json {
        let mut out = serde_json::to_value(&r)?;
        out["kind"] = model.kind().into();
        out["backend"] = backend.describe().into();
        if a.nll_samples.is_none() {
            out["nll"] = serde_json::Value::Null;
        }
        if let Some(t) = &recon {
            out["test_mse"] = t.mse.into();
            out["test_bce"] = t.bce.into();
        }
        println!("{out}");
    } else {
        let mut line = format!(
            "{} rows: ELBO {:.2} nats (reconstruction {:.2}, KL {:.2})",
            r.rows, r.elbo, r.reconstruction, r.kl
        );
        if a.nll_samples.is_some() {
            line += &format!("; NLL ≤ {:.2} nats (IWAE, k = {})", r.nll, r.samples);
        }
        line += &format!(
            "; {} of {} latent units active",
            r.active_units, model.config.latent
        );
        if let Some(t) = &recon {
            line += &format!("; mean reconstruction MSE {:.5}, BCE {:.5}", t.mse, t.bce);
        }
        println!("{line}");
    }
    Ok(())
}

/// Values per chunk of rows read, encoded and written (64 MiB of f32): the data never
/// has to fit in memory.
const CHUNK_VALUES: usize = 1 << 24;

/// `encode`: the codes of every row, as floats or packed bits.
pub fn encode(a: EncodeArgs) -> Result<(), CliError> {
    let sink = if a.binary {
        Sink::PackedBits
    } else {
        Sink::Values
    };
    stream_rows(a.rows, RowOutput::Code, sink)
}

/// `reconstruct`: the reconstruction of every row, in the data's own units.
pub fn rows(a: RowsArgs, what: RowOutput) -> Result<(), CliError> {
    stream_rows(a, what, Sink::Values)
}

/// How rows are written: as values, or each value as one bit.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Sink {
    Values,
    PackedBits,
}

impl Sink {
    fn create(self, path: &Path, cols: usize) -> Result<RowSink, CliError> {
        Ok(match self {
            Sink::Values => RowSink::create(path, cols)?,
            Sink::PackedBits => RowSink::create_packed_bits(path, cols)?,
        })
    }

    fn describe(self, cols: usize) -> String {
        match self {
            Sink::Values => format!("{cols}"),
            Sink::PackedBits => format!("{cols} bits packed in {} bytes", cols.div_ceil(8)),
        }
    }
}

/// `encode` / `reconstruct`: the rows stream through in chunks, from a CSV or `.npy`
/// file of any size to a CSV or `.npy` file written atomically.
fn stream_rows(a: RowsArgs, what: RowOutput, how: Sink) -> Result<(), CliError> {
    crate::cli::check_outputs(&[("--out", a.out.as_path())], &a.input.inputs())?;
    let (model, prep) = load_model(&a.input.model)?;
    let data = &a.input.data;
    if prep.text.is_some() {
        return rows_of_documents(&a, what, how, model.as_ref(), &prep);
    }
    let scaler = prep.scaler;
    let mut stream = RowStream::open(&data.data, &data.csv_options())?;
    let width = model.input_width();
    check_width(&a.input.model, &data.data, width, stream.cols())?;
    let cols = match what {
        RowOutput::Code => model.code_width(),
        RowOutput::Reconstruction => width,
    };
    let mut sink = how.create(&a.out, cols)?;
    let mut selected = a.input.backend.open()?;
    let backend = selected.backend.as_mut();
    backend.upload_store(model.store())?;
    let chunk_rows = match a.chunk_rows {
        Some(0) => return Err("--chunk-rows must be at least 1".into()),
        Some(n) => n,
        None => (CHUNK_VALUES / width.max(cols).max(1)).max(1),
    };
    while let Some(mut chunk) = stream.next_chunk(chunk_rows)? {
        if let Some(s) = &scaler {
            s.apply(&mut chunk)?;
        }
        let mut values = run_rows(model.as_ref(), backend, &chunk, what)?;
        if what == RowOutput::Reconstruction {
            // Reconstructions go back to the data's own units.
            if let Some(s) = &scaler {
                for row in values.chunks_mut(cols) {
                    s.invert_row(row);
                }
            }
        }
        sink.write_rows(&values)?;
    }
    if sink.rows() == 0 {
        return Err(format!("{} holds no data rows", data.data).into());
    }
    let rows = sink.finish()?;
    let streamed = if stream.streams() {
        format!(", streamed in chunks of {chunk_rows} rows")
    } else {
        String::new()
    };
    eprintln!(
        "wrote {rows} rows × {} to {}{streamed}",
        how.describe(cols),
        a.out.display()
    );
    Ok(())
}

/// `encode` / `reconstruct` of a model trained on documents: the file is read whole
/// (documents are short), made into bags of the model's vocabulary and run.
fn rows_of_documents(
    a: &RowsArgs,
    what: RowOutput,
    how: Sink,
    model: &dyn Autoencoder,
    prep: &Preprocessing,
) -> Result<(), CliError> {
    let data = &a.input.data;
    let d = load_scaled(model, prep, &a.input.model, &data.data, &data.label_column)?;
    let mut selected = a.input.backend.open()?;
    let backend = selected.backend.as_mut();
    backend.upload_store(model.store())?;
    let values = run_rows(model, backend, &d, what)?;
    let cols = values.len() / d.rows;
    let mut sink = how.create(&a.out, cols)?;
    sink.write_rows(&values)?;
    let rows = sink.finish()?;
    eprintln!(
        "wrote {rows} rows × {} to {} (documents as bags of the model's {} words)",
        how.describe(cols),
        a.out.display(),
        model.input_width()
    );
    Ok(())
}
