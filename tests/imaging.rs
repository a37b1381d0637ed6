//! The picture side of image denoising (`src/imaging/`), on the bundled photos
//! (`data/photos/`, provenance in `data/photos/PROVENANCE.md`).
//!
//! 1. Photos load as planar CHW values k/255, grey or colour, and PNGs round-trip.
//! 2. Grey is BT.601 luma; channels split and stack back.
//! 3. Gaussian noise is Philox-keyed by the seed (the engine's noise op, bit for bit)
//!    and σ = 25 gives PSNR ≈ 20·log₁₀(255/25) = 20.17 dB.
//! 4. PSNR, SSIM and the Gaussian filter agree with scikit-image and scipy on real
//!    photo pairs.
//! 5. The baselines improve a noisy photo: the oracle Gaussian filter, and non-local
//!    means more (it also equals its brute-force definition).
//! 6. Tiled inference has no seams: it equals the whole-image result exactly.
//! 7. Training patches: shapes, determinism, the 8 symmetries, area-proportional draws.
//! 8. Figures side by side; clear errors for missing, corrupt and unreadable files.

use std::path::{Path, PathBuf};

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::{Backend, Feed};
use aegpu::graph::{DType, Graph, ParamStore, Plan, Shape};
use aegpu::imaging::{
    add_gaussian_noise, best_gaussian_filter, gaussian_filter, map_tiles, psnr, side_by_side, ssim,
    Image, ImageShape, ImagingError, NonLocalMeans, PatchSampler,
};
use aegpu::ops::random::{rng_feed, RNG_SHAPE};
use aegpu::ops::{Noise, Op};

fn photo(name: &str) -> Image {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/photos")
        .join(name);
    Image::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// A fresh empty folder for one test's files.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aegpu-imaging-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temporary folder");
    dir
}

/// A small image whose values are all different (and mostly not multiples of 1/255).
fn ramp(channels: usize, height: usize, width: usize) -> Image {
    let shape = ImageShape::new(channels, height, width);
    let data = (0..shape.len())
        .map(|i| ((i * 7919) % 1009) as f32 / 1009.0)
        .collect();
    Image::new(shape, data).expect("valid shape")
}

// 1. Loading and saving ----------------------------------------------------------------

