//! The minimal `ccserver` image: the binary, the exact shared libraries it links (as `ldd` lists them)
//! and the dynamic loader, in a tarball given to `docker import`. No base image, so nothing is pulled.
//! The tag is derived from the files' content: the same binary always yields the same tag, and a new
//! build a new one, so hosts that have it are skipped by id.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Where the binary lives inside the image: on its `PATH`, so the stack's `command: ["ccserver", …]` and
/// health checks `["CMD", "ccserver", "healthcheck", …]` find it.
pub const BINARY_PATH: &str = "/usr/local/bin/ccserver";
/// The image's repository name; the tag is content-derived.
pub const REPOSITORY: &str = "ccserver";
/// Part of the tag's hash; bump when the tarball's layout or modes change.
const LAYOUT_VERSION: &[u8] = b"ccserver-image-3\0";

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(
        "`ldd {binary}` lists libraries it cannot find: {missing}; install them on this machine"
    )]
    MissingLibraries { binary: String, missing: String },
    #[error("`ldd {binary}` failed: {detail}")]
    Ldd { binary: String, detail: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("docker import failed: {0}")]
    Import(String),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ImageError + '_ {
    move |source| ImageError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The files `ldd` says the binary loads (libraries and the loader), by absolute path, in its order.
/// `linux-vdso` has no file; "statically linked" yields nothing; a library "not found" is an error.
pub fn parse_ldd(binary: &str, output: &str) -> Result<Vec<PathBuf>, ImageError> {
    let mut files = Vec::new();
    let mut missing = Vec::new();
    for line in output.lines().map(str::trim) {
        if let Some((name, target)) = line.split_once("=>") {
            let target = target.trim();
            if target.starts_with("not found") {
                missing.push(name.trim().to_owned());
            } else if let Some(path) = target
                .split_whitespace()
                .next()
                .filter(|path| path.starts_with('/'))
            {
                files.push(PathBuf::from(path));
            }
        } else if let Some(path) = line
            .split_whitespace()
            .next()
            .filter(|path| path.starts_with('/'))
        {
            // The loader: `/lib64/ld-linux-x86-64.so.2 (0x…)`.
            files.push(PathBuf::from(path));
        }
    }
    if missing.is_empty() {
        Ok(files)
    } else {
        Err(ImageError::MissingLibraries {
            binary: binary.to_owned(),
            missing: missing.join(", "),
        })
    }
}

/// `ccserver:<16 hex>` from the files' in-image paths and contents, in order.
pub fn content_tag(files: &[(String, Vec<u8>)]) -> String {
    let mut hasher = Sha256::new();
    // The image layout's version: a change in how files are laid out makes a new tag.
    hasher.update(LAYOUT_VERSION);
    for (path, content) in files {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(content);
    }
    let digest = hasher.finalize();
    let mut tag = String::with_capacity(16);
    for byte in &digest[..8] {
        let _ = write!(tag, "{byte:02x}");
    }
    format!("{REPOSITORY}:{tag}")
}

/// The image's files: in-image path and content (symbolic links resolved: the image holds each file
/// under the name the loader asks for).
pub fn collect_files(binary: &Path) -> Result<Vec<(String, Vec<u8>)>, ImageError> {
    let binary_text = binary.display().to_string();
    let output = std::process::Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(io_error(Path::new("ldd")))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // A static binary makes ldd exit 1 with "not a dynamic executable": it needs no libraries.
    let libraries = if !output.status.success()
        && (stdout.contains("not a dynamic executable")
            || stderr.contains("not a dynamic executable"))
    {
        Vec::new()
    } else if output.status.success() {
        parse_ldd(&binary_text, &stdout)?
    } else {
        return Err(ImageError::Ldd {
            binary: binary_text,
            detail: stderr.trim().to_owned(),
        });
    };
    let mut files = vec![(
        BINARY_PATH.to_owned(),
        std::fs::read(binary).map_err(io_error(binary))?,
    )];
    for library in libraries {
        let content = std::fs::read(&library).map_err(io_error(&library))?;
        files.push((library.display().to_string(), content));
    }
    Ok(files)
}

