//! How model files are saved and loaded. Each test shows one behaviour.

use std::collections::BTreeMap;
use std::path::PathBuf;

use aegpu::io::{
    atomic_write, find_tensor, load_safetensors, save_safetensors, IoError, NamedTensor,
};

/// A fresh, empty temp folder that no other test (or test run) uses.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aegpu-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn example_tensors() -> Vec<NamedTensor> {
    vec![
        NamedTensor {
            name: "encoder.0.weight".into(),
            shape: vec![2, 3],
            values: vec![0.5, -1.0, 2.0, 1e-7, f32::MAX, -0.0],
        },
        NamedTensor {
            name: "encoder.0.bias".into(),
            shape: vec![2],
            values: vec![0.25, -0.25],
        },
    ]
}

fn example_metadata() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("format".to_string(), "aegpu".to_string()),
        (
            "architecture".to_string(),
            r#"{"layers":[3,2]}"#.to_string(),
        ),
    ])
}

fn sorted_by_name(mut tensors: Vec<NamedTensor>) -> Vec<NamedTensor> {
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    tensors
}

#[test]
fn tensors_and_metadata_survive_a_save_and_load() {
    let path = temp_dir("round_trip").join("model.safetensors");
    save_safetensors(&path, &example_tensors(), &example_metadata()).unwrap();
    let (tensors, metadata) = load_safetensors(&path).unwrap();
    assert_eq!(tensors, sorted_by_name(example_tensors()));
    assert_eq!(metadata, example_metadata());
}

#[test]
fn find_tensor_checks_name_and_shape() {
    let path = temp_dir("find").join("model.safetensors");
    save_safetensors(&path, &example_tensors(), &BTreeMap::new()).unwrap();
    let (tensors, _) = load_safetensors(&path).unwrap();

    let bias = find_tensor(&path, &tensors, "encoder.0.bias", &[2]).unwrap();
    assert_eq!(bias.values, [0.25, -0.25]);
    let missing = find_tensor(&path, &tensors, "decoder.0.bias", &[2]).unwrap_err();
    assert!(
        matches!(missing, IoError::MissingTensor { .. }),
        "{missing}"
    );
    let wrong = find_tensor(&path, &tensors, "encoder.0.weight", &[3, 2]).unwrap_err();
    assert!(
        wrong.to_string().contains("[3, 2]") && wrong.to_string().contains("[2, 3]"),
        "{wrong}"
    );
}

#[test]
fn saving_values_that_do_not_fill_the_shape_is_an_error() {
    let path = temp_dir("bad_shape").join("model.safetensors");
    let tensor = NamedTensor {
        name: "w".into(),
        shape: vec![2, 2],
        values: vec![1.0; 3],
    };
    let error = save_safetensors(&path, &[tensor], &BTreeMap::new()).unwrap_err();
    assert!(matches!(error, IoError::ShapeMismatch { .. }), "{error}");
    assert!(!path.exists());
}

#[test]
fn atomic_write_replaces_the_file_and_leaves_no_temporary_behind() {
    let dir = temp_dir("atomic");
    let path = dir.join("model.safetensors");
    atomic_write(&path, b"first").unwrap();
    atomic_write(&path, b"second").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["model.safetensors"]);
}

#[test]
fn failed_atomic_write_keeps_the_previous_file() {
    let dir = temp_dir("atomic_fail");
    let path = dir.join("model.safetensors");
    atomic_write(&path, b"good").unwrap();
    // Renaming a file over a non-empty folder fails, after the temporary was written.
    let blocked = dir.join("blocked");
    std::fs::create_dir_all(blocked.join("inside")).unwrap();
    assert!(atomic_write(&blocked, b"new").is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"good");
    let leftovers = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        })
        .count();
    assert_eq!(leftovers, 0);
}

#[test]
fn writing_into_a_missing_folder_is_an_error_naming_it() {
    let path = temp_dir("missing_folder").join("no/such/folder/model.safetensors");
    let message = atomic_write(&path, b"x").unwrap_err().to_string();
    assert!(message.contains("no/such/folder"), "{message}");
}

#[test]
fn missing_file_is_an_error_naming_the_path() {
    let path = temp_dir("missing").join("nothing-here.safetensors");
    let error = load_safetensors(&path).unwrap_err();
    assert!(matches!(error, IoError::Io { .. }));
    assert!(
        error.to_string().contains("nothing-here.safetensors"),
        "{error}"
    );
}

#[test]
fn random_bytes_are_reported_as_corrupt_not_a_panic() {
    let dir = temp_dir("random");
    // A small deterministic generator (xorshift) so the test needs no seed plumbing.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for length in [0, 3, 8, 16, 100, 1000] {
        let bytes: Vec<u8> = (0..length)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let path = dir.join(format!("random-{length}.safetensors"));
        std::fs::write(&path, &bytes).unwrap();
        let error = load_safetensors(&path).unwrap_err();
        assert!(
            matches!(error, IoError::Corrupt { .. }),
            "{length}: {error}"
        );
        assert!(error.to_string().contains(&path.display().to_string()));
    }
}

