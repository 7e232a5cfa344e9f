//! Raw inputs (flags or a `--sizing` file, as text) → validated [`PlanInputs`], collecting every problem.

use std::collections::BTreeSet;

use serde::Deserialize;

use crate::coefficients::Coefficients;
use crate::plan::{HostSize, PlanInputs, Target};

/// The `--sizing` file format version this library reads.
pub const SIZING_FILE_VERSION: u32 = 1;

/// The most MAU the model accepts: beyond it the coefficients are extrapolated too far to mean anything.
pub const MAX_MAU: u64 = 100_000_000;

/// An input field; its `name()` is the `--sizing` file key and `flag()` the command-line flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Field {
    /// `--mau`.
    Mau,
    /// `--pcc`.
    Pcc,
    /// `--concurrency`.
    Concurrency,
    /// `--messages-per-user-day`.
    MessagesPerActiveUserPerDay,
    /// `--group-size`.
    AverageGroupSize,
    /// `--peak-factor`.
    PeakToAverage,
    /// `--message-bytes`.
    AverageMessageBytes,
    /// `--attachment-share`.
    AttachmentShare,
    /// `--attachment-kib`.
    AverageAttachmentKib,
    /// `--retention-days`.
    HistoryRetentionDays,
    /// `--host-size`.
    HostSize,
    /// `--target`.
    Target,
    /// `--ha` / `--no-ha`.
    Ha,
    /// The sizing file's `version`.
    Version,
    /// The sizing file as a whole (syntax, unknown keys).
    File,
}

impl Field {
    /// The key in a `--sizing` file.
    pub fn name(self) -> &'static str {
        match self {
            Field::Mau => "mau",
            Field::Pcc => "pcc",
            Field::Concurrency => "concurrency",
            Field::MessagesPerActiveUserPerDay => "messages_per_active_user_per_day",
            Field::AverageGroupSize => "average_group_size",
            Field::PeakToAverage => "peak_to_average",
            Field::AverageMessageBytes => "average_message_bytes",
            Field::AttachmentShare => "attachment_share",
            Field::AverageAttachmentKib => "average_attachment_kib",
            Field::HistoryRetentionDays => "history_retention_days",
            Field::HostSize => "host_size",
            Field::Target => "target",
            Field::Ha => "ha",
            Field::Version => "version",
            Field::File => "(file)",
        }
    }

    /// The command-line flag.
    pub fn flag(self) -> &'static str {
        match self {
            Field::Mau => "--mau",
            Field::Pcc => "--pcc",
            Field::Concurrency => "--concurrency",
            Field::MessagesPerActiveUserPerDay => "--messages-per-user-day",
            Field::AverageGroupSize => "--group-size",
            Field::PeakToAverage => "--peak-factor",
            Field::AverageMessageBytes => "--message-bytes",
            Field::AttachmentShare => "--attachment-share",
            Field::AverageAttachmentKib => "--attachment-kib",
            Field::HistoryRetentionDays => "--retention-days",
            Field::HostSize => "--host-size",
            Field::Target => "--target",
            Field::Ha => "--ha/--no-ha",
            Field::Version => "version",
            Field::File => "--sizing",
        }
    }
}

/// One problem with one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputIssue {
    /// The field.
    pub field: Field,
    /// What is wrong, quoting the given value.
    pub message: String,
    /// What is accepted.
    pub accepted: String,
}

/// A value as given: text from a flag, or a TOML number or string from a file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum RawValue {
    /// Text (`250k`, `0.1`, `8c32g`).
    Text(String),
    /// A TOML integer.
    Integer(i64),
    /// A TOML float.
    Float(f64),
}

impl RawValue {
    fn text(&self) -> String {
        match self {
            RawValue::Text(text) => text.trim().to_owned(),
            RawValue::Integer(integer) => integer.to_string(),
            RawValue::Float(float) => float.to_string(),
        }
    }
}

impl From<&str> for RawValue {
    fn from(text: &str) -> Self {
        RawValue::Text(text.to_owned())
    }
}

