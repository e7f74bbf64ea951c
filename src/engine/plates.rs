//! How far a plate read is from a listed plate, as people read plates.
//!
//! Owns the distance only: a weighted edit distance where inserting,
//! deleting or replacing a character costs 2 half-units and replacing one by
//! its usual OCR confusion (0/O, 1/I, 8/B, 5/S, 2/Z) costs 1. It must never
//! decide whether a rule fires: the rule's `plate_distance` does.

/// Characters an OCR engine mistakes for one another on plates.
const CONFUSIONS: &[(char, char)] = &[('0', 'O'), ('1', 'I'), ('8', 'B'), ('5', 'S'), ('2', 'Z')];

fn substitution(a: char, b: char) -> u32 {
    if a == b {
        0
    } else if CONFUSIONS.iter().any(|&(x, y)| (a, b) == (x, y) || (a, b) == (y, x)) {
        1
    } else {
        2
    }
}

/// The distance in half-units between two normalized plates (upper case, no
/// separators). Plates are short: the quadratic table costs nothing.
pub fn distance_halves(a: &str, b: &str) -> u32 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<u32> = (0..=b.len() as u32).map(|j| j * 2).collect();
    let mut row = vec![0u32; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        row[0] = (i as u32 + 1) * 2;
        for (j, &cb) in b.iter().enumerate() {
            row[j + 1] = (prev[j] + substitution(ca, cb)).min(prev[j + 1] + 2).min(row[j] + 2);
        }
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::distance_halves;

    #[test]
    fn ocr_confusions_cost_half_an_edit() {
        assert_eq!(distance_halves("A8C1234", "A8C1234"), 0);
        assert_eq!(distance_halves("ABC1234", "A8C1234"), 1, "8/B");
        assert_eq!(distance_halves("A8CI234", "A8C1234"), 1, "1/I");
        assert_eq!(distance_halves("ABCI234", "A8C1234"), 2, "two confusions");
        assert_eq!(distance_halves("AXC1234", "A8C1234"), 2, "an ordinary substitution");
        assert_eq!(distance_halves("A8C123", "A8C1234"), 2, "a character missed");
        assert_eq!(distance_halves("", "AB"), 4);
        assert_eq!(distance_halves("ZZZ", "222"), 3);
    }
}
