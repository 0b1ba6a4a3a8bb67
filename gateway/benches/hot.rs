//! Micro-benchmarks of the pieces every request goes through (criterion):
//! validation, the policy decision, field masking, the audit record's canonical
//! encoding and hash, a durable audit append, sealing and opening a cached record,
//! and a cache hit.
//!
//! `cargo bench -p lienthong-gateway --bench hot` (add `-- --quick` for a short run).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use lienthong_gateway::audit::record::{canonical, hash};
use lienthong_gateway::audit::{self, Log};
use lienthong_gateway::breaker::Breaker;
use lienthong_gateway::cache::Cache;
use lienthong_gateway::cache::seal::Keys;
use lienthong_gateway::clock;
use lienthong_gateway::policy::{Operation, Policy, Record};
use lienthong_gateway::services;
use lienthong_proto::PersonalId;
use lienthong_proto::v1::{AuditRecord, Citizen, RequestContext};
use prost::Message;

const ID: &str = "001085012345";

fn context() -> RequestContext {
    RequestContext {
        purpose: "dossier-processing".into(),
        legal_basis: "ND-47/2020".into(),
        case_ref: "H99.01-261122-0001".into(),
        officer_id: "cb-0001".into(),
    }
}

fn citizen() -> Citizen {
    let id = PersonalId::parse(ID).unwrap();
    lienthong_adapters::sim::citizens::citizen(&id, lienthong_proto::today()).unwrap()
}

fn record() -> AuditRecord {
    AuditRecord {
        seq: 42,
        agency_code: "H99.01".into(),
        certificate_fingerprint: "ab".repeat(32),
        officer_id: "cb-0001".into(),
        operation: "IdentityService/GetCitizen".into(),
        subject_personal_id: ID.into(),
        purpose: "dossier-processing".into(),
        legal_basis: "ND-47/2020".into(),
        case_ref: "H99.01-261122-0001".into(),
        decision: 1,
        fields_released: vec!["full_name".into(), "birth_date".into(), "sex".into()],
        cache: "hit".into(),
        request_id: "5ccee11f-c659-47ac-89a7-331023d87825".into(),
        prev_hash: vec![7; 32],
        ..Default::default()
    }
}

fn edge(c: &mut Criterion) {
    let context = context();
    c.bench_function("validate a lookup (context + personal ID)", |b| {
        b.iter(|| services::lookup(Some(black_box(&context)), black_box(ID), |_| {}).unwrap())
    });
    c.bench_function("parse a personal ID", |b| {
        b.iter(|| PersonalId::parse(black_box(ID)).unwrap())
    });
    let policy = Policy::dev();
    c.bench_function("policy decision (dev policy, granted)", |b| {
        b.iter(|| {
            policy
                .decide(
                    black_box("H99.01"),
                    Operation::GetCitizen,
                    black_box("dossier-processing"),
                    black_box("ND-47/2020"),
                )
                .unwrap()
        })
    });
    c.bench_function("policy decision (denied)", |b| {
        b.iter(|| {
            policy
                .decide(
                    black_box("H99.02"),
                    Operation::GetResidence,
                    "dossier-processing",
                    "ND-47/2020",
                )
                .unwrap_err()
        })
    });
    let allowed = policy
        .decide(
            "H99.02",
            Operation::GetCitizen,
            "dossier-processing",
            "ND-47/2020",
        )
        .unwrap();
    let full = citizen();
    c.bench_function("field mask (a citizen to three fields)", |b| {
        b.iter_batched(
            || full.clone(),
            |mut c| {
                services::fields::citizen(&mut c, allowed.fields);
                c
            },
            BatchSize::SmallInput,
        )
    });
}

fn audit_record(c: &mut Criterion) {
    let r = record();
    c.bench_function("audit canonical encoding", |b| {
        b.iter(|| canonical(black_box(&r)))
    });
    c.bench_function("audit hash (encoding + SHA-256)", |b| {
        b.iter(|| hash(black_box(&[7; 32]), black_box(&r)))
    });

    // Durable appends: 64 concurrent requests per iteration share group commits.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = runtime.block_on(async {
        Arc::new(
            Log::open(
                &dir.path().join("ledger.redb"),
                audit::checkpoint::Signer::ephemeral(),
                audit::Settings {
                    checkpoint_every: 1000,
                    max_batch: 1024,
                },
                Duration::from_secs(10),
            )
            .unwrap(),
        )
    });
    let mut group = c.benchmark_group("durable audit append");
    group.throughput(Throughput::Elements(64));
    group.sample_size(20);
    group.bench_function("64 concurrent appends (group commit, fsync)", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let tasks: Vec<_> = (0..64)
                    .map(|_| {
                        let log = log.clone();
                        tokio::spawn(async move { log.append(record()).await.unwrap() })
                    })
                    .collect();
                for t in tasks {
                    t.await.unwrap();
                }
            })
        })
    });
    group.finish();
    runtime.block_on(log.close());
}

fn cache(c: &mut Criterion) {
    let keys = Keys::from_master(&[9; 32]);
    let plain = citizen().encode_to_vec();
    let index = keys.index("citizen", ID);
    c.bench_function("cache key (HMAC-SHA256 of kind and ID)", |b| {
        b.iter(|| keys.index(black_box("citizen"), black_box(ID)))
    });
    c.bench_function("seal a citizen (ChaCha20-Poly1305)", |b| {
        b.iter(|| keys.seal(&index, 1, black_box(&plain)))
    });
    let sealed = keys.seal(&index, 1, &plain);
    c.bench_function("open a sealed citizen", |b| {
        b.iter(|| keys.open(&index, black_box(&sealed)).unwrap())
    });

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = runtime.block_on(async {
        Cache::open(
            dir.path(),
            lienthong_gateway::config::CacheConfig::default(),
            Breaker::new(5, Duration::from_secs(10), Arc::new(clock::System)),
            Arc::new(clock::System),
            "bench",
        )
    });
    let fetch = || async { Ok(citizen()) };
    runtime
        .block_on(cache.get(Record::Citizen, ID, "H99.01", fetch()))
        .unwrap();
    c.bench_function("cache hit (memory, decode)", |b| {
        b.iter(|| {
            runtime
                .block_on(cache.get(Record::Citizen, black_box(ID), "H99.01", fetch()))
                .unwrap()
        })
    });
    let mut n = 0u32;
    c.bench_function("cache miss and put (seal, sled insert)", |b| {
        b.iter(|| {
            n += 1;
            let id = format!("0010850{n:05}");
            runtime
                .block_on(cache.get(Record::Citizen, &id, "H99.01", fetch()))
                .unwrap()
        })
    });
}

criterion_group!(benches, edge, audit_record, cache);
criterion_main!(benches);
