//! The HTML report renders in a real browser: Debian's headless Chromium loads the file with
//! no network, its DOM holds the five line charts with the three runs, the stacked capacity
//! charts, hour ticks and named axes on each, the verdict, the attribution, the churn and the
//! consolidation moves, and screenshots come out at desktop and phone widths. The README's test
//! command installs Chromium first.

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
    // read stdout as it comes: a DOM larger than the pipe's buffer would otherwise block
    // chromium before it exits
    let mut stdout = child
        .stdout
        .take()
        .unwrap_or_else(|| panic!("chromium has no stdout"));
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
        out
    });
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
    reader
        .join()
        .unwrap_or_else(|_| panic!("reading chromium's output"))
}

#[test]
fn report_renders_in_headless_chromium() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/simulate/spot-storm.yaml");
    let scenario = Scenario::load(&path.to_string_lossy()).unwrap_or_else(|e| panic!("{e}"));
    let built = build(&scenario).unwrap_or_else(|e| panic!("{e}"));
    let outcomes: Vec<_> = [
        Which::Karpenter,
        Which::KarpenterNoConsolidation,
        Which::ClusterAutoscaler,
    ]
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
        8,
        "five line charts (nodes, pending, cost, utilisation, churn) and a capacity mix per run"
    );
    let series = dom.matches("<polyline class=\"series\"").count();
    assert_eq!(series, 15, "each line chart holds the three runs");
    assert!(!dom.contains("points=\"\""), "a series without points");
    assert!(
        dom.matches("<polygon class=\"layer\"").count() >= 3,
        "the capacity charts stack their layers"
    );
    assert!(
        dom.contains("data-layer=\"spot "),
        "a spot layer in the capacity mix"
    );
    // every chart: hour ticks 0h..12h every 2 hours, and both axes named
    assert_eq!(dom.matches("class=\"hour\"").count(), 8 * 7, "hour ticks");
    assert_eq!(
        dom.matches("time since start (hours)").count(),
        8,
        "the time axis is named on every chart"
    );
    assert!(dom.contains("id=\"verdict\""), "the verdict paragraph");
    assert!(
        dom.contains("id=\"attribution\""),
        "the savings attribution"
    );
    assert!(dom.contains("id=\"churn\""), "the churn table");
    assert!(dom.contains("id=\"moves\""), "the consolidation moves");
    assert!(
        dom.contains("name=\"viewport\"") && dom.contains("svg{width:100%"),
        "charts scale to a phone's width"
    );

    // at a phone's width the page still renders charts and tables
    let phone = dir.join("phone.png");
    headless(
        &dir.join("profile-phone"),
        &[
            format!("--screenshot={}", phone.display()),
            "--window-size=390,2400".into(),
            url.clone(),
        ],
    );
    let bytes = std::fs::read(&phone).unwrap_or_else(|e| panic!("no phone screenshot: {e}"));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        bytes.len() > 30_000,
        "phone screenshot of {} bytes looks blank",
        bytes.len()
    );

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
