//! The model kinds: one line each. A kind is one file (its config, its graph builders,
//! its `aegpu train` flags) that exports a [`Kind`]; loading a file, `aegpu train
//! --model NAME`, `info`, `eval`, `encode`, `reconstruct`, `plot` and `outliers` look
//! the kind up here and never match on kind names.

use std::collections::BTreeMap;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgMatches, Command};

use crate::io::{load_safetensors, parse_safetensors, NamedTensor};
use crate::models::file::incompatible;
use crate::models::{
    aae, conv, conv_pool, denoiser, dense, hashing, lstm, vae, vq, Autoencoder, ModelError,
};
use crate::train::Regularization;

/// Every kind `aegpu` knows, the default (`--model` unset) first.
pub static KINDS: &[Kind] = &[
    dense::KIND,
    conv::KIND,
    conv_pool::KIND,
    vae::KIND,
    vq::KIND,
    aae::KIND,
    lstm::KIND,
    hashing::KIND,
    denoiser::KIND,
];

/// What `aegpu train` knows when it builds a fresh model from its flags.
pub struct BuildContext<'a> {
    /// The `--data` spec (`mnist` gives image kinds their 1×28×28 shape).
    pub data: &'a str,
    /// Columns of the training data.
    pub cols: usize,
    pub seed: u64,
    pub regularization: &'a Regularization,
    /// The training rows' labels, when the data has them (a conditional kind reads them).
    pub labels: Option<&'a [u32]>,
    /// The rows are standardised before training (`--scale standard`, or `--scale auto`
    /// on raw features outside [0, 1]): a kind whose output defaults to sigmoid, which
    /// cannot reach values below 0, defaults to linear instead.
    pub standardised: bool,
}

/// A freshly built model, or why the flags do not make one.
pub type Built = Result<Box<dyn Autoencoder>, String>;

/// Rebuilds a model of a kind from a file's path, tensors and metadata.
pub type Restore = fn(
    &Path,
    &[NamedTensor],
    &BTreeMap<String, String>,
) -> Result<Box<dyn Autoencoder>, ModelError>;

/// One model kind.
pub struct Kind {
    /// As saved in model files (`aegpu.kind`) and given to `aegpu train --model`.
    pub name: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// Adds the kind's flags to `aegpu train` (flags shared with another kind are
    /// declared identically by both and added once).
    pub args: fn(Command) -> Command,
    /// A fresh model from the parsed flags.
    pub build: fn(&ArgMatches, &BuildContext) -> Built,
    /// The model of a file of this kind: its tensors (checked by name and shape against
    /// the architecture) and metadata.
    pub restore: Restore,
}

/// A loaded model and its file's metadata.
pub type Loaded = (Box<dyn Autoencoder>, BTreeMap<String, String>);

/// Files of these kinds are models, but not autoencoders: what to do with them.
const OTHER_MODELS: &[(&str, &str)] = &[
    (
        "classifier",
        "a classifier, not an autoencoder: run it with `aegpu predict`",
    ),
    (
        "sparse-coding",
        "a sparse-coding dictionary, not an autoencoder: `aegpu info --model` describes it, \
         `aegpu::dictionary::load` loads it",
    ),
];

fn known() -> String {
    KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
}

/// The kind called `name`.
pub fn kind(name: &str) -> Result<&'static Kind, ModelError> {
    KINDS
        .iter()
        .find(|k| k.name == name)
        .ok_or_else(|| ModelError::UnknownKind {
            name: name.into(),
            known: known(),
        })
}

/// Loads a model file of any registered kind, with the file's metadata.
pub fn load(path: &Path) -> Result<Loaded, ModelError> {
    let (tensors, meta) = load_safetensors(path)?;
    restore_any(path, &tensors, &meta)
}

/// [`load`] of a model file's bytes already in memory (one embedded in the binary),
/// through the same checks; `path` names it in errors.
pub fn load_bytes(path: &Path, bytes: &[u8]) -> Result<Loaded, ModelError> {
    let (tensors, meta) = parse_safetensors(path, bytes)?;
    restore_any(path, &tensors, &meta)
}