/// Writes the files into a tarball (owner root, mode 0755 for every file and directory).
fn write_tarball(files: &[(String, Vec<u8>)], tarball: &Path) -> Result<(), ImageError> {
    let staging = tempfile::tempdir().map_err(io_error(tarball))?;
    for (path, content) in files {
        let target = staging.path().join(path.trim_start_matches('/'));
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io_error(parent))?;
        }
        std::fs::write(&target, content).map_err(io_error(&target))?;
        // Libraries and the loader are mapped executable; the binary is exec'd: 0755 for all.
        std::fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(io_error(&target))?;
    }
    // `/tmp` for programs that want one.
    std::fs::create_dir_all(staging.path().join("tmp")).map_err(io_error(staging.path()))?;
    let status = std::process::Command::new("tar")
        .args(["--owner=0", "--group=0", "-C"])
        .arg(staging.path())
        .arg("-cf")
        .arg(tarball)
        .arg(".")
        .status()
        .map_err(io_error(Path::new("tar")))?;
    if status.success() {
        Ok(())
    } else {
        Err(ImageError::Io {
            path: tarball.display().to_string(),
            source: std::io::Error::other(format!("tar exited with {status}")),
        })
    }
}

/// Imports the image into the local engine unless a tag with this content exists; returns the tag.
pub fn assemble(binary: &Path, dry_run: bool) -> Result<String, ImageError> {
    let files = collect_files(binary)?;
    let tag = content_tag(&files);
    let exists = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", &tag])
        .output()
        .map_err(io_error(Path::new("docker")))?
        .status
        .success();
    if exists || dry_run {
        return Ok(tag);
    }
    let scratch = tempfile::tempdir().map_err(io_error(Path::new("tempdir")))?;
    let tarball = scratch.path().join("ccserver.tar");
    write_tarball(&files, &tarball)?;
    let output = std::process::Command::new("docker")
        // No ENTRYPOINT: a command naming the program (`ccserver migrate …`) runs as given.
        .args([
            "import",
            "--change",
            "ENV PATH=/usr/local/bin:/usr/bin:/bin",
            "--change",
            "CMD [\"ccserver\"]",
        ])
        .arg(&tarball)
        .arg(&tag)
        .output()
        .map_err(io_error(Path::new("docker")))?;
    if output.status.success() {
        Ok(tag)
    } else {
        Err(ImageError::Import(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_libraries_and_loader() {
        let output = "\tlinux-vdso.so.1 (0x00007ffd2a5f2000)\n\
                      \tlibssl.so.3 => /lib/x86_64-linux-gnu/libssl.so.3 (0x00007f0d)\n\
                      \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0c)\n\
                      \t/lib64/ld-linux-x86-64.so.2 (0x00007f0e)\n";
        assert_eq!(
            parse_ldd("ccserver", output).expect("parsed"),
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libssl.so.3"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
    }

    #[test]
    fn a_missing_library_is_named() {
        let error = parse_ldd("ccserver", "\tlibfoo.so.1 => not found\n").expect_err("missing");
        assert!(error.to_string().contains("libfoo.so.1"), "{error}");
    }

    #[test]
    fn the_tag_follows_content_and_path() {
        let files = vec![("/a".to_owned(), b"one".to_vec())];
        let same = content_tag(&files);
        assert_eq!(same, content_tag(&files));
        assert!(same.starts_with("ccserver:") && same.len() == "ccserver:".len() + 16);
        assert_ne!(same, content_tag(&[("/a".to_owned(), b"two".to_vec())]));
        assert_ne!(same, content_tag(&[("/b".to_owned(), b"one".to_vec())]));
    }

    /// This machine's own `sleep`: its libraries and loader are found and readable.
    #[test]
    fn collects_a_real_dynamic_binary() {
        let files = collect_files(Path::new("/bin/sleep")).expect("collect");
        assert_eq!(files[0].0, BINARY_PATH);
        assert!(
            files.iter().any(|(path, _)| path.contains("libc.so")),
            "{:?}",
            files.iter().map(|f| &f.0).collect::<Vec<_>>()
        );
    }
}
