//! A child process that cannot outlive its owner: the one place that signals, waits for and
//! finally kills the processes the demo, the tests and the benchmarks start (the daemon, a
//! simulator, `dbus-daemon`).

use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// Owns a child process; dropping it kills the child (after a SIGCONT, in case a test stopped
/// it) and reaps it.
#[derive(Debug)]
pub struct Guard {
    child: Child,
}

impl Guard {
    pub fn new(child: Child) -> Guard {
        Guard { child }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child itself (its pipes).
    pub fn inner(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Sends a signal by name (`TERM`, `STOP`, `CONT`, ...); true when it was delivered.
    pub fn signal(&self, sig: &str) -> bool {
        Command::new("kill").args([format!("-{sig}"), self.child.id().to_string()]).status().is_ok_and(|s| s.success())
    }

    /// Waits up to `limit` for the child to exit, without blocking the executor.
    pub async fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            smol::Timer::after(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then up to `grace` for a clean exit; SIGKILL after that.
    pub async fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        self.signal("TERM");
        match self.wait(grace).await {
            Some(status) => Some(status),
            None => {
                self.kill();
                None
            }
        }
    }

    /// As [`Guard::stop`], for callers without an executor (a `Drop`).
    pub fn stop_blocking(&mut self, grace: Duration) {
        self.signal("TERM");
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }

    /// SIGKILL now, and reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal("CONT");
            self.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    fn sleeper() -> Guard {
        Guard::new(Command::new("sleep").arg("30").stdin(Stdio::null()).spawn().expect("spawn sleep"))
    }

    #[test]
    fn stop_ends_the_child_and_drop_reaps_it() {
        crate::rt::block_on(async {
            let mut g = sleeper();
            let status = g.stop(Duration::from_secs(5)).await.expect("sleep exits on SIGTERM");
            assert!(!status.success());
            let g = sleeper();
            let pid = g.id();
            drop(g);
            // The pid is reaped: signalling it fails.
            let alive = Command::new("kill").args(["-0", &pid.to_string()]).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
            assert!(!alive, "child {pid} outlived its guard");
        });
    }
}
