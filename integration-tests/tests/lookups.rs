//! Lookups through the gateway over real mTLS: answers, field masks, verification,
//! request ids, and every class of invalid input.

use integration_tests::{
    TestPki, channel, citizen_request, context, residence_request, sim_id, start_with_sim, violated,
};
use lienthong_proto::prost_types::FieldMask;
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use lienthong_proto::v1::residency_service_client::ResidencyServiceClient;
use lienthong_proto::v1::{GetCitizenRequest, RequestContext, Sex, VerifyCitizenRequest};
use std::time::Duration;
use tonic::Code;
use tonic_types::StatusExt;

#[tokio::test]
async fn citizen_matches_its_personal_id() {
    let pki = TestPki::new();
    let (gw, _) = start_with_sim(&pki).await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    for (prefix, year, sex) in [
        ("001085", 1985, Sex::Male),
        ("079301", 2001, Sex::Female),
        ("036192", 1992, Sex::Female),
    ] {
        let id = sim_id(prefix, true);
        let response = identity
            .get_citizen(citizen_request(&id))
            .await
            .expect("lookup succeeds");
        let request_id = response
            .metadata()
            .get("x-request-id")
            .expect("x-request-id")
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(request_id.len(), 36, "{request_id}");
        let c = response.into_inner();
        assert_eq!(c.personal_id, id);
        assert_eq!(c.birth_date[..4].parse::<i32>().unwrap(), year);
        assert_eq!(c.sex, i32::from(sex));
        assert!(!c.full_name.is_empty() && c.updated_at.is_some());
    }
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn field_mask_releases_only_named_fields() {
    let pki = TestPki::new();
    let (gw, _) = start_with_sim(&pki).await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.02"));
    let id = sim_id("001085", true);
    let fields = Some(FieldMask {
        paths: vec!["full_name".into(), "birth_date".into()],
    });
    let c = identity
        .get_citizen(GetCitizenRequest {
            context: context(),
            personal_id: id.clone(),
            fields,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!c.full_name.is_empty() && !c.birth_date.is_empty());
    assert_eq!(
        (
            c.ethnicity.as_str(),
            c.religion.as_str(),
            c.hometown.as_str(),
            c.sex
        ),
        ("", "", "", 0)
    );
    assert_eq!(c.personal_id, id);
}

#[tokio::test]
async fn verify_compares_without_releasing() {
    let pki = TestPki::new();
    let (gw, _) = start_with_sim(&pki).await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let id = sim_id("001085", true);
    let c = identity
        .get_citizen(citizen_request(&id))
        .await
        .unwrap()
        .into_inner();
    let verify = |full_name: String, birth_date: String| VerifyCitizenRequest {
        context: context(),
        personal_id: id.clone(),
        full_name,
        birth_date,
    };
    let yes = identity
        .verify_citizen(verify(c.full_name.to_uppercase(), c.birth_date.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(yes.r#match, "{yes:?}");
    assert!(yes.mismatched_fields.is_empty());
    let no = identity
        .verify_citizen(verify("Trần Thị Không Có".into(), "1900-01-01".into()))
        .await
        .unwrap()
        .into_inner();
    assert!(!no.r#match);
    assert_eq!(no.mismatched_fields, ["full_name", "birth_date"]);
}

#[tokio::test]
async fn residence_has_versioned_addresses() {
    let pki = TestPki::new();
    let (gw, _) = start_with_sim(&pki).await;
    let mut residency = ResidencyServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let id = sim_id("079301", true);
    let r = residency
        .get_residence(residence_request(&id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.personal_id, id);
    let current = r.current.expect("current address");
    assert_eq!(
        (
            current.district_code.as_str(),
            current.province_code.len(),
            current.commune_code.len()
        ),
        ("", 2, 5)
    );
    assert_eq!(r.household_head_id.len(), 12);
    assert!(!r.relation_to_head.is_empty());
}

#[tokio::test]
async fn unknown_citizen_is_not_found() {
    let pki = TestPki::new();
    let (gw, _) = start_with_sim(&pki).await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let mut residency = ResidencyServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let id = sim_id("001085", false);
    let err = identity
        .get_citizen(citizen_request(&id))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    assert_eq!(
        err.get_error_details()
            .error_info()
            .map(|i| i.reason.as_str()),
        Some("CITIZEN_NOT_FOUND")
    );
    assert!(
        err.metadata().get("x-request-id").is_some(),
        "errors carry the request id too"
    );
    let err = residency
        .get_residence(residence_request(&id))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

#[tokio::test]
async fn every_class_of_invalid_input_is_named() {
    let pki = TestPki::new();
    let (gw, _) = start_with_sim(&pki).await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let mut residency = ResidencyServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let valid = sim_id("001085", true);
    let get =
        |personal_id: &str, context: Option<RequestContext>, paths: &[&str]| GetCitizenRequest {
            context,
            personal_id: personal_id.into(),
            fields: (!paths.is_empty()).then(|| FieldMask {
                paths: paths.iter().map(|p| p.to_string()).collect(),
            }),
        };
    let cases: Vec<(GetCitizenRequest, Vec<&str>)> = vec![
        (get("00108501234", context(), &[]), vec!["personal_id"]),
        (get("0010850123456", context(), &[]), vec!["personal_id"]),
        (get("00108501234a", context(), &[]), vec!["personal_id"]),
        (get(" 001085012345", context(), &[]), vec!["personal_id"]),
        (get("003085012345", context(), &[]), vec!["personal_id"]),
        (get("001385012345", context(), &[]), vec!["personal_id"]),
        (get("", context(), &[]), vec!["personal_id"]),
        (get(&valid, None, &[]), vec!["context"]),
        (
            get(
                &valid,
                Some(RequestContext {
                    purpose: String::new(),
                    legal_basis: String::new(),
                    case_ref: String::new(),
                    officer_id: String::new(),
                }),
                &[],
            ),
            vec![
                "context.purpose",
                "context.legal_basis",
                "context.officer_id",
            ],
        ),
        (
            get(&valid, context(), &["full_name", "password"]),
            vec!["fields.paths[1]"],
        ),
        (
            get("12", None, &["x"]),
            vec!["context", "personal_id", "fields.paths[0]"],
        ),
    ];
    for (request, fields) in cases {
        let label = format!("{:?}", request.personal_id);
        let status = identity.get_citizen(request).await.expect_err(&label);
        assert_eq!(violated(&status), fields, "{label}");
    }
    let status = identity
        .verify_citizen(VerifyCitizenRequest {
            context: context(),
            personal_id: valid.clone(),
            full_name: " ".into(),
            birth_date: "15/08/1985".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated(&status), ["full_name", "birth_date"]);
    let status = residency
        .get_residence(residence_request(&"9".repeat(12)))
        .await
        .unwrap_err();
    assert_eq!(violated(&status), ["personal_id"]);
}

#[tokio::test]
async fn text_an_inspector_would_read_otherwise_than_stored_is_refused() {
    let pki = TestPki::new();
    let (gw, _) = start_with_sim(&pki).await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    // `cb1` + RIGHT-TO-LEFT OVERRIDE + `evil` reads "cb1live" in any viewer.
    for (field, edit) in [
        (
            "context.officer_id",
            (|c: &mut RequestContext| c.officer_id = "cb1\u{202E}evil".into()) as fn(&mut _),
        ),
        ("context.case_ref", |c| c.case_ref = "HS\u{200B}01".into()),
        ("context.legal_basis", |c| {
            c.legal_basis = "ND-47/2020\u{2066}".into()
        }),
    ] {
        let mut request = citizen_request("001085012345");
        edit(request.context.as_mut().unwrap());
        let err = identity.get_citizen(request).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        let violations = err
            .get_details_bad_request()
            .expect("BadRequest")
            .field_violations;
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].field, field);
        assert!(
            violations[0]
                .description
                .contains("invisible format characters"),
            "{}",
            violations[0].description
        );
    }
    // Vietnamese text passes as it is.
    let mut request = citizen_request("001085012345");
    request.context.as_mut().unwrap().case_ref = "Hồ sơ Đăng ký khai sinh".into();
    identity.get_citizen(request).await.expect("served");
}