/// Inputs as given, before validation. Flags and a sizing file each produce one; [`RawInputs::overlay`]
/// lets flags win over the file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInputs {
    /// `--mau`.
    pub mau: Option<RawValue>,
    /// `--pcc`.
    pub pcc: Option<RawValue>,
    /// `--concurrency`.
    pub concurrency: Option<RawValue>,
    /// `--messages-per-user-day`.
    pub messages_per_active_user_per_day: Option<RawValue>,
    /// `--group-size`.
    pub average_group_size: Option<RawValue>,
    /// `--peak-factor`.
    pub peak_to_average: Option<RawValue>,
    /// `--message-bytes`.
    pub average_message_bytes: Option<RawValue>,
    /// `--attachment-share`.
    pub attachment_share: Option<RawValue>,
    /// `--attachment-kib`.
    pub average_attachment_kib: Option<RawValue>,
    /// `--retention-days`.
    pub history_retention_days: Option<RawValue>,
    /// `--host-size`.
    pub host_size: Option<RawValue>,
    /// `--target`.
    pub target: Option<RawValue>,
    /// `--ha` / `--no-ha`.
    pub ha: Option<bool>,
}

/// Validated inputs and which of them were defaulted.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidInputs {
    /// The inputs, defaults filled in.
    pub inputs: PlanInputs,
    /// Names ([`Field::name`]) of the inputs that came from `sizing/data/defaults.toml`.
    pub defaulted: BTreeSet<&'static str>,
}

impl RawInputs {
    /// Parses a `--sizing` file. The version is checked before anything else, so a newer file gets a
    /// version message rather than unknown-key noise.
    pub fn from_sizing_toml(text: &str) -> Result<RawInputs, Vec<InputIssue>> {
        let table: toml::Table = toml::from_str(text).map_err(|error| {
            vec![InputIssue {
                field: Field::File,
                message: format!("not valid TOML: {}", error.message()),
                accepted:
                    "a TOML file with `version = 1` and the keys listed in `ccctl plan --help`"
                        .to_owned(),
            }]
        })?;
        let supported = "version = 1".to_owned();
        match table.get("version") {
            Some(toml::Value::Integer(version)) if *version > i64::from(SIZING_FILE_VERSION) => {
                return Err(vec![InputIssue {
                    field: Field::Version,
                    message: format!(
                        "sizing file version {version} is newer than this ccctl supports ({SIZING_FILE_VERSION}): upgrade ccctl"
                    ),
                    accepted: supported,
                }]);
            }
            Some(toml::Value::Integer(version)) if *version == i64::from(SIZING_FILE_VERSION) => {}
            Some(other) => {
                return Err(vec![InputIssue {
                    field: Field::Version,
                    message: format!("unsupported sizing file version `{other}`"),
                    accepted: supported,
                }]);
            }
            None => {
                return Err(vec![InputIssue {
                    field: Field::Version,
                    message: "the sizing file has no `version`".to_owned(),
                    accepted: supported,
                }]);
            }
        }
        let mut rest = table;
        rest.remove("version");
        toml::Value::Table(rest)
            .try_into::<RawInputs>()
            .map_err(|error| {
                vec![InputIssue {
                    field: Field::File,
                    message: error.message().to_owned(),
                    accepted: "only the keys listed, plus `version`; see `ccctl plan --help`"
                        .to_owned(),
                }]
            })
    }

    /// The keys a sizing file accepts besides `version`.
    pub const KEYS: [&'static str; 13] = [
        "mau",
        "pcc",
        "concurrency",
        "messages_per_active_user_per_day",
        "average_group_size",
        "peak_to_average",
        "average_message_bytes",
        "attachment_share",
        "average_attachment_kib",
        "history_retention_days",
        "host_size",
        "target",
        "ha",
    ];

    /// `self` with every value `over` sets replaced (flags over a file). Giving `pcc` clears a
    /// `concurrency` from below and vice versa: they are two ways to say the same thing.
    #[must_use]
    pub fn overlay(mut self, over: RawInputs) -> RawInputs {
        if over.pcc.is_some() {
            self.concurrency = None;
        }
        if over.concurrency.is_some() {
            self.pcc = None;
        }
        macro_rules! take {
            ($($field:ident),*) => { $( if over.$field.is_some() { self.$field = over.$field; } )* };
        }
        take!(
            mau,
            pcc,
            concurrency,
            messages_per_active_user_per_day,
            average_group_size,
            peak_to_average,
            average_message_bytes,
            attachment_share,
            average_attachment_kib,
            history_retention_days,
            host_size,
            target,
            ha
        );
        self
    }

