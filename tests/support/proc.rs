//! Starting a server binary for a test: its stderr collected by a thread
//! (for failure messages and log assertions) and its first stdout line
//! (`listening on URL`); the rest of stdout is drained so the pipe never
//! fills.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A started process.
pub struct Started {
    pub child: Child,
    /// Everything it wrote to stderr so far.
    pub log: Arc<Mutex<String>>,
    /// Its first stdout line (empty if it exited before writing one).
    pub line: String,
}

/// Spawn `cmd` with piped stdout and stderr; returns once the first stdout
/// line is read.
pub fn start(cmd: &mut Command) -> Started {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the binary under test");
    let log = Arc::new(Mutex::new(String::new()));
    let mut stderr = child.stderr.take().expect("stderr piped");
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout piped"));
    let mut line = String::new();
    let _ = stdout.read_line(&mut line);
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = stdout.read_to_end(&mut rest);
    });
    Started { child, log, line }
}

/// The log so far.
pub fn log(log: &Mutex<String>) -> String {
    log.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// The log once it contains `needle` (a line written before a response may
/// land a moment after it), or as it is after 5 s.
pub fn wait_log(log: &Mutex<String>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = self::log(log);
        if text.contains(needle) || Instant::now() > deadline {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills processes and removes directories when the test process exits,
/// however it exits (a fixture kept in a `static` is never dropped).
/// Dropping it does the same at once.
pub struct Reaper {
    _stdin: std::process::ChildStdin,
    _child: Child,
}

/// Start a shell that waits for end-of-file on a pipe only this process
/// writes to — the kernel closes it when this process exits, even on a
/// crash or SIGKILL — and then sends SIGTERM to `pids` and removes `dirs`.
pub fn reap_on_exit(pids: &[u32], dirs: &[&std::path::Path]) -> Reaper {
    let script = "cat >/dev/null\n\
        while [ \"$#\" -gt 0 ] && [ \"$1\" != -- ]; do kill \"$1\" 2>/dev/null; shift; done\n\
        [ \"$#\" -gt 0 ] && shift\n\
        [ \"$#\" -gt 0 ] && rm -rf -- \"$@\"\n\
        exit 0";
    let mut child = Command::new("sh")
        .args(["-c", script, "reaper"])
        .args(pids.iter().map(u32::to_string))
        .arg("--")
        .args(dirs)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sh for the reaper");
    let stdin = child.stdin.take().expect("stdin piped");
    Reaper {
        _stdin: stdin,
        _child: child,
    }
}

/// The port of a `listening on URL` line (`stepup serve`'s first line on
/// stdout).
pub fn listening_port(line: &str) -> Option<u16> {
    line.trim().rsplit(':').next()?.parse().ok()
}
