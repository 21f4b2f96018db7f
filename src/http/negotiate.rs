//! Which media type a `POST /graphql` is answered in, read from its `Accept`
//! header by the GraphQL over HTTP rules: q-values, wildcards, the legacy
//! default, and 406 when neither of our two media types is acceptable.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

/// The media type of a GraphQL response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseType {
    /// `application/graphql-response+json`: a request error (nothing ran) is
    /// HTTP 400 without a `data` entry.
    GraphqlResponse,
    /// `application/json`: every GraphQL response is HTTP 200, since a legacy
    /// client cannot tell a 4xx of ours from one of a proxy.
    Json,
}

impl ResponseType {
    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json",
        })
    }
}

/// Refuses with 406 (a GraphQL-shaped body in `application/json`) before the
/// body is read when the client accepts neither media type.
impl<S: Send + Sync> FromRequestParts<S> for ResponseType {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        negotiate(parts.headers.get_all(header::ACCEPT)).ok_or_else(|| {
            super::error_response(
                StatusCode::NOT_ACCEPTABLE,
                Self::Json,
                "BAD_REQUEST",
                "The Accept header admits neither application/graphql-response+json nor application/json.",
            )
        })
    }
}

const GRAPHQL_RESPONSE: &str = "graphql-response+json";
const JSON: &str = "json";

/// How well one media range matches one of our media types: the most
/// specific range that matches decides (RFC 9110, 12.5.1).
#[derive(Clone, Copy)]
struct Match {
    /// Thousandths: `q=0.5` is 500.
    q: u16,
    /// 2 for the type named, 1 for `application/*`, 0 for `*/*`.
    specificity: u8,
    /// Where the range stands in the header (ties go to the earlier one).
    position: usize,
}

/// The media type to answer `accept` (every `Accept` field line) in; `None`
/// when the client accepts neither of ours.
///
/// No `Accept` (or only empty ones) means `application/json`: the spec's
/// legacy rule, which its audit checks. Otherwise the higher q-value wins; at
/// equal q a type named outright beats one a wildcard covers, and of two
/// named outright the one listed first wins. A wildcard alone (`*/*`,
/// `application/*`) answers `application/json`, which every client reads. A
/// `charset` other than UTF-8 matches nothing: we only write UTF-8.
pub fn negotiate<'a>(accept: impl IntoIterator<Item = &'a HeaderValue>) -> Option<ResponseType> {
    let mut graphql: Option<Match> = None;
    let mut json: Option<Match> = None;
    let mut position = 0;
    for value in accept {
        // Not visible ASCII: read what is readable; the rest matches nothing.
        let text = String::from_utf8_lossy(value.as_bytes());
        for range in text.split(',').filter(|r| !r.trim().is_empty()) {
            position += 1;
            let Some(range) = MediaRange::parse(range) else {
                continue;
            };
            for (subtype, best) in [(GRAPHQL_RESPONSE, &mut graphql), (JSON, &mut json)] {
                if let Some(specificity) = range.specificity_for(subtype)
                    && best.is_none_or(|b| specificity > b.specificity)
                {
                    *best = Some(Match {
                        q: range.q,
                        specificity,
                        position,
                    });
                }
            }
        }
    }
    if position == 0 {
        return Some(ResponseType::Json);
    }
    let acceptable = |m: Option<Match>| m.filter(|m| m.q > 0);
    match (acceptable(graphql), acceptable(json)) {
        (None, None) => None,
        (Some(_), None) => Some(ResponseType::GraphqlResponse),
        (None, Some(_)) => Some(ResponseType::Json),
        (Some(g), Some(j)) if g.q != j.q => Some(if g.q > j.q {
            ResponseType::GraphqlResponse
        } else {
            ResponseType::Json
        }),
        (Some(g), Some(j)) => {
            let named = |m: Match| m.specificity == 2;
            if named(g) && (!named(j) || g.position < j.position) {
                Some(ResponseType::GraphqlResponse)
            } else {
                Some(ResponseType::Json)
            }
        }
    }
}

