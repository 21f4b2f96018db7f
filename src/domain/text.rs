//! Text people write (display names, bios, posts): NFC, line breaks as
//! `\n`, no control characters, trimmed, and counted in code points.

use unicode_normalization::UnicodeNormalization as _;

/// The limits of one kind of text.
#[derive(Debug, Clone, Copy)]
pub struct TextRules {
    /// The most code points, after normalisation.
    pub max: usize,
    /// Whether `\n` is kept (otherwise a line break becomes a space).
    pub multiline: bool,
}

pub const DISPLAY_NAME: TextRules = TextRules {
    max: 50,
    multiline: false,
};
pub const BIO: TextRules = TextRules {
    max: 160,
    multiline: true,
};
pub const POST_BODY: TextRules = TextRules {
    max: 500,
    multiline: true,
};
/// An image's alt text.
pub const MEDIA_ALT: TextRules = TextRules {
    max: 1500,
    multiline: true,
};
/// A report's comment, for operators.
pub const REPORT_COMMENT: TextRules = TextRules {
    max: 1000,
    multiline: true,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("empty")]
    Empty,
    #[error("too long")]
    TooLong,
}

/// Normalised text: NFC; `\r\n` and `\r` are `\n` (a space where line
/// breaks are not kept); a tab is a space; other control characters and the
/// bidirectional overrides are removed; then trimmed. Removing is kinder
/// than refusing what a paste carried in, and the contract has no code for it.
pub fn clean(raw: &str, rules: TextRules) -> String {
    let unified = raw.replace("\r\n", "\n");
    let mut out = String::with_capacity(unified.len());
    for c in unified.nfc() {
        match c {
            '\n' | '\r' if rules.multiline => out.push('\n'),
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() || is_bidi_control(c) => {}
            c => out.push(c),
        }
    }
    out.trim().to_owned()
}

/// Cleaned text that must hold something, within the limit.
pub fn required(raw: &str, rules: TextRules) -> Result<String, TextError> {
    // Far past the limit: refused before normalising megabytes.
    if raw.len() > rules.max * 16 {
        return Err(TextError::TooLong);
    }
    let text = clean(raw, rules);
    match text.chars().count() {
        0 => Err(TextError::Empty),
        n if n > rules.max => Err(TextError::TooLong),
        _ => Ok(text),
    }
}

/// Cleaned text that may be cleared: empty after cleaning is `None`.
pub fn optional(raw: &str, rules: TextRules) -> Result<Option<String>, TextError> {
    match required(raw, rules) {
        Ok(text) => Ok(Some(text)),
        Err(TextError::Empty) => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_nfc_and_counted_in_code_points() {
        assert_eq!(required("e\u{301}", DISPLAY_NAME).unwrap(), "\u{e9}");
        assert!(required(&"é".repeat(50), DISPLAY_NAME).is_ok());
        assert_eq!(
            required(&"é".repeat(51), DISPLAY_NAME),
            Err(TextError::TooLong)
        );
        assert_eq!(
            required(&"😀".repeat(500), POST_BODY)
                .unwrap()
                .chars()
                .count(),
            500
        );
    }

    #[test]
    fn control_characters_go_and_line_breaks_follow_the_rules() {
        assert_eq!(clean("a\r\nb\rc\u{0}d\u{202E}e", BIO), "a\nb\ncde");
        assert_eq!(clean("a\nb\tc", DISPLAY_NAME), "a b c");
        assert_eq!(clean(" \n x \n ", POST_BODY), "x");
    }

    #[test]
    fn blank_text_is_empty_or_cleared() {
        assert_eq!(required(" \n\t\u{7} ", POST_BODY), Err(TextError::Empty));
        assert_eq!(optional("  ", BIO), Ok(None));
        assert_eq!(optional(&"x".repeat(161), BIO), Err(TextError::TooLong));
    }

    #[test]
    fn a_huge_text_is_refused_before_normalising() {
        assert_eq!(
            required(&"x".repeat(100_000), POST_BODY),
            Err(TextError::TooLong)
        );
    }
}
