//! A real browser for the tests: headless Chromium from the distribution's packages, loading a
//! page, running its scripts to the end, and handing back the DOM it rendered.
//!
//! It is cut off from everything but loopback: every host except `localhost` and `127.0.0.1`
//! resolves to nothing (`--host-resolver-rules`), and no proxy is used, so a page that needs anything from
//! the internet (a CDN script, a web font, an online validator) renders without it — which is
//! what the tests check. Skipped with a message when Chromium is not installed; failing instead
//! under `CI=true` (`.ci/run` installs it).

use std::{path::PathBuf, process::Stdio, time::Duration};

use tokio::process::Command;

/// The names the distributions install Chromium under.
const CANDIDATES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// How long a page may take to render, in the browser's virtual time (which stands still while
/// a request is in flight, so a slow machine does not cut a page short).
const RENDER_BUDGET_MS: u32 = 10_000;

/// A headless Chromium.
#[derive(Debug)]
pub struct Browser {
    binary: PathBuf,
    profile: tempfile::TempDir,
}

impl Browser {
    /// The browser named by `CHROMIUM`, else the first of [`CANDIDATES`] on `PATH`; `None` (with
    /// a message) when there is none and not in CI.
    #[must_use]
    pub fn find() -> Option<Self> {
        let named = std::env::var_os("CHROMIUM").map(PathBuf::from);
        let binary = named.or_else(|| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path)
                .flat_map(|dir| CANDIDATES.iter().map(move |name| dir.join(name)))
                .find(|candidate| candidate.is_file())
        });
        let Some(binary) = binary else {
            let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(!in_ci, "CI=true but no Chromium is installed (.ci/run installs it)");
            eprintln!(
                "skipping the browser test: Chromium is not installed (apt install chromium)"
            );
            return None;
        };
        let profile = tempfile::tempdir().expect("browser profile dir");
        Some(Self { binary, profile })
    }

    /// Loads `url`, lets its scripts run (within a 10 s budget of virtual time, 60 s of real
    /// time), and returns the DOM as HTML.
    ///
    /// # Panics
    /// When the browser cannot be started, fails, or takes longer than a minute.
    pub async fn rendered_dom(&self, url: &str) -> String {
        let run = Command::new(&self.binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-extensions",
                "--disable-sync",
                "--no-proxy-server",
                // Chromium applies the rule to IP literals too: loopback is excluded by name.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
            ])
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .arg(format!("--virtual-time-budget={RENDER_BUDGET_MS}"))
            .arg("--dump-dom")
            .arg(url)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .expect("the browser finishes within a minute")
            .expect("the browser starts");
        assert!(
            output.status.success(),
            "the browser failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        // A page that does not load still exits 0, with nothing on stdout.
        let dom = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            dom.contains("<html"),
            "{url} did not load: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        dom
    }
}