    /// Validates every field, collecting all problems.
    pub fn validate(&self, coefficients: &Coefficients) -> Result<ValidInputs, Vec<InputIssue>> {
        let mut issues = Vec::new();
        let mut defaulted = BTreeSet::new();
        let default = |name: &str| {
            coefficients
                .get(&format!("defaults.{name}"))
                .map_or(0.0, |coefficient| coefficient.value)
        };

        let mau = match &self.mau {
            None => {
                issues.push(InputIssue {
                    field: Field::Mau,
                    message: "missing: the number of monthly active users is required".to_owned(),
                    accepted: "a user count from 1 to 100M, e.g. 250000, 250k or 1.5M".to_owned(),
                });
                None
            }
            Some(raw) => check_count(Field::Mau, raw, 1, MAX_MAU, "1 to 100M", &mut issues),
        };

        if self.pcc.is_some() && self.concurrency.is_some() {
            issues.push(InputIssue {
                field: Field::Pcc,
                message: "given together with a concurrency ratio".to_owned(),
                accepted: "either an absolute PCC or a PCC/MAU ratio, not both".to_owned(),
            });
        }
        let pcc = self.pcc.as_ref().and_then(|raw| {
            let upper = mau.unwrap_or(MAX_MAU);
            let range = match mau {
                Some(mau) => format!("1 to the MAU ({})", crate::explain::thousands(mau)),
                None => "1 to the MAU".to_owned(),
            };
            check_count(Field::Pcc, raw, 1, upper, &range, &mut issues)
        });
        let concurrency = if let Some(raw) = &self.concurrency {
            check_ratio(Field::Concurrency, raw, false, &mut issues)
        } else {
            if self.pcc.is_none() {
                defaulted.insert(Field::Concurrency.name());
            }
            Some(default("concurrency"))
        };

        let mut number =
            |field: Field, raw: &Option<RawValue>, low: f64, high: f64, accepted: &str| match raw {
                None => {
                    defaulted.insert(field.name());
                    Some(default(field.name()))
                }
                Some(raw) => check_float(field, raw, low, high, accepted, &mut issues),
            };
        let messages = number(
            Field::MessagesPerActiveUserPerDay,
            &self.messages_per_active_user_per_day,
            0.0,
            10_000.0,
            "0 to 10000 messages per active user per day",
        );
        let group = number(
            Field::AverageGroupSize,
            &self.average_group_size,
            1.0,
            10_000.0,
            "1 to 10000 recipients per message",
        );
        let peak = number(
            Field::PeakToAverage,
            &self.peak_to_average,
            1.0,
            100.0,
            "1 to 100 (peak rate / daily average rate)",
        );
        let message_bytes = number(
            Field::AverageMessageBytes,
            &self.average_message_bytes,
            16.0,
            65_536.0,
            "16 to 65536 bytes",
        );
        let attachment_kib = number(
            Field::AverageAttachmentKib,
            &self.average_attachment_kib,
            1.0,
            1_048_576.0,
            "1 to 1048576 KiB",
        );
        let retention = number(
            Field::HistoryRetentionDays,
            &self.history_retention_days,
            1.0,
            36_500.0,
            "1 to 36500 days",
        );
        let attachment_share = match &self.attachment_share {
            None => {
                defaulted.insert(Field::AttachmentShare.name());
                Some(default(Field::AttachmentShare.name()))
            }
            Some(raw) => check_ratio(Field::AttachmentShare, raw, true, &mut issues),
        };
        let host_size = match &self.host_size {
            None => {
                defaulted.insert(Field::HostSize.name());
                Some(HostSize {
                    cpus: default("host_cpus") as u32,
                    memory_gib: default("host_memory_gib") as u32,
                    disk_gib: default("host_disk_gib") as u32,
                })
            }
            Some(raw) => match parse_host_size(&raw.text(), default("host_disk_gib") as u32) {
                Ok(size) => Some(size),
                Err(message) => {
                    issues.push(InputIssue {
                        field: Field::HostSize,
                        message,
                        accepted: HOST_SIZE_ACCEPTED.to_owned(),
                    });
                    None
                }
            },
        };
        let target = match &self.target {
            None => None,
            Some(raw) => match raw.text().to_ascii_lowercase().as_str() {
                "compose" => Some(Target::Compose),
                "swarm" => Some(Target::Swarm),
                "kubernetes" | "k8s" => Some(Target::Kubernetes),
                other => {
                    issues.push(InputIssue {
                        field: Field::Target,
                        message: format!("`{other}` is not a target"),
                        accepted: "compose, swarm or kubernetes".to_owned(),
                    });
                    None
                }
            },
        };

        let integer = |value: Option<f64>| value.map(|value| value.round() as u64);
        match (
            mau,
            concurrency,
            messages,
            group,
            peak,
            integer(message_bytes),
            attachment_share,
            integer(attachment_kib),
            integer(retention),
            host_size,
        ) {
            (
                Some(mau),
                Some(concurrency),
                Some(messages),
                Some(group),
                Some(peak),
                Some(message_bytes),
                Some(attachment_share),
                Some(attachment_kib),
                Some(retention),
                Some(host_size),
            ) if issues.is_empty() => {
                let (pcc, concurrency, pcc_explicit) = match pcc {
                    Some(pcc) => (pcc, pcc as f64 / mau as f64, true),
                    None => (
                        ((mau as f64) * concurrency).ceil().max(1.0) as u64,
                        concurrency,
                        false,
                    ),
                };
                Ok(ValidInputs {
                    inputs: PlanInputs {
                        mau,
                        pcc,
                        concurrency,
                        pcc_explicit,
                        messages_per_active_user_per_day: messages,
                        average_group_size: group,
                        peak_to_average: peak,
                        average_message_bytes: message_bytes,
                        attachment_share,
                        average_attachment_kib: attachment_kib,
                        history_retention_days: retention as u32,
                        host_size,
                        requested_target: target,
                        requested_ha: self.ha,
                    },
                    defaulted,
                })
            }
            _ => Err(issues),
        }
    }
}