#[test]
fn photos_load_as_planar_values_on_the_unit_scale() {
    let camera = photo("train/camera.png");
    assert_eq!(camera.shape(), ImageShape::new(1, 512, 512));
    let astronaut = photo("train/astronaut.png");
    assert_eq!(astronaut.shape(), ImageShape::new(3, 512, 512));
    let chelsea = photo("train/chelsea.png");
    assert_eq!((chelsea.height(), chelsea.width()), (300, 451));

    // Every value is an 8-bit level k/255, and a photo uses nearly the whole range.
    for v in camera.data() {
        let k = v * 255.0;
        assert_eq!(k, k.round(), "{v} is not k/255");
    }
    let (lo, hi) = camera
        .data()
        .iter()
        .fold((1.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    assert!(lo < 0.05 && hi > 0.95, "camera spans [{lo}, {hi}]");
}

#[test]
fn png_round_trips_8_bit_images_and_clamps_the_rest() {
    let dir = temp_dir("png");
    for name in ["train/camera.png", "train/chelsea.png"] {
        let image = photo(name);
        let path = dir.join("copy.png");
        image.save_png(&path).expect("save");
        assert_eq!(Image::load(&path).expect("reload"), image, "{name}");
    }

    // Out-of-range values are clamped, the rest rounded to the nearest level.
    let shape = ImageShape::new(1, 1, 4);
    let odd = Image::new(shape, vec![-0.3, 1.7, 0.5, 100.4 / 255.0]).unwrap();
    odd.save_png(dir.join("odd.png")).expect("save");
    let back = Image::load(dir.join("odd.png")).expect("reload");
    assert_eq!(back.data(), &[0.0, 1.0, 128.0 / 255.0, 100.0 / 255.0]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn alpha_is_dropped_16_bit_is_scaled_and_jpeg_is_read() {
    use image::{ImageBuffer, LumaA, Rgb, Rgba};
    let dir = temp_dir("formats");

    let rgba = ImageBuffer::from_fn(3, 2, |x, y| Rgba([x as u8 * 50, y as u8 * 80, 7, 128]));
    rgba.save(dir.join("rgba.png")).unwrap();
    let image = Image::load(dir.join("rgba.png")).unwrap();
    assert_eq!(image.shape(), ImageShape::new(3, 2, 3));
    assert_eq!(image.get(0, 1, 2), 100.0 / 255.0);
    assert_eq!(image.get(1, 1, 2), 80.0 / 255.0);

    let grey_alpha = ImageBuffer::from_fn(2, 2, |x, y| LumaA([(x + 2 * y) as u16 * 20_000, 0]));
    grey_alpha.save(dir.join("la16.png")).unwrap();
    let image = Image::load(dir.join("la16.png")).unwrap();
    assert_eq!(image.shape(), ImageShape::new(1, 2, 2));
    assert_eq!(
        image.data(),
        &[
            0.0,
            20_000.0 / 65535.0,
            40_000.0 / 65535.0,
            60_000.0 / 65535.0
        ]
    );

    // A JPEG (named .png: the format is told by the bytes), lossy but close.
    let photo = photo("train/coffee.png");
    let rgb = ImageBuffer::from_fn(64, 48, |x, y| {
        Rgb([0, 1, 2].map(|c| (photo.get(c, y as usize, x as usize) * 255.0).round() as u8))
    });
    rgb.save_with_format(dir.join("actually-a.png"), image::ImageFormat::Jpeg)
        .unwrap();
    let jpeg = Image::load(dir.join("actually-a.png")).unwrap();
    assert_eq!(jpeg.shape(), ImageShape::new(3, 48, 64));
    let crop: Vec<f32> = (0..3)
        .flat_map(|c| (0..48).flat_map(move |y| (0..64).map(move |x| (c, y, x))))
        .map(|(c, y, x)| photo.get(c, y, x))
        .collect();
    let crop = Image::new(ImageShape::new(3, 48, 64), crop).unwrap();
    assert!(psnr(&jpeg, &crop).unwrap() > 30.0);
    let _ = std::fs::remove_dir_all(&dir);
}

// 2. Grey and channels ------------------------------------------------------------------

#[test]
fn grey_is_bt601_luma_and_channels_split_and_stack() {
    let astronaut = photo("train/astronaut.png");
    let grey = astronaut.to_gray();
    assert_eq!(grey.shape(), ImageShape::new(1, 512, 512));
    for (y, x) in [(0, 0), (100, 300), (511, 511)] {
        let [r, g, b] = [0, 1, 2].map(|c| astronaut.get(c, y, x));
        let luma = 0.299 * r + 0.587 * g + 0.114 * b;
        assert!((grey.get(0, y, x) - luma).abs() < 1e-6);
    }
    // A grey image is its own grey version.
    let camera = photo("train/camera.png");
    assert_eq!(camera.to_gray(), camera);

    let planes: Vec<Image> = (0..3).map(|c| astronaut.channel(c)).collect();
    assert_eq!(planes[1].data(), astronaut.plane(1));
    assert_eq!(Image::from_channels(&planes).unwrap(), astronaut);
    let mismatched = [
        planes[0].clone(),
        camera.channel(0).to_gray(),
        ramp(1, 3, 3),
    ];
    assert!(Image::from_channels(&mismatched).is_err());
    assert!(Image::new(ImageShape::new(2, 4, 4), vec![0.0; 32]).is_err());
}

// 3. Noise ------------------------------------------------------------------------------

#[test]
fn noise_sigma_25_gives_psnr_near_20_17_db() {
    let clean = photo("test/ascent.png");
    let noisy = add_gaussian_noise(&clean, 25.0, 1);
    // Expected 20·log₁₀(255/25) = 20.172 dB. The MSE of N = 512² squared normals has a
    // relative standard deviation of √(2/N) = 0.28 %, i.e. 0.012 dB; allow 4 of those.
    let expected = 20.0 * (255.0f64 / 25.0).log10();
    let measured = psnr(&noisy, &clean).unwrap();
    assert!(
        (measured - expected).abs() < 0.05,
        "PSNR {measured} dB, expected {expected}"
    );

    // Not clipped: some noisy values leave [0, 1].
    assert!(noisy.data().iter().any(|&v| !(0.0..=1.0).contains(&v)));
    // Same seed, same noise; another seed, other noise.
    assert_eq!(add_gaussian_noise(&clean, 25.0, 1), noisy);
    assert_ne!(add_gaussian_noise(&clean, 25.0, 2), noisy);
}

#[test]
fn noise_is_the_engine_noise_op_bit_for_bit() {
    // The image as a row [1, C·H·W] through Noise::Gaussian at step 0, stream 0.
    let clean = photo("train/chelsea.png");
    let (seed, sigma_255) = (42, 15.0);
    let shape = Shape::new(1, clean.data().len());
    let mut g = Graph::new();
    let x = g.input("x", shape, DType::F32);
    let rng = g.input("rng", RNG_SHAPE, DType::U32);
    let noise = Noise::Gaussian {
        sigma: sigma_255 / 255.0,
    };
    let y = g.push(Op::Noise { noise, stream: 0 }, &[x, rng]).unwrap();
    g.mark_output(y);
    let plan = Plan::new(&g, &ParamStore::new()).unwrap();
    let mut cpu = CpuBackend::<f32>::new();
    let id = cpu.prepare(&plan).unwrap();
    let feed = rng_feed(seed, 0);
    cpu.run(id, &[Feed::F32(clean.data()), Feed::U32(&feed)])
        .unwrap();
    let from_graph = cpu.output_values(id, y).unwrap();
    assert_eq!(
        add_gaussian_noise(&clean, sigma_255, seed).data(),
        &from_graph[..]
    );
}

// 4. Metrics against scikit-image -------------------------------------------------------

/// Reference values from scikit-image 0.26.0 (scipy 1.17.1, NumPy 2.4.6), on the noisy
/// images this crate makes (σ = 25, camera with seed 7, chelsea with seed 11), exported
/// with `aegpu::data::save_npy(path, C, H·W, noisy.data())`, and on those noisy images
/// filtered with scipy's Gaussian (σ = 1, reflect, truncate 4, rounded to f32):
///
/// ```python
/// import numpy as np
/// from PIL import Image
/// from scipy.ndimage import gaussian_filter
/// from skimage.metrics import peak_signal_noise_ratio, structural_similarity
///
/// for name, seed_file, ch in [("train/camera", "camera", None), ("train/chelsea", "chelsea", -1)]:
///     # k/255 rounded to f32, as Image::load stores it
///     clean = (np.asarray(Image.open(f"data/photos/{name}.png"), np.float32)
///              / np.float32(255)).astype(np.float64)
///     noisy = np.load(f"{seed_file}_noisy.npy").astype(np.float64)  # [C, H·W]
///     noisy = (noisy.reshape(clean.shape) if ch is None
///              else np.moveaxis(noisy.reshape(3, *clean.shape[:2]), 0, -1))
///     kw = dict(data_range=1, gaussian_weights=True, sigma=1.5,
///               use_sample_covariance=False, channel_axis=ch)
///     blurred = gaussian_filter(noisy, (1, 1) if ch is None else (1, 1, 0),
///                               mode="reflect").astype(np.float32).astype(np.float64)
///     for pair in (noisy, blurred):
///         print("%.12f %.12f" % (peak_signal_noise_ratio(clean, pair, data_range=1),
///                                structural_similarity(pair, clean, **kw)))
/// ```
///
/// Both sides compute in f64 from the same f32 values by the same formulas, so they
/// differ only by summation order (~1e-13 here; measured agreement was 1e-10 or
/// better). The tolerance, 1e-7, leaves room for a last-bit difference in the noise
/// from another platform's `ln`/`cos`, and is still far below the 4th decimal anyone
/// reports.
const SKIMAGE_REFERENCE: [(&str, u64, [f64; 4]); 2] = [
    // (photo, seed, [PSNR noisy, SSIM noisy, PSNR blurred, SSIM blurred])
    (
        "train/camera.png",
        7,
        [
            20.186039944338,
            0.278401231873,
            27.304882944676,
            0.643984246558,
        ],
    ),
    (
        "train/chelsea.png",
        11,
        [
            20.171925869773,
            0.276077496298,
            29.169980059698,
            0.720620747047,
        ],
    ),
];

#[test]
fn psnr_ssim_and_gaussian_filter_match_scikit_image() {
    for (name, seed, reference) in SKIMAGE_REFERENCE {
        let clean = photo(name);
        let noisy = add_gaussian_noise(&clean, 25.0, seed);
        let blurred = gaussian_filter(&noisy, 1.0);
        let ours = [
            psnr(&noisy, &clean).unwrap(),
            ssim(&noisy, &clean).unwrap(),
            psnr(&blurred, &clean).unwrap(),
            ssim(&blurred, &clean).unwrap(),
        ];
        for (what, (o, r)) in ["PSNR noisy", "SSIM noisy", "PSNR blurred", "SSIM blurred"]
            .iter()
            .zip(ours.iter().zip(reference))
        {
            assert!((o - r).abs() < 1e-7, "{name} {what}: ours {o}, skimage {r}");
        }
    }
}

#[test]
fn metrics_on_identical_and_mismatched_images() {
    let camera = photo("train/camera.png");
    assert_eq!(psnr(&camera, &camera).unwrap(), f64::INFINITY);
    assert!((ssim(&camera, &camera).unwrap() - 1.0).abs() < 1e-12);
    let err = psnr(&camera, &photo("train/coins.png")).unwrap_err();
    assert!(err.to_string().contains("1×512×512"), "{err}");
    let tiny = ramp(1, 10, 40);
    let err = ssim(&tiny, &tiny).unwrap_err();
    assert!(err.to_string().contains("11×11"), "{err}");
}

// 5. Baselines --------------------------------------------------------------------------

#[test]
fn gaussian_filter_and_non_local_means_improve_a_noisy_photo() {
    let clean = photo("test/ascent.png");
    let noisy = add_gaussian_noise(&clean, 25.0, 1);
    let noisy_psnr = psnr(&noisy, &clean).unwrap();

    let sigmas = [0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0];
    let best = best_gaussian_filter(&noisy, &clean, &sigmas).unwrap();
    assert_eq!(best.psnr, psnr(&best.image, &clean).unwrap());
    for &sigma in &sigmas {
        let other = psnr(&gaussian_filter(&noisy, sigma), &clean).unwrap();
        assert!(
            other <= best.psnr,
            "σ = {sigma} beats the chosen {}",
            best.sigma
        );
    }
    // Measured: 20.17 dB noisy, 26.39 dB for the best Gaussian (σ = 0.75), 29.04 dB for
    // non-local means (SSIM 0.28, 0.65, 0.85).
    assert!(
        best.psnr > noisy_psnr + 5.0,
        "{noisy_psnr} → {} dB",
        best.psnr
    );

    let nlm = NonLocalMeans::default().denoise(&noisy, 25.0).unwrap();
    let nlm_psnr = psnr(&nlm, &clean).unwrap();
    assert!(
        nlm_psnr > best.psnr + 2.0,
        "NLM {nlm_psnr} dB, Gaussian {} dB",
        best.psnr
    );
    assert!(ssim(&nlm, &clean).unwrap() > ssim(&best.image, &clean).unwrap());
}

/// Non-local means straight from its definition: for every pixel, every candidate in
/// the search window, the mean squared difference of the two patches (reflected
/// borders), in f64.
fn brute_force_nlm(image: &Image, nlm: &NonLocalMeans, sigma_255: f32) -> Vec<f32> {
    let (c_n, h, w) = (image.channels(), image.height(), image.width());
    let at = |c: usize, y: isize, x: isize| {
        let reflect = |i: isize, n: usize| aegpu::imaging::reflect(i, n);
        f64::from(image.get(c, reflect(y, h), reflect(x, w)))
    };
    let sigma = f64::from(sigma_255) / 255.0;
    let hh = f64::from(nlm.h_per_sigma) * sigma;
    let (f, s) = ((nlm.patch / 2) as isize, (nlm.search / 2) as isize);
    let mut out = vec![0.0; image.data().len()];
    for y in 0..h as isize {
        for x in 0..w as isize {
            let (mut sums, mut total) = (vec![0.0; c_n], 0.0);
            for dy in -s..=s {
                for dx in -s..=s {
                    let mut d2 = 0.0;
                    for c in 0..c_n {
                        for ky in -f..=f {
                            for kx in -f..=f {
                                let diff = at(c, y + ky, x + kx) - at(c, y + dy + ky, x + dx + kx);
                                d2 += diff * diff;
                            }
                        }
                    }
                    d2 /= (nlm.patch * nlm.patch * c_n) as f64;
                    let weight = (-(d2 - 2.0 * sigma * sigma).max(0.0) / (hh * hh)).exp();
                    total += weight;
                    for (c, sum) in sums.iter_mut().enumerate() {
                        *sum += weight * at(c, y + dy, x + dx);
                    }
                }
            }
            for (c, sum) in sums.iter().enumerate() {
                out[(c * h + y as usize) * w + x as usize] = (sum / total) as f32;
            }
        }
    }
    out
}

#[test]
fn non_local_means_equals_its_definition() {
    // Small awkward sizes (bands of 16 rows, a short last one; a search window wider
    // than the image), grey and colour.
    let clean = photo("train/chelsea.png");
    for (channels, height, width, nlm) in [
        (3, 19, 23, NonLocalMeans::default()),
        (
            1,
            40,
            9,
            NonLocalMeans {
                patch: 3,
                search: 11,
                h_per_sigma: 0.5,
            },
        ),
    ] {
        let crop: Vec<f32> = (0..channels)
            .flat_map(|c| {
                (0..height).flat_map(move |y| (0..width).map(move |x| (c, y + 100, x + 200)))
            })
            .map(|(c, y, x)| clean.get(c, y, x))
            .collect();
        let crop = Image::new(ImageShape::new(channels, height, width), crop).unwrap();
        let noisy = add_gaussian_noise(&crop, 20.0, 5);
        let fast = nlm.denoise(&noisy, 20.0).unwrap();
        let slow = brute_force_nlm(&noisy, &nlm, 20.0);
        let worst = fast
            .data()
            .iter()
            .zip(&slow)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        // f32 box sums against f64 ones: weights agree to ~1e-6 relative.
        assert!(worst < 1e-5, "{channels}×{height}×{width}: off by {worst}");
    }
    let even = NonLocalMeans {
        patch: 6,
        ..NonLocalMeans::default()
    };
    assert!(even.denoise(&ramp(1, 8, 8), 25.0).is_err());
}

// 6. Tiles ------------------------------------------------------------------------------

/// A 3 × 3 box filter on a batch of rows [count, C·h·w], zero outside each image (as a
/// convolution with zero padding sees it), repeated `passes` times: receptive-field
/// radius `passes`.
fn box_filter(rows: &[f32], count: usize, shape: ImageShape, passes: usize) -> Vec<f32> {
    let (h, w) = (shape.height as isize, shape.width as isize);
    let mut current = rows.to_vec();
    for _ in 0..passes {
        let mut next = vec![0.0; current.len()];
        for (input, output) in current
            .chunks_exact(shape.plane())
            .zip(next.chunks_exact_mut(shape.plane()))
        {
            for y in 0..h {
                for x in 0..w {
                    let mut sum = 0.0;
                    for (dy, dx) in (-1..=1).flat_map(|dy| (-1..=1).map(move |dx| (dy, dx))) {
                        let (yy, xx) = (y + dy, x + dx);
                        if (0..h).contains(&yy) && (0..w).contains(&xx) {
                            sum += input[(yy * w + xx) as usize];
                        }
                    }
                    output[(y * w + x) as usize] = sum / 9.0;
                }
            }
        }
        current = next;
    }
    assert_eq!(current.len(), count * shape.len());
    current
}

/// The image reflected by `margin` on every side.
fn reflect_pad(image: &Image, margin: usize) -> Image {
    let shape = ImageShape::new(
        image.channels(),
        image.height() + 2 * margin,
        image.width() + 2 * margin,
    );
    let m = margin as isize;
    let data = (0..shape.channels)
        .flat_map(|c| {
            (0..shape.height as isize).flat_map(move |y| {
                (0..shape.width as isize).map(move |x| {
                    let ry = aegpu::imaging::reflect(y - m, image.height());
                    let rx = aegpu::imaging::reflect(x - m, image.width());
                    image.get(c, ry, rx)
                })
            })
        })
        .collect();
    Image::new(shape, data).unwrap()
}

#[test]
fn tiles_are_seamless_and_equal_the_whole_image_result() {
    let photo = photo("train/chelsea.png");
    // A crop of awkward size: not a multiple of any centre below.
    let crop: Vec<f32> = (0..3)
        .flat_map(|c| (0..37).flat_map(move |y| (0..53).map(move |x| (c, y, x))))
        .map(|(c, y, x)| photo.get(c, y + 120, x + 200))
        .collect();
    let image = Image::new(ImageShape::new(3, 37, 53), crop).unwrap();

    for (tile, margin, batch, passes) in [
        (16, 1, 4, 1),
        (16, 2, 1, 2),
        (9, 3, 7, 3),
        (64, 2, 2, 2),   // one tile bigger than the image
        (3, 1, 1000, 1), // centres of one pixel, all tiles in one batch
    ] {
        let tile_shape = ImageShape::new(3, tile, tile);
        let mut calls = 0;
        let tiled = map_tiles(&image, tile, margin, batch, |rows, count| {
            calls += 1;
            assert!(count <= batch);
            assert_eq!(rows.len(), count * tile_shape.len());
            Ok::<_, ImagingError>(box_filter(rows, count, tile_shape, passes))
        })
        .unwrap();

        let padded = reflect_pad(&image, margin);
        let whole = box_filter(padded.data(), 1, padded.shape(), passes);
        let whole = Image::new(padded.shape(), whole).unwrap();
        let cropped: Vec<f32> = (0..3)
            .flat_map(|c| (0..37).flat_map(move |y| (0..53).map(move |x| (c, y, x))))
            .map(|(c, y, x)| whole.get(c, y + margin, x + margin))
            .collect();
        assert_eq!(tiled.data(), &cropped[..], "tile {tile}, margin {margin}");
        assert!(calls >= 1);
    }

    // The closure's error comes back as it is.
    let failed = map_tiles(&image, 8, 1, 4, |_, _| Err("out of memory"));
    assert_eq!(failed.unwrap_err(), "out of memory");
}

// 7. Patches ----------------------------------------------------------------------------

#[test]
fn patch_sampler_gives_rows_deterministic_for_the_seed() {
    let images = vec![photo("train/camera.png"), photo("train/coins.png")];
    let mut sampler = PatchSampler::new(images.clone(), 40, 9).unwrap();
    assert_eq!(sampler.patch_len(), 40 * 40);
    let batch = sampler.sample(8);
    assert_eq!(batch.len(), 8 * 40 * 40);
    assert!(batch.iter().all(|v| (0.0..=1.0).contains(v)));

    // The stream of patches depends on the seed only, not on how it is split.
    let mut again = PatchSampler::new(images.clone(), 40, 9).unwrap();
    let mut split = again.sample(3);
    split.extend(again.sample(5));
    assert_eq!(split, batch);
    let mut other = PatchSampler::new(images, 40, 10).unwrap();
    assert_ne!(other.sample(8), batch);

    let colour = vec![photo("train/chelsea.png"), photo("train/coffee.png")];
    let mut sampler = PatchSampler::new(colour, 32, 1).unwrap();
    assert_eq!(sampler.sample(5).len(), 5 * 3 * 32 * 32);
}

#[test]
fn patches_cover_the_eight_symmetries_and_follow_area() {
    // One 2×2 image with distinct values: the patch is the whole image under one of the
    // 8 symmetries of the square, and all 8 come up.
    let square = Image::new(ImageShape::new(1, 2, 2), vec![0.1, 0.2, 0.3, 0.4]).unwrap();
    let mut sampler = PatchSampler::new(vec![square], 2, 4).unwrap();
    let mut seen: Vec<Vec<u32>> = sampler
        .sample(400)
        .chunks_exact(4)
        .map(|p| p.iter().map(|v| (v * 10.0).round() as u32).collect())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(
        seen,
        vec![
            vec![1, 2, 3, 4],
            vec![1, 3, 2, 4],
            vec![2, 1, 4, 3],
            vec![2, 4, 1, 3],
            vec![3, 1, 4, 2],
            vec![3, 4, 1, 2],
            vec![4, 2, 3, 1],
            vec![4, 3, 2, 1],
        ]
    );

    // Two flat images, the second 3 times the area: 3/4 of the patches come from it
    // (4000 draws: standard deviation 0.007, allowed 0.03).
    let small = Image::new(ImageShape::new(1, 10, 10), vec![0.0; 100]).unwrap();
    let large = Image::new(ImageShape::new(1, 10, 30), vec![1.0; 300]).unwrap();
    let mut sampler = PatchSampler::new(vec![small, large], 4, 8).unwrap();
    let from_large = sampler
        .sample(4000)
        .chunks_exact(16)
        .filter(|p| p[0] == 1.0)
        .count() as f64
        / 4000.0;
    assert!((from_large - 0.75).abs() < 0.03, "{from_large}");

    // Patches larger than an image, or mixed grey and colour, are refused.
    assert!(PatchSampler::new(vec![ramp(1, 8, 8)], 9, 0).is_err());
    assert!(PatchSampler::new(vec![ramp(1, 8, 8), ramp(3, 8, 8)], 4, 0).is_err());
}

#[test]
fn colour_patches_may_come_with_their_channels_in_any_of_six_orders() {
    // The same seed with and without: the same places and symmetries, so each patch
    // with its channels permuted holds the three planes of the plain one, in some order,
    // and over many patches all six orders come up about equally often.
    let colour = vec![photo("train/chelsea.png"), photo("train/coffee.png")];
    let plain = PatchSampler::new(colour.clone(), 8, 3).unwrap().sample(600);
    let permuted = PatchSampler::new(colour, 8, 3)
        .unwrap()
        .permuting_channels(true)
        .sample(600);
    let plane = 8 * 8;
    let mut counts = std::collections::BTreeMap::new();
    for (p, q) in plain
        .chunks_exact(3 * plane)
        .zip(permuted.chunks_exact(3 * plane))
    {
        let order: Vec<usize> = q
            .chunks_exact(plane)
            .map(|out| {
                p.chunks_exact(plane)
                    .position(|source| source == out)
                    .expect("each output plane is one of the patch's planes")
            })
            .collect();
        *counts.entry(order).or_insert(0) += 1;
    }
    assert_eq!(counts.len(), 6, "{counts:?}");
    // 100 expected per order (standard deviation 9).
    assert!(
        counts.values().all(|&n| (60..=140).contains(&n)),
        "{counts:?}"
    );
    // Grey patches are left as they are.
    let grey = vec![photo("train/camera.png")];
    let a = PatchSampler::new(grey.clone(), 8, 3).unwrap().sample(20);
    let b = PatchSampler::new(grey, 8, 3)
        .unwrap()
        .permuting_channels(true)
        .sample(20);
    assert_eq!(a, b);
}

// 8. Figures and errors -----------------------------------------------------------------

#[test]
fn side_by_side_puts_images_in_a_row_with_white_gaps() {
    let grey = ramp(1, 5, 4);
    let colour = ramp(3, 3, 2);
    let strip = side_by_side(&[&grey, &grey], 2).unwrap();
    assert_eq!(strip.shape(), ImageShape::new(1, 5, 10));
    assert_eq!(strip.get(0, 2, 4), 1.0); // the gap
    assert_eq!(strip.get(0, 2, 7), grey.get(0, 2, 1));

    let mixed = side_by_side(&[&grey, &colour], 3).unwrap();
    assert_eq!(mixed.shape(), ImageShape::new(3, 5, 9));
    assert_eq!(mixed.get(2, 1, 3), grey.get(0, 1, 3)); // grey into every channel
    assert_eq!(mixed.get(1, 2, 8), colour.get(1, 2, 1));
    assert_eq!(mixed.get(0, 4, 8), 1.0); // white below the shorter image

    let dir = temp_dir("triptych");
    let path = dir.join("triptych.png");
    aegpu::imaging::save_triptych(&path, &[&grey, &grey, &grey], 4).unwrap();
    assert_eq!(
        Image::load(&path).unwrap().shape(),
        ImageShape::new(1, 5, 20)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unreadable_files_give_errors_that_name_them() {
    let dir = temp_dir("errors");

    let missing = dir.join("missing.png");
    let err = Image::load(&missing).unwrap_err();
    assert!(matches!(err, ImagingError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("missing.png"), "{err}");

    // A PNG signature followed by garbage.
    let corrupt = dir.join("corrupt.png");
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend_from_slice(&[0x55; 64]);
    std::fs::write(&corrupt, bytes).unwrap();
    let err = Image::load(&corrupt).unwrap_err();
    assert!(matches!(err, ImagingError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("corrupt.png"), "{err}");

    // A good PNG cut short.
    let truncated = dir.join("truncated.png");
    let good =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/photos/train/coins.png"))
            .unwrap();
    std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
    let err = Image::load(&truncated).unwrap_err();
    assert!(err.to_string().contains("truncated.png"), "{err}");

    // Not an image at all.
    let text = dir.join("notes.png");
    std::fs::write(&text, "hello").unwrap();
    let err = Image::load(&text).unwrap_err();
    assert!(matches!(err, ImagingError::Unsupported { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.png"), "{err}");

    // An empty file.
    let empty = dir.join("empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    let err = Image::load(&empty).unwrap_err();
    assert!(matches!(err, ImagingError::Empty { .. }), "{err:?}");
    assert!(err.to_string().contains("empty.jpg"), "{err}");

    let _ = std::fs::remove_dir_all(&dir);
}
