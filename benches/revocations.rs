//! What a million revoked sessions cost: resident memory, and the time of one
//! revocation check (a hit and a miss) with an empty and with a full cache.
//!
//!   cargo bench --bench revocations               # 1,000,000 entries
//!   REVOKED=100000 cargo bench --bench revocations

use std::hint::black_box;
use std::time::Instant;

use chrono::Utc;
use sns_api::auth::revocation::RevocationCache;
use uuid::Uuid;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Mean nanoseconds of one `is_revoked` over `ids`.
fn lookup_ns(cache: &RevocationCache, ids: &[Uuid]) -> f64 {
    let start = Instant::now();
    let mut hits = 0usize;
    for id in ids {
        hits += usize::from(cache.is_revoked(black_box(id)));
    }
    black_box(hits);
    start.elapsed().as_nanos() as f64 / ids.len() as f64
}

fn main() {
    let n: usize = std::env::var("REVOKED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let probes: Vec<Uuid> = (0..100_000).map(|_| Uuid::now_v7()).collect();
    let cache = RevocationCache::new();
    let empty_miss = lookup_ns(&cache, &probes);

    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    let before = rss_kib();
    let until = Utc::now() + chrono::Duration::minutes(20);
    for id in &ids {
        cache.revoke(*id, until);
    }
    assert_eq!(cache.len(), n as u64, "no revocation may be evicted");
    let after = rss_kib();
    let full_miss = lookup_ns(&cache, &probes);
    let hit_probe: Vec<Uuid> = ids.iter().step_by((n / 100_000).max(1)).copied().collect();
    let full_hit = lookup_ns(&cache, &hit_probe);

    let mib = (after.saturating_sub(before)) as f64 / 1024.0;
    println!("revoked sessions:           {n}");
    println!(
        "resident memory added:      {mib:.1} MiB ({:.0} bytes per revocation)",
        mib * 1048576.0 / n as f64
    );
    println!("check, empty cache (miss):  {empty_miss:.0} ns");
    println!("check, full cache (miss):   {full_miss:.0} ns");
    println!("check, full cache (hit):    {full_hit:.0} ns");
}