const HOST_SIZE_ACCEPTED: &str = "<vCPU>c<GiB>g with an optional <GiB>d for the data disk, e.g. 8c32g or 16c64g1000d; 1-512 vCPU, 1-8192 GiB RAM, 50-1000000 GiB disk";

/// Parses a count such as `250000`, `250_000`, `250k`, `1.5M`. Returns the message on failure.
pub fn parse_count(text: &str) -> Result<u64, String> {
    let cleaned: String = text
        .trim()
        .chars()
        .filter(|c| *c != '_' && *c != ',')
        .collect();
    if cleaned.starts_with('-') {
        return Err(format!("`{text}` is negative"));
    }
    let (digits, multiplier) = match cleaned.chars().last() {
        Some('k' | 'K') => (&cleaned[..cleaned.len() - 1], 1_000_u64),
        Some('m' | 'M') => (&cleaned[..cleaned.len() - 1], 1_000_000),
        _ => (cleaned.as_str(), 1),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let valid = !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && fraction.chars().all(|c| c.is_ascii_digit())
        && !(digits.contains('.') && fraction.is_empty());
    if !valid {
        return Err(format!("`{text}` is not a count"));
    }
    // Exact decimal arithmetic: 1.5M must be 1,500,000, not 1,499,999.
    let too_large = || format!("`{text}` is too large");
    let whole_value: u64 = whole.parse().map_err(|_| too_large())?;
    let mut value = whole_value.checked_mul(multiplier).ok_or_else(too_large)?;
    let mut scale = multiplier;
    for digit in fraction.chars() {
        let digit = u64::from(digit.to_digit(10).unwrap_or(0));
        if scale % 10 != 0 {
            if digit != 0 {
                return Err(format!("`{text}` is not a whole number"));
            }
            continue;
        }
        scale /= 10;
        value = value.checked_add(digit * scale).ok_or_else(too_large)?;
    }
    Ok(value)
}

/// Parses `8c32g` or `8c32g500d`.
pub fn parse_host_size(text: &str, default_disk_gib: u32) -> Result<HostSize, String> {
    let lower = text.trim().to_ascii_lowercase();
    let invalid = || format!("`{text}` is not a host size");
    let (cpus, rest) = lower.split_once('c').ok_or_else(invalid)?;
    let (memory, rest) = rest.split_once('g').ok_or_else(invalid)?;
    let disk = if rest.is_empty() {
        None
    } else {
        Some(rest.strip_suffix('d').ok_or_else(invalid)?)
    };
    let number = |part: &str| -> Result<u32, String> {
        if part.is_empty() || !part.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid());
        }
        part.parse().map_err(|_| invalid())
    };
    let size = HostSize {
        cpus: number(cpus)?,
        memory_gib: number(memory)?,
        disk_gib: match disk {
            Some(disk) => number(disk)?,
            None => default_disk_gib,
        },
    };
    if !(1..=512).contains(&size.cpus)
        || !(1..=8192).contains(&size.memory_gib)
        || !(50..=1_000_000).contains(&size.disk_gib)
    {
        return Err(format!("`{text}` is out of range"));
    }
    Ok(size)
}

