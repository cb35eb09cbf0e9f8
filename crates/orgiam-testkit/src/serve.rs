//! The real `orgiam serve` as a child process, and the HTTP calls every such test makes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::TEST_MASTER_KEY;
use crate::db::TempDir;
use crate::reply::Reply;

/// The `orgiam` binary at `bin`, with the tests' master key.
pub fn orgiam_at(bin: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env("ORGIAM_MASTER_KEY", TEST_MASTER_KEY);
    cmd
}

/// A running `orgiam serve` and the lines it printed up to "listening on".
pub struct Served {
    pub child: Child,
    pub lines: Vec<String>,
    pub base: String,
    /// Where its stderr (the logs) goes.
    pub log: PathBuf,
    /// The binary and the database it serves, for [`Served::cli`].
    bin: PathBuf,
    db_url: String,
    http: reqwest::Client,
}

/// A started `orgiam serve` whose output is still to be read.
pub struct Starting {
    child: Child,
    rx: mpsc::Receiver<String>,
    log: PathBuf,
    bin: PathBuf,
    db_url: String,
}

/// Starts `orgiam serve` (the binary at `bin`) on 127.0.0.1:0 over `db_url`, in `dir`, with
/// extra environment; its logs (`ORGIAM_LOG`: `ORGIAM_TEST_LOG`, else `warn`) go to a file in
/// `dir`.
pub fn start_serve(bin: &Path, db_url: &str, dir: &TempDir, env: &[(&str, &str)]) -> Starting {
    let log = dir
        .0
        .join(format!("serve-{}.log", orgiam_domain::sid::random_body()));
    let log_file = std::fs::File::create(&log).expect("log file");
    let mut child = orgiam_at(bin)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("ORGIAM_DATABASE_URL", db_url)
        .env("ORGIAM_LOG", crate::logs::server_filter())
        .envs(env.iter().copied())
        .current_dir(&dir.0)
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .expect("spawn orgiam serve");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Starting {
        child,
        rx,
        log,
        bin: bin.to_owned(),
        db_url: db_url.to_owned(),
    }
}

impl Starting {
    /// Waits for "listening on" and returns the server with what it printed.
    pub fn ready(mut self) -> Served {
        let mut lines = Vec::new();
        loop {
            let line = match self.rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => line,
                Err(e) => {
                    // What it logged and how it ended say why; the printed lines rarely do.
                    let status = self.child.try_wait();
                    let logged = std::fs::read_to_string(&self.log).unwrap_or_default();
                    panic!(
                        "serve did not print 'listening on' ({e}; exit: {status:?}); it printed: \
                         {lines:#?}\nit logged:\n{logged}"
                    )
                }
            };
            let done = line.contains("listening on");
            lines.push(line);
            if done {
                break;
            }
        }
        let last = lines.last().cloned().unwrap_or_default();
        let base = last
            .split("listening on ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .expect("base url")
            .to_owned();
        Served {
            child: self.child,
            lines,
            base,
            log: self.log,
            bin: self.bin,
            db_url: self.db_url,
            http: reqwest::Client::new(),
        }
    }
}

impl Served {
    /// A server started some other way (say, on a port of the test's choosing), with no
    /// printed lines; it is killed when dropped like any other.
    pub fn adopt(child: Child, base: String, log: PathBuf, bin: &Path, db_url: &str) -> Self {
        Self {
            child,
            lines: Vec::new(),
            base,
            log,
            bin: bin.to_owned(),
            db_url: db_url.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// The bootstrap credentials this server printed on a first start.
    pub fn credentials(&self) -> Option<(String, String, String)> {
        printed_credentials(&self.lines)
    }

    /// An access token from this server for the given credentials.
    pub async fn token(&self, client_id: &str, client_secret: &str) -> String {
        access_token(&self.http, &self.base, client_id, client_secret).await
    }

    /// Runs the same `orgiam` binary against this server's database.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        orgiam_at(&self.bin)
            .args(args)
            .env("ORGIAM_DATABASE_URL", &self.db_url)
            .output()
            .expect("run orgiam")
    }
}

/// A server a failed test leaves behind is killed, not leaked.
impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bootstrap credentials a first start printed: (org, client id, client secret).
pub fn printed_credentials(lines: &[String]) -> Option<(String, String, String)> {
    let after = |marker: &str| {
        lines.iter().find_map(|l| {
            l.split(marker)
                .nth(1)
                .map(|v| v.split_whitespace().next().unwrap_or("").to_owned())
        })
    };
    Some((
        after("bootstrapped organization ")?,
        after("client_id:")?,
        after("client_secret:")?,
    ))
}

/// Stops a server with SIGTERM and asserts that it shut down gracefully (exit 0).
pub fn stop(mut s: Served) {
    let pid = s.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = s.child.wait().expect("wait");
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
}

/// `POST {base}/v2/token` with client credentials: the whole reply.
pub async fn token_reply(http: &reqwest::Client, base: &str, id: &str, secret: &str) -> Reply {
    let r = http
        .post(format!("{base}/v2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .expect("token");
    Reply::from(r).await
}

/// An access token; the server must grant it.
pub async fn access_token(http: &reqwest::Client, base: &str, id: &str, secret: &str) -> String {
    let r = token_reply(http, base, id, secret).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// An access token, or `None` when the server refuses the credentials or cannot be reached.
pub async fn try_token(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    secret: &str,
) -> Option<String> {
    let r = http
        .post(format!("{base}/v2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .ok()?;
    let body: serde_json::Value = r.json().await.ok()?;
    body["access_token"].as_str().map(str::to_owned)
}

/// Polls `check` every 50 ms for up to `within`; the elapsed time when it first held.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while start.elapsed() <= within {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Runs a bash command that must succeed; its stdout.
pub fn bash(cmd: &str) -> String {
    let out = Command::new("bash")
        .args(["-c", cmd])
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}
