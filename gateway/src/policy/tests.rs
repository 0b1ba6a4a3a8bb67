//! The decision table of the policy.

use super::*;

const POLICY: &str = r#"
[[grant]]
agency = "H99.01"
operations = ["IdentityService/GetCitizen", "ResidencyService/GetResidence"]
purposes = ["dossier-processing"]
legal_bases = ["ND-47/2020"]
fields = ["citizen.*", "residence.permanent"]

[[grant]]
agency = "H99.01"
operations = ["IdentityService/GetCitizen"]
purposes = ["dossier-processing"]
legal_bases = ["ND-47/2020"]
fields = ["citizen.religion"]

[[grant]]
agency = "H15.*"
operations = ["IdentityService/GetCitizen", "IdentityService/VerifyCitizen"]
purposes = ["social-insurance", "dossier-processing"]
legal_bases = ["ND-47/2020", "QD-06/2022"]
fields = ["citizen.full_name", "citizen.birth_date"]

[roles]
auditor = ["H99.90", "T00.*"]
"#;

fn policy() -> Policy {
    Policy::parse(POLICY, "test").expect("parses")
}

#[test]
fn decision_table() {
    use Operation::*;
    use Reason::*;
    let p = policy();
    let dp = "dossier-processing";
    let nd = "ND-47/2020";
    // (agency, operation, purpose, legal basis) → fields granted, or the reason refused.
    type Row<'a> = (
        &'a str,
        Operation,
        &'a str,
        &'a str,
        Result<&'a [&'a str], Reason>,
    );
    let table: &[Row] = &[
        // exact code; two grants add up, and the sensitive field only because one names it
        (
            "H99.01",
            GetCitizen,
            dp,
            nd,
            Ok(&[
                "citizen.full_name",
                "citizen.birth_date",
                "citizen.sex",
                "citizen.religion",
                "citizen.nationality",
                "citizen.birth_registration_place",
                "citizen.hometown",
                "citizen.marital_status",
                "citizen.legacy_id_number",
                "citizen.updated_at",
            ]),
        ),
        // the residence grant releases only residence fields for GetResidence
        ("H99.01", GetResidence, dp, nd, Ok(&["residence.permanent"])),
        ("H99.01", VerifyCitizen, dp, nd, Err(OperationNotAllowed)),
        (
            "H99.01",
            GetCitizen,
            "marketing",
            nd,
            Err(PurposeNotAllowed),
        ),
        (
            "H99.01",
            GetCitizen,
            dp,
            "ND-13/2023",
            Err(LegalBasisNotAllowed),
        ),
        // an agency code that only looks close is a different agency
        ("H99.011", GetCitizen, dp, nd, Err(NoGrant)),
        ("H99", GetCitizen, dp, nd, Err(NoGrant)),
        ("H99.02", GetCitizen, dp, nd, Err(NoGrant)),
        // a prefix covers the codes below it, at any depth, and nothing else
        (
            "H15.50",
            GetCitizen,
            "social-insurance",
            "QD-06/2022",
            Ok(&["citizen.full_name", "citizen.birth_date"]),
        ),
        (
            "H15.50.05.13",
            VerifyCitizen,
            dp,
            nd,
            Ok(&["citizen.full_name", "citizen.birth_date"]),
        ),
        ("H15", GetCitizen, dp, nd, Err(NoGrant)),
        ("H150.01", GetCitizen, dp, nd, Err(NoGrant)),
        ("H15.50", GetResidence, dp, nd, Err(OperationNotAllowed)),
        // purposes and legal bases match exactly
        (
            "H15.50",
            GetCitizen,
            "Social-Insurance",
            nd,
            Err(PurposeNotAllowed),
        ),
        (
            "H15.50",
            GetCitizen,
            dp,
            "nd-47/2020",
            Err(LegalBasisNotAllowed),
        ),
    ];
    for (agency, op, purpose, basis, want) in table {
        let got = p
            .decide(agency, *op, purpose, basis)
            .map(|a| a.fields.names())
            .map_err(|d| d.reason);
        let want = want.map(|f| f.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(got, want, "{agency} {op} {purpose} {basis}");
    }
}

#[test]
fn denials_say_what_would_be_allowed() {
    let p = policy();
    let d = p
        .decide("H15.50", Operation::GetCitizen, "marketing", "ND-47/2020")
        .unwrap_err();
    assert!(
        d.detail
            .contains("\"social-insurance\", \"dossier-processing\""),
        "{d}"
    );
    let d = p
        .decide("H15.50", Operation::GetCitizen, "social-insurance", "x")
        .unwrap_err();
    assert!(d.detail.contains("\"ND-47/2020\", \"QD-06/2022\""), "{d}");
}

#[test]
fn request_fields_narrow_and_never_widen() {
    let p = policy();
    let allowed = p
        .decide(
            "H15.50",
            Operation::GetCitizen,
            "dossier-processing",
            "ND-47/2020",
        )
        .unwrap();
    assert_eq!(
        allowed.narrow(Record::Citizen, &[]).unwrap(),
        allowed.fields
    );
    assert_eq!(
        allowed
            .narrow(Record::Citizen, &["full_name"])
            .unwrap()
            .names(),
        ["citizen.full_name"]
    );
    // The personal ID is always returned and never needs a grant.
    assert!(
        allowed
            .narrow(Record::Citizen, &["personal_id"])
            .unwrap()
            .is_empty()
    );
    let d = allowed
        .narrow(Record::Citizen, &["full_name", "religion", "hometown"])
        .unwrap_err();
    assert_eq!(d.reason, Reason::FieldNotAllowed);
    assert!(
        d.detail
            .starts_with("not granted: citizen.religion, citizen.hometown"),
        "{d}"
    );
}

