//! [`SparseCoder`]: a dictionary (and, for PSD, its encoder) on a backend, with the
//! FISTA plans, the minibatch learning step and the objective.

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::backend::{Backend, Feed, PlanId};
use crate::graph::{EntryData, EntryKind, ParamStore, Plan, Shape, ValueId};

use super::atoms::largest_eigenvalue;
use super::encoder::Encoder;
use super::fista::{fista_graph, FistaEntries};
use super::update::{update_atoms, SufficientStatistics};
use super::{check_data, Dictionary, DictionaryError};

/// The most FISTA iterations one plan unrolls (each is ~6 launches).
pub const MAX_ITERATIONS: usize = 10_000;

/// What a sparse coder solves. The objective per row x, with h its code:
///
/// ```text
/// ½‖x − hD‖² + λ‖h‖₁                          (sparse coding)
/// ½‖x − hD‖² + λ‖h‖₁ + (γ/2)‖h − f(x)‖²       (PSD, while learning)
/// ```
///
/// The first is scikit-learn's `MiniBatchDictionaryLearning` objective per sample
/// (`0.5·‖X − code·D‖² + α·‖code‖₁` in `_minibatch_step`) with α = λ; its reported
/// batch cost is the mean over the batch's rows, as is [`Objective::total`]. The PSD
/// line is Kavukcuoglu et al.'s ‖x − Dh‖² + λ_p‖h‖₁ + γ_p‖h − f(x)‖² halved:
/// λ = λ_p/2, γ = γ_p.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CodingSettings {
    /// λ ≥ 0, the ℓ1 weight (scikit-learn's `alpha`).
    pub lambda: f32,
    /// FISTA iterations per solve (the learning step's and `encode`'s default).
    pub iterations: usize,
    /// `Some` trains a PSD encoder alongside the dictionary.
    pub psd: Option<PsdSettings>,
    /// Seeds the restarts of unused atoms.
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PsdSettings {
    /// γ ≥ 0, the weight of (γ/2)‖h − f(x)‖² in the codes' objective while learning.
    pub gamma: f32,
    /// Adam's learning rate for the encoder.
    pub learning_rate: f32,
}

impl CodingSettings {
    /// Refuses λ < 0, γ < 0, non-finite values, 0 iterations and a learning rate ≤ 0.
    pub fn validate(&self) -> Result<(), DictionaryError> {
        if !self.lambda.is_finite() || self.lambda < 0.0 {
            return Err(DictionaryError::invalid(format!(
                "λ must be a finite number ≥ 0, got {}",
                self.lambda
            )));
        }
        if self.iterations == 0 || self.iterations > MAX_ITERATIONS {
            return Err(DictionaryError::invalid(format!(
                "FISTA iterations must be between 1 and {MAX_ITERATIONS}, got {}",
                self.iterations
            )));
        }
        if let Some(psd) = self.psd {
            if !psd.gamma.is_finite() || psd.gamma < 0.0 {
                return Err(DictionaryError::invalid(format!(
                    "γ must be a finite number ≥ 0, got {}",
                    psd.gamma
                )));
            }
            if !psd.learning_rate.is_finite() || psd.learning_rate <= 0.0 {
                return Err(DictionaryError::invalid(format!(
                    "the encoder's learning rate must be a finite number > 0, got {}",
                    psd.learning_rate
                )));
            }
        }
        Ok(())
    }
}

/// Mean per row of the objective's terms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Objective {
    /// mean ½‖x − hD‖².
    pub reconstruction: f64,
    /// mean ‖h‖₁ (unweighted).
    pub l1: f64,
    /// mean ½‖x − hD‖² + λ‖h‖₁.
    pub total: f64,
    /// mean number of non-zero code entries.
    pub nonzeros: f64,
}

/// Codes `[rows, K]` and their reconstruction `[rows, n]`.
#[derive(Clone, Debug)]
pub struct Codes {
    pub rows: usize,
    pub codes: Vec<f32>,
    pub reconstruction: Vec<f32>,
}

/// What one learning step did.
#[derive(Clone, Copy, Debug)]
pub struct StepReport {
    /// The minibatch's objective (without the PSD term) under the codes it was
    /// coded with, before the dictionary moved: scikit-learn's "batch cost".
    pub batch_objective: f64,
    /// The PSD encoder's mean (f(x) − h*)² before its step, when there is one.
    pub prediction_loss: Option<f32>,
    /// Unused atoms restarted from the data.
    pub restarted: usize,
}

/// Which FISTA problem a plan solves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Problem {
    /// ½‖x − hD‖² + λ‖h‖₁ from h = 0.
    Lasso,
    /// + (γ/2)‖h − f(x)‖², from h = f(x).
    Psd,
}

