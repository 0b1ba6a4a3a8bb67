//! The inspectors' console in a real browser (headless Chromium over WebDriver):
//! sign-in with one-time links, search, a record, the integrity page on an intact
//! and on an altered ledger, the citizen's report, the charts, on a laptop and on
//! a phone; refusals of non-auditors, stale and reused links and forged
//! cross-site posts; no error in the browser's console; and every page an
//! audited access that shows in the citizen's own list.

use std::path::Path;
use std::time::Duration;

use integration_tests::browser::{Browser, forger};
use integration_tests::console::{console_config, link_for};
use integration_tests::{TestPki, channel};
use lienthong_proto::v1::ListSubjectAccessesRequest;
use lienthong_proto::v1::subject_access_service_client::SubjectAccessServiceClient;

/// Uses a link in the browser: its page, then its button.
async fn sign_in(browser: &Browser, url: &str) {
    browser.open(url).await;
    browser.click("#signin").await;
}

/// The console's messages so far that are errors, leaving out `expected`
/// (the status lines of pages the test was meant to be refused).
async fn errors(browser: &Browser, expected: &[&str]) -> Vec<String> {
    browser
        .console_messages()
        .await
        .into_iter()
        .filter(|(level, message)| {
            level == "SEVERE" && !expected.iter().any(|e| message.contains(e))
        })
        .map(|(_, message)| message)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inspector_reviews_the_log_in_a_browser() {
    let artefacts = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let Some(browser) =
        Browser::start("an_inspector_reviews_the_log_in_a_browser", artefacts).await
    else {
        return;
    };
    let pki = TestPki::new();
    let config = console_config(&pki);
    let (registry, _) = integration_tests::population(Duration::ZERO);
    let gw = integration_tests::start(&config, registry).await;
    let console = gw.console_addr().expect("the console runs");
    let base = format!("https://{console}");

    // A lookup through gRPC, a moment before.
    let lan = integration_tests::sim_id("001085", true);
    integration_tests::identity(&gw, &pki, "H99.01")
        .get_citizen(integration_tests::citizen_request(&lan))
        .await
        .unwrap();

    // The inspectorate signs in with a one-time link.
    let first = link_for(&config, console, "H99.90", Duration::from_secs(60));
    sign_in(&browser, &first).await;
    assert_eq!(browser.client.current_url().await.unwrap().path(), "/");
    assert!(browser.text("header").await.contains("H99.90"));
    assert!(browser.text("main").await.contains("Chỉ số QĐ 766"));
    browser.screenshot("overview").await;

    // Search the citizen: the lookup is there.
    browser.open(&format!("{base}/search")).await;
    browser
        .client
        .find(fantoccini::Locator::Css("input[name=subject]"))
        .await
        .unwrap()
        .send_keys(&lan)
        .await
        .unwrap();
    browser.click("#search").await;
    let rows = browser.text("table.records tbody").await;
    assert!(rows.contains("H99.01"), "{rows}");
    assert!(rows.contains("Tra cứu thông tin công dân"), "{rows}");
    assert!(
        rows.contains("Bộ phận Một cửa tỉnh"),
        "the agency's name: {rows}"
    );
    browser.screenshot("search").await;

    // Its record: every field, its hash checked.
    let seq: u64 = browser
        .text("table.records tbody tr:last-child a.seq")
        .await
        .parse()
        .unwrap();
    browser
        .click("table.records tbody tr:last-child a.seq")
        .await;
    assert_eq!(browser.text("#seq").await, seq.to_string());
    assert_eq!(browser.text("#subject").await, lan);
    assert!(browser.text("#hash-check").await.contains("khớp"));
    browser.screenshot("record").await;

    // The integrity page: verified.
    browser.open(&format!("{base}/integrity")).await;
    assert!(browser.text("#verdict").await.contains("Nhật ký toàn vẹn"));
    browser.screenshot("integrity").await;

    // The citizen's report, for print, and the export page.
    browser.open(&format!("{base}/citizen?id={lan}")).await;
    let report = browser.text("section.report").await;
    assert!(report.contains("Báo cáo các lần truy cập dữ liệu cá nhân"));
    assert!(report.contains("Bộ phận Một cửa tỉnh"), "{report}");
    assert!(report.contains("Họ và tên"), "fields by name: {report}");
    browser.screenshot("citizen-report").await;
    browser.open(&format!("{base}/export")).await;
    browser.screenshot("export").await;

    // On a phone.
    browser.client.set_window_size(390, 844).await.unwrap();
    browser.open(&format!("{base}/search?subject={lan}")).await;
    browser.screenshot("search-phone").await;
    browser.client.set_window_size(1366, 768).await.unwrap();
    assert_eq!(
        errors(&browser, &[]).await,
        Vec::<String>::new(),
        "no errors in the browser's console"
    );

    // A forged cross-site post does not sign the inspector out.
    let forged = forger(format!("{base}/signout")).await;
    browser.open(&format!("http://{forged}/")).await;
    browser.wait_for("#refusal").await;
    let refusal = browser.text("#refusal").await;
    assert!(refusal.contains("CSRF"), "{refusal}");
    browser.open(&format!("{base}/search")).await;
    assert_eq!(
        browser.client.current_url().await.unwrap().path(),
        "/search",
        "still signed in"
    );

    // A used link, a stale link, a non-auditor: refused.
    sign_in(&browser, &first).await;
    assert!(browser.text("#refusal").await.contains("đã được dùng"));
    let stale = link_for(&config, console, "H99.90", Duration::from_millis(1));
    tokio::time::sleep(Duration::from_millis(5)).await;
    sign_in(&browser, &stale).await;
    assert!(browser.text("#refusal").await.contains("hết hạn"));
    let department = link_for(&config, console, "H99.01", Duration::from_secs(60));
    sign_in(&browser, &department).await;
    assert!(
        browser
            .text("#refusal")
            .await
            .contains("không giữ vai trò kiểm toán")
    );
    browser.screenshot("refused").await;
    assert_eq!(
        errors(&browser, &["status of 403"]).await,
        Vec::<String>::new(),
        "nothing but the refusals' statuses"
    );

    // Every page the inspector saw about Lan is in Lan's own list.
    let mut portal = SubjectAccessServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let listed = portal
        .list_subject_accesses(ListSubjectAccessesRequest {
            personal_id: lan.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let seen: Vec<(&str, &str)> = listed
        .accesses
        .iter()
        .map(|a| (a.agency_code.as_str(), a.operation.as_str()))
        .collect();
    for page in ["Console/Search", "Console/Record", "Console/CitizenReport"] {
        assert!(seen.contains(&("H99.90", page)), "{page} in {seen:?}");
    }
    assert!(seen.contains(&("H99.01", "IdentityService/GetCitizen")));

    // The ledger, altered offline (a copy): the integrity page names the record.
    let data = config.data_dir.clone();
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
    let copy = pki.dir.path().join("altered");
    copy_dir(&data, &copy);
    lienthong_ledger::forge::embedded_rewrite(&copy.join("ledger.redb"), seq, |r| {
        r.purpose = "bao-cao-sai".into();
    });
    let mut altered = console_config(&pki);
    altered.data_dir = copy;
    let (registry, _) = integration_tests::population(Duration::ZERO);
    let gw = integration_tests::start(&altered, registry).await;
    let console = gw.console_addr().unwrap();
    sign_in(
        &browser,
        &link_for(&altered, console, "H99.90", Duration::from_secs(60)),
    )
    .await;
    browser.open(&format!("https://{console}/integrity")).await;
    let verdict = browser.text("#verdict").await;
    assert!(verdict.contains("đã bị thay đổi"), "{verdict}");
    assert_eq!(browser.text("#first-bad").await, format!("số {seq}"));
    browser.screenshot("integrity-altered").await;
    browser.close().await;
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
