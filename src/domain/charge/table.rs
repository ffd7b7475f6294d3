//! A factor table: points (x, factor) with straight lines between them and the end values
//! beyond the ends, written in config files as `x:factor, x:factor, ...` (e.g. the charge
//! current by temperature `5:0.5, 10:1, 40:1, 45:0.5`).

/// At most this many points (a fixed array keeps the limits `Copy`).
pub const MAX_POINTS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Table {
    points: [(f64, f64); MAX_POINTS],
    len: usize,
}

impl Table {
    /// Factor 1 everywhere.
    pub const ONE: Table = Table { points: [(0.0, 1.0); MAX_POINTS], len: 1 };

    /// A table from points with rising x and factors in 0..=1.
    pub fn new(points: &[(f64, f64)]) -> Result<Table, String> {
        if points.is_empty() || points.len() > MAX_POINTS {
            return Err(format!("1 to {MAX_POINTS} points"));
        }
        if points.windows(2).any(|w| w[1].0 <= w[0].0) {
            return Err("the x values must rise from point to point".into());
        }
        if let Some((_, f)) = points.iter().find(|(x, f)| !x.is_finite() || !(0.0..=1.0).contains(f)) {
            return Err(format!("factor {f} is not between 0 and 1"));
        }
        let mut t = Table { points: [(0.0, 0.0); MAX_POINTS], len: points.len() };
        t.points[..points.len()].copy_from_slice(points);
        Ok(t)
    }

    /// Parses `x:factor, x:factor, ...`.
    pub fn parse(text: &str) -> Result<Table, String> {
        let mut points = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (x, f) = item.split_once(':').ok_or_else(|| format!("'{item}' is not x:factor"))?;
            let x: f64 = x.trim().parse().map_err(|_| format!("'{}' in '{item}' is not a number", x.trim()))?;
            let f: f64 = f.trim().parse().map_err(|_| format!("'{}' in '{item}' is not a number", f.trim()))?;
            points.push((x, f));
        }
        Table::new(&points)
    }

    pub fn points(&self) -> &[(f64, f64)] {
        &self.points[..self.len]
    }

    /// The factor at `x`.
    pub fn at(&self, x: f64) -> f64 {
        let p = self.points();
        let (first, last) = (p[0], p[p.len() - 1]);
        if x <= first.0 {
            return first.1;
        }
        if x >= last.0 {
            return last.1;
        }
        for w in p.windows(2) {
            let ((x0, f0), (x1, f1)) = (w[0], w[1]);
            if x <= x1 {
                return f0 + (f1 - f0) * (x - x0) / (x1 - x0);
            }
        }
        last.1
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let items: Vec<String> = self.points().iter().map(|(x, v)| format!("{x}:{v}")).collect();
        f.write_str(&items.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_and_holds_the_ends() {
        let t = Table::parse("5:0.5, 10:1, 40:1, 45:0.5").unwrap();
        assert_eq!(t.at(0.0), 0.5);
        assert_eq!(t.at(7.5), 0.75);
        assert_eq!(t.at(20.0), 1.0);
        assert_eq!(t.at(44.0), 0.6);
        assert_eq!(t.at(99.0), 0.5);
        assert_eq!(Table::parse(&t.to_string()), Ok(t));
        assert!(Table::parse("10:1, 5:0.5").is_err());
        assert!(Table::parse("10:2").is_err());
        assert!(Table::parse("ten:1").is_err());
        assert!(Table::parse("").is_err());
    }
}
