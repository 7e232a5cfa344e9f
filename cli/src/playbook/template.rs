//! `{{ name }}` placeholders in playbook commands and POSIX shell quoting. Every substituted value is
//! single-quoted, so a parameter can never inject shell syntax into a command run as root.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("`{{{{` at byte {0} has no closing `}}}}`")]
    Unclosed(usize),
    #[error("`{{{{ {0} }}}}` is not a valid parameter name")]
    BadName(String),
    #[error("parameter `{0}` has no value")]
    Missing(String),
}

/// A piece of a parsed template: literal text or a parameter reference.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Param(&'a str),
}

fn pieces(template: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut pieces = Vec::new();
    let mut rest = template;
    let mut offset = 0;
    while let Some(start) = rest.find("{{") {
        pieces.push(Piece::Text(&rest[..start]));
        let after_open = &rest[start + 2..];
        let end = after_open
            .find("}}")
            .ok_or(TemplateError::Unclosed(offset + start))?;
        let name = after_open[..end].trim();
        if !crate::playbook::model::is_identifier(name) {
            return Err(TemplateError::BadName(name.to_owned()));
        }
        pieces.push(Piece::Param(name));
        let consumed = start + 2 + end + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    pieces.push(Piece::Text(rest));
    Ok(pieces)
}

/// The parameter names a template refers to.
pub(crate) fn placeholders(template: &str) -> Result<BTreeSet<String>, TemplateError> {
    Ok(pieces(template)?
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Param(name) => Some(name.to_owned()),
            Piece::Text(_) => None,
        })
        .collect())
}

/// Substitutes every placeholder with its shell-quoted value.
pub(crate) fn render(
    template: &str,
    params: &BTreeMap<String, String>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template)? {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Param(name) => {
                let value = params
                    .get(name)
                    .ok_or_else(|| TemplateError::Missing(name.to_owned()))?;
                out.push_str(&shell_quote(value));
            }
        }
    }
    Ok(out)
}

/// Quotes a value for a POSIX shell: plain words stay as they are, anything else is wrapped in single
/// quotes with embedded single quotes written as `'\''`.
pub fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '.' | '_' | '-' | '/' | ':' | '=' | ',' | '+' | '@')
        });
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_placeholders() {
        let names = placeholders("sysctl -w {{key}}={{ value }} # {{ key }}").expect("valid");
        assert_eq!(names.into_iter().collect::<Vec<_>>(), vec!["key", "value"]);
    }

    #[test]
    fn renders_with_quoting() {
        let params = BTreeMap::from([
            ("key".to_owned(), "net.core.somaxconn".to_owned()),
            ("value".to_owned(), "1024 65535".to_owned()),
        ]);
        assert_eq!(
            render("sysctl -w {{ key }}={{ value }}", &params).expect("render"),
            "sysctl -w net.core.somaxconn='1024 65535'"
        );
    }

    #[test]
    fn missing_and_malformed_placeholders_are_errors() {
        let params = BTreeMap::new();
        assert_eq!(
            render("echo {{ key }}", &params),
            Err(TemplateError::Missing("key".into()))
        );
        assert_eq!(
            render("echo {{ key", &params),
            Err(TemplateError::Unclosed(5))
        );
        assert_eq!(
            render("echo {{ $(id) }}", &params),
            Err(TemplateError::BadName("$(id)".into()))
        );
    }

    #[test]
    fn quoting_table() {
        for (input, expected) in [
            ("plain", "plain"),
            ("a b", "'a b'"),
            ("", "''"),
            ("it's", r"'it'\''s'"),
            ("$(reboot)", "'$(reboot)'"),
            ("/etc/sysctl.d/90-cc.conf", "/etc/sysctl.d/90-cc.conf"),
            ("1024\t65535", "'1024\t65535'"),
        ] {
            assert_eq!(shell_quote(input), expected, "input {input:?}");
        }
    }
}
