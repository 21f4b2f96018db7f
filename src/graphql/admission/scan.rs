//! The rule on a document's text, run before the parser sees it: its
//! length, its tokens and how deep its brackets nest. The parser (pest)
//! recurses once per nesting level of a list or object value with no limit
//! of its own, and costs about a microsecond per token; both are bounded by
//! refusing the text before it is parsed. The lexical pass is linear,
//! allocation-free, and lenient: a malformed document is counted as well as
//! can be and left to the parser to refuse.

use async_graphql::ServerError;

use crate::graphql::codes::{VALIDATION_FAILED, refused};

/// Deepest nesting of brackets (`{`, `[`, `(`) a document may have. The
/// parser recurses once per level of a list or object value and would
/// overflow a worker's stack at a few thousand; async-graphql refuses
/// selections nested deeper than 32 anyway.
const MAX_NESTING: usize = 32;

/// Tokens allowed per field of the field limit (GraphiQL's introspection
/// query has 2.6). Parsing costs about half a microsecond per token.
pub(super) const TOKENS_PER_FIELD: usize = 4;

/// Bytes of text allowed per field of the field limit (GraphiQL's
/// introspection query has 30). Parsing a string or a comment costs about
/// 70 ns per byte; long values belong in variables.
pub(super) const BYTES_PER_FIELD: usize = 32;

/// Refuses a text too big to parse cheaply or nested too deep to parse
/// safely, under a field limit of `fields`.
pub(super) fn check(query: &str, fields: usize) -> Result<(), ServerError> {
    let bytes = fields.saturating_mul(BYTES_PER_FIELD);
    if query.len() > bytes {
        return Err(refused(
            format!(
                "The document is {} bytes long; at most {bytes} are allowed \
                 ({BYTES_PER_FIELD} per field of QUERY_FIELD_LIMIT). \
                 Long values can be sent as variables.",
                query.len(),
            ),
            VALIDATION_FAILED,
        ));
    }
    let s = scan(query);
    if s.nesting > MAX_NESTING {
        return Err(refused(
            format!(
                "The document nests brackets {} deep; at most {MAX_NESTING} are allowed.",
                s.nesting
            ),
            VALIDATION_FAILED,
        ));
    }
    let tokens = fields.saturating_mul(TOKENS_PER_FIELD);
    if s.tokens > tokens {
        return Err(refused(
            format!(
                "The document has {} tokens; at most {tokens} are allowed \
                 ({TOKENS_PER_FIELD} per field of QUERY_FIELD_LIMIT).",
                s.tokens,
            ),
            VALIDATION_FAILED,
        ));
    }
    Ok(())
}

/// What the scan found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Scan {
    /// Punctuators, names, numbers and strings (what the GraphQL grammar
    /// calls tokens; whitespace, commas and comments are not).
    pub tokens: usize,
    /// The deepest nesting of `{`, `[` and `(`.
    pub nesting: usize,
}

/// Scans `text` as GraphQL source.
pub(super) fn scan(text: &str) -> Scan {
    let bytes = text.as_bytes();
    let mut scan = Scan {
        tokens: 0,
        nesting: 0,
    };
    let mut open = 0usize;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                i = skip_comment(bytes, i);
                continue;
            }
            b'{' | b'[' | b'(' => {
                open += 1;
                scan.nesting = scan.nesting.max(open);
                i += 1;
            }
            b'}' | b']' | b')' => {
                open = open.saturating_sub(1);
                i += 1;
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => i = skip_block_string(bytes, i + 3),
            b'"' => i = skip_string(bytes, i + 1),
            b'.' if bytes[i..].starts_with(b"...") => i += 3,
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                i += 1;
                while bytes
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
                {
                    i += 1;
                }
            }
            b'-' | b'0'..=b'9' => {
                i += 1;
                while bytes.get(i).is_some_and(|c| {
                    c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-')
                }) {
                    i += 1;
                }
            }
            // Other punctuators, and whatever the parser will refuse: one
            // token per character (a UTF-8 BOM counts too; harmless).
            _ => i += 1,
        }
        scan.tokens += 1;
    }
    scan
}

