//! The configuration's defaults, its commented file and every validation error.

use super::*;

#[test]
fn default_is_valid_and_round_trips() {
    let config = Config::default();
    config.validate().expect("default config is valid");
    let text = toml::to_string(&config).expect("serializes");
    let back: Config = toml::from_str(&text).expect("parses back");
    assert_eq!(back.listen, config.listen);
    assert_eq!(back.limits.request_timeout, config.limits.request_timeout);
}

#[test]
fn the_commented_default_file_is_the_default() {
    let parsed: Config = toml::from_str(DEFAULT_FILE).expect("the default file parses");
    parsed.validate().expect("and validates");
    let as_value = |c: &Config| toml::Value::try_from(c).expect("serializes");
    assert_eq!(as_value(&parsed), as_value(&Config::default()));
    // Every key that has a value by default is written out, not left implicit.
    let file: toml::Value = toml::from_str(DEFAULT_FILE).unwrap();
    assert_eq!(file, as_value(&Config::default()));
}

#[test]
fn each_validation_error_names_its_key() {
    let cases = [
        (
            "[limits]\nrequest_timeout = \"0s\"",
            "limits.request_timeout",
        ),
        (
            "[limits]\nupstream_timeout = \"0s\"",
            "limits.upstream_timeout",
        ),
        ("[limits]\nmax_in_flight = 0", "limits.max_in_flight"),
        (
            "[limits]\nmax_in_flight = 10\nmax_in_flight_per_connection = 11",
            "limits.max_in_flight_per_connection",
        ),
        (
            "[limits]\nmax_concurrent_streams = 0",
            "limits.max_concurrent_streams",
        ),
        ("[limits]\nmax_connections = 0", "limits.max_connections"),
        ("[ledger]\nbackend = \"postgres\"", "ledger.url"),
        (
            "[ledger]\nbackend = \"postgres\"\nurl = \"postgres://u:secret@db/l\"",
            "ledger.url",
        ),
        ("[ledger]\npool_size = 0", "ledger.pool_size"),
        (
            "[ledger]\npassword_file = \"a\"\npassword_env = \"B\"",
            "ledger.password_file",
        ),
        ("[sync]\nlease = \"100ms\"", "sync.lease"),
        (
            "[disk]\nsoft_free_mb = 100\nhard_free_mb = 100",
            "disk.hard_free_mb",
        ),
        (
            "[limits]\nmax_message_bytes = 10",
            "limits.max_message_bytes",
        ),
        (
            "[limits]\nkeepalive_timeout = \"0s\"",
            "limits.keepalive_interval",
        ),
        ("[limits]\nshutdown_grace = \"0s\"", "limits.shutdown_grace"),
        ("[limits.rate]\nper_second = 0.0", "limits.rate.per_second"),
        ("[limits.rate]\nper_second = nan", "limits.rate.per_second"),
        ("[limits.rate]\nburst = 0", "limits.rate.burst"),
        (
            "[limits.rate.agencies]\n\"H99.02\" = { per_second = 1.0, burst = 0 }",
            "limits.rate.agencies.H99.02.burst",
        ),
        (
            "[limits.rate.agencies]\n\"bộ\" = { per_second = 1.0, burst = 1 }",
            "limits.rate.agencies.bộ",
        ),
        ("[admin]\nhealth_interval = \"0s\"", "admin.health_interval"),
        ("[log]\nlevel = \"[=\"", "log.level"),
        ("[audit]\ncheckpoint_every = 0", "audit.checkpoint_every"),
        (
            "[audit]\ncheckpoint_interval = \"0s\"",
            "audit.checkpoint_interval",
        ),
        ("[audit]\nmax_batch = 0", "audit.max_batch"),
        ("[cache]\nmemory_entries = 0", "cache.memory_entries"),
        ("[cache]\nsweep_interval = \"0s\"", "cache.sweep_interval"),
        (
            "[cache.citizen]\nfresh = \"0s\"\nstale_if_error = \"1h\"",
            "cache.citizen.fresh",
        ),
        (
            "[cache.residence]\nfresh = \"0s\"\nstale_if_error = \"1h\"",
            "cache.residence.fresh",
        ),
        ("[sync]\nunit = \"h99\"", "sync.unit"),
        ("[sync]\nconcurrency = 0", "sync.concurrency"),
        ("[sync]\nbatch = 0", "sync.batch"),
        ("[sync]\nbatch = 101", "sync.batch"),
        (
            "[portal]\nadapter = \"sim\"\nfail_rate = 2.0",
            "portal.fail_rate",
        ),
        ("[breaker]\nfailures = 0", "breaker.failures"),
        ("[breaker]\ncool_down = \"0s\"", "breaker.cool_down"),
        ("[tls]\nhandshake_timeout = \"0s\"", "tls.handshake_timeout"),
        (
            "[tls]\nagency_uri_prefix = \"agency\"",
            "tls.agency_uri_prefix",
        ),
        (
            "[population]\nadapter = \"sim\"\nerror_rate = -1.0",
            "population.error_rate",
        ),
        (
            "[population]\nadapter = \"grpc\"\nurl = \"http://x\"\nca_file = \"a\"\ncert_file = \"b\"\nkey_file = \"c\"\ntimeout = \"1s\"",
            "population.url",
        ),
        (
            "[population]\nadapter = \"grpc\"\nurl = \"https://x\"\nca_file = \"a\"\ncert_file = \"b\"\nkey_file = \"c\"\ntimeout = \"0s\"",
            "population.timeout",
        ),
    ];
    for (text, key) in cases {
        let config: Config =
            toml::from_str(text).unwrap_or_else(|e| panic!("{text:?} parses: {e}"));
        let err = config.validate().expect_err(text).to_string();
        assert!(
            err.starts_with(&format!("config {key}: ")),
            "{text:?}: {err}"
        );
    }
}

