//! `ccctl plan` flags and `--sizing` file → validated inputs. Precedence in one place: flag > file > default
//! (`sizing/data/defaults.toml`). Every problem is collected and reported together, naming the flag or the
//! file key it came from.

use std::path::PathBuf;

use cc_sizing::{Coefficients, Field, InputIssue, RawInputs, RawValue, ValidInputs};

use crate::UserError;
use crate::args::PlanArgs;

/// What `ccctl plan` was asked to do, validated.
#[derive(Debug)]
pub struct PlanSettings {
    /// The validated model inputs.
    pub inputs: ValidInputs,
    /// Print the explanation of every number.
    pub explain: bool,
    /// Where to write the plan file.
    pub out: Option<PathBuf>,
}

impl PlanSettings {
    /// Reads the `--sizing` file (if any), lays the flags over it and validates the result.
    pub fn from_args(args: &PlanArgs) -> anyhow::Result<PlanSettings> {
        let flags = flag_inputs(args);
        let file = match &args.sizing {
            None => RawInputs::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|error| UserError(format!("--sizing {}: {error}", path.display())))?;
                RawInputs::from_sizing_toml(&text).map_err(|issues| {
                    UserError(report(&issues, &flags, &RawInputs::default(), args))
                })?
            }
        };
        let merged = file.clone().overlay(flags.clone());
        let coefficients = Coefficients::embedded()?;
        let inputs = merged
            .validate(coefficients)
            .map_err(|issues| UserError(report(&issues, &flags, &file, args)))?;
        Ok(PlanSettings {
            inputs,
            explain: args.explain,
            out: args.out.clone(),
        })
    }
}

fn flag_inputs(args: &PlanArgs) -> RawInputs {
    let text =
        |value: &Option<String>| value.as_deref().map(|text| RawValue::Text(text.to_owned()));
    RawInputs {
        mau: text(&args.mau),
        pcc: text(&args.pcc),
        concurrency: text(&args.concurrency),
        messages_per_active_user_per_day: text(&args.messages_per_user_day),
        average_group_size: text(&args.group_size),
        peak_to_average: text(&args.peak_factor),
        average_message_bytes: text(&args.message_bytes),
        attachment_share: text(&args.attachment_share),
        average_attachment_kib: text(&args.attachment_kib),
        history_retention_days: text(&args.retention_days),
        host_size: text(&args.host_size),
        target: text(&args.target),
        ha: match (args.ha, args.no_ha) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
    }
}

/// Whether the flags set a field (then a problem with it is reported against the flag).
fn flag_sets(flags: &RawInputs, field: Field) -> bool {
    match field {
        Field::Mau => flags.mau.is_some(),
        Field::Pcc => flags.pcc.is_some(),
        Field::Concurrency => flags.concurrency.is_some(),
        Field::MessagesPerActiveUserPerDay => flags.messages_per_active_user_per_day.is_some(),
        Field::AverageGroupSize => flags.average_group_size.is_some(),
        Field::PeakToAverage => flags.peak_to_average.is_some(),
        Field::AverageMessageBytes => flags.average_message_bytes.is_some(),
        Field::AttachmentShare => flags.attachment_share.is_some(),
        Field::AverageAttachmentKib => flags.average_attachment_kib.is_some(),
        Field::HistoryRetentionDays => flags.history_retention_days.is_some(),
        Field::HostSize => flags.host_size.is_some(),
        Field::Target => flags.target.is_some(),
        Field::Ha => flags.ha.is_some(),
        Field::Version | Field::File => false,
    }
}

/// One line per problem: where it came from (flag, or file and key), what is wrong, what is accepted.
fn report(issues: &[InputIssue], flags: &RawInputs, file: &RawInputs, args: &PlanArgs) -> String {
    let file_name = args
        .sizing
        .as_ref()
        .map_or_else(String::new, |path| path.display().to_string());
    let mut lines = vec![format!(
        "{} invalid input{}; nothing was planned or written:",
        issues.len(),
        if issues.len() == 1 { "" } else { "s" }
    )];
    for issue in issues {
        let place = match issue.field {
            Field::Version | Field::File => format!("--sizing {file_name}"),
            Field::Mau if flags.mau.is_none() && file.mau.is_none() => "--mau".to_owned(),
            field if flag_sets(flags, field) || args.sizing.is_none() => field.flag().to_owned(),
            field => format!("--sizing {file_name}: {}", field.name()),
        };
        lines.push(format!(
            "  {place}: {} (accepted: {})",
            issue.message, issue.accepted
        ));
    }
    lines.join("\n")
}
