//! The `aegpu` command line: argument definitions and dispatch. Each command lives in
//! its own file; every failure becomes one line on stderr and a non-zero exit.

mod classify;
mod config;
mod denoise;
mod dictionary;
mod infer;
mod info;
pub mod options;
mod outliers;
mod plot;
mod pretrain;
mod progress;
mod run_control;
mod sample;
mod search;
mod train;

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

/// The `--config` reader, public for the loaders' fuzz harness (`tests/fuzz_loaders.rs`).
pub use config::flags_from_toml;

use crate::backend::select::{select, BackendChoice, Selected};
use crate::data::{
    load_bag_of_words, load_spec, BagOfWords, CsvOptions, Dataset, VocabularyOptions, Weighting,
};

/// Any error a command reports: printed as one line.
pub type CliError = Box<dyn std::error::Error>;

#[derive(Parser, Debug)]
#[command(
    name = "aegpu",
    args_override_self = true,
    version,
    about = "Train and run autoencoders on any GPU, or fast on the CPU"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train an autoencoder (`--model`: dense, conv, … with their flags) and save it.
    Train(train::TrainArgs),
    /// Pretrain a stacked autoencoder layer by layer, unroll it, fine-tune it, save it.
    Pretrain(pretrain::PretrainArgs),
    /// Fine-tune a dense encoder (from `--pretrained` autoencoder, or random) plus a
    /// softmax head on a few labelled rows; report the test accuracy.
    Classify(classify::ClassifyArgs),
    /// The class a saved classifier gives every row; with labels, its accuracy.
    Predict(classify::PredictArgs),
    /// Reconstruction MSE and BCE per element of a saved model on some data.
    Eval(infer::EvalArgs),
    /// Write the codes of every row (CSV or .npy by the output's extension; with
    /// `--binary`, bits packed into bytes).
    Encode(infer::EncodeArgs),
    /// Write the reconstruction of every row (CSV or .npy).
    Reconstruct(infer::RowsArgs),
    /// Denoise PNG/JPEG images of any size with a convolutional denoiser; with
    /// `--clean DIR`, PSNR/SSIM against the originals.
    Denoise(denoise::DenoiseArgs),
    /// Pictures as PNG: `recon` (inputs over reconstructions), `loss` (curves from
    /// metrics logs), `latent` (codes in 2-D coloured by label).
    Plot(plot::PlotArgs),
    /// Score every row by its reconstruction error and flag the outliers; with labels,
    /// ROC AUC and average precision.
    Outliers(outliers::OutliersArgs),
    /// The k nearest index rows of each query row, compared by their codes.
    Search(search::SearchArgs),
    /// New rows from a generative model (VAE): prior draws (`--label` for a
    /// conditional one), `--interpolate I,J` or `--manifold SIDE`, as PNG or .npy.
    Sample(sample::SampleArgs),
    /// Learn a sparse-coding dictionary from the rows of some data (batched FISTA and
    /// Mairal's online update; `--psd γ` adds a predictive sparse decomposition encoder).
    Dictionary(dictionary::DictionaryArgs),
    /// List GPU adapters with their limits, and what `--backend auto` would pick; or
    /// describe a saved model (`--model FILE`).
    Info(info::InfoArgs),
}

/// Where the data comes from: shared by every command that reads data.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// `mnist` (bundled training digits), `mnist:test`, or a path to a .csv, .csv.gz,
    /// .npy or IDX (`*-idx3-ubyte[.gz]`) file.
    #[arg(long)]
    pub data: String,
    /// A CSV column holding labels, left out of the features (name or 0-based index;
    /// with --text-column, any text, by name).
    #[arg(long)]
    pub label_column: Option<String>,
    /// Train: the data is a CSV of documents (with a header; quoted fields) and this
    /// column holds their text: each row becomes a bag of words over a vocabulary
    /// fitted on the training documents and saved with the model.
    #[arg(long)]
    pub text_column: Option<String>,
    /// With --text-column: the words kept, by document frequency (in 2 documents or
    /// more and in at most half of them).
    #[arg(long, default_value_t = 2000, value_parser = crate::ranges::count)]
    pub vocabulary: usize,
    /// With --text-column: `tf-idf` (rows of unit length) or `counts`.
    #[arg(long, default_value = "tf-idf")]
    pub weighting: Weighting,
}