fn check_count(
    field: Field,
    raw: &RawValue,
    low: u64,
    high: u64,
    range: &str,
    issues: &mut Vec<InputIssue>,
) -> Option<u64> {
    let text = raw.text();
    let accepted = format!("a whole number from {range}, written like 250000, 250k or 1.5M");
    match parse_count(&text) {
        Ok(value) if (low..=high).contains(&value) => Some(value),
        Ok(value) => {
            let message = if value < low {
                format!("`{text}` is too small")
            } else {
                format!("`{text}` is too large")
            };
            issues.push(InputIssue {
                field,
                message,
                accepted,
            });
            None
        }
        Err(message) => {
            issues.push(InputIssue {
                field,
                message,
                accepted,
            });
            None
        }
    }
}

fn parse_float(text: &str) -> Option<f64> {
    let value: f64 = text.parse().ok()?;
    value.is_finite().then_some(value)
}

fn check_float(
    field: Field,
    raw: &RawValue,
    low: f64,
    high: f64,
    accepted: &str,
    issues: &mut Vec<InputIssue>,
) -> Option<f64> {
    let text = raw.text();
    match parse_float(&text) {
        Some(value) if (low..=high).contains(&value) => Some(value),
        Some(_) => {
            issues.push(InputIssue {
                field,
                message: format!("`{text}` is out of range"),
                accepted: accepted.to_owned(),
            });
            None
        }
        None => {
            issues.push(InputIssue {
                field,
                message: format!("`{text}` is not a number"),
                accepted: accepted.to_owned(),
            });
            None
        }
    }
}

