//! A real browser for the console's tests: Debian's headless Chromium, driven
//! through its chromedriver (a child process on a free port) by fantoccini.
//!
//! Without chromedriver the tests say so and skip, unless
//! `LIENTHONG_REQUIRE_CHROMIUM=1` (as `.ci/run` sets, after installing it): then
//! they fail.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder};

/// Set to make a missing browser a failure rather than a skip.
pub const REQUIRE: &str = "LIENTHONG_REQUIRE_CHROMIUM";

/// A headless Chromium session, and the chromedriver serving it (killed on drop).
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
    /// Where screenshots go.
    shots: PathBuf,
}

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

impl Browser {
    /// A browser with a 1366×768 window that accepts the development PKI's
    /// certificate, saving screenshots under `artefacts`; `None` (after saying
    /// why) when there is none and none is required.
    pub async fn start(test: &str, artefacts: &Path) -> Option<Browser> {
        let driver = find(&["chromedriver"]);
        let chromium = find(&["chromium", "chromium-browser", "google-chrome"]);
        let (Some(driver), Some(chromium)) = (driver, chromium) else {
            assert!(
                std::env::var_os(REQUIRE).is_none(),
                "{REQUIRE} is set but chromium or chromedriver is missing (apt-get install chromium chromium-driver)"
            );
            eprintln!(
                "SKIPPED {test}: no chromium/chromedriver on PATH (install Debian's chromium and chromium-driver, or set {REQUIRE}=1 to make this a failure)"
            );
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // In a process group of its own, with the browsers it starts: a test that
        // fails leaves none of them behind (see `Drop`).
        let child = Command::new(driver)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        // Without its sandbox: as root (CI) Chromium runs no other way, and test
        // containers rarely allow the namespaces it needs; it opens only the
        // test's own pages.
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1366,768",
            "--lang=vi-VN",
        ];
        let caps: Capabilities = serde_json::from_value(serde_json::json!({
            "browserName": "chrome",
            // The console's certificate is the test's own development CA's.
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": chromium,
                "args": args,
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        }))
        .expect("capabilities");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if started.elapsed() < Duration::from_secs(20) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session: {e}"),
            }
        };
        // No page may take forever to load: a hung page fails the test instead.
        client
            .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
                Some(Duration::from_secs(10)),
                Some(Duration::from_secs(30)),
                Some(Duration::ZERO),
            ))
            .await
            .expect("timeouts");
        let shots = artefacts.join("console-screenshots");
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        Some(Browser {
            client,
            driver: child,
            shots,
        })
    }

    /// Saves what the window shows as `<name>.png`; returns the file.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// The browser's console messages since the last call: (level, message).
    pub async fn console_messages(&self) -> Vec<(String, String)> {
        let value = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("the browser's log");
        value
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| {
                let text = |k: &str| entry[k].as_str().unwrap_or_default().to_owned();
                (text("level"), text("message"))
            })
            .collect()
    }

    /// The text of the element `css` on the current page.
    pub async fn text(&self, css: &str) -> String {
        self.client
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} on the page: {e}"))
            .text()
            .await
            .expect("its text")
    }

    /// Opens `url` and waits for the page.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("navigates");
    }

    /// Clicks `css` and waits for the page it leads to: until the page it was on
    /// has gone, then until the new one has a `footer` (every console page has).
    pub async fn click(&self, css: &str) {
        let old = self
            .client
            .find(fantoccini::Locator::Css("html"))
            .await
            .expect("a page");
        self.client
            .find(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} to click: {e}"))
            .click()
            .await
            .expect("clicks");
        let started = Instant::now();
        while old.tag_name().await.is_ok() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "clicking {css} led nowhere"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.wait_for("footer").await;
    }

    /// Waits (up to 10 s) until the page has `css`.
    pub async fn wait_for(&self, css: &str) {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} came: {e}"));
    }

    /// Ends the session, then the driver (on drop).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    /// Kills chromedriver's whole process group: the driver and its browsers.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.wait();
    }
}

/// chromedriver's `POST /session/{id}/se/log` for the browser's console.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

/// A page on another origin that posts a form to `target` as soon as it loads:
/// what a forged cross-site request looks like. Serves it on a free loopback
/// port (plain HTTP) until the test ends; returns its address.
pub async fn forger(target: String) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let page = format!(
        "<!DOCTYPE html><html><body><form method=\"post\" action=\"{target}\"><input type=\"hidden\" name=\"csrf\" value=\"forged\"></form><script>document.forms[0].submit()</script></body></html>"
    );
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    addr
}
