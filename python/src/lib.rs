//! `aegpu._native`: the engine behind the Python package. Models, training settings
//! and model files are the library's and the command line's own: a model is built from
//! `aegpu train` flags by the kind registry, training settings are parsed from the same
//! flags (so a bad value gets the CLI's message), files are the CLI's safetensors.
//!
//! Arrays come in as 2-D float32 C-contiguous NumPy arrays read in place (the Python
//! layer converts anything else, once); the engine copies them once into its dataset.
//! Training runs on a thread of its own with the interpreter's lock released: the
//! calling thread relays progress to a Python callback and checks for Ctrl-C, which
//! stops the run at the next step, with the weights of that moment kept.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Mutex;
use std::time::Duration;

use aegpu::backend::select::{select, BackendChoice};
use aegpu::backend::Backend;
use aegpu::cli::options::FitArgs;
use aegpu::data::{train_validation_split, Dataset, Scaler, Scaling, ScalingChoice};
use aegpu::imaging::{denoise, CollaborativeWiener, Image, ImageShape, TileOptions};
use aegpu::models::registry::{self, BuildContext};
use aegpu::models::{downcast_ref, Autoencoder, ConvAutoencoder, DenseAutoencoder};
use aegpu::outliers::reconstruction_errors;
use aegpu::train::distributed::DataParallel;
use aegpu::train::{decode_rows, fit_with, run_rows, Progress, RowOutput, RunControl, TrainConfig};
use clap::{Args, Command, FromArgMatches};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray2, PyReadonlyArray3, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

create_exception!(
    _native,
    AegpuError,
    PyException,
    "An error of the aegpu engine (bad data, model or settings), with its message."
);

fn err(e: impl std::fmt::Display) -> PyErr {
    AegpuError::new_err(e.to_string())
}

/// `x` as a 2-D float32 C-contiguous array, or a TypeError/ValueError saying what it is.
fn rows_of<'py>(x: &Bound<'py, PyAny>, what: &str) -> PyResult<PyReadonlyArray2<'py, f32>> {
    match x.extract::<PyReadonlyArray2<'py, f32>>() {
        Ok(a) => {
            if !a.is_c_contiguous() {
                return Err(PyValueError::new_err(format!(
                    "{what} must be C-contiguous (row-major): use numpy.ascontiguousarray"
                )));
            }
            Ok(a)
        }
        Err(_) => {
            let dtype = x
                .getattr("dtype")
                .and_then(|d| d.str().map(|s| s.to_string()))
                .unwrap_or_else(|_| x.get_type().name().map_or("?".into(), |n| n.to_string()));
            let shape = x
                .getattr("shape")
                .and_then(|s| s.str().map(|s| s.to_string()))
                .unwrap_or_else(|_| "?".into());
            Err(PyTypeError::new_err(format!(
                "{what} must be a 2-D float32 array, got {dtype} of shape {shape}"
            )))
        }
    }
}

/// A dataset (checked by the library: no rows, NaN or infinity are refused, naming
/// the row and column) from a 2-D float32 array.
fn dataset(x: &Bound<'_, PyAny>, what: &str) -> PyResult<Dataset> {
    let a = rows_of(x, what)?;
    let (rows, cols) = (a.shape()[0], a.shape()[1]);
    let values = a.as_slice().map_err(err)?.to_vec();
    let mut d = Dataset::new(rows, cols, values)
        .map_err(|e| PyValueError::new_err(format!("{what}: {e}")))?;
    d.byte_scaled = d
        .values
        .iter()
        .all(|&v| (v * 255.0).round() / 255.0 == v && (0.0..=1.0).contains(&v));
    Ok(d)
}

fn array2<'py>(py: Python<'py>, values: Vec<f32>, cols: usize) -> PyResult<Bound<'py, PyAny>> {
    let rows = values.len().checked_div(cols).unwrap_or(0);
    Ok(PyArray1::from_vec(py, values)
        .reshape([rows, cols])?
        .into_any())
}

/// Parses `argv` (`aegpu train` flags) into clap's matches for `cmd`, with clap's
/// first error line as the message.
fn parse(cmd: Command, argv: &[String]) -> PyResult<clap::ArgMatches> {
    let cmd = cmd.no_binary_name(true).disable_help_flag(true);
    cmd.try_get_matches_from(argv).map_err(|e| {
        let text = e.render().to_string();
        let line = text.lines().next().unwrap_or("bad arguments").trim();
        PyValueError::new_err(line.trim_start_matches("error: ").to_string())
    })
}

