//! Walking the code space of the generative kinds (`models::latent`, written once for
//! the VAE and the adversarial AE): an interpolation starts and ends at the decoded
//! codes of its two inputs and passes through the decoded midpoint; the manifold grid
//! decodes the first two code units over [−scale, scale], others 0, in reading order;
//! labels are asked for where the codes read one and refused where they do not.

use aegpu::backend::cpu::CpuBackend;
use aegpu::models::aae::{Aae, AaeConfig, Prior};
use aegpu::models::latent::{interpolate, manifold_grid, LatentSpace};
use aegpu::models::{Vae, VaeConfig};

fn vae() -> Vae {
    Vae::new(VaeConfig::new(6, &[5], 3), 1).unwrap()
}

fn aae() -> Aae {
    let config = AaeConfig {
        input: 6,
        hidden: vec![5],
        latent: 3,
        discriminator: vec![4],
        prior: Prior::Gaussian,
        ..AaeConfig::mnist()
    };
    Aae::new(config, 1).unwrap()
}

fn rows(n: usize, width: usize) -> Vec<f32> {
    (0..n * width)
        .map(|i| ((i * 37) % 11) as f32 / 10.0)
        .collect()
}

fn assert_close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-5, "{a:?}\n{b:?}");
    }
}

/// The path's ends are the inputs' codes decoded, its middle the mean code decoded.
fn check_interpolation(model: &dyn LatentSpace) {
    let mut cpu = CpuBackend::<f32>::new();
    let (d, k) = (model.data_width(), model.latent_width());
    let x = rows(2, d);
    let codes = model.encode_codes(&mut cpu, &x, None).unwrap();
    let mid: Vec<f32> = (0..k).map(|j| (codes[j] + codes[k + j]) / 2.0).collect();
    let mut expected = model.decode_codes(&mut cpu, &codes[..k], None).unwrap();
    expected.extend(model.decode_codes(&mut cpu, &mid, None).unwrap());
    expected.extend(model.decode_codes(&mut cpu, &codes[k..], None).unwrap());
    let path = interpolate(model, &mut cpu, &x[..d], &x[d..], 3, None).unwrap();
    assert_close(&path, &expected);
}

/// A 3 × 3 grid over [−2, 2]: the top-left cell is (−2, +2), the centre the zero code.
fn check_manifold(model: &dyn LatentSpace) {
    let mut cpu = CpuBackend::<f32>::new();
    let (d, k) = (model.data_width(), model.latent_width());
    let grid = manifold_grid(model, &mut cpu, 3, 2.0, None).unwrap();
    assert_eq!(grid.len(), 9 * d);
    let mut top_left = vec![0.0; k];
    top_left[..2].copy_from_slice(&[-2.0, 2.0]);
    assert_close(
        &grid[..d],
        &model.decode_codes(&mut cpu, &top_left, None).unwrap(),
    );
    let centre = model.decode_codes(&mut cpu, &vec![0.0; k], None).unwrap();
    assert_close(&grid[4 * d..5 * d], &centre);
}

#[test]
fn a_vae_walks_its_mean_codes() {
    check_interpolation(&vae());
    check_manifold(&vae());
}

#[test]
fn an_aae_walks_its_codes() {
    check_interpolation(&aae());
    check_manifold(&aae());
}

#[test]
fn labels_are_asked_where_codes_read_them_and_refused_elsewhere() {
    let mut cpu = CpuBackend::<f32>::new();
    let x = rows(2, 6);
    let refuse = |r: Result<Vec<f32>, aegpu::train::TrainError>, says: &str| {
        let e = r.expect_err("refused").to_string();
        assert!(e.contains(says), "{e}");
    };
    // An AAE's decoder reads no label, even with a mixture prior.
    refuse(
        manifold_grid(&aae(), &mut cpu, 3, 2.0, Some(1)),
        "without a label",
    );
    let mut config = VaeConfig::new(6, &[5], 3);
    config.classes = 4;
    let conditional = Vae::new(config, 1).unwrap();
    refuse(
        interpolate(&conditional, &mut cpu, &x[..6], &x[6..], 3, None),
        "give a label",
    );
    refuse(
        manifold_grid(&conditional, &mut cpu, 3, 2.0, Some(4)),
        "out of range",
    );
    assert_eq!(
        manifold_grid(&conditional, &mut cpu, 3, 2.0, Some(3))
            .unwrap()
            .len(),
        9 * 6
    );
    refuse(manifold_grid(&vae(), &mut cpu, 1, 2.0, None), "2 points");
    refuse(manifold_grid(&vae(), &mut cpu, 3, f32::NAN, None), "scale");
    refuse(
        interpolate(&vae(), &mut cpu, &x[..6], &x[6..], 1, None),
        "2 steps",
    );
    refuse(
        manifold_grid(&vae(), &mut cpu, 1 << 20, 2.0, None),
        "too large",
    );
}
