//! `aegpu search`: the k nearest index rows of each query row, by Euclidean distance
//! between their codes (or between the inputs themselves, `--pixels`, the baseline).

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use crate::cli::infer::{load_model, load_scaled};
use crate::cli::{load_data, BackendArgs, CliError};
use crate::data::{save_csv, Dataset};
use crate::neighbours::hamming::{k_nearest_hamming, BinaryCodes};
use crate::neighbours::hamming_ball::HammingTable;
use crate::neighbours::{k_nearest, Rows, SearchError, SelfMatch};
use crate::train::{run_rows, RowOutput};

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// A model saved by `aegpu train` or `aegpu pretrain`: rows are compared by their
    /// codes. Optional with `--pixels`, which then still applies its scaling.
    #[arg(long)]
    model: Option<PathBuf>,
    /// The rows searched (`mnist`, `mnist:test` or a file, as `--data` takes).
    #[arg(long)]
    index: String,
    /// The rows whose neighbours are wanted.
    #[arg(long)]
    query: String,
    /// A CSV column holding labels, left out of the features, in both files.
    #[arg(long)]
    label_column: Option<String>,
    /// Neighbours per query.
    #[arg(long, default_value_t = 10, value_parser = crate::ranges::count)]
    k: usize,
    /// Write one line per query: query, neighbour_1..k (index rows), distance_1..k.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Compare the inputs themselves instead of their codes (the baseline).
    #[arg(long, alias = "raw")]
    pixels: bool,
    /// Threshold each code unit at 0.5 and compare codes by Hamming distance, the
    /// number of differing bits (for sigmoid codes: semantic hashing).
    #[arg(long)]
    hamming: bool,
    /// With `--hamming`: every index row within R bits of each query instead of the k
    /// nearest, found by probing the addresses of the Hamming ball (semantic hashing's
    /// lookup; the rows are scanned when the ball has more addresses than the index
    /// has rows). `--out` then writes one line per match: query, neighbour, distance.
    #[arg(long, requires = "hamming")]
    radius: Option<usize>,
    /// Print one JSON object with the results on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: BackendArgs,
}

/// Index and queries as searched, with the seconds spent encoding them.
struct Searched {
    index: Vec<f32>,
    query: Vec<f32>,
    dim: usize,
    encode_seconds: Option<f64>,
}

pub fn run(a: SearchArgs) -> Result<(), CliError> {
    if let Some(out) = &a.out {
        let mut inputs = vec![
            ("--index", std::path::Path::new(&a.index)),
            ("--query", std::path::Path::new(&a.query)),
        ];
        inputs.extend(a.model.as_deref().map(|m| ("--model", m)));
        crate::cli::check_outputs(&[("--out", out.as_path())], &inputs)?;
    }
    let (index, query, searched) = prepare(&a)?;
    if let Some(radius) = a.radius {
        return ball(&a, radius, &index, &query, &searched);
    }
    let t = Instant::now();
    let found = if a.hamming {
        // Packing the bits is part of the search, as the sgemm's norms are.
        let binary = |v: &[f32]| BinaryCodes::threshold(v, searched.dim, 0.5);
        k_nearest_hamming(
            &binary(&searched.index)?,
            &binary(&searched.query)?,
            a.k,
            SelfMatch::Allow,
        )?
    } else {
        k_nearest(
            Rows::new(&searched.index, searched.dim),
            Rows::new(&searched.query, searched.dim),
            a.k,
            SelfMatch::Allow,
        )?
    };
    let search_seconds = t.elapsed().as_secs_f64();
    let queries_per_s = query.rows as f64 / search_seconds.max(1e-9);
    let precision = match (&query.labels, &index.labels) {
        (Some(q), Some(i)) => Some(found.precision_at_k(q, i)),
        _ => None,
    };

    if let Some(out) = &a.out {
        let k = a.k;
        let mut header = vec!["query".to_string()];
        header.extend((1..=k).map(|j| format!("neighbour_{j}")));
        header.extend((1..=k).map(|j| format!("distance_{j}")));
        let mut values = Vec::with_capacity(query.rows * (2 * k + 1));
        for q in 0..query.rows {
            let (ids, ds) = found.of(q);
            // Row numbers are exact in f32 below 2²⁴ (16.7 million rows).
            values.push(q as f32);
            values.extend(ids.iter().map(|&i| i as f32));
            values.extend_from_slice(ds);
        }
        save_csv(out, Some(&header), query.rows, 2 * k + 1, &values)?;
        eprintln!(
            "wrote the {k} neighbours of {} queries to {}",
            query.rows,
            out.display()
        );
    }

    let space = match (a.pixels, a.hamming) {
        (true, _) => "inputs",
        (false, true) => "binary codes",
        (false, false) => "codes",
    };
    if a.json {
        let out = serde_json::json!({
            "k": a.k,
            "queries": query.rows,
            "index_rows": index.rows,
            "space": space,
            "distance": if a.hamming { "hamming" } else { "euclidean" },
            "dim": searched.dim,
            "precision_at_k": precision,
            "queries_per_s": queries_per_s,
            "search_seconds": search_seconds,
            "encode_seconds": searched.encode_seconds,
        });
        println!("{out}");
    } else {
        let mut line = format!(
            "{} queries × {} index rows on {} {space}: k = {}, {:.0} queries/s ({:.3}s search",
            query.rows, index.rows, searched.dim, a.k, queries_per_s, search_seconds
        );
        if let Some(s) = searched.encode_seconds {
            line += &format!(", {s:.3}s encoding");
        }
        line.push(')');
        if let Some(p) = precision {
            line += &format!("; precision@{} {p:.4}", a.k);
        }
        println!("{line}");
    }
    Ok(())
}

