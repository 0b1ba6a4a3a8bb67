//! The overview: what a person would rather look at than read, drawn on the
//! server as SVG (no script, nothing fetched from elsewhere). Accesses per agency
//! per day over two weeks, refusals by reason, the busiest subjects of the week,
//! and the QĐ 766 figures per month. The figures come from one read of the last
//! two weeks of the log, bounded; a page that hits the bound says so.

use std::collections::HashMap;
use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use lienthong_ledger::Walk;
use lienthong_proto::Month;
use lienthong_proto::v1::Decision;
use maud::{Markup, html};

use super::{Inspector, Shown, view};
use crate::audit::record::micros;
use crate::policy::Operation;

/// Days the charts cover.
const DAYS: i64 = 14;
/// Records the overview reads at most.
const READ: u64 = 1_000_000;
/// Agencies drawn on their own; the rest are summed.
const TOP: usize = 5;
/// Months of QĐ 766 figures.
const MONTHS: usize = 6;
const DAY_MICROS: i64 = 86_400_000_000;
/// Fills of the series, in order (then "other").
const COLOURS: [&str; 6] = [
    "#1f5fa8", "#d9822b", "#2e8b57", "#8e44ad", "#c0392b", "#8a8f98",
];

/// What two weeks of the log add up to.
#[derive(Default)]
struct Tallies {
    /// Per day (0 = the oldest), per agency.
    per_day: Vec<HashMap<String, u64>>,
    /// Refusals by reason.
    refusals: HashMap<String, u64>,
    /// Accesses per subject over the last 7 days.
    subjects: HashMap<String, u64>,
    read: u64,
}

async fn tally(
    store: &std::sync::Arc<dyn lienthong_ledger::Store>,
    now: i64,
) -> Result<Tallies, lienthong_ledger::Error> {
    let today = view_day(now);
    let since = today - (DAYS - 1) * DAY_MICROS;
    let week = today - 6 * DAY_MICROS;
    let from = store.audit_seq_at(since).await?;
    let mut t = Tallies {
        per_day: vec![HashMap::new(); DAYS as usize],
        ..Tallies::default()
    };
    Walk::new(store.clone(), from, 0)
        .each(|item| {
            let lienthong_ledger::Item::Record(r) = item else {
                return true;
            };
            t.read += 1;
            let at = micros(r.at.as_ref());
            let day = ((at - since).max(0) / DAY_MICROS).min(DAYS - 1) as usize;
            *t.per_day[day].entry(r.agency_code.clone()).or_default() += 1;
            if r.decision != Decision::Granted as i32 {
                let why = if r.reason.is_empty() {
                    view::decision(r.decision).to_owned()
                } else {
                    view::reason(&r.reason).to_owned()
                };
                *t.refusals.entry(why).or_default() += 1;
            }
            if at >= week && !r.subject_personal_id.is_empty() {
                *t.subjects.entry(r.subject_personal_id).or_default() += 1;
            }
            t.read < READ
        })
        .await?;
    Ok(t)
}

/// The start of the Vietnam day holding `micros`.
fn view_day(micros: i64) -> i64 {
    let date = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(lienthong_proto::VIETNAM)
        .date();
    super::search::day_start(date)
}

/// What the overview shows: computed at most once every [`FRESH`] for every
/// inspector, so a page reloaded does not read two weeks of log and six months
/// of dossiers again.
pub struct Figures {
    tallies: Tallies,
    months: Vec<(Month, lienthong_proto::v1::IndicatorRow)>,
    /// When they were computed (microseconds since the Unix epoch).
    at: i64,
    computed: std::time::Instant,
}

/// How long figures are shown before they are computed again.
const FRESH: std::time::Duration = std::time::Duration::from_secs(60);