fn fit_config(argv: &[String]) -> PyResult<TrainConfig> {
    let m = parse(FitArgs::augment_args(Command::new("aegpu")), argv)?;
    let args = FitArgs::from_arg_matches(&m).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let mut cfg = args.train_config().map_err(PyValueError::new_err)?;
    // The CLI reads the running loss only on a terminal; here the callback asks.
    cfg.loss_every = args.loss_every.unwrap_or(0);
    Ok(cfg)
}

struct State {
    model: Box<dyn Autoencoder>,
    scaler: Option<Scaler>,
    meta: BTreeMap<String, String>,
    choice: BackendChoice,
    adapter: Option<String>,
    backend: Option<Box<dyn Backend>>,
    backend_reason: String,
}

impl State {
    fn backend(&mut self) -> PyResult<&mut Box<dyn Backend>> {
        if self.backend.is_none() {
            let selected = select(self.choice, self.adapter.clone()).map_err(err)?;
            self.backend_reason = selected.reason;
            self.backend = Some(selected.backend);
        }
        Ok(self.backend.as_mut().expect("set above"))
    }

    /// Scaled as the model was trained.
    fn scaled(&self, mut d: Dataset) -> PyResult<Dataset> {
        if d.cols != self.model.input_width() {
            return Err(PyValueError::new_err(format!(
                "the model expects {} columns, the data has {}",
                self.model.input_width(),
                d.cols
            )));
        }
        if let Some(s) = &self.scaler {
            s.apply(&mut d).map_err(err)?;
        }
        Ok(d)
    }

    /// Uploads what inference reads (parameters and buffers, not training data).
    fn inference_backend(&mut self) -> PyResult<()> {
        self.backend()?;
        let State { model, backend, .. } = self;
        let backend = backend.as_mut().expect("opened above");
        for id in model.saved_entries() {
            backend.upload_entry(model.store(), id).map_err(err)?;
        }
        Ok(())
    }
}

/// An autoencoder of any registered kind, with its scaling and its file's metadata.
#[pyclass(module = "aegpu._native")]
struct Model {
    state: Mutex<State>,
}

fn backend_choice(name: &str) -> PyResult<BackendChoice> {
    name.parse().map_err(PyValueError::new_err)
}

impl Model {
    fn wrap(
        model: Box<dyn Autoencoder>,
        meta: BTreeMap<String, String>,
        scaler: Option<Scaler>,
        backend: &str,
        adapter: Option<String>,
    ) -> PyResult<Self> {
        Ok(Model {
            state: Mutex::new(State {
                model,
                scaler,
                meta,
                choice: backend_choice(backend)?,
                adapter,
                backend: None,
                backend_reason: String::new(),
            }),
        })
    }

    fn lock(&self) -> PyResult<std::sync::MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| err("the model is unusable: a call on it panicked"))
    }

    fn rows(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        what: RowOutput,
    ) -> PyResult<(Vec<f32>, usize)> {
        let data = dataset(x, "X")?;
        let mut st = self.lock()?;
        let data = st.scaled(data)?;
        st.inference_backend()?;
        let st = &mut *st;
        let cols = match what {
            RowOutput::Code => st.model.code_width(),
            RowOutput::Reconstruction => st.model.input_width(),
        };
        // `&mut`: a model is Send, not Sync.
        let model: &mut dyn Autoencoder = st.model.as_mut();
        let backend = st.backend.as_mut().expect("opened").as_mut();
        let mut values = py
            .detach(move || run_rows(&*model, backend, &data, what))
            .map_err(err)?;
        if what == RowOutput::Reconstruction {
            if let Some(s) = &st.scaler {
                for row in values.chunks_mut(cols) {
                    s.invert_row(row);
                }
            }
        }
        Ok((values, cols))
    }
}

#[pymethods]
impl Model {
    /// A fresh model of kind `kind` from `aegpu train` flags (`["--layers", "4,2"]`)
    /// for data of `cols` columns.
    #[staticmethod]
    #[pyo3(signature = (kind, argv, cols, seed=0, backend="auto", adapter=None, data=""))]
    fn build(
        kind: &str,
        argv: Vec<String>,
        cols: usize,
        seed: u64,
        backend: &str,
        adapter: Option<String>,
        data: &str,
    ) -> PyResult<Self> {
        let k = registry::kind(kind).map_err(err)?;
        let cmd = FitArgs::augment_args((k.args)(Command::new("aegpu")));
        let m = parse(cmd, &argv)?;
        let fit =
            FitArgs::from_arg_matches(&m).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let regularization = fit.regularization();
        let cx = BuildContext {
            data,
            cols,
            seed,
            regularization: &regularization,
            labels: None,
            standardised: false,
        };
        let model = (k.build)(&m, &cx).map_err(PyValueError::new_err)?;
        Self::wrap(model, BTreeMap::new(), None, backend, adapter)
    }

