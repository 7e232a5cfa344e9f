//! Reading and writing plan files: YAML text, format version check and content hash.
//!
//! The hash is the lowercase hex SHA-256 of the canonical JSON (`serde_json`, struct field order, `BTreeMap`
//! key order, no whitespace) of the plan with `hash` set to `""`. It is computed over the parsed content,
//! so comments and formatting of the YAML file do not matter; any change of a value does.

use sha2::{Digest, Sha256};

use crate::plan::{PLAN_FORMAT_VERSION, Plan};

/// Why a plan file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    /// Not YAML, or not a plan.
    #[error("not a valid plan file: {0}")]
    Parse(String),
    /// The `version` field is missing or not a number.
    #[error("the plan file has no numeric `version` field: it was not written by `ccctl plan`")]
    MissingVersion,
    /// Written by a newer ccctl.
    #[error(
        "the plan file has format version {found}, newer than the {supported} this ccctl reads: upgrade ccctl or re-run `ccctl plan` with this one"
    )]
    NewerVersion {
        /// Version in the file.
        found: u64,
        /// Newest version this library reads.
        supported: u32,
    },
    /// Older formats are not read (there are none yet besides 1, but 0 is not valid).
    #[error(
        "the plan file has format version {found}, which this ccctl does not read (expected {supported})"
    )]
    UnsupportedVersion {
        /// Version in the file.
        found: u64,
        /// The version this library reads.
        supported: u32,
    },
    /// Content changed after `ccctl plan` wrote it.
    #[error(
        "the plan file was changed after `ccctl plan` wrote it: its hash is {stored} but its content hashes to {actual}; re-run `ccctl plan` (use --sizing FILE to change inputs) instead of editing the plan"
    )]
    HashMismatch {
        /// Hash written in the file.
        stored: String,
        /// Hash of the content.
        actual: String,
    },
    /// Serialisation failed (not expected for a valid plan).
    #[error("could not serialise the plan: {0}")]
    Serialise(String),
}

/// Feeds serialised bytes straight into the hash, so hashing a large plan allocates nothing.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The hash of a plan whose `hash` field is already empty.
fn hash_unhashed(plan: &Plan) -> String {
    // Buffered: the serialiser writes many tiny pieces; hashing them in blocks is several times faster.
    let mut writer = std::io::BufWriter::with_capacity(64 * 1024, HashWriter(Sha256::new()));
    // Serialising plain data (no maps with non-string keys) into a hasher cannot fail.
    let _ = serde_json::to_writer(&mut writer, plan);
    match writer.into_inner() {
        Ok(hasher) => hex::encode(hasher.0.finalize()),
        Err(_) => String::new(),
    }
}

/// The content hash of a plan (its `hash` field is ignored).
pub fn content_hash(plan: &Plan) -> String {
    if plan.hash.is_empty() {
        return hash_unhashed(plan);
    }
    let mut unhashed = plan.clone();
    unhashed.hash = String::new();
    hash_unhashed(&unhashed)
}

/// Sets `plan.hash` to its content hash.
pub fn seal(plan: &mut Plan) {
    plan.hash.clear();
    plan.hash = hash_unhashed(plan);
}

/// Serialises a plan to YAML with a short header comment.
pub fn to_yaml(plan: &Plan) -> Result<String, PlanFileError> {
    let body = serde_yaml_ng::to_string(plan)
        .map_err(|error| PlanFileError::Serialise(error.to_string()))?;
    Ok(format!(
        "# Written by `ccctl plan`. Do not edit: the hash covers the content; change the inputs and re-plan.\n{body}"
    ))
}

/// Serialises a plan to pretty JSON.
pub fn to_json(plan: &Plan) -> Result<String, PlanFileError> {
    serde_json::to_string_pretty(plan).map_err(|error| PlanFileError::Serialise(error.to_string()))
}

/// Parses a plan file (YAML or JSON), checks its format version first, then its hash.
pub fn from_yaml(text: &str) -> Result<Plan, PlanFileError> {
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|error| PlanFileError::Parse(error.to_string()))?;
    let version = value
        .get("version")
        .and_then(serde_yaml_ng::Value::as_u64)
        .ok_or(PlanFileError::MissingVersion)?;
    if version > u64::from(PLAN_FORMAT_VERSION) {
        return Err(PlanFileError::NewerVersion {
            found: version,
            supported: PLAN_FORMAT_VERSION,
        });
    }
    if version != u64::from(PLAN_FORMAT_VERSION) {
        return Err(PlanFileError::UnsupportedVersion {
            found: version,
            supported: PLAN_FORMAT_VERSION,
        });
    }
    let mut plan: Plan = serde_yaml_ng::from_value(value)
        .map_err(|error| PlanFileError::Parse(error.to_string()))?;
    let stored = std::mem::take(&mut plan.hash);
    let actual = hash_unhashed(&plan);
    if actual != stored {
        return Err(PlanFileError::HashMismatch { stored, actual });
    }
    plan.hash = stored;
    Ok(plan)
}