/// One element of `Accept`: `type/subtype` with its q-value.
struct MediaRange<'a> {
    ty: &'a str,
    subtype: &'a str,
    q: u16,
    utf8: bool,
}

impl<'a> MediaRange<'a> {
    /// `None` for what is not a media range (`json`, `*/json`, `q=2`).
    fn parse(text: &'a str) -> Option<Self> {
        let mut parts = text.split(';');
        let (ty, subtype) = parts.next()?.split_once('/')?;
        let (ty, subtype) = (ty.trim(), subtype.trim());
        if ty.is_empty() || subtype.is_empty() || (ty == "*" && subtype != "*") {
            return None;
        }
        let mut range = Self {
            ty,
            subtype,
            q: 1000,
            utf8: true,
        };
        for param in parts.filter(|p| !p.trim().is_empty()) {
            let (name, value) = param.split_once('=')?;
            let (name, value) = (name.trim(), value.trim().trim_matches('"'));
            if name.eq_ignore_ascii_case("q") {
                range.q = parse_q(value)?;
            } else if name.eq_ignore_ascii_case("charset") {
                range.utf8 =
                    value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8");
            }
        }
        Some(range)
    }

    /// How specifically this range names `application/<subtype>`; `None`
    /// when it does not cover it.
    fn specificity_for(&self, subtype: &str) -> Option<u8> {
        if !self.utf8 {
            return None;
        }
        if self.ty == "*" {
            return Some(0);
        }
        if !self.ty.eq_ignore_ascii_case("application") {
            return None;
        }
        if self.subtype == "*" {
            Some(1)
        } else if self.subtype.eq_ignore_ascii_case(subtype) {
            Some(2)
        } else {
            None
        }
    }
}