/// `--hamming --radius R`: the index rows in each query's Hamming ball.
fn ball(
    a: &SearchArgs,
    radius: usize,
    index: &Dataset,
    query: &Dataset,
    searched: &Searched,
) -> Result<(), CliError> {
    let t = Instant::now();
    let index_codes = BinaryCodes::threshold(&searched.index, searched.dim, 0.5)?;
    let query_codes = BinaryCodes::threshold(&searched.query, searched.dim, 0.5)?;
    let table = HammingTable::new(&index_codes);
    let found = table.within(&query_codes, radius)?;
    let search_seconds = t.elapsed().as_secs_f64();
    let queries_per_s = query.rows as f64 / search_seconds.max(1e-9);
    let mean_matches = found.rows.len() as f64 / query.rows as f64;
    let empty = (0..query.rows)
        .filter(|&q| found.of(q).0.is_empty())
        .count();
    let precision = match (&query.labels, &index.labels) {
        (Some(q), Some(i)) => found.precision(q, i),
        _ => None,
    };
    if let Some(out) = &a.out {
        let header = ["query", "neighbour", "distance"].map(String::from);
        let mut values = Vec::with_capacity(3 * found.rows.len());
        for q in 0..query.rows {
            let (rows, distances) = found.of(q);
            for (&row, &d) in rows.iter().zip(distances) {
                // Row numbers are exact in f32 below 2²⁴ (16.7 million rows).
                values.extend([q as f32, row as f32, d as f32]);
            }
        }
        save_csv(out, Some(&header), found.rows.len(), 3, &values)?;
        eprintln!(
            "wrote the {} matches of {} queries to {}",
            found.rows.len(),
            query.rows,
            out.display()
        );
    }
    let how = if found.scanned {
        "the ball has more addresses than the index has rows: scanned".to_string()
    } else {
        format!("{} addresses probed per query", table.probes(radius))
    };
    if a.json {
        let out = serde_json::json!({
            "radius": radius,
            "queries": query.rows,
            "index_rows": index.rows,
            "bits": searched.dim,
            "distinct_codes": table.addresses(),
            "matches": found.rows.len(),
            "mean_matches": mean_matches,
            "queries_without_match": empty,
            "precision_within_radius": precision,
            "scanned": found.scanned,
            "queries_per_s": queries_per_s,
            "search_seconds": search_seconds,
            "encode_seconds": searched.encode_seconds,
        });
        println!("{out}");
    } else {
        let mut line = format!(
            "{} queries × {} index rows ({} distinct {}-bit codes), radius {radius}: \
             {mean_matches:.1} matches per query, {empty} queries with none; \
             {queries_per_s:.0} queries/s ({how})",
            query.rows,
            index.rows,
            table.addresses(),
            searched.dim
        );
        if let Some(p) = precision {
            line += &format!("; precision within the ball {p:.4}");
        }
        println!("{line}");
    }
    Ok(())
}

/// Loads both sides, scales them as the model's training data was, checks k, and
/// encodes them unless `--pixels`.
fn prepare(a: &SearchArgs) -> Result<(Dataset, Dataset, Searched), CliError> {
    if a.hamming && a.pixels {
        return Err("--hamming compares binary codes; it does not go with --pixels".into());
    }
    let model = a
        .model
        .as_ref()
        .map(|p| load_model(p).map(|m| (p, m)))
        .transpose()?;
    let (index, query) = match &model {
        Some((path, (model, prep))) => (
            load_scaled(model.as_ref(), prep, path, &a.index, &a.label_column)?,
            load_scaled(model.as_ref(), prep, path, &a.query, &a.label_column)?,
        ),
        None if a.pixels => {
            let index = load_data(&a.index, &a.label_column)?;
            let query = load_data(&a.query, &a.label_column)?;
            if query.cols != index.cols {
                return Err(format!(
                    "the index {} has {} columns, the queries {} have {}",
                    a.index, index.cols, a.query, query.cols
                )
                .into());
            }
            (index, query)
        }
        None => {
            return Err("give --model (to search codes) or --pixels (to search the inputs)".into())
        }
    };
    // k does not apply to a Hamming-ball lookup (`--radius`).
    if a.k == 0 && a.radius.is_none() {
        return Err(SearchError::ZeroK.into());
    }
    if a.k > index.rows && a.radius.is_none() {
        return Err(SearchError::KTooLarge {
            k: a.k,
            available: index.rows,
        }
        .into());
    }
    let searched = match &model {
        Some((_, (model, _))) if !a.pixels => {
            let mut selected = a.backend.open()?;
            let backend = selected.backend.as_mut();
            backend.upload_store(model.store())?;
            let t = Instant::now();
            let codes = run_rows(model.as_ref(), backend, &index, RowOutput::Code)?;
            let query_codes = run_rows(model.as_ref(), backend, &query, RowOutput::Code)?;
            Searched {
                index: codes,
                query: query_codes,
                dim: model.code_width(),
                encode_seconds: Some(t.elapsed().as_secs_f64()),
            }
        }
        _ => Searched {
            index: index.values.clone(),
            query: query.values.clone(),
            dim: index.cols,
            encode_seconds: None,
        },
    };
    Ok((index, query, searched))
}
