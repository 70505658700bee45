//! "Did you mean": the closest known name by edit distance.

/// Edit distance in characters, counting a swap of two neighbours as one
/// edit (optimal string alignment): `Mvoe` is one edit from `Move`.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // Three rows: the one before the previous is needed for swaps.
    let mut older = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j - 1] + cost).min(prev[j] + 1).min(cur[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(older[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut older, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The known name closest to `word`, if it is close enough to be a typo: at
/// most a third of the longer name's characters differ (at least one may).
/// Ties go to the name listed first.
pub(crate) fn did_you_mean<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for k in known {
        let d = edit_distance(&word.to_lowercase(), &k.to_lowercase());
        let limit = (word.chars().count().max(k.chars().count()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_table() {
        for (a, b, d) in [
            ("", "", 0),
            ("a", "", 1),
            ("kitten", "sitting", 3),
            ("shard", "shards", 1),
            ("é", "e", 1),
            ("Mvoe", "Move", 1),
            ("ab", "ba", 1),
        ] {
            assert_eq!(edit_distance(a, b), d, "{a} {b}");
            assert_eq!(edit_distance(b, a), d, "{b} {a}");
        }
    }

    #[test]
    fn suggests_only_plausible_typos() {
        let keys = ["shards", "handlers", "target", "memory_limit"];
        assert_eq!(did_you_mean("shard", keys), Some("shards"));
        assert_eq!(did_you_mean("handler", keys), Some("handlers"));
        assert_eq!(did_you_mean("traget", keys), Some("target"));
        assert_eq!(did_you_mean("memory_limt", keys), Some("memory_limit"));
        assert_eq!(did_you_mean("colour", keys), None);
        assert_eq!(did_you_mean("x", keys), None);
    }
}