/// A q-value as thousandths: `0`, `0.5`, `1`, `1.000`; at most three
/// decimals and never above 1.
fn parse_q(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::ResponseType::{GraphqlResponse, Json};
    use super::*;

    fn of(accept: &str) -> Option<ResponseType> {
        negotiate([&HeaderValue::from_str(accept).unwrap()])
    }

    #[test]
    fn no_accept_header_gets_application_json() {
        assert_eq!(negotiate([]), Some(Json));
        assert_eq!(of(""), Some(Json));
        assert_eq!(of(" , "), Some(Json));
    }

    #[test]
    fn a_type_named_alone_is_the_answer() {
        assert_eq!(
            of("application/graphql-response+json"),
            Some(GraphqlResponse)
        );
        assert_eq!(of("application/json"), Some(Json));
        assert_eq!(
            of("Application/GraphQL-Response+JSON"),
            Some(GraphqlResponse)
        );
    }

    #[test]
    fn what_the_clients_send_gets_graphql_response_json() {
        // urql, Apollo Client 4, and the spec's recommended header.
        for accept in [
            "application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed",
            "application/graphql-response+json,application/json;q=0.9",
            "application/graphql-response+json; charset=utf-8, application/json; charset=utf-8",
        ] {
            assert_eq!(of(accept), Some(GraphqlResponse), "{accept}");
        }
    }

    #[test]
    fn the_higher_q_value_wins_whatever_the_order() {
        assert_eq!(
            of("application/json;q=0.5, application/graphql-response+json"),
            Some(GraphqlResponse)
        );
        assert_eq!(
            of("application/graphql-response+json;q=0.8, application/json;q=0.9"),
            Some(Json)
        );
        assert_eq!(
            of("application/graphql-response+json;q=0.501, application/json;q=0.5"),
            Some(GraphqlResponse)
        );
    }

    #[test]
    fn at_equal_q_the_type_listed_first_wins() {
        assert_eq!(
            of("application/json, application/graphql-response+json"),
            Some(Json)
        );
        assert_eq!(
            of("application/graphql-response+json;q=0.7, application/json;q=0.7"),
            Some(GraphqlResponse)
        );
    }

    #[test]
    fn wildcards_alone_get_application_json() {
        assert_eq!(of("*/*"), Some(Json));
        assert_eq!(of("application/*"), Some(Json));
        // A browser's navigation header.
        assert_eq!(
            of("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            Some(Json)
        );
    }

    #[test]
    fn a_type_named_beats_a_wildcard_of_the_same_q() {
        assert_eq!(
            of("*/*, application/graphql-response+json"),
            Some(GraphqlResponse)
        );
        assert_eq!(
            of("application/graphql-response+json;q=0.5, */*;q=0.5"),
            Some(GraphqlResponse)
        );
        // ... but not one of a higher q.
        assert_eq!(
            of("application/graphql-response+json;q=0.5, */*"),
            Some(Json)
        );
    }

    #[test]
    fn the_most_specific_range_decides_a_types_q() {
        // `*/*` would admit graphql-response+json; the named q=0 refuses it.
        assert_eq!(of("application/graphql-response+json;q=0, */*"), Some(Json));
        assert_eq!(
            of("application/json;q=0, application/*"),
            Some(GraphqlResponse)
        );
    }

    #[test]
    fn neither_type_acceptable_is_none() {
        for accept in [
            "text/html",
            "application/xml, text/plain;q=0.5",
            "*/*;q=0",
            "application/json;q=0, application/graphql-response+json;q=0",
            "application/graphql+json",
            "json",
            "*/json",
            "application/json;charset=iso-8859-1",
        ] {
            assert_eq!(of(accept), None, "{accept}");
        }
    }

    #[test]
    fn parameters_other_than_q_and_charset_are_ignored() {
        assert_eq!(of("application/json; charset=UTF-8"), Some(Json));
        assert_eq!(of("application/json;charset=\"utf-8\""), Some(Json));
        assert_eq!(
            of("application/graphql-response+json; version=1; q=0.9"),
            Some(GraphqlResponse)
        );
        assert_eq!(of("application/json;"), Some(Json));
    }

    #[test]
    fn a_malformed_range_is_skipped_not_fatal() {
        assert_eq!(
            of("application/graphql-response+json;q=2, application/json"),
            Some(Json)
        );
        assert_eq!(
            of("nonsense, application/graphql-response+json;q=0.9"),
            Some(GraphqlResponse)
        );
        assert_eq!(of("application/json;q"), None);
    }

    #[test]
    fn every_accept_field_line_counts() {
        let lines = [
            HeaderValue::from_static("text/html"),
            HeaderValue::from_static("application/graphql-response+json"),
        ];
        assert_eq!(negotiate(&lines), Some(GraphqlResponse));
    }

    #[test]
    fn a_header_of_other_bytes_reads_what_it_can() {
        let value = HeaderValue::from_bytes(b"\xff\xfe, application/json").unwrap();
        assert_eq!(negotiate([&value]), Some(Json));
        let value = HeaderValue::from_bytes(b"text/\xff").unwrap();
        assert_eq!(negotiate([&value]), None);
    }

    #[test]
    fn q_values_parse_as_the_rfc_writes_them() {
        assert_eq!(parse_q("0"), Some(0));
        assert_eq!(parse_q("0.5"), Some(500));
        assert_eq!(parse_q("0.125"), Some(125));
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("0."), Some(0));
        for bad in ["1.5", "0.1234", "2", "-1", "", ".5", "0.x", "0.5e1"] {
            assert_eq!(parse_q(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        /// Any header text: an answer, never a panic.
        #[test]
        fn negotiating_any_header_never_panics(text in r#"[ -~]{0,120}"#) {
            if let Ok(value) = HeaderValue::from_str(&text) {
                let _ = negotiate([&value]);
            }
        }
    }
}
