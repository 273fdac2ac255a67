//! Reading what a child process logs: the address or URL a binary says it bound.

use std::io::{BufRead, BufReader};
use std::process::ChildStdout;
use std::time::Duration;

/// Reads a child's log on a thread and returns the word after `key` on the first line that
/// contains `marker` (a binary's bound address or URL), waiting at most 60 s.
///
/// # Panics
/// When no such line arrives within 60 s.
pub fn logged_value(stdout: ChildStdout, marker: &'static str, key: &'static str) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains(marker)
                && let Some(rest) = line.split(key).nth(1)
            {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_owned());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("no log line with {marker:?} and {key:?} within 60 s"))
}
