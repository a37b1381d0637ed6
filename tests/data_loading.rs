//! How datasets are loaded, checked, scaled and split. Each test shows one behaviour.

use std::io::Write;
use std::path::{Path, PathBuf};

use aegpu::data::{
    bundled_mnist_dir, load_csv, load_idx_images, load_idx_labels, load_mnist, load_npy, load_spec,
    save_csv, save_npy, train_validation_split, CsvOptions, DataError, Dataset, Scaler, Scaling,
    Split,
};

// ---------------------------------------------------------------------------------
// Helpers

/// A path in the system temp folder that no other test (or test run) uses.
fn temp_path(test: &str, file_name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("aegpu-{}-{test}-{file_name}", std::process::id()))
}

/// Writes `bytes` to a fresh temp file and returns its path.
fn temp_file(test: &str, file_name: &str, bytes: &[u8]) -> PathBuf {
    let path = temp_path(test, file_name);
    std::fs::write(&path, bytes).expect("write temp file");
    path
}

/// A fresh, empty temp folder.
fn temp_dir(test: &str) -> PathBuf {
    let dir = temp_path(test, "dir");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

/// An IDX images file: magic 0x803, n, rows, cols (big-endian), then the pixels.
fn idx_images(n: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for word in [0x0803, n, rows, cols] {
        bytes.extend_from_slice(&word.to_be_bytes());
    }
    bytes.extend_from_slice(pixels);
    bytes
}

/// An IDX labels file: magic 0x801, n, then the labels.
fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&0x0801u32.to_be_bytes());
    bytes.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    bytes.extend_from_slice(labels);
    bytes
}

