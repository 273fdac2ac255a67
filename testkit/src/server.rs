//! Shared process management: spawn a server binary on a loopback port, wait for its
//! readiness endpoint, stop it gracefully or kill it, restart it on the same port.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use crate::{Error, READY_DEADLINE, free_port, http};

/// How long a graceful stop waits for the process before killing it.
const STOP_GRACE: Duration = Duration::from_secs(15);
/// How many fresh ports a first start tries when the chosen one was taken meanwhile.
const PORT_ATTEMPTS: usize = 3;

/// Finds `name` on `PATH` (so `python3` is the one `python3 -m pip` installs into), then in
/// `/usr/bin`.
pub(crate) fn find_binary(name: &str) -> Result<PathBuf, Error> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(std::iter::once(PathBuf::from("/usr/bin")))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| Error::Missing {
            what: format!("binary `{name}`"),
            looked: "PATH and /usr/bin".to_owned(),
        })
}

/// A request to the spawner thread: the command, and where to send the result.
type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns `command` so that the kernel kills it (SIGKILL) when this test process dies, even
/// by a signal that skips `Drop` (a nextest timeout, Ctrl-C).
///
/// Linux delivers the parent-death signal when the *thread* that forked exits, so every
/// child is forked by one spawner thread that lives as long as the process: a server
/// started from a short-lived helper thread keeps running until its handle is dropped.
fn spawn_tied_to_process(mut command: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and only calls `prctl`,
    // `getppid` and `_exit`, which are async-signal-safe; it touches no memory of the
    // parent besides the copied `parent` integer.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        // The thread is never joined: it must outlive every child it forks.
        let _detached = std::thread::Builder::new()
            .name("vsanobs-testkit-spawner".to_owned())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
            });
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    let sent = sender
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .send((command, reply_tx));
    if sent.is_err() {
        return Err(io::Error::other("the spawner thread is gone"));
    }
    reply_rx
        .recv()
        .unwrap_or_else(|_| Err(io::Error::other("the spawner thread is gone")))
}

/// A server process bound to `127.0.0.1:port`, logging to a file.
#[derive(Debug)]
pub(crate) struct Server {
    name: &'static str,
    binary: PathBuf,
    make_args: fn(u16, &Path) -> Vec<OsString>,
    extra_args: Vec<OsString>,
    state_dir: PathBuf,
    ready_path: &'static str,
    port: u16,
    log_path: PathBuf,
    child: Option<Child>,
}

