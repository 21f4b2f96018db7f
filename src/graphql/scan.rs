//! A lexical pass over a document's text before the parser sees it: counts
//! its tokens and how deep its brackets nest. The parser (pest) recurses once
//! per nesting level of a list or object value with no limit of its own, and
//! costs about a microsecond per token; both are bounded by refusing the text
//! before it is parsed. Linear, allocation-free, and lenient: a malformed
//! document is counted as well as can be and left to the parser to refuse.

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
}
