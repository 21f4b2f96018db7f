//! The GraphQL shapes of `report`: what an account tells the operators.

use async_graphql::{Enum, ID, InputObject, SimpleObject};

use super::types::{UserError, payload_answer};

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::service::safety::report::Reason")]
pub enum ReportReason {
    Spam,
    Harassment,
    /// Content that may break the law.
    Illegal,
    Other,
}

/// Exactly one of `handle` and `postId`.
#[derive(InputObject)]
pub struct ReportInput {
    /// The profile reported.
    pub handle: Option<String>,
    /// The post reported.
    pub post_id: Option<ID>,
    pub reason: ReportReason,
    /// Up to 1000 code points, for the operators.
    pub comment: Option<String>,
}

/// `reported` is true exactly when `errors` is empty.
#[derive(SimpleObject, Default)]
pub struct ReportPayload {
    pub reported: bool,
    pub errors: Vec<UserError>,
}

payload_answer!(ReportPayload, (), |()| reported: true);
