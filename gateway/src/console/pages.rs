//! The console's pages over the log: search, one record, integrity, export, and a
//! citizen's access report. Each is recorded as the inspector's access before it
//! is sent (see [`super::Console::viewed`]).

use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::search::{Filter, Found};
use super::{Inspector, Shown, view};
use crate::audit::record::micros;
use crate::audit::{export, hex, query};
use crate::policy::Operation;

/// What the search form sends (every field optional).
#[derive(Deserialize, Default)]
pub struct SearchForm {
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub agency: String,
    #[serde(default)]
    pub operation: String,
    #[serde(default)]
    pub decision: String,
    /// `YYYY-MM-DD`, Vietnam time, inclusive.
    #[serde(default)]
    pub from: String,
    /// `YYYY-MM-DD`, Vietnam time, inclusive.
    #[serde(default)]
    pub to: String,
    /// The page: records below this number.
    #[serde(default)]
    pub before: Option<u64>,
}

/// The search page: the form, and the newest matching records, 50 a page.
pub async fn search(
    state: Shown,
    inspector: Inspector,
    Query(form): Query<SearchForm>,
) -> Response {
    let console = &state.0;
    let filter = match Filter::of(&form) {
        Ok(f) => f,
        Err(problem) => {
            return shown(
                "Tra cứu nhật ký",
                &inspector,
                search_form(&form, Some(&problem)),
            );
        }
    };
    let found = match super::search::run(&**console.store(), &filter, form.before).await {
        Ok(found) => found,
        Err(e) => return failed(&e),
    };
    if let Err(page) = console
        .viewed(
            &inspector,
            Operation::ConsoleSearch,
            &form.subject,
            filter.summary(),
        )
        .await
    {
        return page;
    }
    let body = html! {
        (search_form(&form, None))
        (results(console, &found))
        @if let Some(before) = found.next {
            p.pager { a id="next" href=(format!("/search?{}", filter.query(before))) { "Trang sau →" } }
        }
    };
    shown("Tra cứu nhật ký", &inspector, body)
}

fn search_form(form: &SearchForm, problem: Option<&str>) -> Markup {
    let operations: Vec<&str> = Operation::ALL.iter().map(|op| op.name()).collect();
    html! {
        @if let Some(problem) = problem { p.bad { (problem) } }
        form.search method="get" action="/search" {
            label { "Số định danh công dân" input name="subject" inputmode="numeric" maxlength="12" value=(form.subject); }
            label { "Mã cơ quan" input name="agency" maxlength="35" value=(form.agency); }
            label { "Thao tác" select name="operation" {
                option value="" { "Tất cả" }
                @for op in &operations {
                    option value=(op) selected[form.operation == *op] { (view::operation(op)) }
                }
            } }
            label { "Quyết định" select name="decision" {
                @for (value, name) in [("", "Tất cả"), ("granted", "Cho phép"), ("denied", "Từ chối"), ("invalid", "Không hợp lệ")] {
                    option value=(value) selected[form.decision == value] { (name) }
                }
            } }
            label { "Từ ngày" input type="date" name="from" value=(form.from); }
            label { "Đến ngày" input type="date" name="to" value=(form.to); }
            button type="submit" id="search" { "Tìm" }
        }
    }
}

fn results(console: &super::Console, found: &Found) -> Markup {
    html! {
        @if found.records.is_empty() {
            p.empty { "Không có bản ghi nào khớp." }
        } @else {
            table.records {
                thead { tr { th { "Số" } th { "Thời điểm" } th { "Cơ quan" } th { "Thao tác" } th { "Công dân" } th { "Quyết định" } th { "Lý do" } } }
                tbody {
                    @for r in &found.records {
                        tr.denied[r.decision != lienthong_proto::v1::Decision::Granted as i32] {
                            td { a.seq href=(format!("/record/{}", r.seq)) { (r.seq) } }
                            td { (view::at(micros(r.at.as_ref()))) }
                            td { (r.agency_code) " " span.name { (console.shared.directory.name(&r.agency_code).unwrap_or_default()) } }
                            td { (view::operation(&r.operation)) }
                            td.subject { (r.subject_personal_id) }
                            td { (view::decision(r.decision)) }
                            td { (view::reason(&r.reason)) }
                        }
                    }
                }
            }
        }
        @if found.scanned_out {
            p.note { "Đã xét một phần lớn nhật ký mà chưa đủ một trang: bấm “Trang sau” để tìm tiếp ở các bản ghi cũ hơn." }
        }
    }
}