/// A `.npy` file as NumPy writes it: magic, version, header length, the header dict
/// padded with spaces and a newline to a multiple of 64 bytes, then `data`.
fn npy_file(major: u8, header: &str, data: &[u8]) -> Vec<u8> {
    let length_bytes = if major == 1 { 2 } else { 4 };
    let preamble = 6 + 2 + length_bytes;
    let mut header = header.to_string();
    while (preamble + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY".to_vec();
    bytes.extend_from_slice(&[major, 0]);
    if major == 1 {
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

fn small_data(file_name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/small")
        .join(file_name)
}

fn label_counts(labels: &[u32], classes: usize) -> Vec<usize> {
    let mut counts = vec![0; classes];
    for &label in labels {
        counts[label as usize] += 1;
    }
    counts
}

fn mean(values: &[f32]) -> f64 {
    values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64
}

fn column(data: &Dataset, col: usize) -> Vec<f32> {
    (0..data.rows).map(|r| data.row(r)[col]).collect()
}

// ---------------------------------------------------------------------------------
// Bundled MNIST

#[test]
fn bundled_mnist_train_has_60000_images_and_the_published_label_counts() {
    let train = load_mnist(&bundled_mnist_dir(), Split::Train).unwrap();
    assert_eq!((train.rows, train.cols), (60_000, 784));
    assert!(train.byte_scaled);
    let labels = train.labels.as_ref().unwrap();
    assert_eq!(
        label_counts(labels, 10),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    // Published pixel mean of the training set, scaled to [0, 1]: 0.1307.
    assert!((mean(&train.values) - 0.1307).abs() < 5e-4);
}

#[test]
fn bundled_mnist_test_has_10000_images_and_the_published_label_counts() {
    let test = load_spec("mnist:test", &CsvOptions::default()).unwrap();
    assert_eq!((test.rows, test.cols), (10_000, 784));
    assert_eq!(
        label_counts(test.labels.as_ref().unwrap(), 10),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    assert!((mean(&test.values) - 0.1325).abs() < 5e-4);
}

#[test]
fn mnist_pixels_are_bytes_divided_by_255() {
    let test = load_mnist(&bundled_mnist_dir(), Split::Test).unwrap();
    for &v in &test.values {
        let k = (v * 255.0).round();
        assert_eq!(v, k / 255.0);
    }
}

// ---------------------------------------------------------------------------------
// IDX files

#[test]
fn idx_files_load_gzipped_or_raw_whatever_their_extension() {
    let pixels = [0, 51, 255, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    let raw = temp_file("idx_raw", "images", &idx_images(2, 2, 3, &pixels));
    let gzipped = temp_file("idx_gz", "images.bin", &gzip(&idx_images(2, 2, 3, &pixels)));

    let from_raw = load_idx_images(&raw).unwrap();
    let from_gzip = load_idx_images(&gzipped).unwrap();
    assert_eq!((from_raw.rows, from_raw.cols), (2, 6));
    assert_eq!(from_raw.values, from_gzip.values);
    assert_eq!(from_raw.row(0)[..3], [0.0, 0.2, 1.0]);
    assert!(from_raw.byte_scaled);
}

#[test]
fn truncated_idx_file_is_an_error_naming_the_path_and_sizes() {
    // The header promises 10 images of 28x28 = 7840 bytes; only 100 follow.
    let path = temp_file(
        "idx_truncated",
        "images-idx3-ubyte",
        &idx_images(10, 28, 28, &[0; 100]),
    );
    let error = load_idx_images(&path).unwrap_err();
    assert!(matches!(error, DataError::Format { .. }));
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(
        message.contains("7840") && message.contains("100"),
        "{message}"
    );
}

#[test]
fn file_shorter_than_the_idx_header_is_an_error() {
    let path = temp_file("idx_tiny", "labels", &[0, 0, 8]);
    let message = load_idx_labels(&path).unwrap_err().to_string();
    assert!(message.contains("header"), "{message}");
}

#[test]
fn garbage_file_is_rejected_by_its_magic_number() {
    let path = temp_file(
        "idx_garbage",
        "images.gz",
        b"this is not an IDX file at all",
    );
    let message = load_idx_images(&path).unwrap_err().to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("magic"), "{message}");
}

#[test]
fn labels_file_given_as_images_says_what_it_is() {
    let path = temp_file("idx_swapped", "labels", &idx_labels(&[1, 2, 3]));
    let message = load_idx_images(&path).unwrap_err().to_string();
    assert!(message.contains("labels file"), "{message}");
}

#[test]
fn corrupt_gzip_stream_is_an_error_naming_the_path() {
    let mut bytes = gzip(&idx_images(2, 2, 2, &[7; 8]));
    bytes.truncate(bytes.len() / 2);
    let path = temp_file("idx_bad_gzip", "images.gz", &bytes);
    let message = load_idx_images(&path).unwrap_err().to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("gzip"), "{message}");
}

#[test]
fn mnist_folder_with_fewer_labels_than_images_is_an_error() {
    let dir = temp_dir("mnist_mismatch");
    std::fs::write(
        dir.join("t10k-images-idx3-ubyte"),
        idx_images(3, 1, 2, &[0; 6]),
    )
    .unwrap();
    std::fs::write(
        dir.join("t10k-labels-idx1-ubyte.gz"),
        gzip(&idx_labels(&[1, 2])),
    )
    .unwrap();
    let error = load_mnist(&dir, Split::Test).unwrap_err();
    assert!(
        matches!(
            error,
            DataError::CountMismatch {
                images: 3,
                labels: 2,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn mnist_folder_without_the_files_says_which_files_it_looked_for() {
    let dir = temp_dir("mnist_missing");
    let message = load_mnist(&dir, Split::Train).unwrap_err().to_string();
    assert!(message.contains("train-images-idx3-ubyte.gz"), "{message}");
}

#[test]
fn idx_spec_picks_up_the_sibling_labels_file() {
    let dir = temp_dir("idx_spec");
    let images = dir.join("letters-images-idx3-ubyte.gz");
    std::fs::write(&images, gzip(&idx_images(2, 1, 1, &[10, 20]))).unwrap();
    std::fs::write(dir.join("letters-labels-idx1-ubyte"), idx_labels(&[4, 5])).unwrap();
    let data = load_spec(images.to_str().unwrap(), &CsvOptions::default()).unwrap();
    assert_eq!(data.labels, Some(vec![4, 5]));
}

// ---------------------------------------------------------------------------------
// CSV files

#[test]
fn iris_csv_with_target_column_gives_150_by_4_and_three_classes() {
    let opts = CsvOptions {
        label_column: Some("target".into()),
        has_header: None,
    };
    let iris = load_csv(&small_data("iris.csv"), &opts).unwrap();
    assert_eq!((iris.rows, iris.cols), (150, 4));
    assert_eq!(iris.row(0), [5.1, 3.5, 1.4, 0.2]);
    assert_eq!(label_counts(iris.labels.as_ref().unwrap(), 3), [50, 50, 50]);
    assert!(!iris.byte_scaled);
}

#[test]
fn breastw_csv_has_683_rows_and_239_outliers() {
    let opts = CsvOptions {
        label_column: Some("label".into()),
        has_header: None,
    };
    let breastw = load_spec(small_data("breastw.csv").to_str().unwrap(), &opts).unwrap();
    assert_eq!((breastw.rows, breastw.cols), (683, 9));
    assert_eq!(
        label_counts(breastw.labels.as_ref().unwrap(), 2),
        [444, 239]
    );
}

#[test]
fn csv_without_header_is_detected_and_every_line_is_data() {
    let path = temp_file("csv_no_header", "x.csv", b"1,2\n3,4\n");
    let data = load_csv(&path, &CsvOptions::default()).unwrap();
    assert_eq!((data.rows, data.cols), (2, 2));
    assert_eq!(data.values, [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(data.labels, None);
}

#[test]
fn csv_label_column_can_be_a_position_when_there_is_no_header() {
    let path = temp_file("csv_label_index", "x.csv", b"1,0.5,0.25\n2,0.75,1.0\n");
    let opts = CsvOptions {
        label_column: Some("0".into()),
        has_header: Some(false),
    };
    let data = load_csv(&path, &opts).unwrap();
    assert_eq!(data.labels, Some(vec![1, 2]));
    assert_eq!(data.values, [0.5, 0.25, 0.75, 1.0]);
}

#[test]
fn csv_fields_are_trimmed_and_windows_line_ends_and_blank_lines_accepted() {
    let path = temp_file("csv_crlf", "x.csv", b"a , b\r\n 1 , 2 \r\n\r\n3,4\r\n");
    let data = load_csv(&path, &CsvOptions::default()).unwrap();
    assert_eq!(data.values, [1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn gzipped_csv_loads_like_the_plain_one() {
    let path = temp_file("csv_gz", "x.csv.gz", &gzip(b"a,b\n1,2\n"));
    let data = load_spec(path.to_str().unwrap(), &CsvOptions::default()).unwrap();
    assert_eq!(data.values, [1.0, 2.0]);
}

#[test]
fn csv_nan_is_an_error_naming_line_and_column() {
    let path = temp_file("csv_nan", "x.csv", b"a,b\n1,2\n3,NaN\n");
    let error = load_csv(&path, &CsvOptions::default()).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, DataError::Parse { line: 3, .. }),
        "{message}"
    );
    assert!(message.contains("line 3, column 2 (`b`)"), "{message}");
    assert!(message.contains("finite"), "{message}");
}

#[test]
fn csv_non_number_is_an_error_naming_line_and_column() {
    let path = temp_file("csv_text", "x.csv", b"1,2,3\n4,five,6\n");
    let message = load_csv(&path, &CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("line 2, column 2:"), "{message}");
    assert!(message.contains("`five`"), "{message}");
}

#[test]
fn csv_ragged_row_is_an_error_naming_the_line() {
    let path = temp_file("csv_ragged", "x.csv", b"a,b,c\n1,2,3\n4,5\n");
    let error = load_csv(&path, &CsvOptions::default()).unwrap_err();
    assert!(
        matches!(
            error,
            DataError::RaggedRow {
                line: 3,
                expected: 3,
                found: 2,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn empty_csv_and_header_only_csv_are_errors() {
    for (name, text) in [("empty", ""), ("blank", "\n\n"), ("header_only", "a,b\n")] {
        let path = temp_file("csv_empty", &format!("{name}.csv"), text.as_bytes());
        let error = load_csv(&path, &CsvOptions::default()).unwrap_err();
        assert!(matches!(error, DataError::Empty { .. }), "{name}: {error}");
    }
}

#[test]
fn unknown_label_column_lists_the_header() {
    let opts = CsvOptions {
        label_column: Some("species".into()),
        has_header: None,
    };
    let message = load_csv(&small_data("iris.csv"), &opts)
        .unwrap_err()
        .to_string();
    assert!(message.contains("`species`"), "{message}");
    assert!(
        message.contains("sepal length (cm)") && message.contains("target"),
        "{message}"
    );
}

#[test]
fn negative_or_fractional_labels_are_errors() {
    let opts = CsvOptions {
        label_column: Some("y".into()),
        has_header: None,
    };
    for (name, label) in [("negative", "-1"), ("fraction", "1.5")] {
        let text = format!("x,y\n0.5,1\n0.5,{label}\n");
        let path = temp_file("csv_bad_label", &format!("{name}.csv"), text.as_bytes());
        let message = load_csv(&path, &opts).unwrap_err().to_string();
        assert!(message.contains("line 3, column 2 (`y`)"), "{message}");
        assert!(message.contains("non-negative integer"), "{message}");
    }
}

#[test]
fn csv_save_then_load_gives_the_same_numbers() {
    let path = temp_path("csv_round_trip", "codes.csv");
    let values = [0.1f32, -2.5e-8, 3.0, f32::MAX, 1.0 / 3.0, 0.0];
    let header = ["z0".to_string(), "z1".to_string()];
    save_csv(&path, Some(&header), 3, 2, &values).unwrap();
    let data = load_csv(&path, &CsvOptions::default()).unwrap();
    assert_eq!((data.rows, data.cols), (3, 2));
    assert_eq!(data.values, values);
}

// ---------------------------------------------------------------------------------
// NumPy .npy files

#[test]
fn npy_save_then_load_gives_the_same_matrix() {
    let path = temp_path("npy_round_trip", "codes.npy");
    let values: Vec<f32> = (0..12).map(|i| i as f32 * 0.25 - 1.0).collect();
    save_npy(&path, 4, 3, &values).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        (bytes.len() - 4 * 12) % 64,
        0,
        "data starts 64-byte aligned"
    );
    let data = load_npy(&path).unwrap();
    assert_eq!((data.rows, data.cols), (4, 3));
    assert_eq!(data.values, values);
}

#[test]
fn npy_float64_is_converted_to_f32() {
    let data: Vec<u8> = [1.5f64, -2.0, 1e-3, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }";
    let path = temp_file("npy_f8", "x.npy", &npy_file(1, header, &data));
    let loaded = load_npy(&path).unwrap();
    assert_eq!(loaded.values, [1.5, -2.0, 1e-3, 4.0]);
}

#[test]
fn npy_uint8_vector_in_format_version_2_is_one_column_of_raw_bytes() {
    let header = "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }";
    let path = temp_file("npy_u1", "x.npy", &npy_file(2, header, &[0, 128, 255]));
    let loaded = load_npy(&path).unwrap();
    assert_eq!((loaded.rows, loaded.cols), (3, 1));
    assert_eq!(loaded.values, [0.0, 128.0, 255.0]);
}

#[test]
fn npy_integers_and_booleans_load_as_numbers() {
    let ints: Vec<u8> = [-3i32, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
    let longs: Vec<u8> = [-3i64, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
    for (descr, data) in [("<i4", ints), ("<i8", longs)] {
        let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': (1, 2), }}");
        let path = temp_file(
            "npy_ints",
            &format!("{descr}.npy"),
            &npy_file(1, &header, &data),
        );
        assert_eq!(load_npy(&path).unwrap().values, [-3.0, 7.0], "{descr}");
    }
    let header = "{\"descr\": \"|b1\", \"fortran_order\": False, \"shape\": (2, 1)}";
    let path = temp_file("npy_bool", "b1.npy", &npy_file(3, header, &[1, 0]));
    assert_eq!(load_npy(&path).unwrap().values, [1.0, 0.0]);
}

#[test]
fn npy_images_of_three_dimensions_become_one_row_per_image() {
    let header = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 3), }";
    let path = temp_file("npy_3d", "x.npy", &npy_file(1, header, &[0; 12]));
    let loaded = load_npy(&path).unwrap();
    assert_eq!((loaded.rows, loaded.cols), (2, 6));
}

#[test]
fn npy_in_fortran_order_is_rejected() {
    let header = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }";
    let path = temp_file("npy_fortran", "x.npy", &npy_file(1, header, &[0; 16]));
    let message = load_npy(&path).unwrap_err().to_string();
    assert!(message.contains("Fortran"), "{message}");
}

#[test]
fn truncated_npy_is_rejected() {
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (10, 10), }";
    let path = temp_file("npy_truncated", "x.npy", &npy_file(1, header, &[0; 40]));
    let message = load_npy(&path).unwrap_err().to_string();
    assert!(
        message.contains("400") && message.contains("truncated"),
        "{message}"
    );

    let stub = temp_file("npy_stub", "x.npy", b"\x93NUMPY\x01");
    assert!(load_npy(&stub).is_err());
}

#[test]
fn npy_unsupported_dtypes_and_broken_headers_are_rejected() {
    for (name, header) in [
        (
            "big_endian",
            "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }",
        ),
        (
            "complex",
            "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
        ),
        (
            "record",
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
        ),
        ("no_shape", "{'descr': '<f4', 'fortran_order': False, }"),
        (
            "unclosed",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1,",
        ),
    ] {
        let path = temp_file(
            "npy_bad_header",
            &format!("{name}.npy"),
            &npy_file(1, header, &[0; 4]),
        );
        let error = load_npy(&path).unwrap_err();
        assert!(matches!(error, DataError::Format { .. }), "{name}: {error}");
    }
}

#[test]
fn npy_with_nan_names_row_and_column() {
    let data: Vec<u8> = [1.0f32, 2.0, 3.0, f32::NAN]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
    let path = temp_file("npy_nan", "x.npy", &npy_file(1, header, &data));
    let error = load_npy(&path).unwrap_err();
    assert!(
        matches!(error, DataError::NonFinite { row: 1, col: 1, .. }),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------
// Datasets

#[test]
fn dataset_new_checks_length_emptiness_and_finiteness() {
    assert!(Dataset::new(2, 2, vec![1.0; 4]).is_ok());
    assert!(matches!(
        Dataset::new(2, 2, vec![1.0; 3]),
        Err(DataError::Shape { .. })
    ));
    assert!(matches!(
        Dataset::new(0, 2, vec![]),
        Err(DataError::Empty { .. })
    ));
    let error = Dataset::new(2, 3, vec![0.0, 0.0, 0.0, 0.0, f32::INFINITY, 0.0]).unwrap_err();
    assert!(
        matches!(error, DataError::NonFinite { row: 1, col: 1, .. }),
        "{error}"
    );
}

#[test]
fn subset_and_head_keep_rows_and_labels_together() {
    let mut data = Dataset::new(3, 2, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
    data.labels = Some(vec![7, 8, 9]);
    let picked = data.subset(&[2, 0]);
    assert_eq!(picked.values, [4.0, 5.0, 0.0, 1.0]);
    assert_eq!(picked.labels, Some(vec![9, 7]));
    let first = data.head(2);
    assert_eq!(first.values, [0.0, 1.0, 2.0, 3.0]);
    assert_eq!(first.labels, Some(vec![7, 8]));
    assert_eq!(data.head(10).rows, 3);
}

#[test]
fn unknown_specs_say_what_is_bundled() {
    let message = load_spec("fashion-mnist", &CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("only `mnist` and `mnist:test` are bundled"),
        "{message}"
    );

    let path = temp_file("spec_unknown_type", "x.parquet", b"PAR1");
    let message = load_spec(path.to_str().unwrap(), &CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("unknown file type"), "{message}");
}

// ---------------------------------------------------------------------------------
// Scaling

#[test]
fn minmax_scaler_maps_the_training_range_to_zero_one_and_inverts() {
    let train = Dataset::new(3, 2, vec![1.0, 10.0, 2.0, 20.0, 3.0, 30.0]).unwrap();
    let scaler = Scaler::fit(Scaling::MinMax, &train);
    let mut scaled = train.clone();
    scaler.apply(&mut scaled).unwrap();
    assert_eq!(scaled.values, [0.0, 0.0, 0.5, 0.5, 1.0, 1.0]);

    // New data is scaled with the training statistics, so it may leave [0, 1].
    let mut other = Dataset::new(1, 2, vec![5.0, 0.0]).unwrap();
    scaler.apply(&mut other).unwrap();
    assert_eq!(other.values, [2.0, -0.5]);

    let mut row = other.values.clone();
    scaler.invert_row(&mut row);
    assert_eq!(row, [5.0, 0.0]);
}

#[test]
fn standard_scaler_gives_zero_mean_unit_variance_and_leaves_constant_columns_at_zero() {
    let opts = CsvOptions {
        label_column: Some("target".into()),
        has_header: None,
    };
    let mut iris = load_csv(&small_data("iris.csv"), &opts).unwrap();
    let scaler = Scaler::fit(Scaling::Standard, &iris);
    scaler.apply(&mut iris).unwrap();
    for col in 0..iris.cols {
        let values = column(&iris, col);
        let m = mean(&values);
        let variance = values
            .iter()
            .map(|&v| (f64::from(v) - m).powi(2))
            .sum::<f64>()
            / 150.0;
        assert!(
            m.abs() < 1e-5 && (variance - 1.0).abs() < 1e-4,
            "col {col}: {m} {variance}"
        );
    }

    let mut constant = Dataset::new(3, 1, vec![0.1; 3]).unwrap();
    Scaler::fit(Scaling::Standard, &constant)
        .apply(&mut constant)
        .unwrap();
    assert_eq!(constant.values, [0.0; 3]);
}

#[test]
fn scaling_clears_byte_scaled_unless_it_is_the_identity() {
    let mut images = load_idx_images(&temp_file(
        "scale_bytes",
        "img",
        &idx_images(2, 1, 2, &[0, 255, 51, 0]),
    ))
    .unwrap();
    Scaler::fit(Scaling::None, &images)
        .apply(&mut images)
        .unwrap();
    assert!(images.byte_scaled);
    Scaler::fit(Scaling::Standard, &images)
        .apply(&mut images)
        .unwrap();
    assert!(!images.byte_scaled);
}

#[test]
fn scaler_refuses_data_of_another_width() {
    let scaler = Scaler::fit(Scaling::MinMax, &Dataset::new(1, 3, vec![1.0; 3]).unwrap());
    let mut narrow = Dataset::new(1, 2, vec![1.0; 2]).unwrap();
    let error = scaler.apply(&mut narrow).unwrap_err();
    assert!(
        matches!(
            error,
            DataError::WidthMismatch {
                expected: 3,
                found: 2
            }
        ),
        "{error}"
    );
}

#[test]
fn scaler_round_trips_through_json_and_rejects_a_broken_one() {
    let train = Dataset::new(2, 2, vec![0.0, 1.0, 4.0, 3.0]).unwrap();
    let scaler = Scaler::fit(Scaling::Standard, &train);
    let json = serde_json::to_string(&scaler).unwrap();
    assert!(json.contains("\"standard\""), "{json}");
    assert_eq!(serde_json::from_str::<Scaler>(&json).unwrap(), scaler);

    let broken = r#"{"kind":"minmax","offset":[0.0,1.0],"scale":[0.0]}"#;
    assert!(serde_json::from_str::<Scaler>(broken).is_err());
}

#[test]
fn scaling_names_parse_case_insensitively() {
    assert_eq!("MinMax".parse::<Scaling>().unwrap(), Scaling::MinMax);
    assert_eq!("standard".parse::<Scaling>().unwrap(), Scaling::Standard);
    assert_eq!("none".parse::<Scaling>().unwrap(), Scaling::None);
    let message = "zscore".parse::<Scaling>().unwrap_err().to_string();
    assert!(message.contains("zscore"), "{message}");
}

// ---------------------------------------------------------------------------------
// Train / validation split

fn numbered_rows(n: usize) -> Dataset {
    let mut data = Dataset::new(n, 1, (0..n).map(|i| i as f32).collect()).unwrap();
    data.labels = Some((0..n as u32).collect());
    data
}

#[test]
fn split_sizes_follow_the_fraction_and_cover_every_row_once() {
    let data = numbered_rows(150);
    let (train, validation) = train_validation_split(&data, 0.2, 7).unwrap();
    assert_eq!((train.rows, validation.rows), (120, 30));
    let mut seen: Vec<u32> = train.labels.unwrap();
    seen.extend(validation.labels.unwrap());
    seen.sort_unstable();
    assert_eq!(seen, (0..150).collect::<Vec<u32>>());
}

#[test]
fn split_is_determined_by_the_seed() {
    let data = numbered_rows(100);
    let (_, a) = train_validation_split(&data, 0.1, 42).unwrap();
    let (_, b) = train_validation_split(&data, 0.1, 42).unwrap();
    let (_, c) = train_validation_split(&data, 0.1, 43).unwrap();
    assert_eq!(a.values, b.values);
    assert_ne!(a.values, c.values);
}

#[test]
fn split_rejects_bad_fractions_and_empty_parts() {
    let data = numbered_rows(10);
    for fraction in [1.0, -0.1, f32::NAN] {
        let error = train_validation_split(&data, fraction, 0).unwrap_err();
        assert!(
            matches!(error, DataError::InvalidFraction { .. }),
            "{fraction}: {error}"
        );
    }
    let error = train_validation_split(&data, 0.01, 0).unwrap_err();
    assert!(
        matches!(error, DataError::SplitTooSmall { validation: 0, .. }),
        "{error}"
    );
    let (train, validation) = train_validation_split(&data, 0.0, 0).unwrap();
    assert_eq!((train.rows, validation.rows), (10, 0));
}

// ---------------------------------------------------------------------------------
// Streaming: data read and results written a chunk of rows at a time

/// Reads every chunk of at most `chunk` rows from `spec` into one dataset.
fn stream_all(spec: &str, opts: &CsvOptions, chunk: usize) -> (Dataset, usize) {
    let mut stream = aegpu::data::RowStream::open(spec, opts).unwrap();
    let (mut values, mut labels, mut rows, mut chunks) = (vec![], vec![], 0, 0);
    while let Some(part) = stream.next_chunk(chunk).unwrap() {
        assert!(part.rows <= chunk);
        assert_eq!(part.cols, stream.cols());
        values.extend(part.values);
        labels.extend(part.labels.unwrap_or_default());
        rows += part.rows;
        chunks += 1;
    }
    let mut data = Dataset::new(rows, stream.cols(), values).unwrap();
    data.labels = (!labels.is_empty()).then_some(labels);
    (data, chunks)
}

#[test]
fn a_csv_read_in_chunks_equals_the_whole_file() {
    let opts = CsvOptions {
        label_column: Some("label".into()),
        ..CsvOptions::default()
    };
    let whole = load_csv(Path::new("data/small/breastw.csv"), &opts).unwrap();
    // 683 rows in chunks of 100: six full chunks and one of 83.
    let (streamed, chunks) = stream_all("data/small/breastw.csv", &opts, 100);
    assert_eq!(chunks, 7);
    assert_eq!(streamed.values, whole.values);
    assert_eq!(streamed.labels, whole.labels);
    // Gzipped, and without a header, the same.
    let text = std::fs::read("data/small/breastw.csv").unwrap();
    let gz = temp_file("stream-csv", "breastw.csv.gz", &gzip(&text));
    let (from_gz, _) = stream_all(gz.to_str().unwrap(), &opts, 64);
    assert_eq!(from_gz.values, whole.values);
}

#[test]
fn an_error_deep_in_a_streamed_csv_names_its_line() {
    // Line 1 is the header, lines 2-11 are fine, line 12 has a word in column 1.
    let mut text = String::from("a,b\n");
    for i in 0..10 {
        text += &format!("{i},{}\n", i * 2);
    }
    text += "7,seven\n";
    let path = temp_file("stream-error", "late.csv", text.as_bytes());
    let mut stream =
        aegpu::data::RowStream::open(path.to_str().unwrap(), &CsvOptions::default()).unwrap();
    assert_eq!(stream.next_chunk(4).unwrap().unwrap().rows, 4);
    assert_eq!(stream.next_chunk(4).unwrap().unwrap().rows, 4);
    let err = stream.next_chunk(4).unwrap_err().to_string();
    assert!(err.contains("line 12") && err.contains("`seven`"), "{err}");
}

#[test]
fn an_npy_file_read_in_chunks_equals_the_whole_array() {
    let values: Vec<f32> = (0..1000 * 3).map(|i| i as f32 * 0.5).collect();
    let path = temp_path("stream-npy", "rows.npy");
    save_npy(&path, 1000, 3, &values).unwrap();
    let (streamed, chunks) = stream_all(path.to_str().unwrap(), &CsvOptions::default(), 333);
    assert_eq!(chunks, 4);
    assert_eq!(streamed.values, values);
    // A NaN in the last chunk is reported at its row in the whole file.
    // (save_npy itself refuses NaN, so the bytes are patched in.)
    let mut bad = values.clone();
    bad[3 * 998 + 1] = f32::NAN;
    let bytes: Vec<u8> = std::fs::read(&path).unwrap();
    let data_start = bytes.len() - 4 * bad.len();
    let mut patched = bytes[..data_start].to_vec();
    patched.extend(bad.iter().flat_map(|v| v.to_le_bytes()));
    let nan_file = temp_file("stream-npy", "nan.npy", &patched);
    let mut stream =
        aegpu::data::RowStream::open(nan_file.to_str().unwrap(), &CsvOptions::default()).unwrap();
    let mut err = None;
    while err.is_none() {
        match stream.next_chunk(333) {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the NaN went unnoticed"),
            Err(e) => err = Some(e.to_string()),
        }
    }
    let err = err.unwrap();
    assert!(err.contains("row 998, column 1"), "{err}");
}

#[test]
fn rows_written_in_chunks_read_back_whole_as_npy_and_csv() {
    let values: Vec<f32> = (0..25 * 4).map(|i| (i as f32).sin()).collect();
    for name in ["chunks.npy", "chunks.csv"] {
        let path = temp_path("sink", name);
        let mut sink = aegpu::data::RowSink::create(&path, 4).unwrap();
        for part in values.chunks(4 * 7) {
            sink.write_rows(part).unwrap();
        }
        // Nothing is at the path until the sink is finished.
        assert!(!path.exists(), "{name}");
        assert_eq!(sink.finish().unwrap(), 25);
        let back = if name.ends_with("npy") {
            load_npy(&path).unwrap()
        } else {
            load_csv(&path, &CsvOptions::default()).unwrap()
        };
        assert_eq!((back.rows, back.cols), (25, 4), "{name}");
        assert_eq!(back.values, values, "{name}");
    }
    // Half rows are refused.
    let mut sink = aegpu::data::RowSink::create(&temp_path("sink", "bad.npy"), 4).unwrap();
    assert!(sink.write_rows(&[1.0, 2.0, 3.0]).is_err());
}
