//! The messages of `graphql-transport-ws`: what a client sends, parsed as
//! strictly as the `graphql-ws` library validates them, and what the
//! server writes.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

/// A JSON object, as a message's `payload`, `variables` or `extensions`.
pub(super) type Object = Map<String, Value>;

/// What a client may send.
#[derive(Debug, PartialEq)]
pub(super) enum ClientFrame {
    Init(Option<Object>),
    Ping(Option<Object>),
    Pong,
    Subscribe { id: String, payload: Subscribe },
    Complete { id: String },
}

/// A `subscribe` message's payload.
#[derive(Debug, PartialEq)]
pub(super) struct Subscribe {
    pub query: String,
    pub operation_name: Option<String>,
    pub variables: Option<Object>,
    pub extensions: Option<Object>,
}

/// Why a message is malformed: the reason of the 4400 close.
pub(super) type Malformed = &'static str;

/// One text frame as a client message.
pub(super) fn parse(text: &str) -> Result<ClientFrame, Malformed> {
    let Ok(Value::Object(mut message)) = serde_json::from_str::<Value>(text) else {
        return Err("Message is expected to be a JSON object");
    };
    let Some(Value::String(kind)) = message.remove("type") else {
        return Err("Message is missing the 'type' property");
    };
    match kind.as_str() {
        "connection_init" => Ok(ClientFrame::Init(optional_object(
            message.remove("payload"),
        )?)),
        "ping" => Ok(ClientFrame::Ping(optional_object(
            message.remove("payload"),
        )?)),
        "pong" => optional_object(message.remove("payload")).map(|_| ClientFrame::Pong),
        "subscribe" => {
            let id = id(message.remove("id"))?;
            let Some(Value::Object(payload)) = message.remove("payload") else {
                return Err("'subscribe' expects an object 'payload'");
            };
            Ok(ClientFrame::Subscribe {
                id,
                payload: subscribe_payload(payload)?,
            })
        }
        "complete" => Ok(ClientFrame::Complete {
            id: id(message.remove("id"))?,
        }),
        "connection_ack" | "next" | "error" => Err("A client may not send this message type"),
        _ => Err("Invalid message 'type' property"),
    }
}

/// A payload that is an object, `null` or absent.
fn optional_object(value: Option<Value>) -> Result<Option<Object>, Malformed> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err("'payload' must be an object or null"),
    }
}

fn id(value: Option<Value>) -> Result<String, Malformed> {
    match value {
        Some(Value::String(id)) if !id.is_empty() => Ok(id),
        _ => Err("'id' must be a non-empty string"),
    }
}

fn subscribe_payload(mut payload: Object) -> Result<Subscribe, Malformed> {
    let Some(Value::String(query)) = payload.remove("query") else {
        return Err("'payload.query' must be a string");
    };
    let operation_name = match payload.remove("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name),
        Some(_) => return Err("'payload.operationName' must be a string or null"),
    };
    let variables = optional_object(payload.remove("variables"))
        .map_err(|_| "'payload.variables' must be an object or null")?;
    let extensions = optional_object(payload.remove("extensions"))
        .map_err(|_| "'payload.extensions' must be an object or null")?;
    Ok(Subscribe {
        query,
        operation_name,
        variables,
        extensions,
    })
}

pub(super) const ACK: &str = r#"{"type":"connection_ack"}"#;

/// The answer to a `ping`, with its payload.
pub(super) fn pong(payload: Option<Object>) -> String {
    match payload {
        Some(p) => json!({ "type": "pong", "payload": p }).to_string(),
        None => r#"{"type":"pong"}"#.to_owned(),
    }
}