/// One record, every field, its hash checked and the checkpoint that covers it.
pub async fn record(state: Shown, inspector: Inspector, Path(seq): Path<u64>) -> Response {
    let console = &state.0;
    let store = console.store();
    let r = match store.audit_record(seq).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return view::refused(
                StatusCode::NOT_FOUND,
                &format!(
                    "Bản ghi số {seq} không có trong kho trực tuyến (có thể đã được lưu trữ)."
                ),
            );
        }
        Err(e) => return failed(&e),
    };
    let covering = match store.audit_checkpoint_covering(seq).await {
        Ok(c) => c,
        Err(e) => return failed(&e),
    };
    if let Err(page) = console
        .viewed(
            &inspector,
            Operation::ConsoleRecord,
            &r.subject_personal_id,
            format!("record {seq}"),
        )
        .await
    {
        return page;
    }
    let hash_ok = crate::audit::record::hash(&r.prev_hash, &r) == r.hash.as_slice();
    let key = console
        .shared
        .audit
        .as_ref()
        .map(|l| l.public_key().to_vec())
        .unwrap_or_default();
    let body = html! {
        dl.record {
            dt { "Số thứ tự" } dd #seq { (r.seq) }
            dt { "Thời điểm" } dd { (view::at(micros(r.at.as_ref()))) }
            dt { "Cơ quan" } dd { (r.agency_code) " — " (console.shared.directory.name(&r.agency_code).unwrap_or("(không có trong danh bạ)")) }
            dt { "Cán bộ" } dd { (r.officer_id) }
            dt { "Thao tác" } dd { (view::operation(&r.operation)) " " code { (r.operation) } }
            dt { "Công dân" } dd #subject { (r.subject_personal_id) }
            dt { "Mục đích" } dd { (r.purpose) }
            dt { "Căn cứ pháp lý" } dd { (r.legal_basis) }
            dt { "Hồ sơ / vụ việc" } dd { (r.case_ref) }
            dt { "Quyết định" } dd { (view::decision(r.decision)) " " (view::reason(&r.reason)) }
            dt { "Mã kết quả gRPC" } dd { (r.outcome) }
            dt { "Trường đã cung cấp" } dd { (view::fields(&r.fields_released)) }
            dt { "Bộ nhớ đệm" } dd { (r.cache) }
            dt { "Mã yêu cầu" } dd { code { (r.request_id) } }
            dt { "Dấu vân tay chứng thư" } dd { code { (r.certificate_fingerprint) } }
            dt { "Mã băm trước" } dd { code.hash { (hex(&r.prev_hash)) } }
            dt { "Mã băm" } dd { code.hash { (hex(&r.hash)) } }
        }
        @if hash_ok {
            p.ok id="hash-check" { "Mã băm của bản ghi khớp với nội dung của nó." }
        } @else {
            p.bad id="hash-check" { "Mã băm KHÔNG khớp với nội dung: bản ghi đã bị sửa." }
        }
        h2 { "Điểm kiểm có chữ ký" }
        @match &covering {
            Some(c) => {
                p {
                    "Bản ghi này được điểm kiểm số " (c.seq) " lúc " (view::at(micros(c.at.as_ref()))) " bao phủ; chữ ký "
                    @if crate::audit::checkpoint::verify(c, &key).is_ok() { strong.ok-text { "hợp lệ" } } @else { strong.bad-text { "không hợp lệ" } }
                    " (khoá " code { (view::short(&c.public_key)) } ")."
                }
            }
            None => p { "Chưa có điểm kiểm nào bao phủ bản ghi này (điểm kiểm được ký sau vài giây)." },
        }
    };
    shown(&format!("Bản ghi số {seq}"), &inspector, body)
}

