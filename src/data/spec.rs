//! Loading data from what a user typed: a bundled dataset's name or a file path.

use std::path::{Path, PathBuf};

use super::{
    load_bundled_mnist, load_csv, load_idx_images, load_idx_labels, load_mnist, load_npy,
    CsvOptions, DataError, Dataset, Split,
};

/// Loads data named by a user's spec.
///
/// * `mnist` or `mnist:train`: the bundled MNIST training set; `mnist:test`: its test
///   set (see [`load_bundled_mnist`]). Only MNIST is bundled.
/// * a folder holding MNIST-style IDX files (e.g. Fashion-MNIST): its training split.
/// * `*.npy`: [`load_npy`]; `*.csv` or `*.csv.gz`: [`load_csv`] with `opts`.
/// * `*-idx3-ubyte` or `*-idx3-ubyte.gz`: [`load_idx_images`], with the labels from the
///   sibling `*-idx1-ubyte(.gz)` file attached when there is one (`images` in the
///   name becomes `labels`, as in MNIST).
pub fn load_spec(spec: &str, opts: &CsvOptions) -> Result<Dataset, DataError> {
    match spec {
        "mnist" | "mnist:train" => return load_bundled_mnist(Split::Train),
        "mnist:test" => return load_bundled_mnist(Split::Test),
        _ => {}
    }
    let path = Path::new(spec);
    if path.is_dir() {
        return load_mnist(path, Split::Train);
    }
    if !path.exists() {
        let detail = if spec.contains("mnist") && !spec.contains(['/', '\\', '.']) {
            "only `mnist` and `mnist:test` are bundled; for another MNIST-style dataset \
             (e.g. Fashion-MNIST) give the folder holding its IDX files"
        } else {
            "it is neither a bundled dataset (`mnist`, `mnist:test`) nor an existing file"
        };
        return Err(DataError::UnknownSpec {
            spec: spec.to_string(),
            detail: detail.to_string(),
        });
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if name.ends_with(".npy") {
        load_npy(path)
    } else if name.ends_with(".csv") || name.ends_with(".csv.gz") {
        load_csv(path, opts)
    } else if name.ends_with("-idx3-ubyte") || name.ends_with("-idx3-ubyte.gz") {
        load_idx_with_labels(path)
    } else {
        Err(DataError::UnknownSpec {
            spec: spec.to_string(),
            detail: "unknown file type; expected .npy, .csv, .csv.gz, *-idx3-ubyte or \
                     *-idx3-ubyte.gz"
                .to_string(),
        })
    }
}

/// Loads an IDX images file and, when its sibling labels file exists, its labels.
fn load_idx_with_labels(images_path: &Path) -> Result<Dataset, DataError> {
    let mut data = load_idx_images(images_path)?;
    if let Some(labels_path) = sibling_labels(images_path) {
        let labels = load_idx_labels(&labels_path)?;
        if labels.len() != data.rows {
            return Err(DataError::CountMismatch {
                images_path: images_path.to_path_buf(),
                images: data.rows,
                labels_path,
                labels: labels.len(),
            });
        }
        data.labels = Some(labels);
    }
    Ok(data)
}

/// `train-images-idx3-ubyte(.gz)` -> an existing `train-labels-idx1-ubyte(.gz)`.
fn sibling_labels(images_path: &Path) -> Option<PathBuf> {
    let name = images_path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".gz").unwrap_or(name);
    let labels_stem = stem
        .strip_suffix("-idx3-ubyte")?
        .replace("images", "labels")
        + "-idx1-ubyte";
    [format!("{labels_stem}.gz"), labels_stem]
        .into_iter()
        .map(|n| images_path.with_file_name(n))
        .find(|p| p.is_file())
}
