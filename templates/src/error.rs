//! Errors of a render: invalid input (every problem with its path and a hint), a template failure, or a
//! Swarm trap found by the lint.

use std::fmt;
use std::fmt::Write as _;

/// One problem with the input, named by its path (`services.gateway.replicas`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub message: String,
    pub hint: String,
}

impl Problem {
    pub fn new(
        path: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            hint: hint.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}: {} (fix: {})",
            self.path, self.message, self.hint
        )
    }
}

fn list(items: &[impl fmt::Display]) -> String {
    items.iter().fold(String::new(), |mut text, item| {
        let _ = write!(text, "\n  - {item}");
        text
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the plan or environment cannot be rendered:{}", list(.0))]
    Invalid(Vec<Problem>),
    #[error("template `{name}` failed: {source:#}")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },
    #[error("the rendered stack falls into Swarm traps:{}", list(.0))]
    Lint(Vec<Problem>),
}
