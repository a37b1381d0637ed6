//! A 784-400-40 Bernoulli VAE on binarised MNIST, on the CPU backend: dynamic
//! binarisation while training (a fresh Bernoulli draw of every pixel each time a
//! digit is drawn), the 10,000 test digits binarised once with seed 0. Prints, against
//! epochs, the test NLL by importance sampling (IWAE bound, k = 50 draws a digit;
//! k = `FINAL_K` after the last epoch), the test ELBO and its KL term, and the active
//! latent units; writes 64 prior samples as `vae-samples.png`.
//!
//! ```text
//! cargo run --release --example vae_mnist [-- EPOCHS [FINAL_K [HIDDEN [DECAY_EVERY]]]]
//! ```
//!
//! Defaults 40 epochs, k = 500, one hidden layer of 400 (`HIDDEN` is a comma list of
//! widths, e.g. `512,256`, mirrored in the decoder), constant rate (`DECAY_EVERY` N
//! multiplies it by 0.7 every N epochs, as the IWAE paper's stepwise decay).
//!
//! Adam 1e-3, batch 100, relu hidden layer, β = 1 (no warm-up), seed 0. Measured with
//! `cargo run --release --example vae_mnist` (40 epochs, final k = 500) on 2 cores
//! shared with two other jobs: 1,418 s in all, evaluations included (about 9,000
//! digits/s while training alone):
//!
//! ```text
//! epoch | test NLL (k=50) | test ELBO | KL    | active units | train −ELBO
//!     1 |          120.43 |   -127.01 | 25.72 |           40 |      161.06
//!     2 |          108.02 |   -113.64 | 27.37 |           40 |      120.35
//!     5 |          100.00 |   -105.09 | 29.10 |           40 |      106.70
//!    10 |           96.59 |   -101.48 | 29.20 |           35 |      102.53
//!    20 |           94.72 |    -99.52 | 29.48 |           32 |      100.09
//!    30 |           93.95 |    -98.93 | 29.48 |           29 |       99.09
//!    40 |           93.26 |    -98.34 | 28.88 |           29 |       98.51
//! after 40 epochs: test NLL ≤ 92.35 nats (IWAE, k = 500), ELBO -98.33
//! (reconstruction 69.44, KL 28.88), 29 of 40 units active
//! ```
//!
//! The issue's aim is below 89 nats; anchors: pythae's reproduction 89.78 (static
//! binarisation, 500 epochs, k = 200 × 5), Burda et al.'s VAE 86.76 (dynamic, 3,280
//! epochs, k = 5,000). This 40-epoch run stops at 92.35 nats and is still falling
//! (0.7 nats over its last 10 epochs).
//!
//! **Below 89 nats:** two hidden layers of 500, 150 epochs, the rate × 0.7 every 30
//! epochs (`cargo run --release --example vae_mnist -- 150 1000 500,500 30`; 6,020 s in
//! all on the two cores, shared with other jobs for most of it, 13 s an epoch alone):
//!
//! ```text
//! epoch | test NLL (k=50) | test ELBO | KL    | active units | train −ELBO
//!     1 |          119.69 |   -125.34 | 16.60 |           40 |      159.44
//!     2 |          108.28 |   -113.22 | 19.20 |           40 |      119.11
//!     5 |           98.96 |   -103.74 | 21.63 |           39 |      105.54
//!    10 |           94.69 |    -99.47 | 22.49 |           22 |      100.05
//!    20 |           92.08 |    -97.06 | 22.78 |           16 |       96.71
//!    30 |           90.99 |    -95.83 | 23.22 |           16 |       95.40
//!    40 |           90.00 |    -94.48 | 23.85 |           16 |       93.47
//!    60 |           89.39 |    -93.60 | 23.96 |           16 |       92.59
//!    80 |           88.60 |    -92.82 | 23.64 |           16 |       91.31
//!   100 |           88.05 |    -91.94 | 23.92 |           16 |       90.33
//!   150 |           87.57 |    -91.34 | 23.95 |           16 |       89.47
//! after 150 epochs: test NLL ≤ 86.80 nats (IWAE, k = 1000), ELBO -91.33
//! (reconstruction 67.38, KL 23.95), 16 of 40 units active
//! ```
//!
//! 86.80 nats is below the aim and within 0.04 of Burda et al.'s 86.76 (whose k = 5,000
//! bound is the tighter one); the k = 50 bound crossed 89 at epoch 80.
//!
//! The same VAE in PyTorch 2.15 (`python3 benches/vae_pytorch.py --epochs 10`, same
//! architecture, optimiser, batch and dynamic binarisation; PyTorch's own
//! initialisation; its test set another Bernoulli draw), beside this example with
//! `-- 10 500`, both run the same afternoon:
//!
//! ```text
//! epoch | aegpu NLL (k=50) | PyTorch NLL (k=50) | aegpu KL | PyTorch KL
//!     1 |           120.43 |             119.45 |    25.72 |      22.86
//!     2 |           108.02 |             107.40 |    27.37 |      26.25
//!     5 |           100.00 |              99.64 |    29.10 |      28.77
//!    10 |            96.59 |              96.71 |    29.20 |      29.49
//! after 10 epochs, k = 500: aegpu 95.72 nats, PyTorch 95.74 (35 of 40 units active in both)
//! ```