struct FistaPlan {
    rows: usize,
    iterations: usize,
    problem: Problem,
    statistics: bool,
    plan: PlanId,
    codes: ValueId,
    reconstruction: ValueId,
    stats: Option<(ValueId, ValueId)>,
}

struct SimplePlan {
    rows: usize,
    plan: PlanId,
    output: ValueId,
    second: Option<ValueId>,
}

/// A dictionary, optionally a PSD encoder, and their plans on one backend.
pub struct SparseCoder {
    backend: Box<dyn Backend>,
    store: ParamStore,
    dictionary: Dictionary,
    settings: CodingSettings,
    lasso: FistaEntries,
    psd: FistaEntries,
    encoder: Option<Encoder>,
    lipschitz: f64,
    stats: SufficientStatistics,
    rng: StdRng,
    fista_plans: Vec<FistaPlan>,
    predict_plans: Vec<SimplePlan>,
    encoder_steps: Vec<SimplePlan>,
    encoder_updates: u64,
}

impl SparseCoder {
    /// A coder for `dictionary` on `backend`; with `settings.psd` a fresh encoder
    /// (see [`Encoder::for_dictionary`]).
    pub fn new(
        backend: Box<dyn Backend>,
        dictionary: Dictionary,
        settings: CodingSettings,
    ) -> Result<Self, DictionaryError> {
        settings.validate()?;
        let mut store = ParamStore::new();
        let lipschitz = largest_eigenvalue(&dictionary.gram(), dictionary.atoms());
        let encoder = settings
            .psd
            .map(|_| Encoder::for_dictionary(&mut store, &dictionary, settings.lambda, lipschitz));
        SparseCoder::with_encoder(backend, dictionary, settings, store, encoder)
    }

    /// A coder whose encoder (when `settings.psd`) is already in `store`.
    pub(crate) fn with_encoder(
        backend: Box<dyn Backend>,
        dictionary: Dictionary,
        settings: CodingSettings,
        mut store: ParamStore,
        encoder: Option<Encoder>,
    ) -> Result<Self, DictionaryError> {
        settings.validate()?;
        let (k, n) = (dictionary.atoms(), dictionary.width());
        let mut entries = |prefix: &str| {
            let s = EntryKind::State;
            FistaEntries {
                dictionary: store.put_zeros("dictionary", Shape::new(k, n), EntryKind::Parameter),
                system: store.put_zeros(&format!("{prefix}.system"), Shape::new(k, k), s),
                scaled_dictionary: store.put_zeros(
                    &format!("{prefix}.scaled_dictionary"),
                    Shape::new(k, n),
                    s,
                ),
                shrink: store.put_zeros(&format!("{prefix}.shrink"), Shape::SCALAR, s),
                prior_weight: store.put_zeros(&format!("{prefix}.prior_weight"), Shape::SCALAR, s),
            }
        };
        let lasso = entries("fista");
        let psd = entries("psd");
        let mut coder = SparseCoder {
            backend,
            store,
            stats: SufficientStatistics::new(k, n),
            rng: StdRng::seed_from_u64(settings.seed),
            dictionary,
            settings,
            lasso,
            psd,
            encoder,
            lipschitz: 0.0,
            fista_plans: vec![],
            predict_plans: vec![],
            encoder_steps: vec![],
            encoder_updates: 0,
        };
        coder.backend.upload_store(&coder.store)?;
        coder.refresh()?;
        Ok(coder)
    }

    pub fn dictionary(&self) -> &Dictionary {
        &self.dictionary
    }
    pub fn settings(&self) -> &CodingSettings {
        &self.settings
    }
    pub fn has_encoder(&self) -> bool {
        self.encoder.is_some()
    }
    /// L = λ_max(DDᵀ), FISTA's Lipschitz constant (without γ).
    pub fn lipschitz(&self) -> f64 {
        self.lipschitz
    }
    pub fn backend_name(&self) -> String {
        self.backend.describe()
    }

    /// Changes λ (e.g. to code noisy patches with a threshold tuned to the noise).
    pub fn set_lambda(&mut self, lambda: f32) -> Result<(), DictionaryError> {
        let settings = CodingSettings {
            lambda,
            ..self.settings
        };
        settings.validate()?;
        self.settings = settings;
        self.refresh()
    }

