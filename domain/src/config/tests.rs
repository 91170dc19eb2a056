//! Reading the configuration: defaults, bad values named, secrets kept out of logs.
use super::*;
use std::collections::HashMap;

fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let m: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| m.get(k).cloned())
}

#[test]
fn debug_shows_no_secret() {
    let c = load(&[
        (
            "DATABASE_URL",
            "postgres://app:pg-pass-123@db.internal:5432/gh?sslmode=require",
        ),
        (
            "GATEHOUSE_SECRET_KEY",
            "k3y-k3y-k3y-k3y-k3y-k3y-k3y-k3y-k3y-k3y",
        ),
        ("REDIS_URL", "redis://default:redis-pass-456@cache:6379/0"),
        ("STRIPE_SECRET_KEY", "sk_live_stripe-key-789"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_hook-secret-000"),
    ])
    .unwrap();
    let shown = format!("{c:?} {c:#?}");
    for secret in [
        "pg-pass-123",
        "k3y-k3y",
        "redis-pass-456",
        "stripe-key-789",
        "hook-secret-000",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("postgres://app:<redacted>@db.internal:5432/gh?sslmode=require"));
    assert!(shown.contains("redis://default:<redacted>@cache:6379/0"));
    assert_eq!(
        redact_url("postgres://db/gh?user=a&password=p4ss"),
        "postgres://db/gh?user=a&password=<redacted>"
    );
    assert_eq!(
        redact_url("sqlite://x.db?mode=rwc"),
        "sqlite://x.db?mode=rwc"
    );
    assert_eq!(redact_url("redis://cache:6379"), "redis://cache:6379");
}

#[test]
fn nothing_set_is_the_embedded_default() {
    let c = load(&[]).unwrap();
    assert!(c.database_url.starts_with("sqlite://"));
    assert_eq!(c.bind.to_string(), DEFAULT_BIND);
    assert!(c.redis_url.is_none());
    assert!(c.stripe.is_none());
    assert!(matches!(c.secret, SecretSource::DataDir(_)));
}

#[test]
fn each_bad_setting_names_its_variable() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("BIND", "nope")], "BIND"),
        (&[("DATABASE_URL", "mysql://x")], "DATABASE_URL"),
        (
            &[("DATABASE_URL", "postgres://127.0.0.1/x")],
            "GATEHOUSE_SECRET_KEY",
        ),
        (&[("GATEHOUSE_SECRET_KEY", "short")], "GATEHOUSE_SECRET_KEY"),
        (&[("REDIS_URL", "localhost:6379")], "REDIS_URL"),
        (&[("PUBLIC_URL", "example.com")], "PUBLIC_URL"),
        (&[("TELEGRAM_API_URL", "ftp://x")], "TELEGRAM_API_URL"),
        (&[("OVERAGE_FEE_MINOR", "-3")], "OVERAGE_FEE_MINOR"),
        (&[("TRUSTED_PROXY_HOPS", "many")], "TRUSTED_PROXY_HOPS"),
        (&[("WORKER_SCHEDULES", "sometimes")], "WORKER_SCHEDULES"),
        (&[("WORKER_MINUTE_SWEEPS", "maybe")], "WORKER_MINUTE_SWEEPS"),
        (
            &[("SIGNUP_PER_ADDRESS_PER_HOUR", "0")],
            "SIGNUP_PER_ADDRESS_PER_HOUR",
        ),
        (
            &[("PASSWORD_HASH_CONCURRENCY", "0")],
            "PASSWORD_HASH_CONCURRENCY",
        ),
        (
            &[
                ("STRIPE_SECRET_KEY", "sk_test_x"),
                ("STRIPE_TIMEOUT_SECS", "0"),
            ],
            "STRIPE_TIMEOUT_SECS",
        ),
    ];
    for (vars, var) in cases {
        let err = load(vars).unwrap_err();
        assert_eq!(err.var, *var, "{vars:?}");
        assert!(err.to_string().contains(var));
    }
}
