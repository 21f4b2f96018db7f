//! The subscriptions running on one socket, and the frames they produce.
//!
//! Each starts as async-graphql's stream (`Schema::execute_stream`), which
//! admits, parses and validates the document (the schema's extension) and
//! runs the root field. A response before the root field returned its
//! stream is a refusal (errors and null data), and becomes an `error`
//! message. A root field that handed itself
//! off (`graphql::Handoff`) ends that stream at once, and from then on the
//! subscription's events are rendered here (`graphql::Live`), one at a
//! time and in order; otherwise async-graphql's stream goes on, each of its
//! responses a `next`. A stream that ends sends `complete`, unless the
//! client completed it.

use std::sync::Arc;
use std::task::{Context, Poll};

use async_graphql::futures_util::future::BoxFuture;
use async_graphql::futures_util::stream::BoxStream;
use async_graphql::{Data, Request, Response, Variables};
use futures_util::{FutureExt as _, StreamExt as _};

use super::Out;
use super::frames::{self, Subscribe};
use crate::graphql::{ApiSchema, Handoff, Live, Shapes};

struct Sub {
    id: String,
    run: Run,
}

enum Run {
    /// async-graphql's stream, before its first response.
    Starting {
        stream: BoxStream<'static, Response>,
        handoff: Arc<Handoff>,
    },
    /// async-graphql's stream, each response an event.
    Streaming(BoxStream<'static, Response>),
    /// Handed off: its events rendered here, one at a time.
    Live {
        live: Live,
        rendering: Option<BoxFuture<'static, Arc<str>>>,
    },
}

/// What one subscription's poll produced.
enum Step {
    /// Send this; the subscription goes on.
    Send(String),
    /// Send this; the subscription is over.
    End(String),
    /// It changed how it runs: poll it again.
    Again,
}

pub(super) struct Running {
    schema: ApiSchema,
    shapes: Shapes,
    subs: Vec<Sub>,
    /// Where the next poll starts, so that no subscription starves the rest.
    turn: usize,
    events: metrics::Counter,
}

impl Running {
    pub fn new(schema: ApiSchema, shapes: Shapes) -> Self {
        Self {
            schema,
            shapes,
            subs: Vec::new(),
            turn: 0,
            events: metrics::counter!("ws_events_sent_total"),
        }
    }

    pub fn len(&self) -> usize {
        self.subs.len()
    }

    pub fn contains(&self, id: &str) -> bool {
        self.subs.iter().any(|s| s.id == id)
    }

    /// Starts `payload` under `id` (not in use) with the socket's session
    /// data (its authentication and handle).
    pub fn start(&mut self, id: String, payload: Subscribe, session: Arc<Data>) {
        let variables = payload.variables.map(serde_json::Value::Object);
        let shape = self.shapes.of(
            &payload.query,
            payload.operation_name.as_deref(),
            &variables
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        );
        let handoff = Arc::new(Handoff::new(shape));
        let mut request = Request::new(payload.query).data(Arc::downgrade(&handoff));
        if let Some(name) = payload.operation_name {
            request = request.operation_name(name);
        }
        if let Some(variables) = variables {
            request = request.variables(Variables::from_json(variables));
        }
        for (key, value) in payload.extensions.into_iter().flatten() {
            if let Ok(value) = async_graphql::Value::from_json(value) {
                request.extensions.insert(key, value);
            }
        }
        let stream = self
            .schema
            .execute_stream_with_session_data(request, session);
        self.subs.push(Sub {
            id,
            run: Run::Starting { stream, handoff },
        });
    }

    /// The client completed `id`: it stops, and nothing more is sent for it.
    pub fn stop(&mut self, id: &str) {
        self.subs.retain(|s| s.id != id);
    }

    /// The next frame any subscription has to send; pending while none has
    /// (and while there are none).
    pub fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Out> {
        let n = self.subs.len();
        for k in 0..n {
            let i = (self.turn + k) % n;
            loop {
                match poll_sub(&mut self.subs[i], cx, &self.events) {
                    Poll::Pending => break,
                    Poll::Ready(Step::Again) => {}
                    Poll::Ready(Step::Send(text)) => {
                        self.turn = i + 1;
                        return Poll::Ready(Out::text(text));
                    }
                    Poll::Ready(Step::End(text)) => {
                        self.subs.swap_remove(i);
                        self.turn = i;
                        return Poll::Ready(Out::text(text));
                    }
                }
            }
        }
        Poll::Pending
    }
}

fn poll_sub(sub: &mut Sub, cx: &mut Context<'_>, events: &metrics::Counter) -> Poll<Step> {
    let id = sub.id.as_str();
    match &mut sub.run {
        Run::Starting { stream, handoff } => match stream.poll_next_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(response)) => {
                // The root field failed (it returned no stream): a refusal.
                if !handoff.streaming()
                    && response.data == async_graphql::Value::Null
                    && !response.errors.is_empty()
                {
                    let errors = serde_json::to_value(&response.errors).unwrap_or_default();
                    return Poll::Ready(Step::End(frames::errors(id, errors)));
                }
                let text = next(id, &response, events);
                let stream = std::mem::replace(stream, futures_util::stream::empty().boxed());
                sub.run = Run::Streaming(stream);
                Poll::Ready(Step::Send(text))
            }
            Poll::Ready(None) => match handoff.take() {
                Some(live) => {
                    sub.run = Run::Live {
                        live,
                        rendering: None,
                    };
                    Poll::Ready(Step::Again)
                }
                None => Poll::Ready(Step::End(frames::complete(id))),
            },
        },
        Run::Streaming(stream) => match stream.poll_next_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(response)) => Poll::Ready(Step::Send(next(id, &response, events))),
            Poll::Ready(None) => Poll::Ready(Step::End(frames::complete(id))),
        },
        Run::Live { live, rendering } => {
            if let Some(render) = rendering {
                let payload = std::task::ready!(render.poll_unpin(cx));
                *rendering = None;
                events.increment(1);
                return Poll::Ready(Step::Send(frames::next(id, &payload)));
            }
            match live.poll_item(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(item)) => {
                    *rendering = Some(live.render(item));
                    Poll::Ready(Step::Again)
                }
                Poll::Ready(None) => Poll::Ready(Step::End(frames::complete(id))),
            }
        }
    }
}

/// A `next` message for one of async-graphql's responses.
fn next(id: &str, response: &Response, events: &metrics::Counter) -> String {
    events.increment(1);
    let payload = serde_json::to_string(response).unwrap_or_else(|e| {
        tracing::error!(error = %e, "a subscription response did not serialise");
        crate::graphql::UNSERIALISABLE.to_owned()
    });
    frames::next(id, &payload)
}