    /// A model file written by `aegpu train` or [`Model::save`].
    #[staticmethod]
    #[pyo3(signature = (path, backend="auto", adapter=None))]
    fn load(path: PathBuf, backend: &str, adapter: Option<String>) -> PyResult<Self> {
        let (model, meta) = registry::load(&path).map_err(err)?;
        let scaler = match meta.get("aegpu.scaler") {
            Some(text) => Some(
                serde_json::from_str::<Scaler>(text)
                    .map_err(|e| err(format!("{}: unreadable scaler: {e}", path.display())))?,
            ),
            None => None,
        };
        Self::wrap(model, meta, scaler, backend, adapter)
    }

    /// Writes the model (atomically) with its scaling, as `aegpu train --out` does.
    fn save(&self, path: PathBuf) -> PyResult<()> {
        let st = self.lock()?;
        let mut meta = st.meta.clone();
        meta.retain(|k, _| !matches!(k.as_str(), "aegpu.kind" | "aegpu.config" | "aegpu.checksum"));
        if let Some(s) = &st.scaler {
            meta.insert(
                "aegpu.scaler".into(),
                serde_json::to_string(s).map_err(err)?,
            );
        }
        st.model.save(&path, &meta).map_err(err)
    }

    /// Trains on `x` (`argv`: `aegpu train` flags: `--epochs`, `--lr`, `--noise`, …),
    /// with `validation` rows or a `validation_fraction` held out, after fitting
    /// `scale` (auto, none, minmax, standard) on the training rows; `auto` keeps rows in
    /// [0, 1] as they are and otherwise standardises for a linear output, min-max
    /// scales for any other. `progress(event, fields)`
    /// is called with `("step", {...})` and `("epoch", {...})`. Returns the run's
    /// report as JSON. Ctrl-C stops at the next step and raises KeyboardInterrupt,
    /// the model keeping the weights of that moment.
    #[pyo3(signature = (x, argv, validation=None, validation_fraction=0.0, scale="none", progress=None))]
    #[allow(clippy::too_many_arguments)] // Python's keyword arguments, one each
    fn fit(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        argv: Vec<String>,
        validation: Option<&Bound<'_, PyAny>>,
        validation_fraction: f32,
        scale: &str,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<String> {
        let cfg = fit_config(&argv)?;
        let mut train = dataset(x, "X")?;
        let mut validation = match validation {
            Some(v) => Some(dataset(v, "validation")?),
            None => None,
        };
        if validation_fraction > 0.0 {
            if validation.is_some() {
                return Err(PyValueError::new_err(
                    "give validation rows or a validation fraction, not both",
                ));
            }
            let (t, v) = train_validation_split(&train, validation_fraction, cfg.seed)
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
            train = t;
            validation = Some(v);
        }
        let choice: ScalingChoice = scale
            .parse()
            .map_err(|e: aegpu::data::DataError| PyValueError::new_err(e.to_string()))?;
        let mut guard = self.lock()?;
        if train.cols != guard.model.input_width() {
            return Err(PyValueError::new_err(format!(
                "the model expects {} columns, the data has {}",
                guard.model.input_width(),
                train.cols
            )));
        }
        let scaling = choice.resolve(&train, guard.model.output_activation());
        let scaler = Scaler::fit(scaling, &train);
        scaler.apply(&mut train).map_err(err)?;
        if let Some(v) = validation.as_mut() {
            scaler.apply(v).map_err(err)?;
        }
        guard.backend()?;
        let st = &mut *guard;
        let model = st.model.as_mut();
        let backend = st.backend.as_mut().expect("opened").as_mut();
        let interrupt = AtomicBool::new(false);
        let (tx, mut rx) = channel::<Progress>();
        let (train, validation, cfg) = (&train, validation.as_ref(), &cfg);
        let interrupt_ref = &interrupt;
        let mut raised: Option<PyErr> = None;
        let outcome = std::thread::scope(|s| {
            let worker = s.spawn(move || {
                let control = RunControl {
                    interrupt: Some(interrupt_ref),
                    ..RunControl::default()
                };
                fit_with(model, backend, train, validation, cfg, &control, &mut |p| {
                    let _ = tx.send(p);
                })
            });
            loop {
                let receiver = &mut rx;
                match py.detach(move || receiver.recv_timeout(Duration::from_millis(100))) {
                    Ok(p) => {
                        if let (Some(cb), None) = (&progress, &raised) {
                            if let Err(e) = report_progress(py, cb, &p) {
                                interrupt.store(true, Ordering::Relaxed);
                                raised = Some(e);
                            }
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                if raised.is_none() {
                    if let Err(e) = py.check_signals() {
                        interrupt.store(true, Ordering::Relaxed);
                        raised = Some(e);
                    }
                }
            }
            worker.join()
        });
        let report = match outcome {
            Ok(r) => r.map_err(err)?,
            Err(_) => return Err(err("training panicked")),
        };
        if let Some(e) = raised {
            return Err(e);
        }
        st.scaler = (scaling != Scaling::None).then_some(scaler);
        serde_json::to_string(&report).map_err(err)
    }

    /// Codes of the rows of `x` (scaled as the model was trained).
    fn encode<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (values, cols) = self.rows(py, x, RowOutput::Code)?;
        array2(py, values, cols)
    }

    /// Reconstructions of the rows of `x`, in the data's own units.
    fn reconstruct<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (values, cols) = self.rows(py, x, RowOutput::Reconstruction)?;
        array2(py, values, cols)
    }

    /// Reconstructions from codes (a dense model's decoder), in the data's own units.
    fn decode<'py>(
        &self,
        py: Python<'py>,
        codes: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let codes = dataset(codes, "codes")?;
        let mut st = self.lock()?;
        st.inference_backend()?;
        let st = &mut *st;
        let width = st.model.input_width();
        let kind = st.model.kind();
        let model = aegpu::models::downcast_mut::<DenseAutoencoder>(st.model.as_mut()).ok_or_else(
            || {
                err(format!(
                    "decoding codes needs a dense model, this one is `{kind}`"
                ))
            },
        )?;
        let backend = st.backend.as_mut().expect("opened").as_mut();
        let mut values = py
            .detach(move || decode_rows(&*model, backend, &codes))
            .map_err(err)?;
        if let Some(s) = &st.scaler {
            for row in values.chunks_mut(width) {
                s.invert_row(row);
            }
        }
        array2(py, values, width)
    }

    /// Each row's mean squared reconstruction error, in the model's scaled space (the
    /// outlier score of `aegpu outliers`).
    fn score<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let data = dataset(x, "X")?;
        let mut st = self.lock()?;
        let data = st.scaled(data)?;
        st.inference_backend()?;
        let st = &mut *st;
        let model: &mut dyn Autoencoder = st.model.as_mut();
        let backend = st.backend.as_mut().expect("opened").as_mut();
        let scores = py
            .detach(move || reconstruction_errors(&*model, backend, &data))
            .map_err(err)?;
        Ok(PyArray1::from_vec(py, scores).into_any())
    }