async fn figures(console: &super::Console) -> Result<Arc<Figures>, lienthong_ledger::Error> {
    let cached = console.figures.lock().expect("figures").clone();
    if let Some(f) = cached.filter(|f| f.computed.elapsed() < FRESH) {
        return Ok(f);
    }
    let store = console.store();
    let now = crate::clock::now_micros();
    let tallies = tally(store, now).await?;
    let mut months = Vec::with_capacity(MONTHS);
    let mut month = Month::of(now / 1_000_000);
    for _ in 0..MONTHS {
        let report = crate::report::indicators(&**store, month, "", now / 1_000_000).await?;
        months.push((month, report.rows.last().cloned().unwrap_or_default()));
        month = Month::of(month.start() - 1);
    }
    months.reverse();
    let f = Arc::new(Figures {
        tallies,
        months,
        at: now,
        computed: std::time::Instant::now(),
    });
    *console.figures.lock().expect("figures") = Some(f.clone());
    Ok(f)
}

/// The overview page.
pub async fn overview(state: Shown, inspector: Inspector) -> Response {
    let console = &state.0;
    let f = match figures(console).await {
        Ok(f) => f,
        Err(e) => return super::pages::failed(&e),
    };
    let (t, months) = (&f.tallies, &f.months);
    if let Err(page) = console
        .viewed(
            &inspector,
            Operation::ConsoleCharts,
            "",
            format!("{} records read", t.read),
        )
        .await
    {
        return page;
    }
    let today = view_day(f.at);
    let body = html! {
        p.note { "Số liệu tính lúc " (view::at(f.at)) "." }
        @if t.read >= READ { p.note { "Biểu đồ tính trên " (READ) " bản ghi đầu tiên của hai tuần qua." } }
        section.chart { h2 { "Số lần truy cập theo cơ quan, 14 ngày qua" } (per_agency(t, today)) }
        section.chart { h2 { "Các lần từ chối theo lý do, 14 ngày qua" } (hbars(top(&t.refusals, 8), None)) }
        section.chart { h2 { "Công dân được tra cứu nhiều nhất trong tuần" }
            p.note { "Một số định danh bị tra cứu dồn dập là dấu hiệu cần xem kỹ." }
            (hbars(top(&t.subjects, 10), Some("/search?subject="))) }
        section.chart { h2 { "Chỉ số QĐ 766 theo tháng tiếp nhận (toàn tỉnh)" } (indicators(months)) }
    };
    view::page("Tổng quan", Some(&inspector), body).into_response()
}

/// The `n` largest counts, largest first.
fn top(counts: &HashMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut all: Vec<(String, u64)> = counts.iter().map(|(k, v)| (k.clone(), *v)).collect();
    all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    all.truncate(n);
    all
}

/// Stacked bars: a bar per day, a colour per agency (the busiest five, then the rest).
fn per_agency(t: &Tallies, today: i64) -> Markup {
    let mut totals: HashMap<String, u64> = HashMap::new();
    for day in &t.per_day {
        for (agency, n) in day {
            *totals.entry(agency.clone()).or_default() += n;
        }
    }
    let series: Vec<String> = top(&totals, TOP).into_iter().map(|(a, _)| a).collect();
    let peak = t
        .per_day
        .iter()
        .map(|d| d.values().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h, left, bottom) = (720.0, 240.0, 40.0, 30.0);
    let slot = (w - left) / DAYS as f64;
    let scale = (h - bottom - 10.0) / peak as f64;
    html! {
        svg.chart viewBox=(format!("0 0 {w} {h}")) role="img" aria-label="Số lần truy cập theo cơ quan theo ngày" {
            text x="0" y="12" font-size="11" fill="#444" { (peak) }
            line x1=(left) y1=(h - bottom) x2=(w) y2=(h - bottom) stroke="#999" {}
            @for (i, day) in t.per_day.iter().enumerate() {
                @let x = left + i as f64 * slot + 4.0;
                @let mut y = h - bottom;
                @for (k, agency) in series.iter().map(Some).chain([None]).enumerate() {
                    @let n = match agency { Some(a) => day.get(a).copied().unwrap_or(0), None => day.iter().filter(|(a, _)| !series.contains(a)).map(|(_, n)| n).sum() };
                    @if n > 0 {
                        @let bar = n as f64 * scale;
                        @let top_y = { y -= bar; y };
                        rect x=(x) y=(top_y) width=(slot - 8.0) height=(bar) fill=(COLOURS[k.min(COLOURS.len() - 1)]) { title { (agency.map_or("Khác", String::as_str)) ": " (n) } }
                    }
                }
                @let date = view::at(today - (DAYS - 1 - i as i64) * DAY_MICROS);
                text x=(x + (slot - 8.0) / 2.0) y=(h - 12.0) font-size="10" text-anchor="middle" fill="#444" { (date.get(0..5).unwrap_or("")) }
            }
        }
        ul.legend {
            @for (k, agency) in series.iter().enumerate() {
                li { span.swatch { svg width="12" height="12" { rect width="12" height="12" fill=(COLOURS[k]) {} } } (agency) }
            }
            li { span.swatch { svg width="12" height="12" { rect width="12" height="12" fill=(COLOURS[COLOURS.len() - 1]) {} } } "Khác" }
        }
    }
}

