//! How the trainer trains a VQ-VAE with a code prior: two phases on the one trainer,
//! one after the other, as the paper trains its PixelCNN on a finished VQ-VAE:
//!
//! ```text
//! autoencoder  epochs 1 … E − P      encoder, decoder (and codebook in loss mode); EMA and restarts
//! prior        epochs E − P + 1 … E  the LSTM prior, on the codes of the frozen encoder
//! ```
//!
//! with E the run's epochs and P `prior.epochs`. The prior phase encodes each batch in
//! inference mode and differentiates the prior's parameters only, and its state updates
//! are none, so nothing reaches the autoencoder while the prior learns; its epoch reports the term `prior` (mean
//! −ln p(k_t | k_<t), nats per code) on the training batches and on validation.

use crate::graph::{EntryId, Graph, ParamStore};
use crate::models::vq::VqAutoencoder;
use crate::models::Autoencoder;
use crate::nn::{Forward, Mode as NnMode};
use crate::train::objective::Objective;
use crate::train::{Batch, Mode, Phase, Task, TrainConfig, TrainError};

/// The global gradient norm the prior phase clips at when the run sets none (an
/// unrolled LSTM's gradient can spike).
pub const PRIOR_CLIP_NORM: f32 = 1.0;

const AUTOENCODER_PHASE: usize = 0;

/// A VQ-VAE with a prior, with its training settings.
pub struct VqTask<'a> {
    pub model: &'a mut VqAutoencoder,
    pub cfg: &'a TrainConfig,
}

impl VqTask<'_> {
    /// P, the run's last epochs that train the prior.
    fn prior_epochs(&self) -> usize {
        self.model.config.prior.map_or(0, |p| p.epochs)
    }
}

impl Task for VqTask<'_> {
    fn kind(&self) -> String {
        super::KIND.name.into()
    }
    fn config_json(&self) -> serde_json::Value {
        self.model.config_json()
    }
    fn settings(&self) -> serde_json::Value {
        serde_json::to_value(self.cfg).unwrap_or(serde_json::Value::Null)
    }
    fn store(&self) -> &ParamStore {
        &self.model.store
    }
    fn store_mut(&mut self) -> &mut ParamStore {
        &mut self.model.store
    }
    fn input_width(&self) -> usize {
        self.model.input_width()
    }
    fn widest_row(&self) -> usize {
        self.model.widest_row()
    }
    /// A run of P epochs or fewer would leave the autoencoder none; early stopping
    /// would restore the whole model, the prior's untrained weights included, to an
    /// epoch before the prior trained.
    fn check_settings(&self) -> Result<(), TrainError> {
        let p = self.prior_epochs();
        if self.cfg.early_stop.is_some() {
            return Err(TrainError::Config(
                "--early-stop cannot be combined with --prior-epochs: the prior's epochs \
                 do not report the autoencoder's loss it watches"
                    .into(),
            ));
        }
        if p >= self.cfg.epochs {
            return Err(TrainError::Config(format!(
                "--prior-epochs {p} leaves none of the run's {} epochs to train the \
                 autoencoder: use more --epochs",
                self.cfg.epochs
            )));
        }
        Ok(())
    }
    /// `autoencoder` over the first E − P epochs, `prior` over the last P.
    fn phases(&self) -> Vec<Phase> {
        let cfg = self.cfg;
        let switch = cfg.epochs.saturating_sub(self.prior_epochs());
        let prior_params = self
            .model
            .prior
            .as_ref()
            .map(|p| p.parameters())
            .unwrap_or_default();
        let autoencoder: Vec<EntryId> = self
            .model
            .parameters()
            .into_iter()
            .filter(|p| !prior_params.contains(p))
            .collect();
        let phase = |name: &str, params, epochs, clip_norm| Phase {
            schedule: cfg.schedule,
            warmup_steps: cfg.warmup_steps,
            clip_norm,
            epochs,
            ..Phase::new(name, params, cfg.optimizer, cfg.lr)
        };
        vec![
            phase("autoencoder", autoencoder, 1..=switch, cfg.clip_norm),
            phase(
                "prior",
                prior_params,
                switch + 1..=usize::MAX,
                cfg.clip_norm.or(Some(PRIOR_CLIP_NORM)),
            ),
        ]
    }
    fn buffers(&self) -> Vec<EntryId> {
        self.model.buffers()
    }
    fn uses_rng(&self) -> bool {
        self.model.uses_rng(&self.cfg.regularization)
    }
    fn objective(
        &self,
        g: &mut Graph,
        phase: usize,
        batch: &Batch,
        mode: Mode,
    ) -> Result<Objective, TrainError> {
        let (m, cfg) = (&*self.model, self.cfg);
        if phase == AUTOENCODER_PHASE {
            return match mode {
                Mode::Train => m.objective(g, batch.x, cfg.loss, &cfg.regularization, batch.rng),
                Mode::Eval => {
                    m.eval_objective(g, batch.x, cfg.loss, &cfg.regularization, batch.rng)
                }
            };
        }
        let prior = m
            .prior
            .as_ref()
            .ok_or_else(|| TrainError::Config("this VQ-VAE has no code prior".into()))?;
        // Only the prior's parameters are differentiated in this phase (autodiff
        // follows the paths to them alone), so the codes need no stop-gradient.
        let mut cx = Forward::new(g, &m.store, NnMode::Eval);
        let q = m.codes(&mut cx, batch.x)?;
        cx.g.set_label("prior");
        let nll = prior.nll(&mut cx, q.nearest, q.one_hot)?;
        Ok(Objective::single("prior", nll))
    }
    fn state_updates(&self, g: &mut Graph, phase: usize, batch: &Batch) -> Result<(), TrainError> {
        if phase != AUTOENCODER_PHASE {
            return Ok(());
        }
        self.model
            .state_updates(g, batch.x, &self.cfg.regularization, batch.rng)
    }
}
