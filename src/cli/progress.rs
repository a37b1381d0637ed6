//! The training progress bar on stderr (hidden when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};

use crate::train::Progress;

pub struct TrainProgress {
    bar: ProgressBar,
    last_loss: Option<f32>,
    epochs: usize,
    /// Printed before the epoch, e.g. "stage 1/3".
    label: String,
}

impl TrainProgress {
    pub fn new(epochs: usize, steps_per_epoch: usize) -> Self {
        let bar = ProgressBar::new((epochs * steps_per_epoch) as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} steps {msg} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        TrainProgress {
            bar,
            last_loss: None,
            epochs,
            label: String::new(),
        }
    }

    /// A bar whose lines start with `label` (e.g. "stage 1/3").
    pub fn labelled(epochs: usize, steps_per_epoch: usize, label: &str) -> Self {
        TrainProgress {
            label: format!("{label} · "),
            ..Self::new(epochs, steps_per_epoch)
        }
    }

    /// Starts the bar `steps` in (a resumed run).
    pub fn skip(&mut self, steps: u64) {
        self.bar.set_position(steps);
    }

    pub fn update(&mut self, p: &Progress) {
        match p {
            Progress::Step {
                epoch,
                running_loss,
                samples_per_s,
                ..
            } => {
                if running_loss.is_some() {
                    self.last_loss = *running_loss;
                }
                self.bar
                    .set_prefix(format!("{}epoch {epoch}/{}", self.label, self.epochs));
                let loss = self
                    .last_loss
                    .map(|l| format!("loss {l:.5}, "))
                    .unwrap_or_default();
                self.bar
                    .set_message(format!("{loss}{samples_per_s:.0} samples/s"));
                self.bar.inc(1);
            }
            Progress::Epoch(e) => {
                let val = e
                    .validation_loss
                    .map(|v| format!(", validation {v:.5}"))
                    .unwrap_or_default();
                // A penalised or multi-phase objective shows each of its terms.
                let terms = if e.terms.len() > 1 {
                    let list: Vec<String> =
                        e.terms.iter().map(|(k, v)| format!("{k} {v:.5}")).collect();
                    format!(" ({})", list.join(", "))
                } else {
                    String::new()
                };
                self.bar.println(format!(
                    "{}epoch {}: train loss {:.5}{terms}{val}, {:.0} samples/s, {:.1}s",
                    self.label, e.epoch, e.train_loss, e.samples_per_s, e.seconds
                ));
            }
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