    /// `image` (`[H, W]` grey, or `[C, H, W]` planar with C = 1 or 3, float32 on the
    /// 0–1 scale) denoised tile by tile by a convolutional denoiser, averaged over a
    /// self-ensemble of `ensemble` (1, 2, 4 or 8) symmetries of the square, then, with
    /// `refine="wiener"`, refined by collaborative Wiener filtering for the noise level
    /// the network removed (as `aegpu denoise` does by default).
    #[pyo3(signature = (image, tile=128, ensemble=1, refine="none"))]
    fn denoise<'py>(
        &self,
        py: Python<'py>,
        image: &Bound<'py, PyAny>,
        tile: usize,
        ensemble: usize,
        refine: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let wiener = match refine {
            "none" => false,
            "wiener" => true,
            other => {
                return Err(PyValueError::new_err(format!(
                    "refine must be \"none\" or \"wiener\", got {other:?}"
                )))
            }
        };
        let (shape, values) = if let Ok(a) = image.extract::<PyReadonlyArray2<'py, f32>>() {
            let (h, w) = (a.shape()[0], a.shape()[1]);
            (ImageShape::new(1, h, w), a.to_vec().map_err(err)?)
        } else if let Ok(a) = image.extract::<PyReadonlyArray3<'py, f32>>() {
            let (c, h, w) = (a.shape()[0], a.shape()[1], a.shape()[2]);
            (ImageShape::new(c, h, w), a.to_vec().map_err(err)?)
        } else {
            return Err(PyTypeError::new_err(
                "image must be a float32 array of shape (H, W) or (C, H, W)",
            ));
        };
        if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
            return Err(PyValueError::new_err(format!(
                "image value {} (index {bad}) is not finite",
                values[bad]
            )));
        }
        let picture =
            Image::new(shape, values).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let mut st = self.lock()?;
        st.backend()?;
        let st = &mut *st;
        let model = downcast_ref::<ConvAutoencoder>(st.model.as_ref()).ok_or_else(|| {
            err(format!(
                "denoising images needs a convolutional model (`conv`), this one is `{}`",
                st.model.kind()
            ))
        })?;
        let backend = st.backend.as_mut().expect("opened").as_mut();
        let out = py.detach(|| {
            let options = TileOptions {
                tile,
                ensemble,
                ..Default::default()
            };
            let out = denoise(model, backend, &picture, options).map_err(err)?;
            if !wiener {
                return Ok(out);
            }
            CollaborativeWiener::default()
                .refine_blind(&picture, &out)
                .map(|(refined, _)| refined)
                .map_err(err)
        })?;
        let s = out.shape();
        let flat = PyArray1::from_vec(py, out.data().to_vec());
        if s.channels == 1 && image.getattr("ndim")?.extract::<usize>()? == 2 {
            Ok(flat.reshape([s.height, s.width])?.into_any())
        } else {
            Ok(flat.reshape([s.channels, s.height, s.width])?.into_any())
        }
    }

    /// Parameters (and buffers) by store name, as float32 arrays (shapes as stored).
    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let st = self.lock()?;
        let out = PyDict::new(py);
        let store = st.model.store();
        for id in st.model.saved_entries() {
            let e = store.get(id);
            out.set_item(
                &e.name,
                array2(py, store.values(id).to_vec(), e.shape.cols)?,
            )?;
        }
        Ok(out)
    }

    #[getter]
    fn kind(&self) -> PyResult<String> {
        Ok(self.lock()?.model.kind().to_string())
    }
    #[getter]
    fn input_width(&self) -> PyResult<usize> {
        Ok(self.lock()?.model.input_width())
    }
    #[getter]
    fn code_width(&self) -> PyResult<usize> {
        Ok(self.lock()?.model.code_width())
    }
    #[getter]
    fn parameter_count(&self) -> PyResult<usize> {
        Ok(self.lock()?.model.parameter_count())
    }
    #[getter]
    fn describe(&self) -> PyResult<String> {
        Ok(self.lock()?.model.describe())
    }
    #[getter]
    fn config_json(&self) -> PyResult<String> {
        Ok(self.lock()?.model.config_json().to_string())
    }
    /// Which device runs this model and why (opens the backend).
    #[getter]
    fn backend(&self) -> PyResult<String> {
        let mut st = self.lock()?;
        st.backend()?;
        Ok(st.backend_reason.clone())
    }
    #[getter]
    fn metadata(&self) -> PyResult<BTreeMap<String, String>> {
        Ok(self.lock()?.meta.clone())
    }
}