use std::path::PathBuf;
use std::time::Instant;

use aegpu::backend::cpu::CpuBackend;
use aegpu::data::{bundled_mnist_dir, load_mnist, Split};
use aegpu::imaging::ImageShape;
use aegpu::models::vae::{binarized, evaluate_vae, sample, save_image_grid, Vae, VaeConfig};
use aegpu::train::{fit_with, Checkpoint, RunControl, Schedule, TrainConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let (epochs, final_k) = (arg(1, 40), arg(2, 500));
    let hidden: Vec<usize> = match std::env::args().nth(3) {
        Some(list) => list
            .split(',')
            .map(|w| w.trim().parse())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("HIDDEN must be widths like 512,256: {e}"))?,
        None => vec![400],
    };
    let decay_every = arg(4, 0);
    let train = load_mnist(&bundled_mnist_dir(), Split::Train)?;
    let test = binarized(&load_mnist(&bundled_mnist_dir(), Split::Test)?, 0)?;
    let mut config = VaeConfig::new(784, &hidden, 40);
    config.binarize = true;
    let cfg = TrainConfig {
        batch: 100,
        lr: 1e-3,
        schedule: match decay_every {
            0 => Schedule::Constant,
            every => Schedule::Step { every, gamma: 0.7 },
        },
        ..TrainConfig::default()
    };
    let dir = std::env::temp_dir().join(format!("aegpu-vae-mnist-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let checkpoint = dir.join("vae.ckpt.safetensors");

    // Trained in segments, each resuming the last one's checkpoint (bit for bit the
    // run that never stopped), with the test figures measured in between.
    let mut at: Vec<usize> = [
        1, 2, 5, 10, 20, 30, 40, 60, 80, 100, 150, 200, 250, 300, 400,
    ]
    .into_iter()
    .filter(|&e| e < epochs)
    .collect();
    at.push(epochs);
    let started = Instant::now();
    println!(
        "VAE 784-{hidden:?}-40; batch 100, Adam 1e-3, schedule {}",
        cfg.schedule
    );
    println!("epoch | test NLL (k=50) | test ELBO | KL    | active units | train −ELBO | s");
    let mut model = Vae::new(config.clone(), 0)?;
    let mut resume: Option<Checkpoint> = None;
    for &end in &at {
        model = Vae::new(config.clone(), 0)?;
        let report = fit_with(
            &mut model,
            &mut CpuBackend::<f32>::new(),
            &train,
            None,
            &TrainConfig {
                epochs: end,
                ..cfg.clone()
            },
            &RunControl {
                checkpoint: Some(checkpoint.clone()),
                checkpoint_at_end: true,
                resume: resume.as_ref(),
                ..RunControl::default()
            },
            &mut |_| {},
        )?;
        resume = Some(Checkpoint::load(&checkpoint)?);
        let last = report.epochs.last().ok_or("no epoch trained")?;
        let train_elbo = last.terms.values().sum::<f32>();
        let eval = evaluate_vae(&model, &mut CpuBackend::<f32>::new(), &test, 50, 1)?;
        println!(
            "{end:>5} | {:>15.2} | {:>9.2} | {:>5.2} | {:>12} | {:>11.2} | {:.0}",
            eval.nll,
            eval.elbo,
            eval.kl,
            eval.active_units,
            train_elbo,
            started.elapsed().as_secs_f64()
        );
    }
    let mut cpu = CpuBackend::<f32>::new();
    let last = evaluate_vae(&model, &mut cpu, &test, final_k, 2)?;
    println!(
        "after {epochs} epochs: test NLL ≤ {:.2} nats (IWAE, k = {final_k}), ELBO {:.2} \
         (reconstruction {:.2}, KL {:.2}), {} of 40 units active; {:.0} s in all",
        last.nll,
        last.elbo,
        last.reconstruction,
        last.kl,
        last.active_units,
        started.elapsed().as_secs_f64()
    );
    let samples = sample(&model, &mut cpu, 64, None, 0)?;
    let out = PathBuf::from("vae-samples.png");
    save_image_grid(&out, &samples, ImageShape::new(1, 28, 28), 8)?;
    println!("64 prior samples: {}", out.display());
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
