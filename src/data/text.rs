//! Bag-of-words features from a CSV of documents (RFC 4180: quoted fields, doubled
//! quotes, line breaks inside quotes), as semantic hashing (Salakhutdinov & Hinton
//! 2009) and document retrieval use them:
//!
//! - tokens: maximal runs of letters (Unicode), lower-cased, at least two letters long;
//!   digits and punctuation separate tokens;
//! - vocabulary: the `size` words with the highest document frequency df among those
//!   with `min_df ≤ df ≤ max_df · N` (a word in most documents says nothing about any
//!   one), ties broken alphabetically, so the same corpus always gives the same
//!   vocabulary;
//! - weights: raw counts, or TF-IDF as scikit-learn's `TfidfVectorizer` defaults:
//!   tf · (ln((1 + N) / (1 + df)) + 1), each row scaled to unit L2 norm (a document
//!   without a vocabulary word stays all zero).
//!
//! A [`Vocabulary`] is fitted on the training documents and then applied to any
//! others (queries, a test split) so their columns mean the same words.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{read_maybe_gzip, DataError, Dataset};

/// How word occurrences become feature values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    Counts,
    TfIdf,
}

impl std::str::FromStr for Weighting {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "counts" => Ok(Weighting::Counts),
            "tf-idf" | "tfidf" => Ok(Weighting::TfIdf),
            other => Err(format!(
                "unknown weighting `{other}` (expected counts, tf-idf)"
            )),
        }
    }
}

/// Which words make the columns.
#[derive(Clone, Debug, PartialEq)]
pub struct VocabularyOptions {
    /// At most this many words.
    pub size: usize,
    /// A word must occur in at least this many documents.
    pub min_df: usize,
    /// … and in at most this share of them.
    pub max_df: f64,
    pub weighting: Weighting,
}

impl Default for VocabularyOptions {
    fn default() -> Self {
        VocabularyOptions {
            size: 2000,
            min_df: 2,
            max_df: 0.5,
            weighting: Weighting::TfIdf,
        }
    }
}

/// The words of the columns, with their inverse document frequencies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vocabulary {
    pub words: Vec<String>,
    /// ln((1 + N) / (1 + df)) + 1 of each word, from the fitted documents.
    pub idf: Vec<f32>,
    pub weighting: Weighting,
}

/// The documents of a CSV file and, when asked for, their labels.
#[derive(Clone, Debug)]
pub struct Documents {
    pub texts: Vec<String>,
    /// Label ids, one per document: the index of its label in `label_names`.
    pub labels: Option<Vec<u32>>,
    /// The distinct labels, sorted.
    pub label_names: Vec<String>,
}

/// The lower-cased tokens of `text`: runs of two or more letters.
pub fn tokenize(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphabetic())
        .filter(|w| w.chars().nth(1).is_some())
        .map(str::to_lowercase)
}

/// A CSV record: the line it starts on (from 1) and its fields.
type Record = (usize, Vec<String>);

/// Splits CSV text into records of fields (RFC 4180). `Err` names the line of an
/// unterminated quote.
fn records(text: &str) -> Result<Vec<Record>, (usize, String)> {
    let mut out = vec![];
    let (mut field, mut fields) = (String::new(), vec![]);
    let (mut line, mut start_line) = (1usize, 1usize);
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut any = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => {
                quoted = true;
                any = true;
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                any = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                if any || !field.is_empty() {
                    fields.push(std::mem::take(&mut field));
                    out.push((start_line, std::mem::take(&mut fields)));
                }
                any = false;
                line += 1;
                start_line = line;
            }
            _ => {
                field.push(c);
                any = true;
            }
        }
    }
    if quoted {
        return Err((
            start_line,
            "a quoted field is not closed before the end of the file".into(),
        ));
    }
    if any || !field.is_empty() {
        fields.push(field);
        out.push((start_line, fields));
    }
    Ok(out)
}