/// A `next` message for `id` with `payload`, a GraphQL response as JSON.
pub(super) fn next(id: &str, payload: &str) -> String {
    let id = Value::String(id.to_owned());
    format!(r#"{{"type":"next","id":{id},"payload":{payload}}}"#)
}

pub(super) fn complete(id: &str) -> String {
    json!({ "type": "complete", "id": id }).to_string()
}

/// An `error` message for `id` with one error of `code`.
pub(super) fn error(id: &str, code: &str, message: &str) -> String {
    errors(
        id,
        Value::Array(vec![
            json!({ "message": message, "extensions": { "code": code } }),
        ]),
    )
}

/// An `error` message for `id` with these GraphQL errors.
pub(super) fn errors(id: &str, errors: Value) -> String {
    json!({ "type": "error", "id": id, "payload": errors }).to_string()
}

/// The longest close reason a WebSocket close frame carries (125 bytes of
/// payload, less the code).
const MAX_REASON: usize = 123;

/// `reason`, or `fallback` when it is too long for a close frame.
pub(super) fn close_reason(reason: String, fallback: &'static str) -> Cow<'static, str> {
    if reason.len() <= MAX_REASON {
        Cow::Owned(reason)
    } else {
        Cow::Borrowed(fallback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_messages_a_client_sends_parse() {
        assert_eq!(
            parse(r#"{"type":"connection_init"}"#),
            Ok(ClientFrame::Init(None))
        );
        assert_eq!(
            parse(r#"{"type":"connection_init","payload":null}"#),
            Ok(ClientFrame::Init(None))
        );
        assert!(matches!(
            parse(r#"{"type":"connection_init","payload":{"Authorization":"Bearer x"}}"#),
            Ok(ClientFrame::Init(Some(p))) if p.len() == 1
        ));
        assert_eq!(parse(r#"{"type":"pong"}"#), Ok(ClientFrame::Pong));
        assert_eq!(
            parse(r#"{"type":"complete","id":"1"}"#),
            Ok(ClientFrame::Complete { id: "1".into() })
        );
        assert_eq!(
            parse(
                r#"{"type":"subscribe","id":"a","payload":{"query":"subscription { x }","variables":null,"operationName":null,"extensions":{"k":1}}}"#
            ),
            Ok(ClientFrame::Subscribe {
                id: "a".into(),
                payload: Subscribe {
                    query: "subscription { x }".into(),
                    operation_name: None,
                    variables: None,
                    extensions: Some(json!({"k": 1}).as_object().unwrap().clone()),
                }
            })
        );
    }

    #[test]
    fn every_malformed_shape_is_refused_with_a_short_reason() {
        for text in [
            "",
            "not json",
            "[]",
            r#""connection_init""#,
            r#"{"payload":{}}"#,
            r#"{"type":1}"#,
            r#"{"type":"hello"}"#,
            r#"{"type":"next","id":"1","payload":{}}"#,
            r#"{"type":"connection_ack"}"#,
            r#"{"type":"connection_init","payload":"Bearer x"}"#,
            r#"{"type":"connection_init","payload":[]}"#,
            r#"{"type":"ping","payload":1}"#,
            r#"{"type":"subscribe","payload":{"query":"{ x }"}}"#,
            r#"{"type":"subscribe","id":"","payload":{"query":"{ x }"}}"#,
            r#"{"type":"subscribe","id":7,"payload":{"query":"{ x }"}}"#,
            r#"{"type":"subscribe","id":"1"}"#,
            r#"{"type":"subscribe","id":"1","payload":{}}"#,
            r#"{"type":"subscribe","id":"1","payload":{"query":1}}"#,
            r#"{"type":"subscribe","id":"1","payload":{"query":"{ x }","variables":[]}}"#,
            r#"{"type":"subscribe","id":"1","payload":{"query":"{ x }","operationName":1}}"#,
            r#"{"type":"subscribe","id":"1","payload":{"query":"{ x }","extensions":"x"}}"#,
            r#"{"type":"complete"}"#,
        ] {
            let reason = parse(text).expect_err(text);
            assert!(reason.len() <= MAX_REASON, "{reason}");
        }
    }

    #[test]
    fn the_server_messages_are_well_formed() {
        let next: Value = serde_json::from_str(&next("a\"b", r#"{"data":{"x":1}}"#)).unwrap();
        assert_eq!(
            next,
            json!({"type": "next", "id": "a\"b", "payload": {"data": {"x": 1}}})
        );
        let echoed = pong(Some(json!({"k": 1}).as_object().unwrap().clone()));
        let echoed: Value = serde_json::from_str(&echoed).unwrap();
        assert_eq!(echoed, json!({"type": "pong", "payload": {"k": 1}}));
        assert_eq!(pong(None), r#"{"type":"pong"}"#);
    }

    #[test]
    fn a_reason_too_long_for_a_close_frame_falls_back() {
        assert_eq!(close_reason("short".into(), "fallback"), "short");
        assert_eq!(close_reason("x".repeat(124), "fallback"), "fallback");
    }
}
