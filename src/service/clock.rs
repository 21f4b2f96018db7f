//! The service's one reading of the clock.

use chrono::{DateTime, SubsecRound, Utc};

/// Now, to the second: every backend stores it exactly (MySQL's `TIMESTAMP`
/// keeps no fraction), so what we return is what a later read returns.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}