impl DataArgs {
    pub fn load(&self) -> Result<Dataset, CliError> {
        Ok(self.load_fitting()?.0)
    }

    /// The data, and with `--text-column` the bag of words fitted on it.
    pub fn load_fitting(&self) -> Result<(Dataset, Option<BagOfWords>), CliError> {
        let Some(column) = &self.text_column else {
            return Ok((load_data(&self.data, &self.label_column)?, None));
        };
        let opts = VocabularyOptions {
            size: self.vocabulary,
            weighting: self.weighting,
            ..VocabularyOptions::default()
        };
        let (data, vocabulary, _) = load_bag_of_words(
            Path::new(&self.data),
            column,
            self.label_column.as_deref(),
            &opts,
        )?;
        let text = BagOfWords {
            text_column: column.clone(),
            vocabulary,
        };
        Ok((data, Some(text)))
    }

    pub fn csv_options(&self) -> CsvOptions {
        CsvOptions {
            label_column: self.label_column.clone(),
            ..CsvOptions::default()
        }
    }
}

pub fn load_data(spec: &str, label_column: &Option<String>) -> Result<Dataset, CliError> {
    let opts = CsvOptions {
        label_column: label_column.clone(),
        ..CsvOptions::default()
    };
    Ok(load_spec(spec, &opts)?)
}

/// Checked before any work starts: every output can be written where it is asked for
/// (its folder exists and takes a file), no output is one of the run's inputs (or the
/// `--config` files read), and no two outputs are the same file. `inputs` are data
/// specs or paths; names that are not files (`mnist`) are skipped.
pub fn check_outputs(outputs: &[(&str, &Path)], inputs: &[(&str, &Path)]) -> Result<(), CliError> {
    let configs = config::files_read();
    let mut all_inputs: Vec<(&str, &Path)> = inputs.to_vec();
    all_inputs.extend(configs.iter().map(|p| ("--config", p.as_path())));
    crate::io::refuse_overwrite(outputs, &all_inputs)?;
    for (i, (name, path)) in outputs.iter().enumerate() {
        for (other, other_path) in &outputs[..i] {
            if same_output(path, other_path) {
                return Err(format!(
                    "{name} and {other} are both {}; give them different paths",
                    path.display()
                )
                .into());
            }
        }
        crate::io::check_output_folder(path)?;
    }
    Ok(())
}

/// Whether two outputs (which may not exist yet) name the same file.
fn same_output(a: &Path, b: &Path) -> bool {
    let absolute = |p: &Path| std::path::absolute(p).ok();
    crate::io::same_file(a, b) || (absolute(a).is_some() && absolute(a) == absolute(b))
}

/// Which device runs the work.
#[derive(Args, Debug, Clone)]
pub struct BackendArgs {
    /// `auto` (a hardware GPU if there is one, else the CPU), `gpu` (any adapter,
    /// software ones included) or `cpu`.
    #[arg(long, default_value = "auto")]
    pub backend: BackendChoice,
    /// GPU adapter by name substring or index (see `aegpu info`); env AEGPU_ADAPTER.
    #[arg(long)]
    pub adapter: Option<String>,
}

impl BackendArgs {
    /// Opens the backend and says which one, once, on stderr.
    pub fn open(&self) -> Result<Selected, CliError> {
        let s = select(self.backend, self.adapter.clone())?;
        eprintln!("{}", s.reason);
        Ok(s)
    }
}

/// The whole command line: every subcommand, `train` with every kind's flags, and
/// every value-taking flag accepting a negative number as its value (`--lr -1` is then
/// refused by the flag's range, with the rule, rather than read as an unknown flag).
pub fn command() -> clap::Command {
    negative_values_allowed(
        Cli::command().mut_subcommand("train", crate::models::registry::with_kind_args),
    )
}