    /// Recomputes what FISTA needs from D (G, L, M, D/L', λ/L', γ/L') and uploads it.
    fn refresh(&mut self) -> Result<(), DictionaryError> {
        let (k, n) = (self.dictionary.atoms(), self.dictionary.width());
        let gram = self.dictionary.gram();
        self.lipschitz = largest_eigenvalue(&gram, k);
        let gamma = self.settings.psd.map_or(0.0, |p| p.gamma as f64);
        for (entries, gamma) in [(self.lasso, 0.0), (self.psd, gamma)] {
            // With λ_max(G) = 0 (not possible for unit atoms) the step would blow up.
            let l = (self.lipschitz + gamma).max(f64::MIN_POSITIVE);
            let mut system = vec![0.0f32; k * k];
            for i in 0..k {
                for j in 0..k {
                    let identity = if i == j { 1.0 - gamma / l } else { 0.0 };
                    system[i * k + j] = (identity - gram[i * k + j] / l) as f32;
                }
            }
            let scaled: Vec<f32> = self
                .dictionary
                .values()
                .iter()
                .map(|&d| (d as f64 / l) as f32)
                .collect();
            let values = [
                (entries.dictionary, self.dictionary.values().to_vec()),
                (entries.system, system),
                (entries.scaled_dictionary, scaled),
                (
                    entries.shrink,
                    vec![(self.settings.lambda as f64 / l) as f32],
                ),
                (entries.prior_weight, vec![(gamma / l) as f32]),
            ];
            for (id, v) in values {
                let shape = self.store.get(id).shape;
                self.store.replace(id, shape, EntryData::F32(v));
                self.backend.upload_entry(&self.store, id)?;
            }
        }
        debug_assert_eq!(
            self.store.get(self.lasso.dictionary).shape,
            Shape::new(k, n)
        );
        Ok(())
    }

    fn fista_plan(
        &mut self,
        rows: usize,
        iterations: usize,
        problem: Problem,
        statistics: bool,
    ) -> Result<usize, DictionaryError> {
        if let Some(i) = self.fista_plans.iter().position(|p| {
            (p.rows, p.iterations, p.problem, p.statistics)
                == (rows, iterations, problem, statistics)
        }) {
            return Ok(i);
        }
        let (entries, prior) = match problem {
            Problem::Lasso => (&self.lasso, None),
            Problem::Psd => (&self.psd, self.encoder.as_ref()),
        };
        let built = fista_graph(&self.store, entries, rows, iterations, prior, statistics)?;
        let plan = self
            .backend
            .prepare(&Plan::new(&built.graph, &self.store)?)?;
        self.fista_plans.push(FistaPlan {
            rows,
            iterations,
            problem,
            statistics,
            plan,
            codes: built.codes,
            reconstruction: built.reconstruction,
            stats: built.statistics,
        });
        Ok(self.fista_plans.len() - 1)
    }

    fn check_rows(&self, x: &[f32]) -> Result<usize, DictionaryError> {
        let rows = check_data(x, self.dictionary.width())?;
        Ok(rows)
    }

    /// The LASSO codes of the rows of `x` (`[rows, n]`) after `iterations` FISTA
    /// steps from 0, and their reconstruction.
    pub fn encode_fista(&mut self, x: &[f32], iterations: usize) -> Result<Codes, DictionaryError> {
        let rows = self.check_rows(x)?;
        CodingSettings {
            iterations,
            ..self.settings
        }
        .validate()?;
        let i = self.fista_plan(rows, iterations, Problem::Lasso, false)?;
        let p = &self.fista_plans[i];
        let (plan, codes, reconstruction) = (p.plan, p.codes, p.reconstruction);
        self.backend.run(plan, &[Feed::F32(x)])?;
        Ok(Codes {
            rows,
            codes: self.backend.read_output(plan, codes)?,
            reconstruction: self.backend.read_output(plan, reconstruction)?,
        })
    }

    /// The PSD encoder's codes f(x) and their reconstruction f(x)·D: no iterations.
    pub fn encode_predicted(&mut self, x: &[f32]) -> Result<Codes, DictionaryError> {
        let rows = self.check_rows(x)?;
        let encoder = self
            .encoder
            .as_ref()
            .ok_or_else(|| DictionaryError::invalid("this sparse coder has no PSD encoder"))?;
        let i = match self.predict_plans.iter().position(|p| p.rows == rows) {
            Some(i) => i,
            None => {
                let mut g = crate::graph::Graph::new();
                let n = self.dictionary.width();
                let xv = g.input("x", Shape::new(rows, n), crate::graph::DType::F32);
                let f = encoder.forward(&mut g, &self.store, xv)?;
                let d = g.entry(&self.store, self.lasso.dictionary);
                let r = g.push(crate::ops::Op::MatMul(crate::ops::MatMul::plain()), &[f, d])?;
                g.mark_output(f);
                g.mark_output(r);
                let plan = self.backend.prepare(&Plan::new(&g, &self.store)?)?;
                self.predict_plans.push(SimplePlan {
                    rows,
                    plan,
                    output: f,
                    second: Some(r),
                });
                self.predict_plans.len() - 1
            }
        };
        let p = &self.predict_plans[i];
        let (plan, f, r) = (p.plan, p.output, p.second.expect("reconstruction"));
        self.backend.run(plan, &[Feed::F32(x)])?;
        Ok(Codes {
            rows,
            codes: self.backend.read_output(plan, f)?,
            reconstruction: self.backend.read_output(plan, r)?,
        })
    }

