//! The HTML report renders in a real browser: Debian's headless Chromium loads the file with
//! no network, its DOM holds the four charts with both autoscalers' series and the verdict,
//! and a screenshot comes out. The README's test command installs Chromium first.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use karpenter_sim::report::html;
use karpenter_sim::{Scenario, Which, build, run};

fn chromium() -> PathBuf {
    if let Ok(p) = std::env::var("CHROMIUM") {
        return PathBuf::from(p);
    }
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "Chromium not found: install Debian's chromium package (the README's test command, \
         .ci/test, does) or set CHROMIUM"
    );
}

/// Run Chromium headless with `args`, at most two minutes; its stdout.
fn headless(profile: &Path, args: &[String]) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting chromium: {e}"));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Ok(None) => {
                let _ = child.kill();
                panic!("chromium did not finish in two minutes");
            }
            Err(e) => panic!("waiting for chromium: {e}"),
        }
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("chromium output: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn report_renders_in_headless_chromium() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/simulate/spot-storm.yaml");
    let scenario = Scenario::load(&path.to_string_lossy()).unwrap_or_else(|e| panic!("{e}"));
    let built = build(&scenario).unwrap_or_else(|e| panic!("{e}"));
    let outcomes: Vec<_> = [Which::Karpenter, Which::ClusterAutoscaler]
        .into_iter()
        .map(|w| run(&scenario, &built, w, &mut |_, _| {}).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let dir = std::env::temp_dir().join(format!("karpenter-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let file = dir.join("report.html");
    let page = html(&scenario, &outcomes);
    // the only address is the SVG namespace, which is a name, not a fetch
    let fetches = page
        .replace("xmlns=\"http://www.w3.org/2000/svg\"", "")
        .matches("://")
        .count();
    assert_eq!(
        fetches, 0,
        "the report must not load anything from the network"
    );
    std::fs::write(&file, page).unwrap_or_else(|e| panic!("{e}"));
    let url = format!("file://{}", file.display());

    let dom = headless(
        &dir.join("profile-dom"),
        &["--dump-dom".into(), url.clone()],
    );
    assert!(
        dom.contains("<h1>spot-storm</h1>"),
        "no title in the rendered DOM"
    );
    assert_eq!(
        dom.matches("<svg").count(),
        4,
        "four charts: nodes, pending, cost, utilisation"
    );
    let series = dom.matches("<polyline class=\"series\"").count();
    assert_eq!(series, 8, "each chart holds karpenter and the CA baseline");
    assert!(!dom.contains("points=\"\""), "a series without points");
    assert!(dom.contains("id=\"verdict\""), "the verdict paragraph");
    assert!(dom.contains("saves"), "the verdict says by how much");

    let shot = dir.join("report.png");
    headless(
        &dir.join("profile-shot"),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1200,2400".into(),
            url,
        ],
    );
    let bytes = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot: {e}"));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "the screenshot is a PNG");
    // a blank page compresses to a few kilobytes; charts and tables do not
    assert!(
        bytes.len() > 50_000,
        "screenshot of {} bytes looks blank",
        bytes.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
