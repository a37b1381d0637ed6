//! Ranking metrics for scores against binary labels (outlier detection: a higher score
//! means "more likely an outlier", label `true` means it is one).
//!
//! ```text
//! ROC AUC = P(score of a random positive > score of a random negative)
//!           + ½ P(the two are equal)                       (Mann–Whitney U / (n₊ n₋))
//! AP      = Σ_t (R_t − R_{t−1}) · P_t over the distinct scores t, highest first,
//!           with P_t, R_t the precision and recall of "score ≥ t"
//! ```
//!
//! Both treat tied scores as one threshold, as scikit-learn's `roc_auc_score` and
//! `average_precision_score` do, so the figures compare with theirs.

use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum MetricError {
    #[error("{scores} scores but {labels} labels")]
    LengthMismatch { scores: usize, labels: usize },
    #[error("the labels hold no {0} example: the metric is undefined")]
    OneClass(&'static str),
    #[error("score {index} is {value}: scores must be finite")]
    NotFinite { index: usize, value: f64 },
}

/// Positions of `scores` from the highest score to the lowest, after checking the
/// inputs; both metrics walk the scores in that order.
fn descending(scores: &[f64], labels: &[bool]) -> Result<Vec<usize>, MetricError> {
    if scores.len() != labels.len() {
        return Err(MetricError::LengthMismatch {
            scores: scores.len(),
            labels: labels.len(),
        });
    }
    if let Some((index, &value)) = scores.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(MetricError::NotFinite { index, value });
    }
    if !labels.iter().any(|&l| l) {
        return Err(MetricError::OneClass("positive"));
    }
    if labels.iter().all(|&l| l) {
        return Err(MetricError::OneClass("negative"));
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    Ok(order)
}

/// Runs of equal scores in `order`: (positives, negatives) of each, highest first.
fn tied_groups(scores: &[f64], labels: &[bool], order: &[usize]) -> Vec<(usize, usize)> {
    let mut groups: Vec<(usize, usize)> = vec![];
    let mut last = None;
    for &i in order {
        if last != Some(scores[i]) {
            groups.push((0, 0));
            last = Some(scores[i]);
        }
        let group = groups.last_mut().expect("pushed above");
        if labels[i] {
            group.0 += 1;
        } else {
            group.1 += 1;
        }
    }
    groups
}

/// Area under the ROC curve (see the module docs).
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Result<f64, MetricError> {
    let order = descending(scores, labels)?;
    // Each positive beats the negatives below its group and ties with half of its own.
    let (mut wins, mut negatives_above) = (0.0, 0usize);
    let groups = tied_groups(scores, labels, &order);
    let negatives: usize = groups.iter().map(|g| g.1).sum();
    for &(pos, neg) in &groups {
        let below = negatives - negatives_above - neg;
        wins += pos as f64 * (below as f64 + 0.5 * neg as f64);
        negatives_above += neg;
    }
    let positives = scores.len() - negatives;
    Ok(wins / (positives as f64 * negatives as f64))
}

/// Average precision (see the module docs).
pub fn average_precision(scores: &[f64], labels: &[bool]) -> Result<f64, MetricError> {
    let order = descending(scores, labels)?;
    let groups = tied_groups(scores, labels, &order);
    let positives: usize = groups.iter().map(|g| g.0).sum();
    let (mut ap, mut true_pos, mut taken) = (0.0, 0usize, 0usize);
    for (pos, neg) in groups {
        true_pos += pos;
        taken += pos + neg;
        // Recall rises by pos / positives at this threshold, at precision tp / taken.
        ap += pos as f64 / positives as f64 * (true_pos as f64 / taken as f64);
    }
    Ok(ap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_inverted_and_tied_rankings() {
        let labels = [false, false, true, true];
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &labels), Ok(1.0));
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &labels), Ok(0.0));
        // All scores equal: every pair ties, AUC ½; AP is the positive rate.
        assert_eq!(roc_auc(&[0.5; 4], &labels), Ok(0.5));
        assert_eq!(average_precision(&[0.5; 4], &labels), Ok(0.5));
        assert_eq!(average_precision(&[0.1, 0.2, 0.8, 0.9], &labels), Ok(1.0));
    }

    #[test]
    fn matches_scikit_learn() {
        // sklearn.metrics.roc_auc_score / average_precision_score on the same data
        // (scikit-learn 1.9.1): 0.75 and 0.8333333333333333; with a three-way tie at
        // 0.4 across both classes: 0.8333333333333333 and 0.8333333333333333.
        let labels = [false, false, true, true];
        let scores = [0.1, 0.4, 0.35, 0.8];
        assert!((roc_auc(&scores, &labels).unwrap() - 0.75).abs() < 1e-12);
        assert!((average_precision(&scores, &labels).unwrap() - 0.8333333333333333).abs() < 1e-12);
        let labels = [false, true, false, true, true];
        let scores = [0.1, 0.4, 0.4, 0.8, 0.4];
        assert!((roc_auc(&scores, &labels).unwrap() - 0.8333333333333333).abs() < 1e-12);
        assert!((average_precision(&scores, &labels).unwrap() - 0.8333333333333333).abs() < 1e-12);
    }

    #[test]
    fn refuses_what_has_no_answer() {
        assert_eq!(
            roc_auc(&[0.1, 0.2], &[true]),
            Err(MetricError::LengthMismatch {
                scores: 2,
                labels: 1
            })
        );
        assert_eq!(
            roc_auc(&[0.1, 0.2], &[true, true]),
            Err(MetricError::OneClass("negative"))
        );
        assert_eq!(
            average_precision(&[0.1, 0.2], &[false, false]),
            Err(MetricError::OneClass("positive"))
        );
        assert!(matches!(
            roc_auc(&[0.1, f64::NAN], &[true, false]),
            Err(MetricError::NotFinite { index: 1, .. })
        ));
    }
}
