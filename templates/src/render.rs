//! The pure rendering core: model + embedded templates → every output file, as a sorted map of path → bytes.
//! Config files are rendered first so that their content hashes can name the Docker configs in `stack.yml`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value, context};

use crate::error::{Problem, RenderError};
use crate::lint;
use crate::manifest::{Manifest, sha256_hex};
use crate::model::Model;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/templates.rs"));
}

/// The Grafana dashboards, one `grafana/dashboards/<name>.json` each.
pub const DASHBOARDS: [&str; 7] = [
    "overview",
    "infrastructure",
    "websocket",
    "api",
    "databases",
    "kafka",
    "logs",
];

/// Docker limits config and secret names to 64 characters.
const MAX_OBJECT_NAME: usize = 64;

fn build_environment() -> Result<Environment<'static>, String> {
    let mut environment = Environment::new();
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    // Nothing we render is HTML; escaping is explicit (`tojson`) where a format needs it.
    environment.set_auto_escape_callback(|_| AutoEscape::None);
    environment.set_keep_trailing_newline(true);
    environment.set_trim_blocks(true);
    environment.set_lstrip_blocks(true);
    environment.add_filter("seconds", |value: u32| format!("{value}s"));
    // Plain JSON (also valid YAML flow syntax); unlike `tojson` it leaves `&`, `<`, `'` readable.
    environment.add_filter("json", |value: Value| {
        serde_json::to_string(&value).map_err(|error| {
            minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, error.to_string())
        })
    });
    for (name, source) in embedded::TEMPLATES {
        environment
            .add_template(name, source)
            .map_err(|error| format!("{name}: {error:#}"))?;
    }
    Ok(environment)
}

fn environment() -> Result<&'static Environment<'static>, RenderError> {
    static ENVIRONMENT: OnceLock<Result<Environment<'static>, String>> = OnceLock::new();
    ENVIRONMENT
        .get_or_init(build_environment)
        .as_ref()
        .map_err(|message| {
            RenderError::Invalid(vec![Problem::new(
                "templates",
                format!("an embedded template does not parse: {message}"),
                "fix the template in templates/files/",
            )])
        })
}

/// The names of every embedded template (for tests and `--help` texts).
pub fn template_names() -> impl Iterator<Item = &'static str> {
    embedded::TEMPLATES.iter().map(|(name, _)| *name)
}

struct Renderer<'a> {
    environment: &'a Environment<'static>,
    model: Value,
    files: BTreeMap<String, String>,
}

impl Renderer<'_> {
    fn render(&mut self, template: &str, output: String, extra: Value) -> Result<(), RenderError> {
        let failed = |source| RenderError::Template {
            name: template.to_owned(),
            source,
        };
        let text = self
            .environment
            .get_template(template)
            .and_then(|compiled| compiled.render(context! { ..extra, ..self.model.clone() }))
            .map_err(failed)?;
        self.files.insert(output, text);
        Ok(())
    }

    fn one(&mut self, template: &str, output: &str) -> Result<(), RenderError> {
        self.render(template, output.to_owned(), context! {})
    }
}

/// Renders every file. `previous` is the `MANIFEST` of the last render of the same directory, if any: it lets
/// the lint catch a config or secret whose content changed under an unchanged name.
pub fn render(
    model: &Model,
    previous: Option<&Manifest>,
) -> Result<BTreeMap<String, Vec<u8>>, RenderError> {
    let mut renderer = Renderer {
        environment: environment()?,
        model: Value::from_serialize(model),
        files: BTreeMap::new(),
    };
    render_configs(&mut renderer, model)?;

    let mut problems = Vec::new();
    let mut config_keys = BTreeMap::new();
    let mut configs = BTreeMap::new();
    let mut objects = BTreeMap::new();
    for service in &model.services {
        for mount in &service.configs {
            let Some(content) = renderer.files.get(&mount.source) else {
                problems.push(Problem::new(
                    format!("services.{}.configs.{}", service.name, mount.source),
                    "mounts a file that is not rendered",
                    "render the file or drop the mount",
                ));
                continue;
            };
            let digest = sha256_hex(content.as_bytes());
            let name = object_name(&model.stack_name, &mount.source, &digest);
            let key = slug(&mount.source);
            objects.insert(name.clone(), digest);
            config_keys.insert(mount.source.clone(), key.clone());
            configs.insert(
                key,
                context! { name => name, file => format!("./{}", mount.source) },
            );
        }
    }
    for secret in &model.secrets {
        objects.insert(secret.name.clone(), secret.sha256.clone());
    }
    if !problems.is_empty() {
        return Err(RenderError::Invalid(problems));
    }
    let names = context! { config_keys => config_keys, configs => configs };
    renderer.render("stack.yml.j2", "stack.yml".into(), names.clone())?;
    renderer.render("compose.yml.j2", "compose.yml".into(), names)?;

    let mut findings = lint::lint_stack(&renderer.files["stack.yml"]);
    findings.extend(check_formats(&renderer.files));
    let mut manifest = Manifest {
        plan_hash: model.plan_hash.clone(),
        files: BTreeMap::new(),
        objects,
    };
    if let Some(previous) = previous {
        findings.extend(lint::lint_object_names(previous, &manifest));
    }
    if !findings.is_empty() {
        return Err(RenderError::Lint(findings));
    }
    let mut output: BTreeMap<String, Vec<u8>> = renderer
        .files
        .into_iter()
        .map(|(path, text)| (path, text.into_bytes()))
        .collect();
    manifest.files = output
        .iter()
        .map(|(path, bytes)| (path.clone(), sha256_hex(bytes)))
        .collect();
    output.insert("MANIFEST".into(), manifest.to_text().into_bytes());
    Ok(output)
}

