//! The handles a post's body @-mentions.
//!
//! A mention is `@` at the start of the text or after a character that
//! cannot be in a handle (so `bob@example.com` mentions nobody), followed
//! by the longest run of handle characters (`[A-Za-z0-9_]`); that run must
//! be a valid handle (see [`Handle`]), compared in its canonical,
//! lower-cased form.

use super::Handle;

/// Whether `c` can be part of a handle as written (before lower-casing).
fn is_handle_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The distinct handles `body` mentions, in order of first mention; a
/// repeated mention (in any case) counts once, at its first place. Runs
/// that are no valid handle (too short or long, all digits, reserved) are
/// no mention.
pub fn mentioned_handles(body: &str) -> Vec<Handle> {
    let mut found: Vec<Handle> = Vec::new();
    let mut previous: Option<char> = None;
    let mut chars = body.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let starts_mention = c == '@' && !previous.is_some_and(is_handle_char);
        previous = Some(c);
        if !starts_mention {
            continue;
        }
        let start = at + c.len_utf8();
        let mut end = start;
        while let Some(&(i, next)) = chars.peek() {
            if !is_handle_char(next) {
                break;
            }
            end = i + next.len_utf8();
            previous = Some(next);
            chars.next();
        }
        // Every character of the run is ASCII, so the bounds are char
        // boundaries; the run is maximal, so what follows is no handle char.
        if let Ok(handle) = Handle::parse(&body[start..end])
            && !found.contains(&handle)
        {
            found.push(handle);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mentions(body: &str) -> Vec<String> {
        mentioned_handles(body)
            .into_iter()
            .map(Handle::into_string)
            .collect()
    }

    #[test]
    fn a_mention_starts_the_text_or_follows_a_non_handle_character() {
        assert_eq!(mentions("@alice hi"), ["alice"]);
        assert_eq!(mentions("hi @alice"), ["alice"]);
        assert_eq!(mentions("(@alice)"), ["alice"]);
        assert_eq!(mentions("cc:@alice,@bob."), ["alice", "bob"]);
        assert_eq!(mentions("line\n@alice"), ["alice"]);
        assert_eq!(mentions("é@alice"), ["alice"]);
        assert_eq!(mentions("@alice!"), ["alice"]);
        assert_eq!(mentions("@alice"), ["alice"]);
    }

    #[test]
    fn mixed_case_is_the_canonical_handle() {
        assert_eq!(mentions("@Alice and @BOB_1"), ["alice", "bob_1"]);
    }

    #[test]
    fn an_email_address_mentions_nobody() {
        assert!(mentions("write to bob@example.com").is_empty());
        assert!(mentions("a_b@example").is_empty());
        assert!(mentions("x1@alice").is_empty());
        // The second `@` follows a handle character.
        assert_eq!(mentions("@alice@example.com"), ["alice"]);
    }

    #[test]
    fn runs_that_are_no_valid_handle_are_no_mention() {
        for body in [
            "@",
            "@ alice",
            "@ab",
            "@12345",
            "@admin",
            "@GraphQL",
            &format!("@{}", "a".repeat(31)),
            "@@",
            "@-alice",
        ] {
            assert!(mentions(body).is_empty(), "{body:?}");
        }
        assert_eq!(mentions(&format!("@{}", "a".repeat(30))), ["a".repeat(30)]);
        assert_eq!(mentions("@123a"), ["123a"]);
        // A run stops at the first non-handle character, which ends it.
        assert_eq!(mentions("@alice-smith"), ["alice"]);
    }

    #[test]
    fn a_repeated_mention_counts_once_at_its_first_place() {
        assert_eq!(
            mentions("@bob @alice @Bob @ALICE @carol"),
            ["bob", "alice", "carol"]
        );
    }

    #[test]
    fn every_distinct_mention_is_kept_in_order() {
        let body: String = (0..15).map(|i| format!("@user{i:02} ")).collect();
        let expected: Vec<String> = (0..15).map(|i| format!("user{i:02}")).collect();
        assert_eq!(mentions(&body), expected);
    }
}
