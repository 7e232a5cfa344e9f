//! Smoke test of the real `nginx -t` (Debian's nginx): a small valid config passes, a broken one fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cc_e2e::services::NGINX;

/// Debian puts nginx in /usr/sbin, which a non-login PATH may lack.
fn nginx_binary() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("nginx"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    candidates
        .into_iter()
        .chain([PathBuf::from("/usr/sbin/nginx")])
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{}",
                NGINX.unavailable("no nginx binary on PATH or in /usr/sbin")
            )
        })
}

/// A config whose every writable path is inside `dir`, so the check needs nothing from /var.
fn config(dir: &Path, server_block: &str) -> String {
    let dir = dir.display();
    format!(
        "pid {dir}/nginx.pid;\n\
         error_log {dir}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n\
         \x20   access_log off;\n\
         \x20   client_body_temp_path {dir}/body;\n\
         \x20   proxy_temp_path {dir}/proxy;\n\
         \x20   fastcgi_temp_path {dir}/fastcgi;\n\
         \x20   uwsgi_temp_path {dir}/uwsgi;\n\
         \x20   scgi_temp_path {dir}/scgi;\n\
         {server_block}\n\
         }}\n"
    )
}

fn nginx_test(dir: &Path, file_name: &str, contents: &str) -> Output {
    let file = dir.join(file_name);
    std::fs::write(&file, contents).expect("write the nginx config");
    Command::new(nginx_binary())
        .arg("-t")
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&file)
        .output()
        .unwrap_or_else(|error| panic!("{}", NGINX.unavailable(error)))
}

#[test]
fn valid_config_passes_and_broken_config_fails() {
    let scratch = tempfile::tempdir().expect("temp dir");

    let valid = config(
        scratch.path(),
        "    server {\n        listen 127.0.0.1:18080;\n        location / { return 200 \"ok\\n\"; }\n    }",
    );
    let output = nginx_test(scratch.path(), "valid.conf", &valid);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "nginx -t rejected a valid config:\n{stderr}"
    );
    assert!(stderr.contains("test is successful"), "{stderr}");

    // Missing semicolon after `listen`.
    let broken = config(
        scratch.path(),
        "    server {\n        listen 127.0.0.1:18080\n    }",
    );
    let output = nginx_test(scratch.path(), "broken.conf", &broken);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "nginx -t accepted a broken config:\n{stderr}"
    );
    assert!(stderr.contains("[emerg]"), "{stderr}");
}
