//! The methods the gateway serves, read from the contract's descriptors (and those
//! of health and reflection): what a request's path may be named as in metrics and
//! logs. Any other path is `unknown`, so a client cannot grow a label set by
//! inventing paths; which methods stream decides which limit a call counts against.

use std::collections::HashMap;

use prost::Message;

/// The label of a service or method that is not served.
pub const UNKNOWN: &str = "unknown";

/// What the door knows of a served method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method {
    /// `lienthong.v1.IdentityService`.
    pub service: &'static str,
    /// `GetCitizen`.
    pub method: &'static str,
    /// Answers with a stream (counted against the stream limits).
    pub streams: bool,
    /// Health and reflection: never limited, so probes work under load.
    pub exempt: bool,
}

/// Every served method by path.
pub struct Known {
    by_path: HashMap<String, Method>,
}

/// The methods of the contract, health and reflection (read once per process).
pub fn served() -> &'static Known {
    static SERVED: std::sync::LazyLock<Known> = std::sync::LazyLock::new(Known::read);
    &SERVED
}

impl Known {
    fn read() -> Known {
        let mut by_path = HashMap::new();
        let sets = [
            (lienthong_proto::FILE_DESCRIPTOR_SET, false),
            (tonic_health::pb::FILE_DESCRIPTOR_SET, true),
            (tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET, true),
        ];
        for (bytes, exempt) in sets {
            let set = prost_types::FileDescriptorSet::decode(bytes).expect("a descriptor set");
            for file in set.file {
                let package = file.package();
                for service in &file.service {
                    let name: &'static str =
                        Box::leak(format!("{package}.{}", service.name()).into_boxed_str());
                    for method in &service.method {
                        let m: &'static str = Box::leak(method.name().to_owned().into_boxed_str());
                        by_path.insert(
                            format!("/{name}/{m}"),
                            Method {
                                service: name,
                                method: m,
                                streams: method.server_streaming() || method.client_streaming(),
                                exempt,
                            },
                        );
                    }
                }
            }
        }
        Known { by_path }
    }

    /// The method at `path`, if served.
    pub fn get(&self, path: &str) -> Option<Method> {
        self.by_path.get(path).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_methods_are_known_and_nothing_else_is() {
        let known = served();
        let citizen = known
            .get("/lienthong.v1.IdentityService/GetCitizen")
            .unwrap();
        assert_eq!(
            (
                citizen.service,
                citizen.method,
                citizen.streams,
                citizen.exempt
            ),
            ("lienthong.v1.IdentityService", "GetCitizen", false, false)
        );
        let watch = known
            .get("/lienthong.v1.DossierService/WatchDossiers")
            .unwrap();
        assert!(watch.streams && !watch.exempt);
        let health = known.get("/grpc.health.v1.Health/Check").unwrap();
        assert!(health.exempt);
        assert!(
            known
                .get("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
                .unwrap()
                .exempt
        );
        for unknown in [
            "/lienthong.v1.IdentityService/Nope",
            "/made.up.Service/Method",
            "/",
            "",
            "/lienthong.v1.IdentityService/GetCitizen/extra",
        ] {
            assert_eq!(known.get(unknown), None, "{unknown}");
        }
    }
}
