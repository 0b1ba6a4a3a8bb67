//! The gateway in front of a population database that misbehaves in every way a
//! national system (or the proxy in front of it) has been seen to: it hangs, answers
//! slowly, sends malformed JSON, a proxy's HTML error page, a system error or a
//! maintenance notice, cuts the connection midway, or is gone — and then comes back.
//!
//! For each fault: a citizen never looked up gets the right code well within the
//! adapter's deadline; a citizen in the cache is served, marked stale; after the
//! fault, fresh answers come again. And consecutive failures open the circuit,
//! which then answers at once, until a probe after the cool-down closes it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use integration_tests::{
    TestPki, channel, citizen_request, config, population_simulator, reason, rest_registry, sample,
    scrape, sim_id, start,
};
use lienthong_adapters::sim::population_api::Credentials;
use lienthong_adapters::sim::{Faults, Misbehaviour};
use lienthong_proto::v1::identity_service_client::IdentityServiceClient;
use tonic::Code;
use tonic::transport::Channel;

/// The adapter's deadline per call.
const DEADLINE: Duration = Duration::from_millis(500);
/// How much later than the deadline an answer may come (scheduling on a busy CI
/// machine), and still count as "within its deadline".
const SLACK: Duration = Duration::from_millis(700);

/// A fault, how to cause it, and what a client must see for an uncached citizen.
struct Case {
    name: &'static str,
    cause: fn(&Faults),
    code: Code,
    reason: &'static str,
}

const CASES: [Case; 7] = [
    Case {
        name: "hang",
        cause: |f| f.set_misbehaviour(Misbehaviour::Hang),
        code: Code::DeadlineExceeded,
        reason: "UPSTREAM_TIMEOUT",
    },
    Case {
        name: "slow",
        cause: |f| f.set_latency(Duration::from_secs(3)),
        code: Code::DeadlineExceeded,
        reason: "UPSTREAM_TIMEOUT",
    },
    Case {
        name: "malformed JSON",
        cause: |f| f.set_misbehaviour(Misbehaviour::Malformed),
        code: Code::Unavailable,
        reason: "UPSTREAM_BAD_RESPONSE",
    },
    Case {
        name: "HTML 500",
        cause: |f| f.set_misbehaviour(Misbehaviour::ServerError),
        code: Code::Unavailable,
        reason: "UPSTREAM_UNAVAILABLE",
    },
    Case {
        name: "connection cut",
        cause: |f| f.set_misbehaviour(Misbehaviour::Cut),
        code: Code::Unavailable,
        reason: "UPSTREAM_UNAVAILABLE",
    },
    Case {
        name: "system error",
        cause: |f| f.set_error_rate(1.0),
        code: Code::Unavailable,
        reason: "UPSTREAM_UNAVAILABLE",
    },
    Case {
        name: "maintenance",
        cause: |f| f.set_down(true),
        code: Code::Unavailable,
        reason: "UPSTREAM_UNAVAILABLE",
    },
];

fn heal(faults: &Faults) {
    faults.set_misbehaviour(Misbehaviour::None);
    faults.set_latency(Duration::ZERO);
    faults.set_error_rate(0.0);
    faults.set_down(false);
}