/// Reads the `text_column` (and `label_column`) of a CSV file with a header row,
/// gzipped or not.
pub fn read_documents(
    path: &Path,
    text_column: &str,
    label_column: Option<&str>,
) -> Result<Documents, DataError> {
    let bytes = read_maybe_gzip(path)?;
    let format = |detail: String| DataError::Format {
        path: path.to_path_buf(),
        detail,
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        format(format!(
            "not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    let rows = records(&text).map_err(|(line, d)| format(format!("line {line}: {d}")))?;
    let Some(((_, header), body)) = rows.split_first() else {
        return Err(DataError::Empty {
            what: path.display().to_string(),
        });
    };
    let find = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| {
            format(format!(
                "no column `{name}` in the header (columns: {})",
                crate::io::limits::shorten(&header.join(", "), 200)
            ))
        })
    };
    let text_at = find(text_column)?;
    let label_at = label_column.map(find).transpose()?;
    if body.is_empty() {
        return Err(DataError::Empty {
            what: format!("{} (a header and no documents)", path.display()),
        });
    }
    let mut texts = Vec::with_capacity(body.len());
    let mut raw_labels = vec![];
    for (line, fields) in body {
        if fields.len() != header.len() {
            return Err(DataError::RaggedRow {
                path: path.to_path_buf(),
                line: *line,
                expected: header.len(),
                found: fields.len(),
            });
        }
        texts.push(fields[text_at].clone());
        if let Some(l) = label_at {
            raw_labels.push(fields[l].clone());
        }
    }
    let (labels, label_names) = match label_at {
        None => (None, vec![]),
        Some(_) => {
            let names: Vec<String> = raw_labels
                .iter()
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let id: HashMap<&str, u32> = names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.as_str(), i as u32))
                .collect();
            (
                Some(raw_labels.iter().map(|l| id[l.as_str()]).collect()),
                names,
            )
        }
    };
    Ok(Documents {
        texts,
        labels,
        label_names,
    })
}

impl Vocabulary {
    /// The vocabulary of `texts` under `opts`; an empty one is refused.
    pub fn fit(texts: &[String], opts: &VocabularyOptions) -> Result<Self, DataError> {
        if opts.size == 0 || !(opts.max_df > 0.0 && opts.max_df <= 1.0) {
            return Err(DataError::Shape {
                detail: format!(
                    "a vocabulary needs a size ≥ 1 and a maximum document share in (0, 1], got {} and {}",
                    opts.size, opts.max_df
                ),
            });
        }
        let mut df: HashMap<String, usize> = HashMap::new();
        for text in texts {
            let mut seen: Vec<String> = tokenize(text).collect();
            seen.sort_unstable();
            seen.dedup();
            for w in seen {
                *df.entry(w).or_default() += 1;
            }
        }
        let n = texts.len();
        let most = (opts.max_df * n as f64).floor() as usize;
        let mut kept: Vec<(String, usize)> = df
            .into_iter()
            .filter(|&(_, d)| d >= opts.min_df && d <= most)
            .collect();
        kept.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        kept.truncate(opts.size);
        if kept.is_empty() {
            return Err(DataError::Empty {
                what: format!(
                    "the vocabulary of {n} documents (no word occurs in at least {} of them and \
                     at most {:.0} % of them)",
                    opts.min_df,
                    opts.max_df * 100.0
                ),
            });
        }
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        let idf = kept
            .iter()
            .map(|(_, d)| (((1 + n) as f64 / (1 + d) as f64).ln() + 1.0) as f32)
            .collect();
        Ok(Vocabulary {
            words: kept.into_iter().map(|(w, _)| w).collect(),
            idf,
            weighting: opts.weighting,
        })
    }

