//! Pages of a list, newest first, keyed by a UUIDv7 (posts and follow
//! edges): a page is the items whose key is below the cursor's, so a list
//! being written to never shows an item twice nor skips one that was there.
//!
//! A cursor is opaque to clients: base64url of a tag naming the list's kind
//! and the key. A cursor of another kind, or not one of ours, is refused.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

use crate::error::AppError;

/// The most items a page holds (`first`).
pub const MAX_FIRST: i32 = 100;
/// Items in a page when `first` is not given (or null).
pub const DEFAULT_FIRST: i32 = 20;

/// What a key orders: cursors of one kind are refused by lists of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A profile's posts, newest first.
    Post = b'p' as isize,
    Follow = b'f' as isize,
    /// A post's direct replies, oldest first.
    Reply = b'r' as isize,
    /// A post's likes (`likedBy`), newest first.
    Like = b'l' as isize,
    /// Notification groups, newest first.
    Notification = b'n' as isize,
    /// Pending requests to follow the viewer, newest first.
    FollowRequest = b'q' as isize,
    /// The feed: its cursors carry a snapshot too ([`FeedCursor`]).
    Feed = b'F' as isize,
}

/// A validated page request: how many, and after which key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub first: u64,
    pub after: Option<Uuid>,
}

impl PageRequest {
    pub fn parse(kind: Kind, first: Option<i32>, after: Option<&str>) -> Result<Self, AppError> {
        let first = first.unwrap_or(DEFAULT_FIRST);
        if !(0..=MAX_FIRST).contains(&first) {
            return Err(AppError::BadUserInput(format!(
                "`first` must be between 0 and {MAX_FIRST}."
            )));
        }
        let after = after.map(|c| decode(kind, c)).transpose()?;
        Ok(Self {
            first: u64::try_from(first).unwrap_or(0),
            after,
        })
    }

    /// Rows to read: one more than asked tells whether a next page exists.
    pub fn limit(&self) -> u64 {
        self.first + 1
    }
}

/// One page: the items, each with its key, and whether more follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<(Uuid, T)>,
    pub has_next: bool,
}

impl<T> Page<T> {
    /// The page from rows read with `PageRequest::limit`, newest first.
    pub fn from_rows(req: PageRequest, mut rows: Vec<(Uuid, T)>) -> Self {
        let has_next = rows.len() as u64 > req.first;
        rows.truncate(usize::try_from(req.first).unwrap_or(usize::MAX));
        Self {
            items: rows,
            has_next,
        }
    }

    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(|(k, v)| (k, f(v))).collect(),
            has_next: self.has_next,
        }
    }
}

/// Where a feed page starts: below the entry `key`, in the feed as it was at
/// `snapshot` (the largest UUIDv7 of the millisecond its first page was
/// read; see `service::feed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FeedCursor {
    pub key: Uuid,
    pub snapshot: Uuid,
}

impl FeedCursor {
    /// The snapshot of a first page read now.
    pub fn snapshot_now() -> Uuid {
        let ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        snapshot_of(ms)
    }
}

/// The largest UUIDv7 of the millisecond `ms`: every id made in it or
/// before is at most this.
pub fn snapshot_of(ms: u64) -> Uuid {
    uuid::Builder::from_unix_timestamp_millis(ms, &[0xff; 10]).into_uuid()
}

/// A validated feed page request: how many, and after which cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedRequest {
    pub first: u64,
    pub after: Option<FeedCursor>,
}

impl FeedRequest {
    pub fn parse(first: Option<i32>, after: Option<&str>) -> Result<Self, AppError> {
        let first = PageRequest::parse(Kind::Feed, first, None)?.first;
        let after = after.map(decode_feed).transpose()?;
        Ok(Self { first, after })
    }

    /// Rows to read: one more than asked tells whether a next page exists.
    pub fn limit(&self) -> u64 {
        self.first + 1
    }
}

pub fn encode_feed(cursor: FeedCursor) -> String {
    let mut raw = [0u8; 33];
    raw[0] = Kind::Feed as u8;
    raw[1..17].copy_from_slice(cursor.key.as_bytes());
    raw[17..].copy_from_slice(cursor.snapshot.as_bytes());
    URL_SAFE_NO_PAD.encode(raw)
}