/// A ratio in (0, 1], or [0, 1] when `zero_allowed`.
fn check_ratio(
    field: Field,
    raw: &RawValue,
    zero_allowed: bool,
    issues: &mut Vec<InputIssue>,
) -> Option<f64> {
    let text = raw.text();
    let accepted = if zero_allowed {
        "a fraction from 0 to 1 (0.05 = 5%)"
    } else {
        "a fraction greater than 0 and at most 1 (0.10 = PCC is 10% of MAU)"
    };
    match parse_float(&text) {
        Some(value) if value <= 1.0 && (value > 0.0 || (zero_allowed && value == 0.0)) => {
            Some(value)
        }
        parsed => {
            let message = if parsed.is_some() {
                format!("`{text}` is out of range")
            } else {
                format!("`{text}` is not a number")
            };
            issues.push(InputIssue {
                field,
                message,
                accepted: accepted.to_owned(),
            });
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse_with_suffixes() {
        let cases = [
            ("250000", Ok(250_000)),
            ("250_000", Ok(250_000)),
            ("250,000", Ok(250_000)),
            ("250k", Ok(250_000)),
            ("250K", Ok(250_000)),
            ("1.5M", Ok(1_500_000)),
            ("1.5m", Ok(1_500_000)),
            ("0.001M", Ok(1_000)),
            ("1k", Ok(1_000)),
            ("0", Ok(0)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_count(text), expected, "{text}");
        }
        for text in [
            "-5",
            "abc",
            "1e30",
            "",
            "1.",
            ".5k",
            "1.0005k",
            "99999999999999999999",
            "1.5.2M",
        ] {
            assert!(parse_count(text).is_err(), "{text} should fail");
        }
    }

    #[test]
    fn host_sizes_parse() {
        assert_eq!(
            parse_host_size("8c32g", 500),
            Ok(HostSize {
                cpus: 8,
                memory_gib: 32,
                disk_gib: 500
            })
        );
        assert_eq!(
            parse_host_size("16C64G1000D", 500),
            Ok(HostSize {
                cpus: 16,
                memory_gib: 64,
                disk_gib: 1000
            })
        );
        for text in [
            "8c", "c32g", "8x32g", "8c32g500", "0c32g", "8c32g10d", "8c32gd",
        ] {
            assert!(parse_host_size(text, 500).is_err(), "{text} should fail");
        }
    }

    fn raw(mau: &str) -> RawInputs {
        RawInputs {
            mau: Some(mau.into()),
            ..RawInputs::default()
        }
    }

    #[test]
    fn every_problem_is_reported() {
        let coefficients = Coefficients::embedded().expect("data");
        let inputs = RawInputs {
            mau: Some("0".into()),
            concurrency: Some("1.5".into()),
            target: Some("nomad".into()),
            host_size: Some("big".into()),
            ..RawInputs::default()
        };
        let issues = inputs.validate(coefficients).expect_err("invalid");
        let fields: Vec<Field> = issues.iter().map(|issue| issue.field).collect();
        assert_eq!(
            fields,
            [
                Field::Mau,
                Field::Concurrency,
                Field::HostSize,
                Field::Target
            ]
        );
    }

    #[test]
    fn pcc_above_mau_is_rejected_and_defaults_are_recorded() {
        let coefficients = Coefficients::embedded().expect("data");
        let mut inputs = raw("10k");
        inputs.pcc = Some("20k".into());
        let issues = inputs.validate(coefficients).expect_err("pcc > mau");
        assert_eq!(issues[0].field, Field::Pcc);
        assert!(issues[0].accepted.contains("10,000"), "{:?}", issues[0]);

        let valid = raw("250k").validate(coefficients).expect("valid");
        assert_eq!(valid.inputs.pcc, 25_000);
        assert!(valid.defaulted.contains("concurrency"));
        assert!(valid.defaulted.contains("host_size"));
    }

    #[test]
    fn sizing_files_check_version_then_keys() {
        let newer =
            RawInputs::from_sizing_toml("version = 2\nmau = 5\nbogus = 1\n").expect_err("newer");
        assert!(newer[0].message.contains("newer"), "{newer:?}");
        let unknown =
            RawInputs::from_sizing_toml("version = 1\nmau = 5\nbogus = 1\n").expect_err("unknown");
        assert!(unknown[0].message.contains("bogus"), "{unknown:?}");
        let good = RawInputs::from_sizing_toml(
            "version = 1\nmau = \"250k\"\nconcurrency = 0.05\nha = false\n",
        )
        .expect("valid");
        assert_eq!(good.mau, Some(RawValue::Text("250k".to_owned())));
        assert_eq!(good.concurrency, Some(RawValue::Float(0.05)));
        assert_eq!(good.ha, Some(false));
    }

    #[test]
    fn flags_override_the_file() {
        let file = RawInputs {
            mau: Some("10k".into()),
            concurrency: Some("0.05".into()),
            ..RawInputs::default()
        };
        let flags = RawInputs {
            pcc: Some("700".into()),
            ..RawInputs::default()
        };
        let merged = file.overlay(flags);
        assert_eq!(merged.mau, Some("10k".into()));
        assert_eq!(merged.pcc, Some("700".into()));
        assert_eq!(merged.concurrency, None);
    }
}