/// Calls `progress("step" | "epoch", fields)`.
fn report_progress(py: Python<'_>, cb: &Py<PyAny>, p: &Progress) -> PyResult<()> {
    let fields = PyDict::new(py);
    let event = match p {
        Progress::Step {
            epoch,
            step,
            steps,
            running_loss,
            samples_per_s,
        } => {
            fields.set_item("epoch", epoch)?;
            fields.set_item("step", step)?;
            fields.set_item("steps", steps)?;
            fields.set_item("loss", running_loss)?;
            fields.set_item("samples_per_s", samples_per_s)?;
            "step"
        }
        Progress::Epoch(e) => {
            fields.set_item("epoch", e.epoch)?;
            fields.set_item("loss", e.train_loss)?;
            fields.set_item("validation_loss", e.validation_loss)?;
            fields.set_item("terms", e.terms.clone())?;
            fields.set_item("samples_per_s", e.samples_per_s)?;
            fields.set_item("seconds", e.seconds)?;
            "epoch"
        }
    };
    cb.call1(py, (event, fields))?;
    Ok(())
}

/// One array per parameter, and the objective's terms by name.
type GradientsAndTerms<'py> = (Vec<Bound<'py, PyAny>>, BTreeMap<String, f32>);

/// One data-parallel worker (`aegpu::train::distributed::DataParallel`): the gradient
/// of a batch at the current weights, and an update with a gradient handed in.
#[pyclass(module = "aegpu._native")]
struct GradientWorker {
    inner: Mutex<Option<DataParallel>>,
    names: Vec<String>,
}

