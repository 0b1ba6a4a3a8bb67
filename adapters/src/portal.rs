//! The National Public Service Portal (Cổng Dịch vụ công quốc gia): the dossier sync
//! API's schema. The simulator ([`crate::sim::portal_api`]) serves it.

pub mod schema;