/// A feed cursor: both keys UUIDv7, the entry at or before the snapshot.
fn decode_feed(cursor: &str) -> Result<FeedCursor, AppError> {
    let refused = || AppError::BadUserInput("`after` is not a cursor of this list.".into());
    // 33 bytes are 44 characters: refuse anything else before decoding.
    if cursor.len() != 44 {
        return Err(refused());
    }
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| refused())?;
    let (Some((&tag, keys)), 33) = (raw.split_first(), raw.len()) else {
        return Err(refused());
    };
    let (key, snapshot) = keys.split_at(16);
    let (key, snapshot) = (
        Uuid::from_slice(key).map_err(|_| refused())?,
        Uuid::from_slice(snapshot).map_err(|_| refused())?,
    );
    let v7 = |u: Uuid| u.get_version_num() == 7;
    if tag != Kind::Feed as u8 || !v7(key) || !v7(snapshot) || key > snapshot {
        return Err(refused());
    }
    Ok(FeedCursor { key, snapshot })
}

pub fn encode(kind: Kind, key: Uuid) -> String {
    let mut raw = [0u8; 17];
    raw[0] = kind as u8;
    raw[1..].copy_from_slice(key.as_bytes());
    URL_SAFE_NO_PAD.encode(raw)
}

fn decode(kind: Kind, cursor: &str) -> Result<Uuid, AppError> {
    let refused = || AppError::BadUserInput("`after` is not a cursor of this list.".into());
    // 17 bytes are 23 characters: refuse anything else before decoding.
    if cursor.len() != 23 {
        return Err(refused());
    }
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| refused())?;
    match raw.split_first() {
        Some((&tag, key)) if tag == kind as u8 => Uuid::from_slice(key).map_err(|_| refused()),
        _ => Err(refused()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_within_its_kind_only() {
        let key = Uuid::now_v7();
        let c = encode(Kind::Post, key);
        assert_eq!(
            PageRequest::parse(Kind::Post, Some(5), Some(&c))
                .unwrap()
                .after,
            Some(key)
        );
        assert!(PageRequest::parse(Kind::Follow, Some(5), Some(&c)).is_err());
        for bad in [
            "",
            "x",
            &c[1..],
            &format!("{c}A"),
            "!!!!!!!!!!!!!!!!!!!!!!!",
        ] {
            assert!(
                PageRequest::parse(Kind::Post, Some(5), Some(bad)).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_feed_cursor_round_trips_and_nothing_else_is_one() {
        let snapshot = FeedCursor::snapshot_now();
        let cursor = FeedCursor {
            key: Uuid::now_v7(),
            snapshot,
        };
        let c = encode_feed(cursor);
        assert_eq!(
            FeedRequest::parse(Some(5), Some(&c)).unwrap().after,
            Some(cursor)
        );
        assert!(PageRequest::parse(Kind::Post, Some(5), Some(&c)).is_err());
        let newer = FeedCursor {
            key: Uuid::now_v7(),
            snapshot: snapshot_of(1),
        };
        let not_v7 = FeedCursor {
            key: Uuid::max(),
            snapshot,
        };
        let other_tag = {
            let mut raw = URL_SAFE_NO_PAD.decode(&c).unwrap();
            raw[0] = Kind::Post as u8;
            URL_SAFE_NO_PAD.encode(raw)
        };
        for bad in [
            encode(Kind::Post, cursor.key),
            encode_feed(newer),
            encode_feed(not_v7),
            other_tag,
            c[1..].to_owned(),
            format!("{c}A"),
            "!".repeat(44),
        ] {
            assert!(FeedRequest::parse(Some(5), Some(&bad)).is_err(), "{bad:?}");
        }
        assert!(FeedRequest::parse(Some(101), None).is_err());
    }

    #[test]
    fn a_snapshot_is_at_least_every_id_of_its_millisecond() {
        let id = Uuid::now_v7();
        let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
        let ms = secs * 1000 + u64::from(nanos) / 1_000_000;
        assert!(snapshot_of(ms) >= id);
        assert!(snapshot_of(ms - 1) < id);
        assert_eq!(snapshot_of(ms).get_version_num(), 7);
    }

    #[test]
    fn first_is_bounded() {
        assert!(PageRequest::parse(Kind::Post, Some(0), None).is_ok());
        assert!(PageRequest::parse(Kind::Post, Some(100), None).is_ok());
        assert!(PageRequest::parse(Kind::Post, Some(101), None).is_err());
        assert!(PageRequest::parse(Kind::Post, Some(-1), None).is_err());
    }

    #[test]
    fn one_row_more_than_asked_means_a_next_page() {
        let req = PageRequest::parse(Kind::Post, Some(2), None).unwrap();
        let rows = |n: usize| (0..n).map(|i| (Uuid::now_v7(), i)).collect::<Vec<_>>();
        let full = Page::from_rows(req, rows(3));
        assert!(full.has_next);
        assert_eq!(full.items.len(), 2);
        assert!(!Page::from_rows(req, rows(2)).has_next);
    }
}