    /// One row per text: its word counts, or their TF-IDF weights with unit L2 norm.
    pub fn transform(&self, texts: &[String]) -> Result<Dataset, DataError> {
        let index: BTreeMap<&str, usize> = self
            .words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.as_str(), i))
            .collect();
        let v = self.words.len();
        let mut values = vec![0.0f32; texts.len() * v];
        for (row, text) in values.chunks_mut(v).zip(texts) {
            for w in tokenize(text) {
                if let Some(&j) = index.get(w.as_str()) {
                    row[j] += 1.0;
                }
            }
            if self.weighting == Weighting::TfIdf {
                for (x, idf) in row.iter_mut().zip(&self.idf) {
                    *x *= idf;
                }
                let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
                if norm > 0.0 {
                    row.iter_mut().for_each(|x| *x /= norm);
                }
            }
        }
        Dataset::new(texts.len(), v, values)
    }
}

/// How a model's rows were made from documents: the CSV column of the text and the
/// vocabulary fitted on the training documents. Saved with the model
/// (`aegpu.bag_of_words`), so encoding new documents gives the same columns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BagOfWords {
    pub text_column: String,
    pub vocabulary: Vocabulary,
}

impl BagOfWords {
    /// The documents of `path` as rows of this vocabulary, labelled by `label_column`.
    pub fn load(&self, path: &Path, label_column: Option<&str>) -> Result<Dataset, DataError> {
        let docs = read_documents(path, &self.text_column, label_column)?;
        let mut data = self.vocabulary.transform(&docs.texts)?;
        data.labels = docs.labels;
        Ok(data)
    }
}

/// The bag-of-words dataset of a CSV's `text_column` with a vocabulary fitted on it,
/// labelled by `label_column` when given.
pub fn load_bag_of_words(
    path: &Path,
    text_column: &str,
    label_column: Option<&str>,
    opts: &VocabularyOptions,
) -> Result<(Dataset, Vocabulary, Documents), DataError> {
    let docs = read_documents(path, text_column, label_column)?;
    let vocabulary = Vocabulary::fit(&docs.texts, opts)?;
    let mut data = vocabulary.transform(&docs.texts)?;
    data.labels = docs.labels.clone();
    Ok((data, vocabulary, docs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_keep_commas_quotes_and_line_breaks() {
        let r = records("a,b\n1,\"x, \"\"y\"\"\nz\"\n\n2,w\r\n").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[1], (2, vec!["1".to_string(), "x, \"y\"\nz".to_string()]));
        assert_eq!(r[2], (5, vec!["2".to_string(), "w".to_string()]));
        assert_eq!(records("a\n\"open").unwrap_err().0, 2);
    }

    #[test]
    fn tokens_are_lowercase_letter_runs() {
        let t: Vec<String> = tokenize("The U.S. grain-export (1987) rose 3%; Émile's").collect();
        assert_eq!(t, ["the", "grain", "export", "rose", "émile"]);
    }

    #[test]
    fn vocabulary_by_document_frequency_and_tf_idf_rows() {
        let texts: Vec<String> = [
            "corn corn wheat",
            "wheat barley",
            "corn barley the",
            "the the the",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let opts = VocabularyOptions {
            size: 2,
            min_df: 2,
            max_df: 0.5,
            weighting: Weighting::Counts,
        };
        // df: corn 2, wheat 2, barley 2, the 2 (all ≤ 2 = 0.5·4): the first two by name.
        let v = Vocabulary::fit(&texts, &opts).unwrap();
        assert_eq!(v.words, ["barley", "corn"]);
        let d = v.transform(&texts).unwrap();
        assert_eq!(d.values, [0., 2., 1., 0., 1., 1., 0., 0.]);
        let tfidf = Vocabulary {
            weighting: Weighting::TfIdf,
            ..v
        };
        let d = tfidf.transform(&texts).unwrap();
        let norm: f32 = d.values[4..6].iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-6);
        assert_eq!(&d.values[6..], [0.0, 0.0]);
        let none = VocabularyOptions { min_df: 5, ..opts };
        let e = Vocabulary::fit(&texts, &none).unwrap_err().to_string();
        assert!(e.contains("the vocabulary of 4 documents"), "{e}");
    }
}
