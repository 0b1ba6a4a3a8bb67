//! The free text of each request, put in NFC where it enters the gateway, so that
//! what is validated, compared, recorded and forwarded is one form whatever the
//! client's keyboard produced. Codes and identifiers are ASCII by their own rules
//! and are left to them.

use super::to_nfc;
use crate::v1::{
    Dossier, GetCitizenRequest, GetResidenceRequest, RequestContext, SubmitDossierRequest,
    UpdateDossierStatusRequest, VerifyCitizenRequest,
};

/// A message whose free text can be put in NFC.
pub trait InNfc {
    /// Puts every free-text field in NFC, in place.
    fn to_nfc(&mut self);
}

impl<T: InNfc> InNfc for Option<T> {
    fn to_nfc(&mut self) {
        if let Some(inner) = self {
            inner.to_nfc();
        }
    }
}

impl InNfc for RequestContext {
    fn to_nfc(&mut self) {
        to_nfc(&mut self.legal_basis);
        to_nfc(&mut self.officer_id);
        to_nfc(&mut self.case_ref);
    }
}

impl InNfc for GetCitizenRequest {
    fn to_nfc(&mut self) {
        self.context.to_nfc();
    }
}

impl InNfc for VerifyCitizenRequest {
    fn to_nfc(&mut self) {
        self.context.to_nfc();
        to_nfc(&mut self.full_name);
    }
}

impl InNfc for GetResidenceRequest {
    fn to_nfc(&mut self) {
        self.context.to_nfc();
    }
}

impl InNfc for Dossier {
    fn to_nfc(&mut self) {
        to_nfc(&mut self.procedure_name);
        to_nfc(&mut self.applicant_name);
    }
}

impl InNfc for SubmitDossierRequest {
    fn to_nfc(&mut self) {
        self.dossier.to_nfc();
    }
}

impl InNfc for UpdateDossierStatusRequest {
    fn to_nfc(&mut self) {
        to_nfc(&mut self.handler);
        to_nfc(&mut self.note);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_free_text_field_is_put_in_nfc() {
        let nfd = "Ngo\u{302} Anh \u{110}a\u{323}t";
        let nfc = "Ngô Anh Đạt";
        let context = || {
            Some(RequestContext {
                purpose: "dossier-processing".into(),
                legal_basis: nfd.into(),
                officer_id: nfd.into(),
                case_ref: nfd.into(),
            })
        };
        let mut verify = VerifyCitizenRequest {
            context: context(),
            personal_id: "001085012345".into(),
            full_name: nfd.into(),
            birth_date: String::new(),
        };
        verify.to_nfc();
        let c = verify.context.as_ref().unwrap();
        for text in [
            &verify.full_name,
            &c.legal_basis,
            &c.officer_id,
            &c.case_ref,
        ] {
            assert_eq!(text, nfc);
        }
        let mut submit = SubmitDossierRequest {
            dossier: Some(Dossier {
                procedure_name: nfd.into(),
                applicant_name: nfd.into(),
                ..Dossier::default()
            }),
        };
        submit.to_nfc();
        let d = submit.dossier.unwrap();
        assert_eq!(
            (d.procedure_name.as_str(), d.applicant_name.as_str()),
            (nfc, nfc)
        );
        let mut update = UpdateDossierStatusRequest {
            handler: nfd.into(),
            note: nfd.into(),
            ..UpdateDossierStatusRequest::default()
        };
        update.to_nfc();
        assert_eq!((update.handler.as_str(), update.note.as_str()), (nfc, nfc));
    }
}
