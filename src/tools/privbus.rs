//! A private `dbus-daemon` in a temporary directory, for the demo, the tests and the
//! benchmarks: never the machine's own bus. Dropping it stops the daemon and removes the
//! directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::child::Guard;

pub struct PrivateBus {
    pub address: String,
    dir: PathBuf,
    child: Guard,
}

const CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=SOCKET</listen>
  <auth>EXTERNAL</auth>
  <limit name="max_match_rules_per_connection">1024</limit>
  <policy context="default">
    <allow user="*"/><allow own="*"/><allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"#;

impl PrivateBus {
    /// Starts a bus in a fresh directory under the system temp dir.
    pub fn start(label: &str) -> std::io::Result<PrivateBus> {
        let dir = std::env::temp_dir().join(format!("aggregate-{label}-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("bus.conf");
        std::fs::write(&config, CONFIG.replace("SOCKET", &dir.join("bus").to_string_lossy()))?;
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| std::io::Error::new(e.kind(), format!("cannot start dbus-daemon (Debian package 'dbus'): {e}")))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out).read_line(&mut line)?;
        }
        let address = line.trim().to_owned();
        let mut child = Guard::new(child);
        if address.is_empty() {
            child.kill();
            let _ = std::fs::remove_dir_all(&dir);
            return Err(std::io::Error::other("dbus-daemon printed no address"));
        }
        Ok(PrivateBus { address, dir, child })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the bus daemon now (fault tests: the bus going away).
    pub fn kill(&mut self) {
        self.child.kill();
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        self.child.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
