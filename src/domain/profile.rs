use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// What the API shows of an account: never the hash. Cheap to clone (the
/// `me` cache hands out copies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub id: Uuid,
    pub email: Arc<str>,
    pub created_at: DateTime<Utc>,
    pub email_verified: bool,
}