/// One lookup: the code (OK or the error's), its reason, its `x-cache`, how long.
async fn lookup(
    identity: &mut IdentityServiceClient<Channel>,
    id: &str,
) -> (Code, String, String, Duration) {
    let started = Instant::now();
    let answer = identity.get_citizen(citizen_request(id)).await;
    let took = started.elapsed();
    match answer {
        Ok(r) => {
            let cache = r
                .metadata()
                .get("x-cache")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            (Code::Ok, String::new(), cache, took)
        }
        Err(status) => (status.code(), reason(&status), String::new(), took),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_upstream_fault_is_answered_in_time_with_its_code_and_bridged_by_the_cache() {
    let pki = TestPki::new();
    let mut sim = population_simulator("127.0.0.1:0".parse().unwrap()).await;
    let addr: SocketAddr = sim.url().trim_start_matches("http://").parse().unwrap();
    let mut config = config(&pki);
    config.cache.citizen.fresh = Duration::from_millis(100);
    // This test is about each fault's answer; the circuit has its own test below.
    config.breaker.failures = 1_000;
    let password = Credentials::default().password;
    let gw = start(&config, rest_registry(sim.url(), &password, DEADLINE)).await;
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));

    let cached = sim_id("001085", true);
    assert_eq!(lookup(&mut identity, &cached).await.0, Code::Ok);
    tokio::time::sleep(Duration::from_millis(150)).await;

    for (n, case) in CASES.iter().enumerate() {
        (case.cause)(sim.faults());
        // A citizen never looked up: the cache cannot answer for them.
        let fresh = sim_id(&format!("0010{:02}", 86 + n), true);
        let (code, why, _, took) = lookup(&mut identity, &fresh).await;
        assert_eq!(
            (code, why.as_str()),
            (case.code, case.reason),
            "{}: an uncached citizen",
            case.name
        );
        assert!(
            took < DEADLINE + SLACK,
            "{}: answered after {took:?}, beyond the {DEADLINE:?} deadline",
            case.name
        );
        // A citizen in the cache is served, marked stale, as fast.
        let (code, _, cache, took) = lookup(&mut identity, &cached).await;
        assert_eq!(
            (code, cache.as_str()),
            (Code::Ok, "stale"),
            "{}: a cached citizen",
            case.name
        );
        assert!(
            took < DEADLINE + SLACK,
            "{}: stale after {took:?}",
            case.name
        );
        // It comes back: answers are fresh again.
        heal(sim.faults());
        let (code, _, cache, _) = lookup(&mut identity, &fresh).await;
        assert_eq!(
            (code, cache.as_str()),
            (Code::Ok, "miss"),
            "{}: after",
            case.name
        );
        let (code, _, cache, _) = lookup(&mut identity, &cached).await;
        assert_eq!((code, cache.as_str()), (Code::Ok, "miss"), "{}", case.name);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    // Gone altogether (connection refused), and back on the same address.
    sim.stop().await.unwrap();
    let (code, why, _, took) = lookup(&mut identity, &sim_id("001099", true)).await;
    assert_eq!(
        (code, why.as_str()),
        (Code::Unavailable, "UPSTREAM_UNAVAILABLE")
    );
    assert!(took < DEADLINE + SLACK, "refused after {took:?}");
    let (code, _, cache, _) = lookup(&mut identity, &cached).await;
    assert_eq!((code, cache.as_str()), (Code::Ok, "stale"));
    sim = population_simulator(addr).await;
    let (code, _, cache, _) = lookup(&mut identity, &sim_id("001099", true)).await;
    assert_eq!((code, cache.as_str()), (Code::Ok, "miss"), "back again");
    drop(sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_upstream_opens_the_circuit_which_answers_at_once_and_closes_when_it_heals() {
    let pki = TestPki::new();
    let sim = population_simulator("127.0.0.1:0".parse().unwrap()).await;
    let mut config = config(&pki);
    config.breaker.failures = 3;
    config.breaker.cool_down = Duration::from_millis(800);
    let password = Credentials::default().password;
    let gw = start(&config, rest_registry(sim.url(), &password, DEADLINE)).await;
    let admin = gw.admin_addr().expect("admin listener");
    let mut identity = IdentityServiceClient::new(channel(gw.addr(), &pki.paths, "H99.01"));
    let circuit = |samples: &[prometheus_parse::Sample]| {
        let gauge = "lienthong_circuit_state";
        assert!(samples.iter().any(|s| s.metric == gauge), "a circuit gauge");
        sample(samples, gauge, &[])
    };
    assert_eq!(
        lookup(&mut identity, &sim_id("001085", true)).await.0,
        Code::Ok
    );
    assert_eq!(circuit(&scrape(admin).await), 0.0, "closed");

    sim.faults().set_misbehaviour(Misbehaviour::Hang);
    for n in 0..3 {
        let (code, _, _, took) = lookup(&mut identity, &sim_id(&format!("00109{n}"), true)).await;
        assert_eq!(code, Code::DeadlineExceeded, "failure {n}");
        assert!(took < DEADLINE + SLACK, "{took:?}");
    }
    // Open: the next calls do not wait for the upstream at all.
    assert_eq!(circuit(&scrape(admin).await), 2.0, "open");
    for n in 3..8 {
        let (code, why, _, took) = lookup(&mut identity, &sim_id(&format!("00109{n}"), true)).await;
        assert_eq!(
            (code, why.as_str()),
            (Code::Unavailable, "UPSTREAM_UNAVAILABLE")
        );
        assert!(
            took < DEADLINE / 2,
            "an open circuit answers at once, not after {took:?}"
        );
    }
    // Still hanging after the cool-down: the probe fails and it opens again.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let (code, _, _, _) = lookup(&mut identity, &sim_id("001080", true)).await;
    assert_eq!(
        code,
        Code::DeadlineExceeded,
        "the probe waits for the upstream"
    );
    assert_eq!(circuit(&scrape(admin).await), 2.0, "open again");

    // Healed: after the cool-down a probe goes through and closes it.
    heal(sim.faults());
    tokio::time::sleep(Duration::from_millis(900)).await;
    let (code, _, cache, _) = lookup(&mut identity, &sim_id("001081", true)).await;
    assert_eq!((code, cache.as_str()), (Code::Ok, "miss"));
    assert_eq!(circuit(&scrape(admin).await), 0.0, "closed again");
    for n in 2..6 {
        let id = sim_id(&format!("00108{n}"), true);
        assert_eq!(lookup(&mut identity, &id).await.0, Code::Ok);
    }
}