fn render_configs(renderer: &mut Renderer<'_>, model: &Model) -> Result<(), RenderError> {
    renderer.one("nginx/nginx.conf.j2", "nginx/nginx.conf")?;
    renderer.one(
        "nginx/security-headers.conf.j2",
        "nginx/cc-security-headers.conf",
    )?;
    for broker in &model.kafka.brokers {
        renderer.render(
            "kafka/server.properties.j2",
            format!("kafka/{}.properties", broker.service),
            context! { broker => Value::from_serialize(broker) },
        )?;
    }
    renderer.one("kafka/topics.yml.j2", "kafka/topics.yml")?;
    for (role, port) in crate::assemble::APP_ROLES {
        renderer.render(
            "ccserver/ccserver.toml.j2",
            format!("ccserver/{role}.toml"),
            context! { role => role, port => port },
        )?;
    }
    renderer.one("tidb/pd.toml.j2", "tidb/pd.toml")?;
    renderer.one("tidb/tidb.toml.j2", "tidb/tidb.toml")?;
    for member in &model.tidb.tikv {
        renderer.render(
            "tidb/tikv.toml.j2",
            format!("tidb/{}.toml", member.name),
            context! { member => Value::from_serialize(member) },
        )?;
    }
    for role in &model.redis {
        for node in &role.nodes {
            renderer.render(
                "redis/redis.conf.j2",
                format!("redis/{}.conf", node.service),
                context! { role => Value::from_serialize(role), node => Value::from_serialize(node) },
            )?;
        }
    }
    renderer.one("redis/topology.yml.j2", "redis/topology.yml")?;
    for role in &model.redis {
        for sentinel in &role.sentinels {
            renderer.render(
                "redis/sentinel.conf.j2",
                format!("redis/{sentinel}.conf"),
                context! { role => Value::from_serialize(role), sentinel => sentinel },
            )?;
        }
    }
    for member in &model.mongodb.members {
        renderer.render(
            "mongodb/mongod.conf.j2",
            format!("mongodb/{}.conf", member.service),
            context! { member => Value::from_serialize(member) },
        )?;
    }
    renderer.one(
        "mongodb/init-replica-set.js.j2",
        "mongodb/init-replica-set.js",
    )?;
    renderer.one("prometheus/prometheus.yml.j2", "prometheus/prometheus.yml")?;
    renderer.one("prometheus/alerts.yml.j2", "prometheus/rules/alerts.yml")?;
    renderer.one("prometheus/slo.yml.j2", "prometheus/rules/slo.yml")?;
    renderer.one(
        "prometheus/alertmanager.yml.j2",
        "prometheus/alertmanager.yml",
    )?;
    renderer.one(
        "grafana/datasources.yml.j2",
        "grafana/provisioning/datasources/datasources.yml",
    )?;
    renderer.one(
        "grafana/dashboards.yml.j2",
        "grafana/provisioning/dashboards/dashboards.yml",
    )?;
    for dashboard in DASHBOARDS {
        renderer.render(
            &format!("grafana/dashboards/{dashboard}.json.j2"),
            format!("grafana/dashboards/{dashboard}.json"),
            context! { dashboard_uid => format!("cc-{dashboard}") },
        )?;
    }
    renderer.one("loki/loki.yml.j2", "loki/loki.yml")?;
    renderer.one("nodes.yml.j2", "nodes.yml")?;
    renderer.one("promtail/promtail.yml.j2", "promtail/promtail.yml")?;
    Ok(())
}

/// `cc` + `nginx/nginx.conf` + digest → `cc_nginx_nginx_conf_1a2b3c4d`, at most 64 characters.
fn object_name(stack: &str, path: &str, digest: &str) -> String {
    let slug = slug(path);
    let short = digest.get(..8).unwrap_or(digest);
    let room = MAX_OBJECT_NAME.saturating_sub(stack.len() + short.len() + 2);
    let slug = if slug.len() > room {
        // Keep the end: it holds the distinguishing file name.
        &slug[slug.len() - room..]
    } else {
        &slug
    };
    format!("{stack}_{slug}_{short}")
}

/// `nginx/nginx.conf` → `nginx_nginx_conf`: the stable key of a config inside the stack file.
fn slug(path: &str) -> String {
    path.chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() {
                character
            } else {
                '_'
            }
        })
        .collect()
}

/// Every YAML, JSON and TOML file must parse: a template bug must never reach a deploy.
fn check_formats(files: &BTreeMap<String, String>) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (path, text) in files {
        let extension = std::path::Path::new(path)
            .extension()
            .and_then(|e| e.to_str());
        let error = if extension == Some("yml") {
            serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text)
                .err()
                .map(|error| error.to_string())
        } else if extension == Some("json") {
            serde_json::from_str::<serde_json::Value>(text)
                .err()
                .map(|error| error.to_string())
        } else if extension == Some("toml") {
            toml::from_str::<toml::Table>(text)
                .err()
                .map(|error| error.to_string())
        } else {
            None
        };
        if let Some(error) = error {
            problems.push(Problem::new(
                path.clone(),
                format!("does not parse: {error}"),
                "fix its template",
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_fit_docker_limit() {
        let name = object_name(
            "cc",
            "grafana/provisioning/datasources/datasources.yml",
            "0123456789abcdef",
        );
        assert!(name.len() <= MAX_OBJECT_NAME, "{name}");
        assert!(name.starts_with("cc_") && name.ends_with("_01234567"));
        let long = object_name("cc", &"x/".repeat(60), "0123456789");
        assert_eq!(long.len(), MAX_OBJECT_NAME);
    }
}
