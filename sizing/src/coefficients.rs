//! The coefficient data files (`sizing/data/*.toml`), embedded at compile time and parsed once.
//!
//! Each coefficient is a TOML table with exactly `value`, `unit` and `source`; its name is the dotted path of
//! the table (`gateway.connections_per_replica`). Every file starts with `version = 1`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The coefficient format version this library reads.
pub const COEFFICIENTS_VERSION: u32 = 1;

/// The embedded data files: (file name, content).
const FILES: [(&str, &str); 6] = [
    ("defaults.toml", include_str!("../data/defaults.toml")),
    ("workload.toml", include_str!("../data/workload.toml")),
    ("services.toml", include_str!("../data/services.toml")),
    ("stores.toml", include_str!("../data/stores.toml")),
    (
        "observability.toml",
        include_str!("../data/observability.toml"),
    ),
    ("reference.toml", include_str!("../data/reference.toml")),
];

/// One named, sourced number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coefficient {
    /// Dotted name (`gateway.connections_per_replica`).
    pub name: String,
    /// The number.
    pub value: f64,
    /// Its unit.
    pub unit: String,
    /// Where it comes from: a reference, a published figure, "assumption…" or "our benchmark: <command>".
    pub source: String,
}

/// One published reference row: whole-cluster vCPU for an MAU and PCC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceRow {
    /// Monthly active users.
    pub mau: u64,
    /// Peak concurrent connections.
    pub pcc: u64,
    /// Whole-cluster vCPU.
    pub cpus: u64,
}

/// All coefficients and reference rows.
#[derive(Debug, Clone)]
pub struct Coefficients {
    entries: BTreeMap<String, Coefficient>,
    /// Reference rows, in file order.
    pub reference_rows: Vec<ReferenceRow>,
    /// Source note of the reference rows.
    pub reference_source: String,
}

/// A data file that is not valid. Only reachable by editing `sizing/data`; tests load every file.
#[derive(Debug, Clone, thiserror::Error)]
#[error("sizing/data/{file}: {message}")]
pub struct CoefficientError {
    /// File name.
    pub file: String,
    /// What is wrong.
    pub message: String,
}

impl Coefficients {
    /// The embedded coefficients, parsed on first use.
    pub fn embedded() -> Result<&'static Coefficients, CoefficientError> {
        static PARSED: OnceLock<Result<Coefficients, CoefficientError>> = OnceLock::new();
        PARSED
            .get_or_init(|| Coefficients::parse(&FILES))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Parses data files given as (name, content).
    pub fn parse(files: &[(&str, &str)]) -> Result<Coefficients, CoefficientError> {
        let mut coefficients = Coefficients {
            entries: BTreeMap::new(),
            reference_rows: Vec::new(),
            reference_source: String::new(),
        };
        for (file, text) in files {
            let error = |message: String| CoefficientError {
                file: (*file).to_owned(),
                message,
            };
            let mut table: toml::Table = toml::from_str(text).map_err(|e| error(e.to_string()))?;
            match table.remove("version") {
                Some(toml::Value::Integer(version))
                    if version == i64::from(COEFFICIENTS_VERSION) => {}
                Some(toml::Value::Integer(version)) => {
                    return Err(error(format!(
                        "version {version} is not the supported {COEFFICIENTS_VERSION}"
                    )));
                }
                _ => return Err(error("missing `version = 1`".to_owned())),
            }
            if let Some(rows) = table.remove("rows") {
                let rows: Vec<ReferenceRow> =
                    rows.try_into().map_err(|e| error(format!("rows: {e}")))?;
                coefficients.reference_rows.extend(rows);
            }
            if let Some(source) = table.remove("source") {
                source
                    .as_str()
                    .ok_or_else(|| error("`source` must be a string".to_owned()))?
                    .clone_into(&mut coefficients.reference_source);
            }
            collect(&table, "", &mut coefficients.entries).map_err(error)?;
        }
        Ok(coefficients)
    }

    /// A coefficient by name.
    pub fn get(&self, name: &str) -> Option<&Coefficient> {
        self.entries.get(name)
    }

    /// Every coefficient, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Coefficient> {
        self.entries.values()
    }
}

/// Walks nested tables; a table with a `value` key is a coefficient.
fn collect(
    table: &toml::Table,
    prefix: &str,
    entries: &mut BTreeMap<String, Coefficient>,
) -> Result<(), String> {
    for (key, value) in table {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let toml::Value::Table(inner) = value else {
            return Err(format!(
                "`{name}` must be a table with value, unit and source"
            ));
        };
        if !inner.contains_key("value") {
            collect(inner, &name, entries)?;
            continue;
        }
        let number = match inner.get("value") {
            Some(toml::Value::Integer(integer)) => *integer as f64,
            Some(toml::Value::Float(float)) if float.is_finite() => *float,
            _ => return Err(format!("`{name}.value` must be a finite number")),
        };
        let text = |field: &str| {
            inner
                .get(field)
                .and_then(toml::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("`{name}.{field}` must be a string"))
        };
        let unit = text("unit")?;
        let source = text("source")?;
        if let Some(unknown) = inner
            .keys()
            .find(|key| !["value", "unit", "source"].contains(&key.as_str()))
        {
            return Err(format!(
                "`{name}` has unknown key `{unknown}` (allowed: value, unit, source)"
            ));
        }
        if source.trim().is_empty() {
            return Err(format!(
                "`{name}.source` is empty: every coefficient says where it comes from"
            ));
        }
        if entries
            .insert(
                name.clone(),
                Coefficient {
                    name: name.clone(),
                    value: number,
                    unit,
                    source,
                },
            )
            .is_some()
        {
            return Err(format!("`{name}` is defined twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_files_parse_with_sources() {
        let coefficients = Coefficients::embedded().expect("embedded data parses");
        assert!(coefficients.iter().count() > 100);
        assert_eq!(coefficients.reference_rows.len(), 10);
        let gateway = coefficients
            .get("gateway.connections_per_replica")
            .expect("present");
        assert!(gateway.source.contains("conservative"));
    }

    #[test]
    fn rejects_unknown_keys_newer_versions_and_missing_sources() {
        let cases = [
            ("version = 2\n", "version 2"),
            (
                "[a]\nvalue = 1\nunit = \"x\"\nsource = \"y\"\n",
                "missing `version = 1`",
            ),
            (
                "version = 1\n[a]\nvalue = 1\nunit = \"x\"\nsource = \"y\"\nextra = 1\n",
                "unknown key `extra`",
            ),
            (
                "version = 1\n[a]\nvalue = 1\nunit = \"x\"\nsource = \" \"\n",
                "source` is empty",
            ),
            (
                "version = 1\n[a]\nvalue = \"1\"\nunit = \"x\"\nsource = \"y\"\n",
                "finite number",
            ),
        ];
        for (text, expected) in cases {
            let error = Coefficients::parse(&[("test.toml", text)]).expect_err(text);
            assert!(
                error.to_string().contains(expected),
                "{error} lacks {expected}"
            );
        }
    }
}
