//! Micro-benchmarks of the pieces every request pays for:
//! one argon2 verify with the configured parameters, signing and verifying
//! an access token, the revocation check, and one `me` executed in-process
//! against the schema (profile cache warm, as in production).
//!
//!   cargo bench --bench micro
//!   cargo bench --bench micro -- --quick     # shorter

use std::hint::black_box;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::ExposeSecret as _;
use sns_api::app::App;
use sns_api::auth::jwt::JwtKeys;
use sns_api::auth::password::{DEFAULT_M_COST, DEFAULT_P_COST, DEFAULT_T_COST};
use sns_api::auth::revocation::RevocationCache;
use sns_api::auth::{Auth, ClientInfo};
use sns_api::config::Config;
use sns_api::graphql::build_schema;
use uuid::Uuid;

fn argon2_verify(c: &mut Criterion) {
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(DEFAULT_M_COST, DEFAULT_T_COST, DEFAULT_P_COST, None).unwrap(),
    );
    let hash = argon
        .hash_password(
            b"correct-horse-battery",
            &SaltString::encode_b64(b"0123456789abcdef").unwrap(),
        )
        .unwrap()
        .to_string();
    let parsed = PasswordHash::new(&hash).unwrap();
    let mut group = c.benchmark_group("argon2");
    group.sample_size(10);
    group.bench_function("verify m=19456,t=2,p=1", |b| {
        b.iter(|| {
            argon
                .verify_password(black_box(b"correct-horse-battery"), &parsed)
                .is_ok()
        })
    });
    group.finish();
}

fn tokens(c: &mut Criterion) {
    let keys = JwtKeys::hs256(
        b"bench-secret-bench-secret-bench-secret-0",
        "sns-api",
        "sns-api",
        Duration::from_secs(900),
    );
    let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
    let token = keys
        .issue(
            user,
            session,
            false,
            sns_api::auth::Assurance::Password,
            Utc::now(),
        )
        .unwrap()
        .token
        .expose_secret()
        .to_owned();
    c.bench_function("access token sign", |b| {
        b.iter(|| {
            keys.issue(
                user,
                session,
                false,
                sns_api::auth::Assurance::Password,
                Utc::now(),
            )
            .unwrap()
        })
    });
    c.bench_function("access token verify", |b| {
        b.iter(|| keys.verify(black_box(&token)).unwrap())
    });
}

fn revocation_check(c: &mut Criterion) {
    let cache = RevocationCache::new();
    let until = Utc::now() + chrono::Duration::minutes(20);
    let ids: Vec<Uuid> = (0..10_000).map(|_| Uuid::now_v7()).collect();
    for id in &ids {
        cache.revoke(*id, until);
    }
    let miss = Uuid::now_v7();
    c.bench_function("revocation check (miss, 10k revoked)", |b| {
        b.iter(|| cache.is_revoked(black_box(&miss)))
    });
    c.bench_function("revocation check (hit, 10k revoked)", |b| {
        b.iter(|| cache.is_revoked(black_box(&ids[4242])))
    });
}

fn me_in_process(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (schema, auth) = rt.block_on(async {
        let mut config = Config::defaults();
        config.database.url = "sqlite::memory:".parse().unwrap();
        config.bind_addr = "127.0.0.1:0".parse().unwrap();
        config.tokens.secret = Some("bench-secret-bench-secret-bench-secret-0".into());
        let app = App::build(config.clone()).await.unwrap();
        let state = app.state();
        let signed_in = sns_api::service::user::register(
            &state,
            "bench@example.com",
            "correct-horse-battery",
            None,
            &ClientInfo::default(),
        )
        .await
        .unwrap();
        let viewer =
            sns_api::auth::authenticate(&state, signed_in.access.token.expose_secret()).unwrap();
        (
            build_schema(&config.documents, Some(state)),
            Auth::Viewer(viewer),
        )
    });
    c.bench_function("me executed in-process", |b| {
        b.to_async(&rt).iter(|| async {
            let response = schema
                .execute(async_graphql::Request::new("{ me { id email } }").data(auth))
                .await;
            assert!(response.errors.is_empty());
            response
        })
    });
}

criterion_group!(
    benches,
    argon2_verify,
    tokens,
    revocation_check,
    me_in_process
);
criterion_main!(benches);
