//! Traces across systems: a client's W3C trace continues through the gateway to
//! the national REST API and into an OTLP collector (a real gRPC server of the
//! published OTLP trace service, started here), with the request's policy, cache,
//! upstream and audit-commit spans under it; the trace id is in the audit record;
//! a trace the gateway starts itself is recorded too; a federated gateway passes
//! the trace on in gRPC metadata; and no span carries the personal ID.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use integration_tests::{
    TestPki, audit_records, auditor, citizen_request, config, identity, population_simulator,
    rest_registry, sim_id,
};
use lienthong_adapters::sim::population_api::Credentials;
use lienthong_proto::v1::QueryAuditRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// An OTLP/gRPC trace collector keeping what it is sent: (service name, span).
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut kept = self.spans.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref()?.value.as_ref())
                .map(|v| match v {
                    Value::StringValue(s) => s.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for scope in resource.scope_spans {
                kept.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl Collector {
    async fn start(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        addr
    }

    fn spans(&self) -> Vec<(String, Span)> {
        self.spans.lock().unwrap().clone()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every string an exported span carries: its name, its attributes' values, its
/// events' names and attributes' values.
fn strings(span: &Span) -> Vec<String> {
    let mut out = vec![span.name.clone()];
    let attributes = span
        .attributes
        .iter()
        .chain(span.events.iter().flat_map(|e| &e.attributes));
    for a in attributes {
        out.push(a.key.clone());
        if let Some(v) = a.value.as_ref().and_then(|v| v.value.as_ref()) {
            out.push(match v {
                Value::StringValue(s) => s.clone(),
                other => format!("{other:?}"),
            });
        }
    }
    out.extend(span.events.iter().map(|e| e.name.clone()));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_trace_runs_through_the_gateway_to_the_register_and_the_collector() {
    let collector = Collector::default();
    let endpoint = format!("http://{}", collector.start().await);
    let pki = TestPki::new();
    let mut config = config(&pki);
    config.tracing.otlp_endpoint = Some(endpoint);
    config.tracing.service_name = "lienthong-test".into();
    let (traces, telemetry) = lienthong_gateway::telemetry::layer(&config.tracing)
        .unwrap()
        .expect("a collector is configured");
    tracing_subscriber::registry().with(traces).init();

    let sim = population_simulator("127.0.0.1:0".parse().unwrap()).await;
    let registry = rest_registry(
        sim.url(),
        &Credentials::default().password,
        Duration::from_secs(2),
    );
    let gw = integration_tests::start(&config, registry).await;
    let lan = sim_id("001085", true);

    // The counter's request, in its own trace.
    let (trace, parent) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let mut request = tonic::Request::new(citizen_request(&lan));
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace}-{parent}-01").parse().unwrap(),
    );
    identity(&gw, &pki, "H99.01")
        .get_citizen(request)
        .await
        .unwrap();
    // A request without one: the gateway starts a trace of its own.
    let other = sim_id("079190", true);
    let untraced = tonic::Request::new(citizen_request(&other));
    identity(&gw, &pki, "H99.01")
        .get_citizen(untraced)
        .await
        .unwrap();

    // Everything reaches the collector.
    let deadline = Instant::now() + Duration::from_secs(20);
    let spans = loop {
        tokio::task::block_in_place(|| telemetry.flush());
        let spans = collector.spans();
        if spans.iter().filter(|(_, s)| s.name == "rpc").count() >= 2 {
            break spans;
        }
        assert!(Instant::now() < deadline, "spans exported: {spans:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(spans.iter().all(|(service, _)| service == "lienthong-test"));

    // The request continues the client's trace, under the client's span…
    let ours: Vec<&Span> = spans
        .iter()
        .map(|(_, s)| s)
        .filter(|s| hex(&s.trace_id) == trace)
        .collect();
    let named = |name: &str| -> &Span {
        ours.iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} span in the client's trace: {ours:?}"))
    };
    let rpc = named("rpc");
    assert_eq!(hex(&rpc.parent_span_id), parent, "under the client's span");
    // …and the policy, the cache and the audit commit are its children, the
    // upstream call inside the cache's read-through.
    for child in ["policy", "cache", "audit.commit"] {
        assert_eq!(
            named(child).parent_span_id,
            rpc.span_id,
            "{child} is a child of the request"
        );
    }
    let cache = named("cache");
    let upstream = named("upstream");
    assert_eq!(
        upstream.parent_span_id, cache.span_id,
        "the fetch behind a miss"
    );

    // The national API received the trace, from the upstream call's span.
    let sent = format!("00-{trace}-{}-01", hex(&upstream.span_id));
    assert!(
        sim.traceparents().contains(&sent),
        "{sent} in {:?}",
        sim.traceparents()
    );

    // The audit records keep the trace ids: the client's, and the one the gateway
    // started for the request that came without.
    let records = audit_records(&mut auditor(gw.addr(), &pki), QueryAuditRequest::default()).await;
    let traced = records
        .iter()
        .find(|r| r.subject_personal_id == lan)
        .unwrap();
    assert_eq!(traced.trace_id, trace);
    let untraced = records
        .iter()
        .find(|r| r.subject_personal_id == other)
        .unwrap();
    assert_eq!(untraced.trace_id.len(), 32);
    let started = spans
        .iter()
        .map(|(_, s)| s)
        .find(|s| s.name == "rpc" && hex(&s.trace_id) == untraced.trace_id)
        .expect("the gateway's own trace was exported");
    assert!(started.parent_span_id.is_empty(), "a root span");

    // No span or event carries a personal ID in clear.
    for (_, span) in &spans {
        for text in strings(span) {
            assert!(
                !text.contains(&lan) && !text.contains(&other),
                "{} carries a personal ID: {text}",
                span.name
            );
        }
    }

    // Federation: a gateway in front of this one passes the trace on in the gRPC
    // metadata, and both audit records keep it.
    let upstream =
        Arc::new(
            lienthong_adapters::population::grpc::GrpcRegistry::new(
                integration_tests::grpc_config(gw.addr(), &pki.paths, "H99.01"),
            )
            .unwrap(),
        );
    let mut front = config.clone();
    front.data_dir = pki.dir.path().join("data-front");
    let front = integration_tests::start(&front, upstream).await;
    let federated = "0af7651916cd43dd8448eb211c80319c";
    let third = sim_id("001190", true);
    let mut request = tonic::Request::new(citizen_request(&third));
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{federated}-b7ad6b7169203331-01")
            .parse()
            .unwrap(),
    );
    identity(&front, &pki, "H99.01")
        .get_citizen(request)
        .await
        .unwrap();
    for (gateway, name) in [
        (&front, "the front gateway"),
        (&gw, "the gateway behind it"),
    ] {
        let records = audit_records(
            &mut auditor(gateway.addr(), &pki),
            QueryAuditRequest::default(),
        )
        .await;
        let record = records
            .iter()
            .find(|r| r.subject_personal_id == third)
            .unwrap_or_else(|| panic!("{name} recorded the lookup"));
        assert_eq!(record.trace_id, federated, "{name}");
    }
    front.shutdown(Duration::from_secs(5)).await.unwrap();
    gw.shutdown(Duration::from_secs(5)).await.unwrap();
    tokio::task::block_in_place(|| telemetry.shutdown());
}
