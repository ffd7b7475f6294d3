//! Spelling suggestions: the known key a misspelt one probably meant.

use super::keys::KEYS;

/// The known key closest to `key`: within edit distance 2, or made of the same letters.
pub(super) fn suggest(key: &str) -> Option<&'static str> {
    KEYS.iter()
        .filter_map(|k| match edit_distance(key, k.name, 2) {
            Some(d) => Some((d, k.name)),
            None if same_letters(key, k.name) => Some((3, k.name)),
            None => None,
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// True when `a` could be a misspelling of `b`, by the same measure as [`suggest`].
pub(super) fn near(a: &str, b: &str) -> bool {
    edit_distance(a, b, 2).is_some() || same_letters(a, b)
}

fn same_letters(a: &str, b: &str) -> bool {
    let sorted = |s: &str| {
        let mut v: Vec<char> = s.chars().collect();
        v.sort_unstable();
        v
    };
    sorted(a) == sorted(b)
}

/// Levenshtein distance if it is at most `limit`.
fn edit_distance(a: &str, b: &str, limit: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // The distance is at least the length difference; skip hopeless (or huge) inputs.
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            let best = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
            cur.push(best);
        }
        prev = cur;
    }
    prev.last().copied().filter(|d| *d <= limit)
}