impl Server {
    /// Starts `binary` with `make_args(port, state_dir)` followed by `extra_args`, trying a few
    /// free ports if the first is taken, and waits until `GET ready_path` answers 2xx.
    pub(crate) fn start(
        name: &'static str,
        binary: PathBuf,
        make_args: fn(u16, &Path) -> Vec<OsString>,
        extra_args: Vec<OsString>,
        state_dir: PathBuf,
        ready_path: &'static str,
    ) -> Result<Self, Error> {
        let log_path = state_dir.join(format!("{name}.log"));
        let mut server = Server {
            name,
            binary,
            make_args,
            extra_args,
            state_dir,
            ready_path,
            port: 0,
            log_path,
            child: None,
        };
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            server.port = free_port();
            match server.spawn_and_wait() {
                Ok(()) => return Ok(server),
                Err(e @ Error::Exited { .. })
                    if e.to_string().contains("address already in use") =>
                {
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| Error::Exited {
            name: name.to_owned(),
            status: "no port attempt made".to_owned(),
            log: String::new(),
        }))
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The last few kilobytes of the process's combined stdout/stderr.
    pub(crate) fn log_tail(&self) -> String {
        log_tail(&self.log_path)
    }

    fn spawn_and_wait(&mut self) -> Result<(), Error> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|source| Error::Io {
                what: format!("open log file {}", self.log_path.display()),
                source,
            })?;
        let log_err = log.try_clone().map_err(|source| Error::Io {
            what: "duplicate log file handle".to_owned(),
            source,
        })?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let mut args = (self.make_args)(self.port, &self.state_dir);
        args.extend(self.extra_args.iter().cloned());
        let mut command = Command::new(&self.binary);
        command
            .args(&args)
            .current_dir(&self.state_dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        let child = spawn_tied_to_process(command).map_err(|source| Error::Spawn {
            name: self.name.to_owned(),
            binary: self.binary.display().to_string(),
            source,
        })?;
        self.child = Some(child);

        let ready_url = format!("{}{}", self.url(), self.ready_path);
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            let exited = match &mut self.child {
                Some(child) => child.try_wait().ok().flatten(),
                None => None,
            };
            if let Some(status) = exited {
                self.child = None;
                return Err(Error::Exited {
                    name: self.name.to_owned(),
                    status: status.to_string(),
                    log: log_since(&self.log_path, log_start),
                });
            }
            if http::get(&ready_url).is_ok_and(|r| r.is_success()) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(Error::NotReady {
                    name: self.name.to_owned(),
                    url: ready_url,
                    secs: READY_DEADLINE.as_secs(),
                    log: log_since(&self.log_path, log_start),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM and waits up to [`STOP_GRACE`], then kills. Idempotent.
    pub(crate) fn stop(&mut self) {
        let Some(child) = &mut self.child else {
            return;
        };
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: `kill` only sends a signal; `pid` is our own child, which has not been
            // reaped yet (we hold its `Child` and have not waited on it), so the id cannot
            // have been reused by another process.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                self.child = None;
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }

    /// Starts the process again on the same port and state directory and waits for readiness.
    pub(crate) fn start_again(&mut self) -> Result<(), Error> {
        self.stop();
        self.spawn_and_wait()
    }

    /// SIGKILL and reap. Idempotent.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn log_since(path: &Path, start: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let from = start.max(len.saturating_sub(4096));
        if file.seek(SeekFrom::Start(from)).is_ok() {
            let mut bytes = Vec::new();
            let _ = file.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    text
}

fn log_tail(path: &Path) -> String {
    log_since(path, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_names_itself_and_the_fix() {
        let err = find_binary("vsanobs-testkit-no-such-binary").unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("binary `vsanobs-testkit-no-such-binary` not found"),
            "{message}"
        );
        assert!(
            message.contains("run scripts/test to install it"),
            "{message}"
        );
    }

    #[test]
    fn installed_binaries_are_found() {
        for name in [
            "prometheus",
            "promtool",
            "prometheus-pushgateway",
            "victoria-metrics",
        ] {
            let path = find_binary(name).unwrap_or_else(|e| panic!("{e}"));
            assert!(path.ends_with(name), "{}", path.display());
        }
    }

    #[test]
    fn a_server_that_exits_early_reports_its_log() {
        // promtool is no server: given bad flags it prints usage and exits non-zero.
        let dir = tempfile::tempdir().unwrap();
        let err = Server::start(
            "promtool",
            find_binary("promtool").unwrap(),
            |_, _| vec![OsString::from("--no-such-flag")],
            Vec::new(),
            dir.path().to_path_buf(),
            "/-/ready",
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("promtool exited before it was ready"),
            "{message}"
        );
        assert!(message.contains("no-such-flag"), "{message}");
    }

    #[test]
    fn a_server_started_by_a_short_lived_thread_keeps_running() {
        let gateway = std::thread::spawn(|| crate::Pushgateway::start().unwrap())
            .join()
            .unwrap();
        // The starting thread is gone; the parent-death signal is tied to the spawner thread.
        std::thread::sleep(Duration::from_millis(300));
        let ready = crate::http::get(&format!("{}/-/ready", gateway.url())).unwrap();
        assert!(ready.is_success());
    }

    const CHILD_ENV: &str = "VSANOBS_TESTKIT_DEATH_CHILD";

    #[test]
    fn servers_die_with_the_test_process() {
        use std::io::BufRead;
        if std::env::var_os(CHILD_ENV).is_some() {
            // Child role: start a server, report its port, wait to be killed.
            let gateway = crate::Pushgateway::start().unwrap();
            println!("PORT {}", gateway.port());
            std::thread::sleep(Duration::from_secs(120));
            return;
        }
        // The killed child cannot remove its server's temporary directory: it makes it in
        // one this process owns and removes.
        let tmp = tempfile::tempdir().unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "server::tests::servers_die_with_the_test_process",
                "--nocapture",
            ])
            .env(CHILD_ENV, "1")
            .env("TMPDIR", tmp.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let port = io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("PORT ").and_then(|p| p.parse::<u16>().ok()))
            .expect("the child reports its server's port");
        let url = format!("http://127.0.0.1:{port}/-/ready");
        assert!(crate::http::get(&url).unwrap().is_success());
        // SIGKILL: no Drop runs in the child.
        child.kill().unwrap();
        child.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while crate::http::get(&url).is_ok() {
            assert!(
                Instant::now() < deadline,
                "the server outlived its test process"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