#[test]
fn roles() {
    let p = policy();
    assert!(
        p.require("H99.90", Role::Auditor, Operation::QueryAudit)
            .is_ok()
    );
    assert!(
        p.require("T00.11", Role::Auditor, Operation::QueryAudit)
            .is_ok()
    );
    let d = p
        .require("H99.01", Role::Auditor, Operation::VerifyAudit)
        .unwrap_err();
    assert_eq!(d.reason, Reason::RoleRequired);
    assert!(
        Policy::parse("", "empty")
            .unwrap()
            .decide("H99.01", Operation::GetCitizen, "a", "b")
            .is_err_and(|d| d.reason == Reason::NoGrant)
    );
}

#[test]
fn dev_policy_is_what_the_readme_says() {
    let p = Policy::dev();
    let dp = "dossier-processing";
    let nd = "ND-47/2020";
    let one = p.decide("H99.01", Operation::GetCitizen, dp, nd).unwrap();
    assert!(one.fields.contains(Record::Citizen, "full_name"));
    assert!(!one.fields.contains(Record::Citizen, "ethnicity"));
    assert!(!one.fields.contains(Record::Citizen, "religion"));
    let residence = p.decide("H99.01", Operation::GetResidence, dp, nd).unwrap();
    assert_eq!(residence.fields, Fields::all(Record::Residence));
    let two = p.decide("H99.02", Operation::GetCitizen, dp, nd).unwrap();
    assert_eq!(
        two.fields.names(),
        ["citizen.full_name", "citizen.birth_date", "citizen.sex"]
    );
    assert!(p.decide("H99.02", Operation::GetResidence, dp, nd).is_err());
    assert!(p.decide("H99.90", Operation::GetCitizen, dp, nd).is_err());
    assert!(
        p.require("H99.90", Role::Auditor, Operation::QueryAudit)
            .is_ok()
    );
    assert!(
        p.require("H99.01", Role::Auditor, Operation::QueryAudit)
            .is_err()
    );
    assert_eq!(p.grants()[0].line, 12);
}

#[test]
fn malformed_files_name_line_and_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "[[grant]]\nagency = \"H99.01\"\noperations = [\"IdentityService/GetCitizen\"]\npurposes = [\"dp\"]\nlegal_bases = [\"x\"]\nfeilds = [\"citizen.*\"]\n",
            "line 6",
            "feilds",
        ),
        ("[[grant]]\nagency = \"H99..01\"\n", "line 2", "agency code"),
        (
            "[[grant]]\nagency = \"H99.01\"\noperations = [\"IdentityService/GetCitizens\"]\n",
            "line 3",
            "unknown operation",
        ),
        (
            "[[grant]]\nagency = \"H99.01\"\noperations = [\"IdentityService/GetCitizen\"]\npurposes = [\"Dossier\"]\n",
            "line 4",
            "purpose",
        ),
        (
            "[[grant]]\nagency = \"H99.01\"\noperations = [\"IdentityService/GetCitizen\"]\npurposes = [\"dp\"]\nlegal_bases = [\"x\"]\nfields = [\"citizen.religon\"]\n",
            "line 6",
            "unknown field",
        ),
        (
            "[[grant]]\nagency = \"H99.01\"\noperations = [\"AuditService/QueryAudit\"]\n",
            "line 3",
            "[roles] auditor",
        ),
        (
            "[[grant]]\nagency = \"H99.01\"\noperations = [\"ResidencyService/GetResidence\"]\npurposes = [\"dp\"]\nlegal_bases = [\"x\"]\nfields = [\"citizen.*\"]\n",
            "line 1",
            "residence",
        ),
        ("[roles]\nauditors = [\"H99.90\"]\n", "line 2", "auditors"),
        ("[roles]\nauditor = \"H99.90\"\n", "line 2", "sequence"),
    ];
    for (text, line, key) in cases {
        let err = Policy::parse(text, "p.toml").unwrap_err().to_string();
        assert!(err.contains("p.toml"), "{err}");
        assert!(err.contains(line), "want {line} in: {err}");
        assert!(err.contains(key), "want {key} in: {err}");
    }
}

#[test]
fn dossier_operations_are_granted_without_purposes() {
    let p = Policy::dev();
    assert!(p.allow("H99.01", Operation::SubmitDossier).is_ok());
    assert!(p.allow("H99.02", Operation::ListDossiers).is_ok());
    let d = p
        .allow("H99.02", Operation::UpdateDossierStatus)
        .unwrap_err();
    assert_eq!(d.reason, Reason::OperationNotAllowed);
    assert_eq!(
        p.allow("H15.01", Operation::GetDossier).unwrap_err().reason,
        Reason::NoGrant
    );
    // ...while a grant that reads personal data still needs its purposes
    let err = Policy::parse(
        "[[grant]]\nagency = \"H99.01\"\noperations = [\"IdentityService/GetCitizen\", \"DossierService/GetDossier\"]\nfields = [\"citizen.*\"]\n",
        "p.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("purposes"), "{err}");
}

#[test]
fn an_open_policy_allows_everything_to_everyone() {
    let open = Policy::open();
    let allowed = open
        .decide("H01.99", Operation::GetCitizen, "anything", "none")
        .unwrap();
    assert!(
        allowed.fields.contains(Record::Citizen, "religion"),
        "sensitive fields too"
    );
    assert!(open.allow("H01.99", Operation::SubmitDossier).is_ok());
    assert!(
        open.require("H01.99", Role::Auditor, Operation::QueryAudit)
            .is_ok()
    );
    assert!(
        Policy::dev()
            .decide("H01.99", Operation::GetCitizen, "x", "y")
            .is_err()
    );
}
