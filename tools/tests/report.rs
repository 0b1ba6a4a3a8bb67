//! `lienthong report indicators` against a running gateway (the real binary): the
//! month's QĐ 766 indicators as a table, JSON and CSV under the decision's names;
//! refused to an agency without the reporter role, and for a month that is not one.

use std::process::{Command, Output};

use lienthong_proto::v1::dossier_service_client::DossierServiceClient;
use support::dossiers::{step, submission};
use support::{BIN, channel, free_port, serve};

mod support;

fn report(dir: &std::path::Path, port: u16, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .args([
            "report",
            "indicators",
            "--url",
            &format!("https://localhost:{port}"),
        ])
        .args(args)
        .output()
        .expect("report runs")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_month_is_reported_as_a_table_json_and_csv() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path().to_path_buf();
    let port = free_port();
    let d = dir.clone();
    let _gateway = tokio::task::spawn_blocking(move || serve(&d, port))
        .await
        .unwrap();
    let mut client = DossierServiceClient::new(channel(&dir, port, "H99.01"));
    for n in 1..=3 {
        client
            .submit_dossier(submission(n))
            .await
            .expect("submitted");
    }
    // One is rejected at reception: it ends without a result.
    let mut rejected = step(3, 1);
    rejected.status = lienthong_proto::v1::DossierStatus::Rejected as i32;
    client
        .update_dossier_status(rejected)
        .await
        .expect("rejected");
    let month = lienthong_proto::Month::current().to_string();

    let out = report(&dir, port, &["--month", &month, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["month"], month.as_str());
    assert_eq!(
        json["names"]["on_time_rate"],
        "Tỷ lệ hồ sơ xử lý trước hạn, đúng hạn"
    );
    let rows = json["rows"].as_array().expect("rows");
    let total = rows.last().expect("a total");
    assert_eq!(
        (total["agency_code"].as_str(), total["received"].as_u64()),
        (Some(""), Some(3))
    );
    assert_eq!(total["ended_without_result"], 1);
    assert_eq!(total["in_progress"], 2);
    assert_eq!(
        total["on_time_rate"],
        serde_json::Value::Null,
        "nothing resolved yet"
    );

    let out = report(
        &dir,
        port,
        &["--month", &month, "--csv", "--agency", "H99.01"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let csv = String::from_utf8(out.stdout).expect("UTF-8");
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("Mã cơ quan,Mã TTHC,Số hồ sơ tiếp nhận,"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("Tỷ lệ hồ sơ đồng bộ lên Cổng Dịch vụ công quốc gia"));
    assert_eq!(lines.len(), 4, "procedure, agency, total: {csv}");
    assert!(lines[1].starts_with("H99.01,1.001193,3,"), "{}", lines[1]);

    let out = report(&dir, port, &["--month", &month]);
    let table = text(&out);
    assert!(out.status.success(), "{table}");
    assert!(
        table.contains(&format!("tháng {month}")) && table.contains("(tất cả)"),
        "{table}"
    );
    assert!(
        table.contains("[3] Số hồ sơ tiếp nhận (received)"),
        "{table}"
    );

    let out = report(&dir, port, &["--month", &month, "--as", "H99.01"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("reporter role"), "{}", text(&out));
    let out = report(&dir, port, &["--month", "2026/11"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("YYYY-MM"), "{}", text(&out));
}
