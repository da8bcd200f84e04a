//! The home page in a real browser: Debian's chromium, headless, driven over WebDriver by
//! chromium-driver (installed by scripts/test.sh), in front of `serve --alb-arn` a proxy that adds
//! the ALB's signed header as the load balancer would. The page shows the notebook; Stop, Start and
//! Open work by clicking (the page's script follows each state change); a form on another site
//! that posts to the page is refused.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::home_page::{serve, status_of};
use crate::support::alb::{AlbKey, AlbProxy, Files};
use crate::support::{is_url_with_token_of, Account};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// chromedriver on a free port, killed on drop.
struct Driver {
    child: Child,
    base: String,
}

impl Drop for Driver {
    /// chromedriver's `/shutdown` quits the browsers it started (killing chromedriver alone would
    /// leave chromium running when a test fails before closing its session).
    fn drop(&mut self) {
        use std::io::Write as _;
        let addr = self.base.trim_start_matches("http://");
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = write!(s, "GET /shutdown HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            let _ = std::io::Read::read_to_end(&mut s, &mut Vec::new());
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("chromedriver not found ({e}): scripts/test.sh installs chromium and chromium-driver")
        });
    Driver { child, base: format!("http://127.0.0.1:{port}") }
}

/// One WebDriver session (W3C WebDriver, the endpoints chromedriver serves).
struct Browser {
    http: reqwest::Client,
    session: String,
}

impl Browser {
    async fn open(driver: &Driver) -> Self {
        let http = reqwest::Client::new();
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1000,760", "--hide-scrollbars"]
        }}}});
        let started = Instant::now();
        let session = loop {
            match http.post(format!("{}/session", driver.base)).json(&caps).send().await {
                Ok(r) => {
                    let v: Value = r.json().await.unwrap();
                    break v["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {v}")).to_owned();
                }
                Err(_) if started.elapsed() < Duration::from_secs(20) => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("chromedriver does not answer: {e}"),
            }
        };
        Browser { http, session: format!("{}/session/{session}", driver.base) }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut rb = self.http.request(method, format!("{}{path}", self.session));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let v: Value = rb.send().await.unwrap().json().await.unwrap();
        v["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await;
    }

    async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or_default().to_owned()
    }

    async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None).await.as_str().unwrap_or_default().to_owned()
    }

    async fn click(&self, css: &str) {
        let found =
            self.call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        let id = found[ELEMENT].as_str().unwrap_or_else(|| panic!("no {css} on the page: {}", found)).to_owned();
        self.call(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({}))).await;
    }

    /// Wait until the page's source contains `text` (the page's script updates it in place).
    async fn wait_for(&self, text: &str) -> String {
        let started = Instant::now();
        loop {
            let s = self.source().await;
            if s.contains(text) {
                return s;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "the page never showed {text:?}: {s}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn run_script(&self, script: &str) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await
    }

    async fn screenshot(&self, path: &str) {
        use base64::Engine as _;
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    async fn close(&self) {
        self.call(reqwest::Method::DELETE, "", None).await;
    }
}

#[tokio::test]
async fn in_chromium_the_page_shows_the_notebook_stops_starts_opens_and_refuses_a_forged_post() {
    let driver = start_driver();
    let acc = Account::ready();
    acc.ok(&["provision", "--user", "alice", "-q"]);
    let hours = ["--start", "cron(0 8 ? * MON-FRI *)", "--stop", "cron(0 19 ? * MON-FRI *)", "--tz", "Europe/Berlin"];
    acc.ok(&[&["schedule", "set", "--user", "alice", "-q"][..], &hours[..]].concat());
    let key = AlbKey::generate("browser-kid");
    let keys = Files::start();
    keys.put(&format!("/{}", key.kid), "application/x-pem-file", &key.pem());
    let mut srv = serve(&acc, &keys);
    let alb = AlbProxy::start(&srv.base, key.sign_in("alice@example.com", 900));
    let browser = Browser::open(&driver).await;

    // The page shows alice's notebook.
    browser.go(&format!("{}/", alb.base)).await;
    let page = browser.wait_for("alice-Notebook").await;
    assert!(page.contains("InService") && page.contains("Signed in as") && page.contains("Starts"), "{page}");
    if let Ok(path) = std::env::var("HOME_PAGE_SCREENSHOT") {
        browser.screenshot(&path).await;
    }
    // On a phone's width: nothing wider than the screen, buttons a finger can hit (44 px).
    browser.call(reqwest::Method::POST, "/window/rect", Some(json!({"width": 390, "height": 844}))).await;
    browser.go(&format!("{}/", alb.base)).await;
    let fits = browser
        .run_script(
            "return [document.documentElement.scrollWidth <= window.innerWidth, \
             Math.min(...[...document.querySelectorAll('button')].map(b => b.getBoundingClientRect().height)), \
             window.innerWidth]",
        )
        .await;
    assert_eq!(fits[0], json!(true), "wider than a phone: {fits}");
    assert!(fits[1].as_f64().unwrap() >= 44.0, "{fits}");
    if let Ok(path) = std::env::var("HOME_PAGE_SCREENSHOT_PHONE") {
        browser.screenshot(&path).await;
    }
    browser.call(reqwest::Method::POST, "/window/rect", Some(json!({"width": 1000, "height": 760}))).await;

    // Another site's form posting to the page: refused, the notebook keeps running. (localhost
    // and 127.0.0.1 are different sites: chromium sends Sec-Fetch-Site: cross-site.)
    let evil = Files::start();
    let evil_base = evil.base.replace("127.0.0.1", "localhost");
    evil.put(
        "/win-a-prize",
        "text/html",
        &format!("<form method=post action=\"{}/stop\"><button id=go>Win</button></form>", alb.base),
    );
    browser.go(&format!("{evil_base}/win-a-prize")).await;
    browser.click("#go").await;
    let refused = browser.wait_for("Refused").await;
    assert!(refused.contains("nothing was done"), "{refused}");
    assert_eq!(status_of(&acc, "alice-Notebook").await, "InService");

    // Stop, then Start, by clicking; each takes seconds, and the page's script follows it to its
    // end without reloading the page (a mark set on the window survives).
    acc.configure(json!({"pending_seconds": 3}));
    browser.go(&format!("{}/", alb.base)).await;
    for (button, during, then, after) in
        [("#stop", "Stopping", "id=\"start\"", "Stopped"), ("#start", "Pending", "id=\"open\"", "InService")]
    {
        browser.click(button).await;
        browser.wait_for(during).await;
        browser.run_script("window.notReloaded = true").await;
        browser.wait_for(then).await;
        assert_eq!(browser.run_script("return window.notReloaded === true").await, json!(true), "{button}");
        assert_eq!(status_of(&acc, "alice-Notebook").await, after);
    }

    // Open lands on the notebook's presigned URL (the sandbox's host does not resolve: the
    // browser's address is what counts).
    browser.click("#open").await;
    let started = Instant::now();
    // chromium writes the empty path as "/" before the query.
    let landed = |u: &str| is_url_with_token_of(&u.replacen(".sagemaker.aws/?", ".sagemaker.aws?", 1), "alice");
    let mut url = browser.url().await;
    while !landed(&url) {
        assert!(started.elapsed() < Duration::from_secs(30), "the browser is at {url}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        url = browser.url().await;
    }
    browser.close().await;
    srv.proc.signal("TERM");
    let (code, err) = srv.proc.wait();
    assert_eq!(code, Some(0), "{err}");
}