impl GradientWorker {
    fn with<R>(&self, f: impl FnOnce(&mut DataParallel) -> PyResult<R>) -> PyResult<R> {
        let mut guard = self
            .inner
            .lock()
            .map_err(|_| err("the worker is unusable: a call on it panicked"))?;
        let worker = guard
            .as_mut()
            .ok_or_else(|| err("the worker has been finished"))?;
        f(worker)
    }
}

#[pymethods]
impl GradientWorker {
    /// A worker training the model of `path` (every worker loads the same file, so
    /// all start from the same weights) with `aegpu train` flags `argv` (optimiser,
    /// lr, clipping, loss, regularisers) for `total_steps` steps.
    #[new]
    #[pyo3(signature = (path, argv, total_steps, backend="cpu"))]
    fn new(path: PathBuf, argv: Vec<String>, total_steps: u64, backend: &str) -> PyResult<Self> {
        let cfg = fit_config(&argv)?;
        let (model, _) = registry::load(&path).map_err(err)?;
        let selected = select(backend_choice(backend)?, None).map_err(err)?;
        let worker = DataParallel::new(model, selected.backend, cfg, total_steps).map_err(err)?;
        let names = worker.parameter_names();
        Ok(GradientWorker {
            inner: Mutex::new(Some(worker)),
            names,
        })
    }

    #[getter]
    fn parameter_names(&self) -> Vec<String> {
        self.names.clone()
    }

    /// `(gradients, terms)`: one flat float32 array per parameter, and the objective's
    /// terms on the batch.
    fn gradients<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<GradientsAndTerms<'py>> {
        let a = rows_of(x, "batch")?;
        let rows = a.shape()[0];
        let slice = a.as_slice().map_err(err)?;
        let g = self.with(|w| py.detach(|| w.gradients(slice, rows)).map_err(err))?;
        let arrays = g
            .values
            .into_iter()
            .map(|v| PyArray1::from_vec(py, v).into_any())
            .collect();
        Ok((arrays, g.terms.into_iter().collect()))
    }

    /// One optimiser step with `gradients` (one float32 array per parameter).
    fn apply(&self, py: Python<'_>, gradients: Vec<Bound<'_, PyAny>>) -> PyResult<()> {
        let mut host = vec![];
        for (g, name) in gradients
            .iter()
            .zip(self.names.iter().chain(std::iter::repeat(&String::new())))
        {
            let a = g
                .extract::<numpy::PyReadonlyArray1<'_, f32>>()
                .map_err(|_| {
                    PyTypeError::new_err(format!(
                        "the gradient of `{name}` must be a 1-D float32 array"
                    ))
                })?;
            host.push(a.to_vec().map_err(err)?);
        }
        self.with(|w| py.detach(|| w.apply(&host)).map_err(err))
    }

    #[getter]
    fn step(&self) -> PyResult<u64> {
        self.with(|w| Ok(w.step()))
    }

    /// The current weights, one flat float32 array per parameter.
    fn parameters<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let values = self.with(|w| w.parameters().map_err(err))?;
        Ok(values
            .into_iter()
            .map(|v| PyArray1::from_vec(py, v).into_any())
            .collect())
    }

    /// Saves the trained model (the worker is finished afterwards).
    fn save(&self, path: PathBuf) -> PyResult<()> {
        let mut guard = self
            .inner
            .lock()
            .map_err(|_| err("the worker is unusable: a call on it panicked"))?;
        let worker = guard
            .take()
            .ok_or_else(|| err("the worker has been finished"))?;
        let model = worker.into_model().map_err(err)?;
        model.save(&path, &BTreeMap::new()).map_err(err)
    }
}

/// The kinds the registry knows.
#[pyfunction]
fn kinds() -> Vec<&'static str> {
    registry::KINDS.iter().map(|k| k.name).collect()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Model>()?;
    m.add_class::<GradientWorker>()?;
    m.add_function(wrap_pyfunction!(kinds, m)?)?;
    m.add("AegpuError", m.py().get_type::<AegpuError>())?;
    Ok(())
}
