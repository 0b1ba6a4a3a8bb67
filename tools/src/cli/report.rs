//! `lienthong report`: the QĐ 766 indicators of a running gateway
//! (`ReportService`, role `reporter`), as a table, JSON or CSV, under the names
//! the decision gives them.

use clap::Subcommand;
use lienthong_proto::v1::report_service_client::ReportServiceClient;
use lienthong_proto::v1::{GetIndicatorsRequest, IndicatorRow, Indicators};

use crate::client::{Connect, explain};

/// `report` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// The QĐ 766 indicators of the dossiers received in a month, per agency and
    /// procedure (Vietnam time).
    Indicators {
        /// The running gateway.
        #[command(flatten)]
        connect: Connect,
        /// The month of receipt, YYYY-MM.
        #[arg(long)]
        month: String,
        /// Only this agency and the agencies below it.
        #[arg(long, default_value = "")]
        agency: String,
        /// The agency holding the reporter role to call as.
        #[arg(long = "as", default_value = "H99.99")]
        caller: String,
        /// JSON: the rows with every figure, and the indicators' names.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// CSV: one line per row, headed by the indicators' names.
        #[arg(long)]
        csv: bool,
    },
}

/// One column: its key, the decision's name for it, and its value in a row.
struct Column {
    key: &'static str,
    name: &'static str,
    value: fn(&IndicatorRow) -> Value,
}

enum Value {
    Text(String),
    Count(u64),
    Rate(Option<f64>),
}

const COLUMNS: [Column; 14] = [
    Column {
        key: "agency_code",
        name: "Mã cơ quan",
        value: |r| Value::Text(r.agency_code.clone()),
    },
    Column {
        key: "procedure_code",
        name: "Mã TTHC",
        value: |r| Value::Text(r.procedure_code.clone()),
    },
    Column {
        key: "received",
        name: "Số hồ sơ tiếp nhận",
        value: |r| Value::Count(r.received),
    },
    Column {
        key: "online",
        name: "Số hồ sơ trực tuyến",
        value: |r| Value::Count(r.online),
    },
    Column {
        key: "online_rate",
        name: "Tỷ lệ hồ sơ trực tuyến",
        value: |r| Value::Rate(r.online_rate),
    },
    Column {
        key: "resolved_on_time",
        name: "Đã giải quyết trước hạn, đúng hạn",
        value: |r| Value::Count(r.resolved_on_time),
    },
    Column {
        key: "resolved_late",
        name: "Đã giải quyết trễ hạn",
        value: |r| Value::Count(r.resolved_late),
    },
    Column {
        key: "in_progress",
        name: "Đang giải quyết trong hạn",
        value: |r| Value::Count(r.in_progress),
    },
    Column {
        key: "in_progress_overdue",
        name: "Đang giải quyết quá hạn",
        value: |r| Value::Count(r.in_progress_overdue),
    },
    Column {
        key: "ended_without_result",
        name: "Không tiếp nhận, rút, dừng xử lý",
        value: |r| Value::Count(r.ended_without_result),
    },
    Column {
        key: "on_time_rate",
        name: "Tỷ lệ hồ sơ xử lý trước hạn, đúng hạn",
        value: |r| Value::Rate(r.on_time_rate),
    },
    Column {
        key: "synced",
        name: "Số hồ sơ đã đồng bộ",
        value: |r| Value::Count(r.synced),
    },
    Column {
        key: "sync_rate",
        name: "Tỷ lệ hồ sơ đồng bộ lên Cổng Dịch vụ công quốc gia",
        value: |r| Value::Rate(r.sync_rate),
    },
    Column {
        key: "oldest_unsynced_age_seconds",
        name: "Hồ sơ chưa đồng bộ lâu nhất (giây)",
        value: |r| Value::Count(r.oldest_unsynced_age_seconds),
    },
];

/// Runs a `report` subcommand; the text to print.
pub async fn run(command: &ReportCommand) -> Result<String, String> {
    let ReportCommand::Indicators {
        connect,
        month,
        agency,
        caller,
        json,
        csv,
    } = command;
    let report = ReportServiceClient::new(connect.channel(caller)?)
        .get_indicators(GetIndicatorsRequest {
            month: month.clone(),
            agency_code: agency.clone(),
        })
        .await
        .map_err(explain)?
        .into_inner();
    Ok(match (json, csv) {
        (true, _) => as_json(&report),
        (_, true) => as_csv(&report),
        _ => as_table(&report),
    })
}

fn computed_at(report: &Indicators) -> String {
    report
        .computed_at
        .map(|t| lienthong_proto::in_vietnam(t.seconds * 1_000_000))
        .unwrap_or_default()
}

fn as_json(report: &Indicators) -> String {
    let value = |v: Value| match v {
        Value::Text(s) => serde_json::Value::from(s),
        Value::Count(n) => serde_json::Value::from(n),
        Value::Rate(r) => r.map_or(serde_json::Value::Null, serde_json::Value::from),
    };
    let rows: Vec<serde_json::Value> = report
        .rows
        .iter()
        .map(|row| {
            COLUMNS
                .iter()
                .map(|c| (c.key.to_owned(), value((c.value)(row))))
                .collect::<serde_json::Map<_, _>>()
                .into()
        })
        .collect();
    let names: serde_json::Map<_, _> = COLUMNS
        .iter()
        .map(|c| (c.key.to_owned(), c.name.into()))
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "month": report.month,
        "computed_at": computed_at(report),
        "names": names,
        "rows": rows,
    }))
    .unwrap_or_default()
}

fn as_csv(report: &Indicators) -> String {
    let quote = |s: &str| match s.contains([',', '"', '\n']) {
        true => format!("\"{}\"", s.replace('"', "\"\"")),
        false => s.to_owned(),
    };
    let mut out = COLUMNS
        .iter()
        .map(|c| quote(c.name))
        .collect::<Vec<_>>()
        .join(",");
    for row in &report.rows {
        let cells: Vec<String> = COLUMNS
            .iter()
            .map(|c| match (c.value)(row) {
                Value::Text(s) => quote(&s),
                Value::Count(n) => n.to_string(),
                Value::Rate(r) => r.map(|r| format!("{r:.4}")).unwrap_or_default(),
            })
            .collect();
        out.push('\n');
        out.push_str(&cells.join(","));
    }
    out
}

fn as_table(report: &Indicators) -> String {
    let cell = |v: Value| match v {
        Value::Text(s) if s.is_empty() => "(tất cả)".to_owned(),
        Value::Text(s) => s,
        Value::Count(n) => n.to_string(),
        Value::Rate(r) => r.map_or("–".to_owned(), |r| format!("{:.1}%", r * 100.0)),
    };
    let header: Vec<String> = (1..=COLUMNS.len()).map(|i| format!("[{i}]")).collect();
    let mut lines = vec![header];
    for row in &report.rows {
        lines.push(COLUMNS.iter().map(|c| cell((c.value)(row))).collect());
    }
    let widths: Vec<usize> = (0..COLUMNS.len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = format!(
        "Bộ chỉ số QĐ 766/QĐ-TTg — hồ sơ tiếp nhận tháng {} (tính lúc {})\n",
        report.month,
        computed_at(report)
    );
    for line in &lines {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| match i {
                0 | 1 => format!("{c:<w$}"),
                _ => format!("{c:>w$}"),
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    for (i, c) in COLUMNS.iter().enumerate() {
        out.push_str(&format!("[{}] {} ({})\n", i + 1, c.name, c.key));
    }
    out.trim_end().to_owned()
}
