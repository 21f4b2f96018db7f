//! What the inbound gate and the outbound side of one socket share: the
//! subscription ids in use and how far each got, the frames the outbound
//! side asks the gate to hand async-graphql, and the authentication the gate
//! found for async-graphql's `connection_init` callback.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use super::frames;
use crate::auth::Auth;

/// How far one subscription got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// Forwarded to async-graphql; nothing came back yet.
    Started,
    /// Its first response was data: what follows are events.
    Running,
    /// Refused (an `error` message went out) or completed by the client:
    /// async-graphql's `complete` for it is not the client's to see.
    Ending,
}

/// What the outbound side does with one message of async-graphql's.
#[derive(Debug, PartialEq)]
pub(super) enum Outgoing {
    /// Send it as it is.
    Pass,
    /// Send this instead.
    Replace(String),
    /// Send nothing.
    Drop,
}

#[derive(Default)]
struct Inner {
    ids: HashMap<String, Op>,
    /// Frames for async-graphql, ahead of the client's.
    injected: VecDeque<String>,
    /// From the gate's `connection_init` to async-graphql's callback.
    auth: Option<Auth>,
    /// A `connection_init` arrived (accepted or not).
    initialised: bool,
}

pub(super) struct Table {
    inner: Mutex<Inner>,
    events: metrics::Counter,
}

impl Table {
    pub fn new() -> Self {
        Self {
            inner: Mutex::default(),
            events: metrics::counter!("ws_events_sent_total"),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding it; recover rather than poison the socket.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `connection_init` arrived; `auth` is what it established.
    pub fn initialise(&self, auth: Option<Auth>) {
        let mut inner = self.lock();
        inner.initialised = true;
        inner.auth = auth;
    }

    pub fn initialised(&self) -> bool {
        self.lock().initialised
    }

    /// For async-graphql's `connection_init` callback.
    pub fn take_auth(&self) -> Auth {
        self.lock().auth.take().unwrap_or(Auth::Anonymous)
    }

    /// Subscriptions whose ids are in use.
    pub fn in_use(&self) -> usize {
        self.lock().ids.len()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.lock().ids.contains_key(id)
    }

    /// A subscription goes to async-graphql under `id` (not in use).
    pub fn start(&self, id: String) {
        self.lock().ids.insert(id, Op::Started);
    }

    /// The client completes `id`: whether async-graphql should hear of it.
    pub fn client_completes(&self, id: &str) -> bool {
        match self.lock().ids.get_mut(id) {
            Some(op @ (Op::Started | Op::Running)) => {
                *op = Op::Ending;
                true
            }
            _ => false,
        }
    }

    /// The next frame the outbound side asked the gate to forward.
    pub fn next_injected(&self) -> Option<String> {
        self.lock().injected.pop_front()
    }

    /// Decides on one text message async-graphql wrote: a subscription
    /// whose first response is a refusal (errors and null data) becomes an
    /// `error` message and is completed in async-graphql, whose own
    /// `complete` is then dropped; a `complete` frees its id.
    pub fn outgoing(&self, text: &str) -> Outgoing {
        let Ok(head) = serde_json::from_str::<frames::Head>(text) else {
            return Outgoing::Pass;
        };
        let Some(id) = head.id else {
            return Outgoing::Pass;
        };
        match &*head.kind {
            "next" => self.next(&id, text),
            "complete" => self.completed(&id),
            _ => Outgoing::Pass,
        }
    }

    fn next(&self, id: &str, text: &str) -> Outgoing {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let Some(op) = inner.ids.get_mut(id) else {
            return Outgoing::Pass;
        };
        match *op {
            Op::Started => match frames::refusal(text) {
                Some(errors) => {
                    *op = Op::Ending;
                    inner.injected.push_back(frames::complete(id));
                    Outgoing::Replace(frames::errors(id, errors))
                }
                None => {
                    *op = Op::Running;
                    self.events.increment(1);
                    Outgoing::Pass
                }
            },
            Op::Running => {
                self.events.increment(1);
                Outgoing::Pass
            }
            Op::Ending => Outgoing::Drop,
        }
    }

    fn completed(&self, id: &str) -> Outgoing {
        match self.lock().ids.remove(id) {
            Some(Op::Ending) => Outgoing::Drop,
            _ => Outgoing::Pass,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(id: &str, payload: &str) -> String {
        format!(r#"{{"type":"next","id":"{id}","payload":{payload}}}"#)
    }

    fn complete(id: &str) -> String {
        format!(r#"{{"type":"complete","id":"{id}"}}"#)
    }

    #[test]
    fn a_refused_subscription_is_one_error_message_and_its_id_is_freed() {
        let table = Table::new();
        table.start("1".into());
        let refused = next("1", r#"{"data":null,"errors":[{"message":"no"}]}"#);
        let Outgoing::Replace(error) = table.outgoing(&refused) else {
            panic!("not replaced");
        };
        let error: serde_json::Value = serde_json::from_str(&error).unwrap();
        assert_eq!(error["type"], "error");
        assert_eq!(error["id"], "1");
        assert_eq!(error["payload"][0]["message"], "no");
        assert_eq!(table.next_injected(), Some(frames::complete("1")));
        assert_eq!(table.outgoing(&complete("1")), Outgoing::Drop);
        assert!(!table.contains("1"));
    }

    #[test]
    fn events_pass_and_so_does_the_end_of_a_stream() {
        let table = Table::new();
        table.start("1".into());
        let event = next("1", r#"{"data":{"x":1}}"#);
        assert_eq!(table.outgoing(&event), Outgoing::Pass);
        // A later failed event is an event: only the first response decides.
        let failed = next("1", r#"{"data":null,"errors":[{"message":"no"}]}"#);
        assert_eq!(table.outgoing(&failed), Outgoing::Pass);
        assert_eq!(table.next_injected(), None);
        assert_eq!(table.outgoing(&complete("1")), Outgoing::Pass);
    }

    #[test]
    fn what_the_client_completed_gets_no_complete_back() {
        let table = Table::new();
        table.start("1".into());
        assert!(table.client_completes("1"));
        assert!(!table.client_completes("1"), "once");
        assert!(!table.client_completes("2"), "an id not in use");
        assert_eq!(table.outgoing(&complete("1")), Outgoing::Drop);
    }
}