/// Horizontal bars, labelled, each a link when `link` prefixes its label.
fn hbars(items: Vec<(String, u64)>, link: Option<&str>) -> Markup {
    if items.is_empty() {
        return html! { p.empty { "Không có." } };
    }
    let peak = items.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    let (w, row, label) = (720.0, 26.0, 260.0);
    let h = row * items.len() as f64;
    html! {
        svg.chart viewBox=(format!("0 0 {w} {h}")) role="img" {
            @for (i, (name, n)) in items.iter().enumerate() {
                @let y = i as f64 * row;
                @let bar = (w - label - 60.0) * *n as f64 / peak as f64;
                @if let Some(prefix) = link {
                    a href=(format!("{prefix}{name}")) { text x="0" y=(y + 17.0) font-size="13" fill="#1f5fa8" { (name) } }
                } @else {
                    text x="0" y=(y + 17.0) font-size="13" fill="#222" { (name) }
                }
                rect x=(label) y=(y + 4.0) width=(bar.max(1.0)) height=(row - 8.0) fill=(COLOURS[0]) {}
                text x=(label + bar + 6.0) y=(y + 17.0) font-size="12" fill="#222" { (n) }
            }
        }
    }
}

/// Grouped bars per month: online, on time, synced (percent).
fn indicators(months: &[(Month, lienthong_proto::v1::IndicatorRow)]) -> Markup {
    let names = [
        "Tỷ lệ hồ sơ trực tuyến",
        "Tỷ lệ xử lý trước hạn, đúng hạn",
        "Tỷ lệ đồng bộ lên Cổng DVCQG",
    ];
    let (w, h, bottom) = (720.0, 220.0, 30.0);
    let slot = w / months.len().max(1) as f64;
    let bar = (slot - 20.0) / 3.0;
    let scale = (h - bottom - 16.0) / 100.0;
    html! {
        svg.chart viewBox=(format!("0 0 {w} {h}")) role="img" aria-label="Chỉ số QĐ 766 theo tháng" {
            line x1="0" y1=(h - bottom) x2=(w) y2=(h - bottom) stroke="#999" {}
            @for (i, (month, row)) in months.iter().enumerate() {
                @let x = i as f64 * slot + 10.0;
                @for (k, rate) in [row.online_rate, row.on_time_rate, row.sync_rate].into_iter().enumerate() {
                    @if let Some(rate) = rate {
                        @let height = rate * 100.0 * scale;
                        rect x=(x + k as f64 * bar) y=(h - bottom - height) width=(bar - 2.0) height=(height) fill=(COLOURS[k]) { title { (names[k]) ": " (format!("{:.1}", rate * 100.0)) "%" } }
                        text x=(x + k as f64 * bar + bar / 2.0) y=(h - bottom - height - 3.0) font-size="10" text-anchor="middle" fill="#222" { (format!("{:.0}", rate * 100.0)) }
                    }
                }
                text x=(x + (slot - 20.0) / 2.0) y=(h - 10.0) font-size="11" text-anchor="middle" fill="#444" { (month) " (" (row.received) " hồ sơ)" }
            }
        }
        ul.legend {
            @for (k, name) in names.iter().enumerate() {
                li { span.swatch { svg width="12" height="12" { rect width="12" height="12" fill=(COLOURS[k]) {} } } (name) }
            }
        }
    }
}
