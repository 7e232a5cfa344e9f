//! Explanations: for every number of a plan, the formula and the coefficients behind it.
//!
//! The model reads coefficients only through [`Recorder::c`] and records each number it writes into the
//! plan with [`Recorder::explain`], so `--explain` covers the plan by construction; a test walks the plan
//! and checks that every numeric field has an explanation.

use std::collections::BTreeSet;
use std::fmt::Display;

use serde::Serialize;

use crate::coefficients::{Coefficient, Coefficients};

/// How one number of the plan was computed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// Path of the number in the plan (`services.gateway.replicas`; `hosts[*].…` for per-host figures).
    pub path: String,
    /// The value, as printed.
    pub value: String,
    /// The formula, with the values that went into it.
    pub formula: String,
    /// The coefficients used, with their values, units and sources.
    pub coefficients: Vec<Coefficient>,
}

/// Collects explanations while the model runs and reads coefficients by name.
#[derive(Debug)]
pub(crate) struct Recorder<'a> {
    coefficients: &'a Coefficients,
    pub(crate) explanations: Vec<Explanation>,
    /// Names asked for but absent from the data files (a programming error, reported by `plan`).
    pub(crate) missing: BTreeSet<String>,
}

impl<'a> Recorder<'a> {
    pub(crate) fn new(coefficients: &'a Coefficients) -> Self {
        Self {
            coefficients,
            explanations: Vec::new(),
            missing: BTreeSet::new(),
        }
    }

    /// The coefficient table (for data that is not a coefficient, such as reference rows).
    pub(crate) fn coefficients(&self) -> &'a Coefficients {
        self.coefficients
    }

    /// The value of a coefficient (0 when missing; `plan` then fails with the missing names).
    pub(crate) fn c(&mut self, name: &str) -> f64 {
        if let Some(coefficient) = self.coefficients.get(name) {
            coefficient.value
        } else {
            self.missing.insert(name.to_owned());
            0.0
        }
    }

    /// A coefficient read as a whole number (counts, sizes).
    pub(crate) fn c_u64(&mut self, name: &str) -> u64 {
        self.c(name).max(0.0).round() as u64
    }

    /// Records how the number at `path` was computed.
    pub(crate) fn explain(
        &mut self,
        path: impl Into<String>,
        value: impl Display,
        formula: impl Into<String>,
        names: &[&str],
    ) {
        let coefficients = names
            .iter()
            .filter_map(|name| {
                let found = self.coefficients.get(name).cloned();
                if found.is_none() {
                    self.missing.insert((*name).to_owned());
                }
                found
            })
            .collect();
        self.explanations.push(Explanation {
            path: path.into(),
            value: value.to_string(),
            formula: formula.into(),
            coefficients,
        });
    }
}

/// `ceil(numerator / denominator)` for non-negative figures, at least 0; a zero denominator gives 0.
pub(crate) fn ceil_div(numerator: f64, denominator: f64) -> u64 {
    if denominator <= 0.0 || !numerator.is_finite() {
        return 0;
    }
    let quotient = numerator / denominator;
    // Guard against 2.0000000000000004 from binary fractions turning into 3.
    let rounded = quotient.round();
    if (quotient - rounded).abs() < 1e-9 {
        rounded.max(0.0) as u64
    } else {
        quotient.ceil().max(0.0) as u64
    }
}

/// Integer ceiling division.
pub(crate) fn ceil_div_u64(numerator: u64, denominator: u64) -> u64 {
    if denominator == 0 {
        0
    } else {
        numerator.div_ceil(denominator)
    }
}

/// Formats a figure with thousands separators (`25,000`).
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Formats a coefficient value compactly (`0.7`, `10000`).
pub fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_div_tolerates_binary_fractions() {
        assert_eq!(ceil_div(0.7 * 10.0, 0.7), 10);
        assert_eq!(ceil_div(7.01, 1.0), 8);
        assert_eq!(ceil_div(0.0, 3.0), 0);
        assert_eq!(ceil_div(5.0, 0.0), 0);
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