fn negative_values_allowed(cmd: clap::Command) -> clap::Command {
    let cmd = cmd.mut_args(|a| {
        if a.get_action().takes_values() && !a.is_positional() {
            a.allow_negative_numbers(true)
        } else {
            a
        }
    });
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    names.iter().fold(cmd, |cmd, name| {
        cmd.mut_subcommand(name, negative_values_allowed)
    })
}

/// clap's refusal as one line: its message without the usage block and the "For more
/// information" trailer, with a hint to `--help` (help and version print as usual).
fn parse_error_line(e: &clap::Error) -> String {
    if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let names: Vec<String> = Cli::command()
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect();
        return format!("a subcommand is needed: {}; see --help", names.join(", "));
    }
    let text = e.render().to_string();
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"));
    let first = lines.next().unwrap_or("invalid command line");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let rest: Vec<&str> = lines.collect();
    let mut line = first.to_string();
    if !rest.is_empty() {
        line.push_str(" (");
        line.push_str(&rest.join("; "));
        line.push(')');
    }
    crate::io::limits::shorten(&format!("{line}; see --help"), 400)
}

/// `--flag -1e-4` as `--flag=-1e-4`: the parser takes `-1` as a value by itself but
/// not every spelling of a negative number, and a number is never a flag.
fn attach_negative_values(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut out: Vec<std::ffi::OsString> = Vec::with_capacity(args.len());
    for arg in args {
        let negative_number = arg
            .to_str()
            .is_some_and(|a| a.starts_with('-') && a.parse::<f64>().is_ok());
        let after_flag = out
            .last()
            .and_then(|l| l.to_str())
            .is_some_and(|l| l.starts_with("--") && l.len() > 2 && !l.contains('='));
        match out.pop() {
            Some(mut flag) if negative_number && after_flag => {
                flag.push("=");
                flag.push(&arg);
                out.push(flag);
            }
            last => {
                out.extend(last);
                out.push(arg);
            }
        }
    }
    out
}

pub fn main() -> ExitCode {
    let args = match config::expand(std::env::args_os().collect()) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let args = attach_negative_values(args);
    // `train` takes the flags of every model kind in the registry.
    let parsed = command()
        .try_get_matches_from(args)
        .and_then(|matches| Cli::from_arg_matches(&matches).map(|cli| (matches, cli)));
    let (matches, cli) = match parsed {
        Ok(parsed) => parsed,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("error: {}", parse_error_line(&e));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Train(a) => match matches.subcommand_matches("train") {
            Some(flags) => train::run(a, flags),
            None => Err("the train command's flags are missing".into()),
        },
        Command::Pretrain(a) => pretrain::run(a),
        Command::Classify(a) => classify::run(a),
        Command::Predict(a) => classify::predict_rows(a),
        Command::Eval(a) => infer::eval(a),
        Command::Encode(a) => infer::encode(a),
        Command::Reconstruct(a) => infer::rows(a, crate::train::RowOutput::Reconstruction),
        Command::Denoise(a) => denoise::run(a),
        Command::Plot(a) => plot::run(a),
        Command::Outliers(a) => outliers::run(a),
        Command::Search(a) => search::run(a),
        Command::Sample(a) => sample::run(a),
        Command::Dictionary(a) => dictionary::run(a),
        Command::Info(a) => info::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// A message as one line of reasonable length: line breaks become `; ` and anything
/// past 2,000 characters is cut (a message never echoes a whole file).
fn one_line(message: &str) -> String {
    let joined: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    crate::io::limits::shorten(&joined.join("; "), 2000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// clap's own consistency checks over the command line with every kind's flags
    /// (a flag added twice, or clashing with a `train` flag, fails here).
    #[test]
    fn the_command_line_with_every_kind_s_flags_is_consistent() {
        command().debug_assert();
    }
}
