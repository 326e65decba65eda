//! `watch --run`: the generated service as a child process (`python -m <package>.service` from the
//! project root). Starts, streams its output line by line to the watch loop, and stops it
//! (SIGTERM to its process group, SIGKILL after a grace period). Prints nothing itself.

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use crate::watch::Message;

/// The interpreter that runs the service: `explicit` (`--python`), else the project's
/// `.venv/bin/python`, else `$VIRTUAL_ENV/bin/python`, else `python3` from `PATH`.
pub fn resolve_python(root: &Path, explicit: Option<&Path>) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_path_buf();
    }
    let venv = root.join(".venv").join("bin").join("python");
    if venv.is_file() {
        return venv;
    }
    if let Some(env) = std::env::var_os("VIRTUAL_ENV").filter(|it| !it.is_empty()) {
        let python = PathBuf::from(env).join("bin").join("python");
        if python.is_file() {
            return python;
        }
    }
    PathBuf::from("python3")
}

/// A running service.
#[derive(Debug)]
pub(crate) struct Service {
    child: Child,
}

impl Service {
    /// Starts `python -m <package>.service` in `root`; its stdout and stderr lines arrive on
    /// `sender` as [`Message::ServiceOutput`].
    pub(crate) fn start(
        python: &Path,
        package: &str,
        root: &Path,
        sender: &Sender<Message>,
    ) -> io::Result<Service> {
        let mut command = Command::new(python);
        command
            .arg("-m")
            .arg(format!("{package}.service"))
            .current_dir(root)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group: a terminal's Ctrl-C reaches `watch` only, which stops the service
        // (and whatever it started) deliberately.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn()?;
        if let Some(stdout) = child.stdout.take() {
            forward(stdout, sender.clone());
        }
        if let Some(stderr) = child.stderr.take() {
            forward(stderr, sender.clone());
        }
        Ok(Service { child })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the service has exited on its own.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stops the service: SIGTERM to its process group, then SIGKILL when it is still running
    /// after `grace`. Returns how it ended.
    pub(crate) fn stop(mut self, grace: Duration) -> io::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        terminate(&self.child);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                kill_group(&self.child);
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        kill_group(&self.child);
        let _ = self.child.kill();
        self.child.wait()
    }
}

/// Sends each line read from `stream` to the loop, until the stream closes.
fn forward(stream: impl Read + Send + 'static, sender: Sender<Message>) {
    std::thread::spawn(move || {
        let reader = BufReader::new(stream);
        for line in reader.split(b'\n') {
            let Ok(line) = line else { break };
            let text = String::from_utf8_lossy(&line)
                .trim_end_matches('\r')
                .to_owned();
            if sender.send(Message::ServiceOutput(text)).is_err() {
                break;
            }
        }
    });
}

#[cfg(unix)]
fn terminate(child: &Child) {
    use rustix::process::{Pid, Signal, kill_process_group};
    if let Some(pid) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) {
        let _ = kill_process_group(pid, Signal::TERM);
    }
}

/// Kills what is left of the process group (helpers the service started and did not stop).
#[cfg(unix)]
fn kill_group(child: &Child) {
    use rustix::process::{Pid, Signal, kill_process_group};
    if let Some(pid) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) {
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

#[cfg(not(unix))]
fn terminate(_child: &Child) {}

#[cfg(not(unix))]
fn kill_group(_child: &Child) {}