fn restore_any(
    path: &Path,
    tensors: &[NamedTensor],
    meta: &BTreeMap<String, String>,
) -> Result<Loaded, ModelError> {
    let name = meta.get("aegpu.kind").ok_or_else(|| {
        incompatible(
            path,
            "no `aegpu.kind` in the metadata: not an aegpu model file".into(),
        )
    })?;
    if let Some((_, what)) = OTHER_MODELS.iter().find(|(k, _)| k == name) {
        return Err(incompatible(path, what.to_string()));
    }
    let kind = kind(name).map_err(|e| incompatible(path, e.to_string()))?;
    let model = (kind.restore)(path, tensors, meta)?;
    Ok((model, meta.clone()))
}

/// `aegpu train` with every kind's flags and `--model` listing the kinds.
pub fn with_kind_args(mut train: Command) -> Command {
    for kind in KINDS {
        let flags = (kind.args)(Command::new(kind.name));
        for arg in flags.get_arguments() {
            if !train.get_arguments().any(|a| a.get_id() == arg.get_id()) {
                train = train.arg(arg.clone());
            }
        }
    }
    let list: Vec<String> = KINDS
        .iter()
        .map(|k| format!("`{}` ({})", k.name, k.about))
        .collect();
    train.mut_arg("model", |a| {
        a.help(format!("The kind of autoencoder: {}", list.join(", ")))
    })
}

/// Refuses a flag given on the command line that belongs to another kind than `kind`
/// (`--model conv --layers …` would otherwise be ignored without a word).
pub fn check_flags(kind: &Kind, given: &ArgMatches) -> Result<(), String> {
    let ours = (kind.args)(Command::new(kind.name));
    for other in KINDS.iter().filter(|k| k.name != kind.name) {
        for arg in (other.args)(Command::new(other.name)).get_arguments() {
            let id = arg.get_id();
            let foreign = !ours.get_arguments().any(|a| a.get_id() == id);
            let set = given.try_contains_id(id.as_str()).unwrap_or(false)
                && given.value_source(id.as_str()) == Some(ValueSource::CommandLine);
            if foreign && set {
                return Err(format!(
                    "--{} is a flag of --model {}, not of --model {}",
                    arg.get_long().unwrap_or(id.as_str()),
                    other.name,
                    kind.name
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flag two kinds share must mean the same to both (it is added once).
    #[test]
    fn kinds_declare_shared_flags_identically() {
        let mut seen: BTreeMap<String, (String, &str)> = BTreeMap::new();
        for kind in KINDS {
            for arg in (kind.args)(Command::new(kind.name)).get_arguments() {
                let id = arg.get_id().to_string();
                // Everything but the position in the help.
                let spelled = format!("{:?}", arg.clone().display_order(0));
                if let Some((first, by)) = seen.get(&id) {
                    assert_eq!(
                        first, &spelled,
                        "--{id} of {} differs from {by}'s",
                        kind.name
                    );
                } else {
                    seen.insert(id, (spelled, kind.name));
                }
            }
        }
        assert!(seen.contains_key("layers") && seen.contains_key("channels"));
    }

    #[test]
    fn load_finds_the_kind_a_file_names() {
        use crate::models::{ConvAutoencoder, ConvConfig, DenseAutoencoder, DenseConfig};
        let dir = std::env::temp_dir().join(format!("aegpu-registry-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (dense_path, conv_path) = (dir.join("d.safetensors"), dir.join("c.safetensors"));
        let dense = DenseAutoencoder::new(DenseConfig::new(&[6, 3]), 1).unwrap();
        let conv = ConvAutoencoder::new(ConvConfig::mnist(), 1).unwrap();
        dense.save(&dense_path, &BTreeMap::new()).unwrap();
        conv.save(&conv_path, &BTreeMap::new()).unwrap();
        let (d, _) = load(&dense_path).unwrap();
        let (c, _) = load(&conv_path).unwrap();
        assert_eq!(
            (d.kind(), d.code_width(), d.describe()),
            ("dense", 3, "6-3".into())
        );
        assert_eq!(c.kind(), "conv");
        assert_eq!(c.code_width(), 32 * 7 * 7);
        assert_eq!(c.parameter_count(), conv.parameter_count());
        assert_eq!(c.describe(), "conv 1×28×28 16,32 stride 2,2 k3 transposed");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn kind_names_are_unique_and_unknown_ones_are_refused() {
        for (i, k) in KINDS.iter().enumerate() {
            assert!(
                KINDS[i + 1..].iter().all(|o| o.name != k.name),
                "{}",
                k.name
            );
        }
        let e = kind("nope").err().unwrap().to_string();
        assert_eq!(e, format!("unknown model kind `nope` (known: {})", known()));
    }
}
