//! A citizen's access report, for print on A4 in Vietnamese: every access to
//! their data the live log holds, newest first, each with its record hash, the
//! signed checkpoint that covers it, and how anyone can check both. Recorded as
//! the inspector's access to that citizen, so it shows in their own list.

use axum::extract::Query;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

use super::pages::{failed, shown};
use super::{Inspector, Shown, view};
use crate::audit::hex;
use crate::audit::record::micros;
use crate::policy::Operation;
use crate::services::subjects;

#[derive(Deserialize)]
pub struct CitizenForm {
    #[serde(default)]
    id: String,
}

/// A citizen's access report, for print on A4: every access to their data the
/// live log holds, newest first, each with how to check it.
pub async fn citizen(
    state: Shown,
    inspector: Inspector,
    Query(form): Query<CitizenForm>,
) -> Response {
    let console = &state.0;
    let ask = html! {
        form.search.no-print method="get" action="/citizen" {
            label { "Số định danh công dân" input name="id" inputmode="numeric" maxlength="12" value=(form.id); }
            button type="submit" id="report" { "Lập báo cáo" }
        }
    };
    if form.id.is_empty() {
        return shown("Báo cáo truy cập của công dân", &inspector, ask);
    }
    if let Err(e) = lienthong_proto::PersonalId::parse(&form.id) {
        return shown(
            "Báo cáo truy cập của công dân",
            &inspector,
            html! { p.bad { "Số định danh không hợp lệ: " (e) } (ask) },
        );
    }
    const MOST: usize = 500;
    let shared = &console.shared;
    let listed = subjects::accesses(shared, &form.id, 0, u64::MAX, MOST).await;
    let held = subjects::held_since(&**console.store()).await;
    let ((accesses, more), held) = match (listed, held) {
        (Ok(l), Ok(h)) => (l, h),
        (Err(e), _) | (_, Err(e)) => return failed(&e),
    };
    if let Err(page) = console
        .viewed(
            &inspector,
            Operation::ConsoleCitizenReport,
            &form.id,
            "access report".into(),
        )
        .await
    {
        return page;
    }
    let key = shared
        .audit
        .as_ref()
        .map(|l| hex(l.public_key()))
        .unwrap_or_default();
    let now = crate::clock::now_micros();
    let body = html! {
        (ask)
        section.report {
            p.report-head { "CỘNG HOÀ XÃ HỘI CHỦ NGHĨA VIỆT NAM" br; "Độc lập – Tự do – Hạnh phúc" }
            h2 { "Báo cáo các lần truy cập dữ liệu cá nhân" }
            p { "Công dân có số định danh " strong #citizen { (form.id) } ". Lập lúc " (view::at(now)) " bởi " (inspector.agency) " (" (shared.directory.name(&inspector.agency).unwrap_or_default()) ")." }
            p { "Theo Luật Bảo vệ dữ liệu cá nhân (91/2025/QH15) và Nghị định 13/2023/NĐ-CP, chủ thể dữ liệu có quyền được biết dữ liệu của mình được xử lý như thế nào. Dưới đây là mọi lần một cơ quan truy cập dữ liệu của công dân qua cổng lienthong"
              @if let Some(t) = &held { ", từ " (view::at(micros(Some(t)))) } "." }
            @if accesses.is_empty() {
                p.empty { "Không có lần truy cập nào." }
            } @else {
                table.records.accesses {
                    thead { tr { th { "Thời điểm" } th { "Cơ quan" } th { "Thao tác" } th { "Mục đích / căn cứ" } th { "Hồ sơ" } th { "Trường dữ liệu" } th { "Quyết định" } th { "Kiểm chứng" } } }
                    tbody {
                        @for a in &accesses {
                            tr {
                                td { (view::at(micros(a.at.as_ref()))) }
                                td { (a.agency_code) br; span.name { (a.agency_name) } }
                                td { (view::operation(&a.operation)) }
                                td { (a.purpose) br; (a.legal_basis) }
                                td { (a.case_ref) }
                                td { (view::fields(&a.fields_released)) }
                                td { (view::decision(a.decision)) }
                                td.proof { "bản ghi " (a.seq) br; code { (view::short(&a.record_hash)) } br;
                                    @match &a.checkpoint { Some(c) => { "điểm kiểm " (c.seq) }, None => { "chờ điểm kiểm" } } }
                            }
                        }
                    }
                }
                @if more { p.note { "Chỉ hiện " (MOST) " lần gần nhất; dùng API ListSubjectAccesses để xem hết." } }
            }
            h3 { "Cách kiểm chứng một mục" }
            ol {
                li { "Mỗi mục là một bản ghi trong nhật ký kiểm toán; mã băm SHA-256 của bản ghi (cột “Kiểm chứng”, 16 ký tự đầu) nối nó với bản ghi trước, nên không thể sửa hay xoá một bản ghi mà không làm sai mọi mã băm sau nó." }
                li { "Điểm kiểm là mã băm của nhật ký tại một bản ghi, được cổng ký bằng khoá Ed25519 có khoá công khai " code.hash { (key) } "." }
                li { "Cơ quan thanh tra xuất nhật ký (trang “Xuất dữ liệu”) và chạy " code { "lienthong audit verify --file <tệp>" } " hoặc " code { "python3 docs/verify_audit.py <tệp> <khoá công khai>" } ": mọi bản ghi trong báo cáo phải có trong tệp với đúng mã băm, và được một điểm kiểm có chữ ký hợp lệ bao phủ." }
            }
        }
    };
    shown("Báo cáo truy cập của công dân", &inspector, body)
}
