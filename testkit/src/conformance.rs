//! Real vCenter clients for conformance tests: Go programs built against Debian's govmomi
//! sources (`golang-go` + `golang-github-vmware-govmomi-dev`, GOPATH mode, as dh-golang
//! builds them) and `python3` with VMware's pyVmomi.
//!
//! Go builds use a cache directory the caller chooses (a test passes one under its cargo
//! target directory), so only the first build after `cargo clean` compiles govmomi; later
//! ones relink from the cache.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;
use crate::server::find_binary;

/// Where `golang-github-vmware-govmomi-dev` installs govmomi's sources.
pub const GOVMOMI_SRC: &str = "/usr/share/gocode/src/github.com/vmware/govmomi";

/// The GOPATH root that holds [`GOVMOMI_SRC`] and its dependencies (Debian's gocode tree).
pub const DEBIAN_GOPATH: &str = "/usr/share/gocode";

/// Builds the Go `main` package in `src_dir` (one directory of `.go` files importing
/// govmomi) into `out_dir/bin/<name>` in GOPATH mode against Debian's govmomi sources, with
/// the build cache in `out_dir/cache`. Returns the binary's path.
///
/// Concurrent callers (nextest runs tests as separate processes) take turns on a file lock
/// in `out_dir`, so a cold cache is filled once; each links to its own temporary file,
/// renamed over the binary when done.
///
/// # Errors
/// [`Error::Missing`] naming the Debian package when `go` or govmomi's sources are not
/// installed; [`Error::Exited`] with the compiler's output when the build fails;
/// [`Error::Io`]/[`Error::Spawn`] for local failures.
pub fn go_build(src_dir: &Path, out_dir: &Path, name: &str) -> Result<PathBuf, Error> {
    let go = find_binary("go").map_err(|_| Error::Missing {
        what: "binary `go` (Debian package golang-go)".to_owned(),
        looked: "PATH and /usr/bin".to_owned(),
    })?;
    if !Path::new(GOVMOMI_SRC).join("vim25").is_dir() {
        return Err(Error::Missing {
            what: "govmomi's sources (Debian package golang-github-vmware-govmomi-dev)".to_owned(),
            looked: GOVMOMI_SRC.to_owned(),
        });
    }
    let io = |what: String| move |source| Error::Io { what, source };
    let bin_dir = out_dir.join("bin");
    let cache = out_dir.join("cache");
    for dir in [&bin_dir, &cache] {
        std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
    }
    let mut sources: Vec<PathBuf> = std::fs::read_dir(src_dir)
        .map_err(io(format!("list {}", src_dir.display())))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "go"))
        .collect();
    sources.sort();
    if sources.is_empty() {
        return Err(Error::Io {
            what: format!("find Go sources in {}", src_dir.display()),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    // One build at a time per output directory: tests run in parallel processes, and two
    // cold builds of govmomi at once would each take as long as both in a row.
    let _lock = BuildLock::acquire(&out_dir.join(".build.lock"))?;
    let binary = bin_dir.join(name);
    let partial = bin_dir.join(format!(".{name}.{}.partial", std::process::id()));
    let output = Command::new(&go)
        .arg("build")
        .arg("-o")
        .arg(&partial)
        .args(&sources)
        .current_dir(src_dir)
        .env("GOPATH", DEBIAN_GOPATH)
        .env("GO111MODULE", "off")
        .env("GOCACHE", &cache)
        .env("GOFLAGS", "")
        .env("CGO_ENABLED", "0")
        .output()
        .map_err(|source| Error::Spawn {
            name: "go build".to_owned(),
            binary: go.display().to_string(),
            source,
        })?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&partial);
        let mut log = String::from_utf8_lossy(&output.stdout).into_owned();
        log.push_str(&String::from_utf8_lossy(&output.stderr));
        return Err(Error::Exited {
            name: format!("go build of {}", src_dir.display()),
            status: output.status.to_string(),
            log,
        });
    }
    std::fs::rename(&partial, &binary).map_err(io(format!(
        "move {} to {}",
        partial.display(),
        binary.display()
    )))?;
    Ok(binary)
}

/// An exclusive `flock` on a file, released when dropped (or when the process dies).
struct BuildLock(std::fs::File);

impl BuildLock {
    fn acquire(path: &Path) -> Result<BuildLock, Error> {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|source| Error::Io {
                what: format!("open {}", path.display()),
                source,
            })?;
        loop {
            // SAFETY: flock on a descriptor this function owns.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(BuildLock(file));
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(Error::Io {
                    what: format!("lock {}", path.display()),
                    source: err,
                });
            }
        }
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: unlocks the descriptor this value owns.
        unsafe {
            libc::flock(self.0.as_raw_fd(), libc::LOCK_UN);
        }
    }
}

/// The `python3` on `PATH` (the one `scripts/test` installs pyVmomi into), after checking
/// that it imports `module`.
///
/// # Errors
/// [`Error::Missing`] naming the module and the pip package when it cannot be imported, or
/// when there is no `python3` at all.
pub fn python3_with(module: &str, pip_package: &str) -> Result<PathBuf, Error> {
    let python = find_binary("python3")?;
    let output = Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .map_err(|source| Error::Spawn {
            name: "python3".to_owned(),
            binary: python.display().to_string(),
            source,
        })?;
    if !output.status.success() {
        return Err(Error::Missing {
            what: format!(
                "Python module `{module}` (pip package {pip_package}): {}",
                String::from_utf8_lossy(&output.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
            ),
            looked: python.display().to_string(),
        });
    }
    Ok(python)
}

/// What a finished client program printed.
#[derive(Debug)]
pub struct ClientOutput {
    /// Exit status.
    pub status: std::process::ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `command` to completion with stdin closed, killing it when it is still running after
/// `deadline` (a client that hangs on a server that never answers fails the test instead of
/// hanging it).
///
/// # Errors
/// [`Error::Spawn`] when it cannot start; [`Error::Timeout`] (with what it printed so far)
/// when the deadline passes.
pub fn run_with_deadline(
    mut command: Command,
    deadline: std::time::Duration,
) -> Result<ClientOutput, Error> {
    use std::io::Read;
    use std::process::Stdio;
    let program = format!("{:?}", command.get_program());
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| Error::Spawn {
            name: program.clone(),
            binary: program.clone(),
            source,
        })?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            text
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let start = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let stdout = out.join().unwrap_or_default();
                let stderr = err.join().unwrap_or_default();
                return Err(Error::Timeout {
                    what: format!("{program} to finish"),
                    secs: deadline.as_secs(),
                    last: format!("stdout: {stdout}\nstderr: {stderr}"),
                });
            }
        }
    };
    Ok(ClientOutput {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}
