//! The console's frame and the words it shows: every page in one layout, times
//! in Vietnam time, operations, decisions, reasons and fields named in
//! Vietnamese (with the code beside, for whoever checks against the log).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lienthong_proto::v1::Decision;
use maud::{DOCTYPE, Markup, html};

use super::Inspector;

/// A page: the header with the menu and who is signed in, then `body`.
pub fn page(title: &str, inspector: Option<&Inspector>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="vi" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · lienthong" }
                link rel="stylesheet" href="/static/console.css";
                // No favicon to fetch (a 404 would be an error in the console).
                link rel="icon" href="data:,";
            }
            body {
                header.top {
                    div.brand { "lienthong" span.sub { "Kiểm tra nhật ký truy cập" } }
                    @if let Some(who) = inspector {
                        nav {
                            a href="/" { "Tổng quan" }
                            a href="/search" { "Tra cứu" }
                            a href="/citizen" { "Báo cáo công dân" }
                            a href="/integrity" { "Toàn vẹn" }
                            a href="/export" { "Xuất dữ liệu" }
                        }
                        form.who method="post" action="/signout" {
                            span { (who.agency) @if !who.officer.is_empty() { " · " (who.officer) } }
                            input type="hidden" name="csrf" value=(who.csrf);
                            button type="submit" { "Đăng xuất" }
                        }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
                footer { "Giờ hiển thị là giờ Việt Nam (UTC+07:00). Mỗi lần xem trang có dữ liệu kiểm toán đều được ghi vào nhật ký." }
            }
        }
    }
}

/// A refusal or an error, as a page with its status.
pub fn refused(status: StatusCode, message: &str) -> Response {
    let title = match status {
        StatusCode::NOT_FOUND => "Không tìm thấy",
        StatusCode::FORBIDDEN => "Bị từ chối",
        _ => "Không thực hiện được",
    };
    let body = html! { p.bad id="refusal" { (message) } p { a href="/" { "Về trang đầu" } } };
    (status, page(title, None, body)).into_response()
}

/// `unix_micros` as `dd/mm/yyyy HH:MM:SS` in Vietnam time.
pub fn at(unix_micros: i64) -> String {
    let format = time::macros::format_description!("[day]/[month]/[year] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_micros) * 1_000)
        .ok()
        .and_then(|t| t.to_offset(lienthong_proto::VIETNAM).format(&format).ok())
        .unwrap_or_default()
}

/// What a decision is called.
pub fn decision(d: i32) -> &'static str {
    match Decision::try_from(d) {
        Ok(Decision::Granted) => "Cho phép",
        Ok(Decision::Denied) => "Từ chối",
        Ok(Decision::Invalid) => "Yêu cầu không hợp lệ",
        _ => "Không rõ",
    }
}

/// What an operation is called (its code when it has no name here).
pub fn operation(name: &str) -> &str {
    match name {
        "IdentityService/GetCitizen" => "Tra cứu thông tin công dân",
        "IdentityService/VerifyCitizen" => "Xác thực thông tin công dân",
        "ResidencyService/GetResidence" => "Tra cứu thông tin cư trú",
        "AuditService/QueryAudit" => "Tra cứu nhật ký kiểm toán",
        "AuditService/VerifyAudit" => "Kiểm tra toàn vẹn nhật ký",
        "AuditService/ExportAudit" => "Xuất nhật ký kiểm toán",
        "AuditService/ProveInclusion" => "Lấy bằng chứng một bản ghi có trong nhật ký",
        "AuditService/ProveConsistency" => "Lấy bằng chứng nhật ký không bị sửa",
        "DossierService/SubmitDossier" => "Tiếp nhận hồ sơ",
        "DossierService/UpdateDossierStatus" => "Cập nhật trạng thái hồ sơ",
        "DossierService/GetDossier" => "Xem hồ sơ",
        "DossierService/ListDossiers" => "Liệt kê hồ sơ",
        "SubjectAccessService/ListSubjectAccesses" => "Xem danh sách truy cập dữ liệu",
        "SubjectAccessService/ProveAccess" => "Lấy bằng chứng một lần truy cập dữ liệu",
        "WitnessService/GetCheckpoint" => "Nhân chứng: lấy điểm kiểm tra mới nhất",
        "WitnessService/GetConsistencyProof" => "Nhân chứng: lấy bằng chứng nhất quán",
        "WitnessService/AddCosignature" => "Nhân chứng: đồng ký điểm kiểm tra",
        "ReportService/GetIndicators" => "Xem chỉ số QĐ 766",
        "Console/SignIn" => "Đăng nhập bảng kiểm tra",
        "Console/Search" => "Thanh tra: tra cứu nhật ký",
        "Console/Record" => "Thanh tra: xem một bản ghi",
        "Console/Integrity" => "Thanh tra: kiểm tra toàn vẹn",
        "Console/Export" => "Thanh tra: xuất nhật ký",
        "Console/Charts" => "Thanh tra: xem biểu đồ",
        "Console/CitizenReport" => "Thanh tra: báo cáo truy cập của công dân",
        other => other,
    }
}

/// What a refusal's reason means.
pub fn reason(code: &str) -> &str {
    match code {
        "" => "",
        "NO_GRANT" => "Cơ quan không được cấp quyền",
        "OPERATION_NOT_ALLOWED" => "Thao tác không được phép",
        "PURPOSE_NOT_ALLOWED" => "Mục đích không được phép",
        "LEGAL_BASIS_NOT_ALLOWED" => "Căn cứ pháp lý không được chấp nhận",
        "FIELD_NOT_ALLOWED" => "Yêu cầu trường dữ liệu không được phép",
        "ROLE_REQUIRED" => "Thiếu vai trò cần thiết",
        "AGENCY_NOT_OWNER" => "Hồ sơ thuộc cơ quan khác",
        "LINK_EXPIRED" => "Liên kết đăng nhập hết hạn",
        "INVALID_ARGUMENT" => "Yêu cầu sai định dạng",
        other => other,
    }
}

/// What a released field is called (`citizen.full_name` → "Họ và tên").
pub fn field(name: &str) -> &str {
    match name.split_once('.').map_or(name, |(_, f)| f) {
        "full_name" => "Họ và tên",
        "birth_date" => "Ngày sinh",
        "sex" => "Giới tính",
        "ethnicity" => "Dân tộc",
        "religion" => "Tôn giáo",
        "nationality" => "Quốc tịch",
        "birth_registration_place" => "Nơi đăng ký khai sinh",
        "hometown" => "Quê quán",
        "marital_status" => "Tình trạng hôn nhân",
        "legacy_id_number" => "Số CMND cũ",
        "updated_at" => "Thời điểm cập nhật",
        "permanent" => "Nơi thường trú",
        "temporary" => "Nơi tạm trú",
        "current" => "Nơi ở hiện tại",
        "household_head_id" => "Số định danh chủ hộ",
        "relation_to_head" => "Quan hệ với chủ hộ",
        _ => name,
    }
}

/// The fields released, by name.
pub fn fields(names: &[String]) -> String {
    if names.is_empty() {
        return "—".into();
    }
    names
        .iter()
        .map(|n| field(n))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first 16 hex digits of `bytes` (enough to find a record; the full hash is
/// on its page).
pub fn short(bytes: &[u8]) -> String {
    let mut h = crate::audit::hex(bytes);
    h.truncate(16);
    h
}
