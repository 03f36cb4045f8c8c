//! A real headless Chromium driven through chromedriver (WebDriver), and
//! elements found the way a screen reader names them: by the accessible
//! name the browser computes, never by an id or a CSS class.

use crate::dovecot::free_port;
use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Chrome {
    driver: Child,
    pub client: Client,
    _profile: tempfile::TempDir,
}

/// Whether chromium and chromedriver are installed (make check installs them).
pub fn available() -> bool {
    ["/usr/bin/chromium", "/usr/bin/chromedriver"]
        .iter()
        .all(|p| std::path::Path::new(p).exists())
}

impl Chrome {
    /// A phone: a 360×740 viewport (Chromium's windows are never that
    /// narrow, so the device is emulated).
    pub async fn phone() -> Chrome {
        Self::start(360, 740, true).await
    }

    /// A desktop browser window of 1280×800.
    pub async fn desktop() -> Chrome {
        Self::start(1280, 800, false).await
    }

    async fn start(width: u32, height: u32, mobile: bool) -> Chrome {
        let port = free_port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        let mut options = serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--hide-scrollbars", "--force-device-scale-factor=1",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
        });
        if mobile {
            options["mobileEmulation"] = serde_json::json!({
                "deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0, "touch": true}
            });
        }
        caps.insert("goog:chromeOptions".into(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session");
        Chrome {
            driver,
            client,
            _profile: profile,
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The one control of `css` kind whose accessible name is `name`.
    pub async fn named(&self, css: &str, name: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut names = Vec::new();
            let found = self
                .client
                .find_all(Locator::Css(css))
                .await
                .unwrap_or_default();
            for el in found {
                let label = self.label(&el).await;
                if label == name {
                    return el;
                }
                names.push(label);
            }
            assert!(
                Instant::now() < deadline,
                "no {css} named {name:?}; the page has {names:?}:\n{}",
                self.client.source().await.unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every control of `css` kind named `name`.
    pub async fn all_named(&self, css: &str, name: &str) -> Vec<Element> {
        let mut out = Vec::new();
        for el in self.client.find_all(Locator::Css(css)).await.unwrap() {
            if self.label(&el).await == name {
                out.push(el);
            }
        }
        out
    }

    /// The accessible name Chromium computes for `el` (empty when the
    /// page moved on under it: the caller looks again).
    pub async fn label(&self, el: &Element) -> String {
        match self
            .client
            .issue_cmd(ComputedLabel(el.element_id().to_string()))
            .await
        {
            Ok(v) => v.as_str().unwrap_or_default().to_string(),
            Err(_) => String::new(),
        }
    }

    pub async fn fill(&self, name: &str, text: &str) {
        let field = self.named("input", name).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, name: &str) {
        self.named("button, input[type=checkbox], a", name)
            .await
            .click()
            .await
            .unwrap();
    }

    /// The text of `#new-password` once the page shows it.
    pub async fn new_password(&self) -> String {
        match self
            .client
            .wait()
            .for_element(Locator::Id("new-password"))
            .await
        {
            Ok(el) => el.text().await.unwrap().trim().to_string(),
            Err(e) => panic!("no new password ({e}); the page:\n{}", self.source().await),
        }
    }

    /// Waits until the page holds `text`.
    pub async fn wait_text(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let page = self.source().await;
            if page.contains(text) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the page never said {text:?}:\n{page}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    /// Saves a PNG of the window under target/screenshots.
    pub async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        let dir = crate::fixture::target_dir().join("../screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, self.client.screenshot().await.unwrap()).unwrap();
        path
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

/// WebDriver's Get Computed Label, which fantoccini does not wrap.
#[derive(Debug)]
struct ComputedLabel(String);

impl WebDriverCompatibleCommand for ComputedLabel {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/element/{}/computedlabel",
            session_id.unwrap_or_default(),
            self.0
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::GET, None)
    }
}