/// The index after the comment that starts at `i`.
fn skip_comment(bytes: &[u8], i: usize) -> usize {
    bytes[i..]
        .iter()
        .position(|&c| c == b'\n' || c == b'\r')
        .map_or(bytes.len(), |n| i + n)
}

/// The index after the string whose content starts at `i`; a string cut by
/// a line end stops there (the parser refuses it).
fn skip_string(bytes: &[u8], mut i: usize) -> usize {
    while let Some(&c) = bytes.get(i) {
        match c {
            b'\\' => i += 2,
            b'"' => return i + 1,
            b'\n' | b'\r' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index after the block string whose content starts at `i`.
fn skip_block_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        if bytes[i..].starts_with(b"\\\"\"\"") {
            i += 4;
        } else if bytes[i..].starts_with(b"\"\"\"") {
            return i + 3;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{refusal, schema_with};
    use super::*;

    fn tokens(text: &str) -> usize {
        scan(text).tokens
    }

    #[test]
    fn tokens_are_counted_as_the_grammar_defines_them() {
        assert_eq!(tokens("{ a: __typename }"), 5);
        assert_eq!(tokens("query Q($v: [Int!] = [1, -2.5e3]) { ...F }"), 20);
        assert_eq!(
            tokens("{ x(s: \"a { [ \\\" b\") }"),
            8,
            "a string is one token"
        );
        assert_eq!(
            tokens("{ x(s: \"\"\"a \\\"\"\" { \"\"\") }"),
            8,
            "so is a block string"
        );
        assert_eq!(tokens("# { [ (\n{ a } # x"), 3, "comments are not tokens");
        assert_eq!(tokens(" ,\t,\r\n"), 0);
    }

    #[test]
    fn nesting_counts_every_kind_of_bracket_outside_strings() {
        assert_eq!(scan("{ a { b(x: [[1]]) } }").nesting, 5);
        assert_eq!(scan("{ a(s: \"[[[[[[\") }").nesting, 2);
        assert_eq!(scan(&"[".repeat(10_000)).nesting, 10_000);
        assert_eq!(
            scan("}}}} { }").nesting,
            1,
            "unbalanced closers do not go below zero"
        );
    }

    #[test]
    fn unterminated_strings_and_comments_end_the_scan_without_panicking() {
        for text in [
            "{ a(s: \"abc",
            "{ a(s: \"\"\"abc",
            "{ a(s: \"\\",
            "#",
            "\"",
            "..",
            "-",
        ] {
            let _ = scan(text);
        }
    }

    #[tokio::test]
    async fn tokens_are_limited_before_parsing() {
        // Five fields allowed: twenty tokens.
        let schema = schema_with(|o| o.field_limit = 5);
        let twenty = "{ __typename(a: [1 2 3 4 5 6 7 8 9 10 11]) }";
        assert_eq!(scan(twenty).tokens, 20);
        assert_eq!(refusal(&schema, twenty).await, None);
        let (code, message) = refusal(&schema, "{ __typename(a: [1 2 3 4 5 6 7 8 9 10 11 12]) }")
            .await
            .unwrap();
        assert_eq!(code, VALIDATION_FAILED);
        assert_eq!(
            message,
            "The document has 21 tokens; at most 20 are allowed (4 per field of QUERY_FIELD_LIMIT)."
        );
    }

    #[tokio::test]
    async fn values_nested_past_the_limit_are_refused_before_the_parser_recurses() {
        let schema = schema_with(|_| {});
        let at = |n: usize| format!("{{ __typename(a: {}1{}) }}", "[".repeat(n), "]".repeat(n));
        // Two levels are the selection set and the arguments.
        assert_eq!(refusal(&schema, at(MAX_NESTING - 2)).await, None);
        let (code, message) = refusal(&schema, at(MAX_NESTING - 1)).await.unwrap();
        assert_eq!(code, VALIDATION_FAILED);
        assert_eq!(
            message,
            "The document nests brackets 33 deep; at most 32 are allowed."
        );
        assert!(refusal(&schema, at(20_000)).await.is_some());
    }
}
