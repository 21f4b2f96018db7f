//! Safety: blocks, mutes, follow requests, locked profiles and reports.
//!
//! [`visibility`] is the one place that decides who may see whose posts:
//! every read path (statements and the live filter alike) asks it, so a
//! path added later takes the rule from there rather than restating it;
//! [`audience`] reads, once per live event, what the rule needs to know
//! about the event's recipients.

pub mod audience;
pub mod block;
pub mod guard;
pub mod report;
pub mod requests;
pub mod visibility;
