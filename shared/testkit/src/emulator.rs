//! The local AWS emulator: moto server, installed into the project's `.venv`, started by
//! `infra/local/moto_capacity.py` so DynamoDB reports real consumed capacity and the
//! emails sent through SES can be read back with their send time (`aloft_local::mailbox`).

use std::{
    net::TcpListener,
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::process::{Child, Command};

/// The shared emulator: `ALOFT_EMULATOR_URL`, or the port `make emulator` uses.
pub fn emulator_url() -> String {
    std::env::var("ALOFT_EMULATOR_URL").unwrap_or_else(|_| "http://127.0.0.1:5100".into())
}

/// An emulator of a test's own, on a free port, stopped by [`PrivateEmulator::stop`] or
/// on drop.
#[derive(Debug)]
pub struct PrivateEmulator {
    child: Option<Child>,
    pub url: String,
}

impl PrivateEmulator {
    pub async fn start() -> Self {
        let port = free_port();
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let child = Command::new(root.join(".venv/bin/python"))
            .arg(root.join("infra/local/moto_capacity.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the emulator starts (run `make setup` to install moto into .venv)");
        let url = format!("http://127.0.0.1:{port}");
        wait_until_listening(port).await;
        Self {
            child: Some(child),
            url,
        }
    }

    /// Stops the emulator and waits until it is gone.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

async fn wait_until_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("moto_server did not listen on port {port} within 30 s");
}