#[test]
fn every_truncation_of_a_good_file_is_an_error() {
    let dir = temp_dir("truncated");
    let path = dir.join("model.safetensors");
    save_safetensors(&path, &example_tensors(), &example_metadata()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.join("cut.safetensors");
    for length in 0..bytes.len() {
        std::fs::write(&cut, &bytes[..length]).unwrap();
        assert!(
            load_safetensors(&cut).is_err(),
            "truncated to {length} bytes"
        );
    }
}

#[test]
fn non_f32_tensors_are_an_error_naming_the_dtype() {
    // A hand-written safetensors file holding one F64 tensor of one element.
    let header = br#"{"x":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&1.0f64.to_le_bytes());
    let path = temp_dir("dtype").join("f64.safetensors");
    std::fs::write(&path, bytes).unwrap();
    let message = load_safetensors(&path).unwrap_err().to_string();
    assert!(
        message.contains("F64") && message.contains("`x`"),
        "{message}"
    );
}

/// A model file as `aegpu train` wrote it before layers became modules: the tensor
/// names and the config JSON spelled out by hand.
fn old_dense_file(path: &std::path::Path, weight_shape: Vec<usize>) {
    let tensor = |name: &str, shape: Vec<usize>| NamedTensor {
        name: name.into(),
        values: (0..shape.iter().product::<usize>())
            .map(|i| i as f32 / 10.0)
            .collect(),
        shape,
    };
    let tensors = vec![
        tensor("encoder.0.weight", weight_shape),
        tensor("encoder.0.bias", vec![1, 2]),
        tensor("decoder.0.weight", vec![2, 3]),
        tensor("decoder.0.bias", vec![1, 3]),
    ];
    let meta = BTreeMap::from([
        ("aegpu.kind".to_string(), "dense".to_string()),
        (
            "aegpu.config".to_string(),
            r#"{"widths":[3,2],"activations":["linear","sigmoid"],"tied":false,"init":"glorot"}"#
                .to_string(),
        ),
    ]);
    save_safetensors(path, &tensors, &meta).unwrap();
}

#[test]
fn a_dense_file_from_before_modules_still_loads_through_the_registry() {
    let path = temp_dir("old_dense").join("model.safetensors");
    old_dense_file(&path, vec![3, 2]);
    let (model, _) = aegpu::models::registry::load(&path).unwrap();
    assert_eq!(model.kind(), "dense");
    assert_eq!(model.describe(), "3-2");
    assert_eq!(model.code_width(), 2);
    let names: Vec<&str> = model
        .parameters()
        .into_iter()
        .map(|id| model.store().get(id).name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "encoder.0.weight",
            "encoder.0.bias",
            "decoder.0.weight",
            "decoder.0.bias"
        ]
    );
    let w = model.parameters()[0];
    assert_eq!(model.store().values(w), &[0.0, 0.1, 0.2, 0.3, 0.4, 0.5]);
}

#[test]
fn a_conv_file_from_before_modules_still_loads_through_the_registry() {
    use aegpu::models::ConvConfig;
    let path = temp_dir("old_conv").join("model.safetensors");
    // ConvConfig::mnist(): 1→16→32 by stride-2 convolutions, back by transposed ones.
    let shapes = [
        ("encoder.0.weight", vec![16, 9]),
        ("encoder.0.bias", vec![1, 16]),
        ("encoder.1.weight", vec![32, 144]),
        ("encoder.1.bias", vec![1, 32]),
        ("decoder.0.weight", vec![32, 144]),
        ("decoder.0.bias", vec![1, 16]),
        ("decoder.1.weight", vec![16, 9]),
        ("decoder.1.bias", vec![1, 1]),
    ];
    let tensors: Vec<NamedTensor> = shapes
        .iter()
        .map(|(name, shape)| NamedTensor {
            name: name.to_string(),
            values: vec![0.5; shape.iter().product()],
            shape: shape.clone(),
        })
        .collect();
    let meta = BTreeMap::from([
        ("aegpu.kind".to_string(), "conv".to_string()),
        (
            "aegpu.config".to_string(),
            serde_json::to_string(&ConvConfig::mnist()).unwrap(),
        ),
    ]);
    save_safetensors(&path, &tensors, &meta).unwrap();
    let (model, _) = aegpu::models::registry::load(&path).unwrap();
    assert_eq!(model.kind(), "conv");
    assert_eq!(model.code_width(), 32 * 7 * 7);
    assert_eq!(model.parameter_count(), 160 + 4640 + 4624 + 145);
    assert!(model.parameters().iter().all(|&id| model
        .store()
        .values(id)
        .iter()
        .all(|&v| v == 0.5)));
}

#[test]
fn a_file_of_an_unknown_kind_is_refused_naming_the_known_ones() {
    let path = temp_dir("unknown_kind").join("model.safetensors");
    let meta = BTreeMap::from([("aegpu.kind".to_string(), "nope".to_string())]);
    save_safetensors(&path, &example_tensors(), &meta).unwrap();
    let e = aegpu::models::registry::load(&path)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.ends_with("unknown model kind `nope` (known: dense, conv)")
            || e.contains("unknown model kind `nope` (known: dense, conv,"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
}

#[test]
fn a_file_whose_tensors_do_not_fit_its_kind_is_refused() {
    let dir = temp_dir("misfit");
    let misshapen = dir.join("misshapen.safetensors");
    old_dense_file(&misshapen, vec![2, 3]);
    let e = aegpu::models::registry::load(&misshapen)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("tensor `encoder.0.weight` has shape [2, 3], the architecture needs"),
        "{e}"
    );

    let renamed = dir.join("renamed.safetensors");
    old_dense_file(&renamed, vec![3, 2]);
    let (mut tensors, meta) = load_safetensors(&renamed).unwrap();
    tensors.retain(|t| t.name != "decoder.0.bias");
    tensors.push(NamedTensor {
        name: "decoder.0.b".into(),
        shape: vec![1, 3],
        values: vec![0.0; 3],
    });
    save_safetensors(&renamed, &tensors, &meta).unwrap();
    let e = aegpu::models::registry::load(&renamed)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("tensor `decoder.0.bias` is missing"), "{e}");
}
