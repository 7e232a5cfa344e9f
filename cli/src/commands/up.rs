//! `ccctl up`: the whole platform in one process on this machine — REST API, WebSocket gateway, SQLite
//! storage in the user's data directory, a demo app, and the demo web chat client at `/`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use ccserver::web::EmbeddedFile;
use ccserver::{EmbeddedOptions, WebAssets};
use serde::Serialize;

use crate::UserError;
use crate::args::{OutputFormat, UpArgs};
use crate::printer::Printer;

/// The demo web client (`server/web/`), compiled in: `/` serves `index.html`, the rest under `/static/`.
const DEMO_CLIENT: &[EmbeddedFile] = &[
    (
        "/index.html",
        "text/html; charset=utf-8",
        include_bytes!("../../../server/web/index.html"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../server/web/app.js"),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../server/web/style.css"),
    ),
];

/// Directory name under the user's data directory (`~/.local/share/ccplatform` on Linux).
const DATA_DIR_NAME: &str = "ccplatform";

/// `ccctl up` after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpSettings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
}

impl UpSettings {
    /// Checks the flags; `default_data_dir` is the user's data directory (None when it has none).
    pub fn from_args(args: &UpArgs, default_data_dir: Option<PathBuf>) -> Result<Self, UserError> {
        // Demo mode hands out user tokens without any credential (`POST /demo/login`): never off-host.
        if !args.listen.is_loopback() {
            return Err(UserError(format!(
                "--listen {}: `ccctl up` is a local demo whose login needs no credential, so it listens on \
                 loopback addresses only (127.0.0.1, ::1); deploy ccserver for anything reachable from \
                 other hosts",
                args.listen
            )));
        }
        let data_dir = match (&args.data_dir, default_data_dir) {
            (Some(dir), _) => dir.clone(),
            (None, Some(base)) => base.join(DATA_DIR_NAME),
            (None, None) => {
                return Err(UserError(
                    "this system has no user data directory (is $HOME set?): pass --data-dir <DIR>"
                        .into(),
                ));
            }
        };
        Ok(Self {
            listen: SocketAddr::new(args.listen, args.port),
            data_dir,
        })
    }
}

/// What `ccctl up` prints once it is serving.
#[derive(Debug, Clone, Serialize)]
struct Started {
    url: String,
    open_url: String,
    openapi_url: String,
    websocket_url: String,
    data_dir: PathBuf,
    demo_file: PathBuf,
    first_start: bool,
    /// Shown on the first start only; later it stays in `demo_file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<String>,
    app_id: String,
    users: Vec<String>,
}

pub fn run(args: &UpArgs, printer: &Printer) -> anyhow::Result<()> {
    let settings = UpSettings::from_args(args, dirs::data_dir())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(&settings, printer))
}

async fn serve(settings: &UpSettings, printer: &Printer) -> anyhow::Result<()> {
    let demo_file = settings.data_dir.join("demo.json");
    let first_start = !demo_file.exists();
    let mut options = EmbeddedOptions::new(settings.listen, settings.data_dir.clone());
    options.web = WebAssets::Embedded(DEMO_CLIENT);
    let running = ccserver::embedded::run(options)
        .await
        .map_err(|error| explain_start_error(error, settings))?;
    let base = running.url.trim_end_matches('/').to_owned();
    let started = Started {
        open_url: format!("{base}/?user=alice"),
        openapi_url: format!("{base}/v1/openapi.json"),
        websocket_url: format!("ws://{}/v1/ws", running.local_addr),
        url: running.url.clone(),
        data_dir: settings.data_dir.clone(),
        demo_file,
        first_start,
        api_key: first_start.then(|| running.demo.api_key.clone()),
        app_id: running.demo.app_id.clone(),
        users: running.demo.users.clone(),
    };
    printer.stdout(&render(&started, printer.output)?)?;
    printer.status(
        "Ready",
        "press Ctrl-C to stop (open connections are drained first)",
    );
    running.wait().await.context("serving")?;
    printer.status("Stopped", "all connections drained");
    Ok(())
}

/// A port already taken is the one start-up failure a user hits often: say which and what to do.
fn explain_start_error(error: anyhow::Error, settings: &UpSettings) -> anyhow::Error {
    let in_use = error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse)
    });
    if in_use {
        return UserError(format!(
            "{} is already in use (another `ccctl up`?): stop it or pass --port <PORT> (0 picks a free port)",
            settings.listen
        ))
        .into();
    }
    error.context(format!(
        "starting the platform with data in {}",
        settings.data_dir.display()
    ))
}