#[test]
fn both_rest_apis_share_their_keys_and_checks() {
    let text = "[portal]\nadapter = \"rest\"\nurl = \"http://127.0.0.1:8089\"\nusername = \"u\"\npassword = \"p\"\ntimeout = \"0s\"";
    let config: Config = toml::from_str(text).unwrap();
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("portal.timeout"), "{err}");
    let typo = toml::from_str::<Config>(&text.replace("username", "user")).unwrap_err();
    assert!(typo.to_string().contains("unknown field `user`"), "{typo}");
}

#[test]
fn unknown_keys_and_bad_values_are_named() {
    let unknown =
        toml::from_str::<Config>("listen = \"127.0.0.1:1\"\nlisten_port = 5").unwrap_err();
    assert!(unknown.to_string().contains("listen_port"), "{unknown}");
    let config: Config =
        toml::from_str("[limits]\nupstream_timeout = \"30s\"\nrequest_timeout = \"10s\"").unwrap();
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("limits.upstream_timeout"), "{err}");
    let config: Config =
        toml::from_str("[population]\nadapter = \"rest\"\nurl = \"ftp://x\"\nusername = \"u\"\npassword = \"p\"\ntimeout = \"1s\"")
            .unwrap();
    assert!(
        config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("population.url")
    );
}

#[test]
fn the_database_password_comes_from_where_the_config_says_and_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("db-password");
    std::fs::write(&file, "s3cret-Mật-khẩu\nignored\n").unwrap();
    let text = format!(
        "[ledger]\nbackend = \"postgres\"\nurl = \"postgres://lienthong@db.example:5432/lienthong\"\npassword_file = {:?}",
        file.display().to_string()
    );
    let config: Config = toml::from_str(&text).unwrap();
    config.validate().unwrap();
    assert_eq!(
        config.ledger.password().unwrap().as_deref(),
        Some("s3cret-Mật-khẩu")
    );
    for shown in [format!("{config:?}"), toml::to_string(&config).unwrap()] {
        assert!(!shown.contains("s3cret"), "{shown}");
    }
    let mut from_env = config.clone();
    from_env.ledger.password_file = None;
    from_env.ledger.password_env = Some("LIENTHONG_TEST_UNSET_PASSWORD_VARIABLE".into());
    let missing = from_env.ledger.password().unwrap_err().to_string();
    assert!(missing.contains("ledger.password_env"), "{missing}");
    assert!(!DEFAULT_FILE.contains("s3cret"));
}