    /// The mean objective terms of `codes` for the rows of `x`, in f64 on the host.
    pub fn objective(&self, x: &[f32], codes: &Codes) -> Objective {
        objective(x, codes, self.settings.lambda)
    }

    /// One minibatch of online dictionary learning: codes by FISTA (the joint PSD
    /// objective when there is an encoder), Mairal's statistics and one
    /// block-coordinate sweep over the atoms, then one Adam step of the encoder
    /// towards the codes.
    pub fn learn(&mut self, batch: &[f32]) -> Result<StepReport, DictionaryError> {
        let rows = self.check_rows(batch)?;
        let problem = if self.encoder.is_some() {
            Problem::Psd
        } else {
            Problem::Lasso
        };
        let i = self.fista_plan(rows, self.settings.iterations, problem, true)?;
        let p = &self.fista_plans[i];
        let (plan, codes_v, recon_v) = (p.plan, p.codes, p.reconstruction);
        let (hth_v, xth_v) = p.stats.expect("statistics requested");
        self.backend.run(plan, &[Feed::F32(batch)])?;
        let codes = Codes {
            rows,
            codes: self.backend.read_output(plan, codes_v)?,
            reconstruction: self.backend.read_output(plan, recon_v)?,
        };
        let hth = self.backend.read_output(plan, hth_v)?;
        let xth = self.backend.read_output(plan, xth_v)?;
        let batch_objective = self.objective(batch, &codes).total;
        self.stats.add_batch(&hth, &xth, rows);
        let restarted = update_atoms(&mut self.dictionary, &self.stats, batch, &mut self.rng);
        self.refresh()?;
        let prediction_loss = match self.settings.psd {
            Some(psd) => Some(self.encoder_step(batch, &codes.codes, psd.learning_rate)?),
            None => None,
        };
        Ok(StepReport {
            batch_objective,
            prediction_loss,
            restarted,
        })
    }

    fn encoder_step(&mut self, x: &[f32], codes: &[f32], lr: f32) -> Result<f32, DictionaryError> {
        let rows = x.len() / self.dictionary.width();
        let encoder = self
            .encoder
            .as_ref()
            .expect("PSD settings imply an encoder");
        let i = match self.encoder_steps.iter().position(|p| p.rows == rows) {
            Some(i) => i,
            None => {
                let step = encoder.training_graph(&self.store, rows)?;
                let plan = self
                    .backend
                    .prepare(&Plan::new(&step.graph, &self.store)?)?;
                self.encoder_steps.push(SimplePlan {
                    rows,
                    plan,
                    output: step.loss,
                    second: None,
                });
                self.encoder_steps.len() - 1
            }
        };
        self.encoder_updates += 1;
        let hyper = encoder.optimizer().hyper(lr, self.encoder_updates, 0.0);
        let (plan, loss) = (self.encoder_steps[i].plan, self.encoder_steps[i].output);
        self.backend
            .run(plan, &[Feed::F32(x), Feed::F32(codes), Feed::F32(&hyper)])?;
        Ok(self.backend.read_output(plan, loss)?[0])
    }

    /// The encoder's parameters as (W `[n, K]`, b `[1, K]`, θ `[1, K]`), read from the
    /// backend.
    pub fn encoder_values(&mut self) -> Result<Option<[Vec<f32>; 3]>, DictionaryError> {
        let Some(e) = &self.encoder else {
            return Ok(None);
        };
        let (w, b, g) = (e.weight, e.bias, e.threshold);
        Ok(Some([
            self.backend.read_entry(w)?,
            self.backend.read_entry(b)?,
            self.backend.read_entry(g)?,
        ]))
    }
}

/// The mean objective terms of `codes` for the rows of `x` at ℓ1 weight `lambda`.
pub fn objective(x: &[f32], codes: &Codes, lambda: f32) -> Objective {
    let rows = codes.rows.max(1) as f64;
    let squared: f64 = x
        .iter()
        .zip(&codes.reconstruction)
        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
        .sum();
    let l1: f64 = codes.codes.iter().map(|&h| (h as f64).abs()).sum();
    let nonzeros = codes.codes.iter().filter(|&&h| h != 0.0).count() as f64;
    let reconstruction = 0.5 * squared / rows;
    Objective {
        reconstruction,
        l1: l1 / rows,
        total: reconstruction + lambda as f64 * l1 / rows,
        nonzeros: nonzeros / rows,
    }
}