fn render(started: &Started, format: OutputFormat) -> anyhow::Result<String> {
    Ok(match format {
        OutputFormat::Json => format!("{}\n", serde_json::to_string(started)?),
        OutputFormat::Yaml => serde_yaml_ng::to_string(started)?,
        OutputFormat::Table => render_table(started),
    })
}

fn render_table(started: &Started) -> String {
    let mut lines = vec![
        format!(
            "ccplatform is up: every role in one process, data in {}",
            started.data_dir.display()
        ),
        String::new(),
        format!(
            "  Open the demo chat   {}   (another window: ?user=bob; demo users: {})",
            started.open_url,
            started.users.join(", ")
        ),
    ];
    match &started.api_key {
        Some(key) => lines.push(format!(
            "  Demo app API key     {key}   (app {}; also kept in {})",
            started.app_id,
            started.demo_file.display()
        )),
        None => lines.push(format!(
            "  Demo app API key     in {} (app {})",
            started.demo_file.display(),
            started.app_id
        )),
    }
    lines.push(format!(
        "  REST API             {}v1/   (OpenAPI: {})",
        started.url, started.openapi_url
    ));
    lines.push(format!(
        "  WebSocket            {}?token=<user token>   (protocol: docs/protocol.md)",
        started.websocket_url
    ));
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn args(listen: IpAddr, data_dir: Option<&str>) -> UpArgs {
        UpArgs {
            port: 8080,
            listen,
            data_dir: data_dir.map(PathBuf::from),
        }
    }

    #[test]
    fn settings_table() {
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let home = Some(PathBuf::from("/home/u/.local/share"));
        let cases: &[(UpArgs, Option<PathBuf>, Result<&str, &str>)] = &[
            (
                args(loopback, None),
                home.clone(),
                Ok("/home/u/.local/share/ccplatform"),
            ),
            (args(loopback, Some("/tmp/d")), None, Ok("/tmp/d")),
            (args(loopback, None), None, Err("--data-dir")),
            (
                args(IpAddr::V4(Ipv4Addr::UNSPECIFIED), None),
                home,
                Err("loopback addresses only"),
            ),
        ];
        for (args, default, expected) in cases {
            let result = UpSettings::from_args(args, default.clone());
            match (result, expected) {
                (Ok(settings), Ok(dir)) => {
                    assert_eq!(settings.data_dir, PathBuf::from(dir));
                    assert_eq!(settings.listen.to_string(), "127.0.0.1:8080");
                }
                (Err(error), Err(needle)) => assert!(error.0.contains(needle), "{}", error.0),
                (result, expected) => panic!("{args:?}: got {result:?}, expected {expected:?}"),
            }
        }
    }

    fn started(first: bool) -> Started {
        Started {
            url: "http://127.0.0.1:8080/".into(),
            open_url: "http://127.0.0.1:8080/?user=alice".into(),
            openapi_url: "http://127.0.0.1:8080/v1/openapi.json".into(),
            websocket_url: "ws://127.0.0.1:8080/v1/ws".into(),
            data_dir: "/data".into(),
            demo_file: "/data/demo.json".into(),
            first_start: first,
            api_key: first.then(|| "cck_k_secret".to_owned()),
            app_id: "app-1".into(),
            users: vec!["alice".into(), "bob".into()],
        }
    }

    #[test]
    fn first_start_shows_the_key_later_starts_do_not() {
        let first = render_table(&started(true));
        assert!(first.contains("cck_k_secret"), "{first}");
        assert!(first.contains("http://127.0.0.1:8080/?user=alice"));
        let later = render_table(&started(false));
        assert!(!later.contains("cck_k_secret"), "{later}");
        assert!(later.contains("/data/demo.json"));
        let json = render(&started(false), OutputFormat::Json).unwrap();
        assert!(!json.contains("api_key") && json.ends_with('\n') && json.lines().count() == 1);
    }

    #[test]
    fn the_demo_client_is_compiled_in() {
        let paths: Vec<_> = DEMO_CLIENT.iter().map(|(path, _, _)| *path).collect();
        assert_eq!(paths, ["/index.html", "/app.js", "/style.css"]);
        let index = std::str::from_utf8(DEMO_CLIENT[0].2).unwrap();
        // The page must load its files from where the server mounts them.
        assert!(index.contains("/static/app.js") && index.contains("/static/style.css"));
    }
}