/// The whole log verified (archives too): green, or red naming the first bad record.
pub async fn integrity(state: Shown, inspector: Inspector) -> Response {
    let console = &state.0;
    let Some(log) = console.shared.audit.clone() else {
        return view::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "Nhật ký kiểm toán đang tắt ở cổng này.",
        );
    };
    let verdict = match log.verify(0, 0).await {
        Ok(v) => v,
        Err(e) => return failed(&e),
    };
    let store = console.store();
    let last = match store.audit_head().await {
        Ok(head) if head.checkpoint > 0 => store
            .audit_checkpoint_covering(head.checkpoint)
            .await
            .ok()
            .flatten(),
        _ => None,
    };
    let witnessed = log.witnessed().await.ok().flatten();
    let cosignatures = match &last {
        Some(c) => store.audit_cosignatures(c.seq).await.unwrap_or_default(),
        None => Vec::new(),
    };
    let summary = if verdict.ok {
        "verified".to_owned()
    } else {
        format!("first bad record {}", verdict.first_bad_seq)
    };
    if let Err(page) = console
        .viewed(&inspector, Operation::ConsoleIntegrity, "", summary)
        .await
    {
        return page;
    }
    let key = log.public_key();
    let body = html! {
        @if verdict.ok {
            div.verdict.ok id="verdict" {
                p { strong { "Nhật ký toàn vẹn." } " Đã kiểm tra " (verdict.records_checked) " bản ghi và " (verdict.checkpoints_checked) " điểm kiểm có chữ ký: mỗi bản ghi nối đúng vào bản ghi trước, và mọi chữ ký đều hợp lệ." }
            }
        } @else {
            div.verdict.bad id="verdict" {
                p { strong { "Nhật ký đã bị thay đổi." } " Bản ghi sai đầu tiên: " a id="first-bad" href=(format!("/record/{}", verdict.first_bad_seq)) { "số " (verdict.first_bad_seq) } "." }
                p { "Chi tiết: " code { (verdict.detail) } }
            }
        }
        h2 { "Điểm kiểm có chữ ký gần nhất" }
        @match &last {
            Some(c) => dl.record {
                dt { "Bao phủ đến bản ghi" } dd { (c.seq) }
                dt { "Lúc" } dd { (view::at(micros(c.at.as_ref()))) }
                dt { "Mã băm" } dd { code.hash { (hex(&c.hash)) } }
                dt { "Khoá ký (Ed25519)" } dd { code.hash { (hex(&c.public_key)) } }
                @if !c.root.is_empty() {
                    dt { "Gốc cây Merkle" } dd { code.hash id="root" { (hex(&c.root)) } }
                }
                dt { "Nhân chứng đã đồng ký" }
                dd id="cosigners" {
                    @if cosignatures.is_empty() { "chưa có" }
                    @for line in &cosignatures {
                        code { (line.split(' ').nth(1).unwrap_or_default()) } " "
                    }
                }
            },
            None => p { "Chưa có điểm kiểm nào." },
        }
        @if let Some(w) = &witnessed {
            @if w.lagging {
                div.verdict.bad id="witnesses" {
                    p { strong { "Nhân chứng chậm." } " Điểm kiểm mới nhất có đủ " (w.quorum) " chữ ký đồng ký bao phủ đến bản ghi " (w.cosigned) ", ký trước điểm kiểm mới nhất (" (w.latest) ") " (w.lag_seconds) " giây." }
                }
            } @else {
                p id="witnesses" { "Nhân chứng theo kịp: điểm kiểm có đủ " (w.quorum) " chữ ký đồng ký gần nhất bao phủ đến bản ghi " (w.cosigned) "." }
            }
        }
        p { "Khoá công khai mà cổng tin cậy: " code.hash { (hex(key)) } }
    };
    shown("Toàn vẹn nhật ký", &inspector, body)
}

/// The export form.
pub async fn export(inspector: Inspector, Query(form): Query<SearchForm>) -> Response {
    let body = html! {
        p { "Tải về nhật ký (JSON Lines) kèm các điểm kiểm có chữ ký và một dấu niêm phong ở cuối: kiểm tra được ngoại tuyến bằng " code { "lienthong audit verify --file <tệp>" } " hoặc " code { "python3 docs/verify_audit.py" } "." }
        form.search method="get" action="/export.jsonl" {
            label { "Từ ngày" input type="date" name="from" value=(form.from); }
            label { "Đến ngày" input type="date" name="to" value=(form.to); }
            button type="submit" id="download" { "Tải về" }
        }
    };
    shown("Xuất dữ liệu", &inspector, body)
}

/// The export file itself, streamed.
pub async fn export_file(
    state: Shown,
    inspector: Inspector,
    Query(form): Query<SearchForm>,
) -> Response {
    let console = &state.0;
    let Some(log) = console.shared.audit.clone() else {
        return view::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "Nhật ký kiểm toán đang tắt ở cổng này.",
        );
    };
    let (from, to) = match super::search::days(&form.from, &form.to) {
        Ok(range) => range,
        Err(problem) => return view::refused(StatusCode::BAD_REQUEST, &problem),
    };
    let stamp = |m: Option<i64>| m.map(crate::audit::record::timestamp);
    let (lo, hi) = match query::range(
        &**log.store(),
        0,
        0,
        stamp(from).as_ref(),
        stamp(to).as_ref(),
    )
    .await
    {
        Ok(r) => r,
        Err(e) => return failed(&e),
    };
    if let Err(page) = console
        .viewed(
            &inspector,
            Operation::ConsoleExport,
            "",
            format!("records {lo}..={hi}"),
        )
        .await
    {
        return page;
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(64);
    tokio::spawn(async move {
        let mut items = query::Export::new(log.store().clone(), lo, hi);
        loop {
            let line = match items.next(log.signer()).await {
                Ok(Some(item)) => Ok(export::to_line(&item) + "\n"),
                Ok(None) => return,
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            if tx.send(line).await.is_err() {
                return;
            }
        }
    });
    let name = format!("attachment; filename=\"lienthong-audit-{lo}-{hi}.jsonl\"");
    (
        [
            (
                header::CONTENT_TYPE,
                "application/jsonl; charset=utf-8".to_owned(),
            ),
            (header::CONTENT_DISPOSITION, name),
        ],
        Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
        .into_response()
}

/// A page in the frame, 200.
pub(super) fn shown(title: &str, inspector: &Inspector, body: Markup) -> Response {
    view::page(title, Some(inspector), body).into_response()
}

/// A failure to read the log, as a page (the detail goes to the log).
pub(super) fn failed(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "console: reading the log failed");
    view::refused(
        StatusCode::SERVICE_UNAVAILABLE,
        "Không đọc được nhật ký lúc này. Hãy thử lại sau.",
    )
}
