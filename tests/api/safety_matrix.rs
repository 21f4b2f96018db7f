//! The safety matrix: every read path, for every relation between a
//! viewer and an author, shows exactly what the contract says of the
//! author's posts, replies, likes and notifications ("Safety: blocks,
//! mutes, reports, locked accounts"). One expectation table, one loop: a
//! path that forgets the rule for one relation fails here.

use serde_json::{Value, json};

use crate::common::*;

/// How a viewer stands with the author whose doings it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    /// Signed in, nothing between them.
    None,
    /// The viewer follows the author.
    Follower,
    /// The viewer blocks the author (it followed it before).
    Blocked,
    /// The author blocks the viewer (the viewer followed it before).
    Blocking,
    /// The viewer follows and mutes the author (muted before the author
    /// acts, so its actions since never notified the viewer).
    Muted,
    /// The author is locked; the viewer does not follow it.
    LockedNotFollower,
    /// The author is locked; the viewer follows it (request approved).
    LockedFollower,
    /// No token; the author is not locked.
    Anonymous,
    /// No token; the author is locked.
    AnonymousLocked,
}

impl Relation {
    /// The author's account is the locked one.
    fn locked_author(self) -> bool {
        matches!(
            self,
            Self::LockedNotFollower | Self::LockedFollower | Self::AnonymousLocked
        )
    }

    /// The viewer's handle; none when anonymous.
    fn viewer(self) -> Option<&'static str> {
        match self {
            Self::None => Some("v_none"),
            Self::Follower => Some("v_follower"),
            Self::Blocked => Some("v_blocked"),
            Self::Blocking => Some("v_blocking"),
            Self::Muted => Some("v_muted"),
            Self::LockedNotFollower => Some("v_locked"),
            Self::LockedFollower => Some("v_locked_f"),
            Self::Anonymous | Self::AnonymousLocked => None,
        }
    }
}

/// What the viewer reads of the author's doings.
#[derive(Debug, Clone, Copy)]
enum Path {
    /// `profile(author).posts`: its posts, or none at all.
    Posts,
    /// `post(id)` of its post.
    Post,
    /// The viewer's `feed` holds its post.
    Feed,
    /// `replies` of the host's post hold the author's reply.
    Replies,
    /// `ancestors` of the host's reply to that reply: the root, and the
    /// author's reply when shown (the walk goes on through it).
    Ancestors,
    /// `replyTo` of the host's reply to the author's reply.
    ReplyTo,
    /// `mentions` of the host's post naming the author.
    Mentions,
    /// `likedBy` of the host's post the author likes.
    LikedBy,
    /// `notifications`: the author's reply to the viewer's post (REPLY)
    /// and its post mentioning the viewer (MENTION).
    Notifications,
    /// `unreadNotificationCount` counts those two.
    Unread,
    /// The author's profile counts and the host's posts' counts are the
    /// same for everyone (never hidden).
    Counts,
}

const PATHS: [Path; 11] = [
    Path::Posts,
    Path::Post,
    Path::Feed,
    Path::Replies,
    Path::Ancestors,
    Path::ReplyTo,
    Path::Mentions,
    Path::LikedBy,
    Path::Notifications,
    Path::Unread,
    Path::Counts,
];

/// What a path should show: the author's doing (`Y`), nothing of it
/// (`N`), or it is not asked (`X`: anonymous readers have no feed nor inbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Y,
    N,
    X,
}
use Want::{N, X, Y};

/// The contract, one row a relation, one column a path (in [`PATHS`]'s order).
/// The feed holds followed authors only: `None` reads none of the author's.
#[rustfmt::skip]
const TABLE: [(Relation, [Want; 11]); 9] = [
    //                             posts post feed replies ancestors replyTo mentions likedBy notifs unread counts
    (Relation::None,              [Y,    Y,   N,   Y,      Y,        Y,      Y,       Y,      Y,     Y,     Y]),
    (Relation::Follower,          [Y,    Y,   Y,   Y,      Y,        Y,      Y,       Y,      Y,     Y,     Y]),
    (Relation::Blocked,           [N,    N,   N,   N,      N,        N,      N,       N,      N,     N,     Y]),
    (Relation::Blocking,          [N,    N,   N,   N,      N,        N,      N,       N,      N,     N,     Y]),
    (Relation::Muted,             [Y,    Y,   N,   Y,      Y,        Y,      Y,       Y,      N,     N,     Y]),
    (Relation::LockedNotFollower, [N,    N,   N,   N,      N,        N,      Y,       Y,      N,     N,     Y]),
    (Relation::LockedFollower,    [Y,    Y,   Y,   Y,      Y,        Y,      Y,       Y,      Y,     Y,     Y]),
    (Relation::Anonymous,         [Y,    Y,   X,   Y,      Y,        Y,      Y,       Y,      X,     X,     Y]),
    (Relation::AnonymousLocked,   [N,    N,   X,   N,      N,        N,      Y,       Y,      X,     X,     Y]),
];

/// What a path showed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Shown,
    Hidden,
    /// Neither: part of it, or something else (the answer, for the report).
    Odd(String),
}

/// One author's doings, as the host and the author wrote them.
struct Doings {
    handle: &'static str,
    token: String,
    /// The author's post.
    post: String,
    /// The host's post; the author replied to it (`reply`), and the host
    /// replied to that (`below`).
    root: String,
    reply: String,
    below: String,
    /// The host's post mentioning the author, which the author likes.
    mentioning: String,
}

/// Everyone, and what they wrote.
struct World {
    tokens: std::collections::HashMap<&'static str, String>,
    open: Doings,
    locked: Doings,
}

const HOST: &str = "host";
const OPEN: &str = "open_author";
const LOCKED: &str = "locked_author";

impl TestApp {
    /// `mutation` (with a `handle` argument) as `token`; its payload must
    /// have no errors.
    async fn as_account(&self, token: &str, mutation: &str, handle: &str) {
        let body = self
            .gql(
                &format!(
                    "mutation($h: String!) {{ {mutation}(handle: $h) {{ errors {{ code }} }} }}"
                ),
                json!({"h": handle}),
                Some(token),
            )
            .await;
        assert_eq!(
            body["data"][mutation]["errors"],
            json!([]),
            "{mutation} {handle}: {body}"
        );
    }

    /// Locks `token`'s profile.
    async fn lock(&self, token: &str) {
        let body = self
            .gql(
                "mutation { updateProfile(input: {locked: true}) { profile { locked } errors { code } } }",
                json!({}),
                Some(token),
            )
            .await;
        assert_eq!(
            body["data"]["updateProfile"]["profile"]["locked"], true,
            "{body}"
        );
    }

    /// `follower` follows the locked `handle` (`owner`'s), approved.
    async fn follow_locked(
        &self,
        follower: &str,
        handle: &str,
        owner: &str,
        follower_handle: &str,
    ) {
        self.as_account(follower, "follow", handle).await;
        self.as_account(owner, "approveFollowRequest", follower_handle)
            .await;
    }

    /// A post (a reply to `reply_to` when given) that must be accepted; its id.
    async fn wrote(&self, token: &str, body: &str, reply_to: Option<&str>) -> String {
        let answer = self
            .gql(
                "mutation($i: CreatePostInput!) { createPost(input: $i) { post { id } errors { code } } }",
                json!({"i": {"body": body, "replyTo": reply_to}}),
                Some(token),
            )
            .await;
        let payload = &answer["data"]["createPost"];
        assert_eq!(payload["errors"], json!([]), "{body}: {answer}");
        payload["post"]["id"].as_str().expect("an id").to_owned()
    }

    /// The author's post, a reply by it between two of the host's posts,
    /// and a host's post mentioning it, which it likes.
    async fn doings(&self, host: &str, handle: &'static str, token: String) -> Doings {
        let post = self.wrote(&token, "my post", None).await;
        let root = self.wrote(host, "a thread", None).await;
        let reply = self.wrote(&token, "my reply", Some(&root)).await;
        let below = self.wrote(host, "a reply to the reply", Some(&reply)).await;
        let mentioning = self.wrote(host, &format!("hello @{handle}"), None).await;
        let like = self
            .gql(
                "mutation($p: ID!) { like(postId: $p) { errors { code } } }",
                json!({"p": mentioning}),
                Some(&token),
            )
            .await;
        assert_eq!(like["data"]["like"]["errors"], json!([]), "{like}");
        Doings {
            handle,
            token,
            post,
            root,
            reply,
            below,
            mentioning,
        }
    }

    /// Everyone, the relations made before the authors act (follows, the
    /// lock, the mute), what they write, then the blocks.
    async fn world(&self) -> World {
        let mut handles = vec![HOST, OPEN, LOCKED];
        let relations: Vec<Relation> = TABLE.iter().map(|(r, _)| *r).collect();
        handles.extend(relations.iter().filter_map(|r| r.viewer()));
        let tokens: std::collections::HashMap<&'static str, String> = handles
            .iter()
            .copied()
            .zip(self.signed_up_all(&handles).await)
            .collect();
        let t = |h: &str| tokens[h].clone();
        self.lock(&t(LOCKED)).await;
        // The host replies to the locked author's reply: it follows it.
        self.follow_locked(&t(HOST), LOCKED, &t(LOCKED), HOST).await;
        self.follow_locked(&t("v_locked_f"), LOCKED, &t(LOCKED), "v_locked_f")
            .await;
        for viewer in ["v_follower", "v_blocked", "v_blocking", "v_muted"] {
            self.follow(&t(viewer), OPEN).await;
        }
        self.as_account(&t("v_muted"), "mute", OPEN).await;

        let open = self.doings(&t(HOST), OPEN, t(OPEN)).await;
        let locked = self.doings(&t(HOST), LOCKED, t(LOCKED)).await;
        // Each signed-in viewer's post, which its author replies to, and a
        // post of the author mentioning the viewer.
        for relation in &relations {
            let Some(viewer) = relation.viewer() else {
                continue;
            };
            let author = if relation.locked_author() {
                &locked
            } else {
                &open
            };
            let theirs = self.wrote(&t(viewer), "the viewer's post", None).await;
            self.wrote(&author.token, "a reply to the viewer", Some(&theirs))
                .await;
            self.wrote(&author.token, &format!("hi @{viewer}"), None)
                .await;
        }

        self.as_account(&t("v_blocked"), "block", OPEN).await;
        self.as_account(&t(OPEN), "block", "v_blocking").await;
        World {
            tokens,
            open,
            locked,
        }
    }

    /// A query's data, as `token` reads it; no top-level error.
    async fn read(&self, query: &str, variables: Value, token: Option<&str>) -> Value {
        let body = self.gql(query, variables, token).await;
        assert!(body.get("errors").is_none(), "{query}: {body}");
        body["data"].clone()
    }
}

/// The ids of a connection's nodes, or of a list's items.
fn ids(list: &Value) -> Vec<String> {
    let items = list["edges"]
        .as_array()
        .map(|edges| edges.iter().map(|e| e["node"].clone()).collect::<Vec<_>>())
        .or_else(|| list.as_array().cloned())
        .unwrap_or_default();
    items
        .iter()
        .map(|n| {
            n["id"]
                .as_str()
                .or_else(|| n["handle"].as_str())
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

/// `Shown` when `got` is `shown`, `Hidden` when it is `hidden`.
fn seen<T: PartialEq + std::fmt::Debug>(got: T, shown: T, hidden: T) -> Seen {
    if got == shown {
        Seen::Shown
    } else if got == hidden {
        Seen::Hidden
    } else {
        Seen::Odd(format!("{got:?}"))
    }
}

const THREADS: &str = "query($author: String!, $post: ID!, $root: ID!, $below: ID!, $mentioning: ID!) {
  profile(handle: $author) { postCount followerCount followingCount posts(first: 30) { edges { node { id } } } }
  post(id: $post) { id }
  root: post(id: $root) { replyCount replies(first: 10) { edges { node { id } } } }
  below: post(id: $below) { replyTo { id } ancestors { id } }
  mentioning: post(id: $mentioning) { likeCount mentions { handle } likedBy(first: 10) { edges { node { handle } } } }
}";

const INBOX: &str = "{ notifications(first: 30) { nodes { kind post { author { handle } } } } me { unreadNotificationCount } }";

const COUNTS: &str =
    "query($h: String!) { profile(handle: $h) { postCount followerCount followingCount } }";

/// What every path shows `relation`'s viewer of its author's doings.
async fn observe(app: &TestApp, world: &World, relation: Relation) -> Vec<(Path, Seen)> {
    let author = if relation.locked_author() {
        &world.locked
    } else {
        &world.open
    };
    let token = relation.viewer().map(|v| world.tokens[v].as_str());
    let data = app
        .read(
            THREADS,
            json!({
                "author": author.handle, "post": author.post, "root": author.root,
                "below": author.below, "mentioning": author.mentioning,
            }),
            token,
        )
        .await;
    let own_counts = app
        .read(COUNTS, json!({"h": author.handle}), Some(&author.token))
        .await;
    let (feed, inbox) = match token {
        Some(token) => (
            Some(
                app.read(
                    "{ feed(first: 50) { edges { node { id } } } }",
                    json!({}),
                    Some(token),
                )
                .await,
            ),
            Some(app.read(INBOX, json!({}), Some(token)).await),
        ),
        None => (None, None),
    };
    let posts = ids(&data["profile"]["posts"]);
    let from_author = |inbox: &Value| -> Vec<String> {
        let mut kinds: Vec<String> = inbox["notifications"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .filter(|n| n["post"]["author"]["handle"] == author.handle)
            .map(|n| n["kind"].as_str().unwrap_or("?").to_owned())
            .collect();
        kinds.sort();
        kinds
    };
    let counts = &data["profile"];
    let same_counts = ["postCount", "followerCount", "followingCount"]
        .iter()
        .all(|c| counts[c] == own_counts["profile"][c])
        && data["root"]["replyCount"] == 1
        && data["mentioning"]["likeCount"] == 1;
    let not_asked = || Seen::Odd("not asked".to_owned());
    PATHS
        .iter()
        .map(|path| {
            let seen = match path {
                Path::Posts => match posts.is_empty() {
                    true => Seen::Hidden,
                    false if posts.contains(&author.post) => Seen::Shown,
                    false => Seen::Odd(format!("{posts:?}")),
                },
                Path::Post => seen(
                    data["post"]["id"].as_str(),
                    Some(author.post.as_str()),
                    None,
                ),
                Path::Feed => feed.as_ref().map_or_else(not_asked, |feed| {
                    match ids(&feed["feed"]).contains(&author.post) {
                        true => Seen::Shown,
                        false => Seen::Hidden,
                    }
                }),
                Path::Replies => seen(
                    ids(&data["root"]["replies"]),
                    vec![author.reply.clone()],
                    vec![],
                ),
                Path::Ancestors => seen(
                    ids(&data["below"]["ancestors"]),
                    vec![author.root.clone(), author.reply.clone()],
                    vec![author.root.clone()],
                ),
                Path::ReplyTo => seen(
                    data["below"]["replyTo"]["id"].as_str(),
                    Some(author.reply.as_str()),
                    None,
                ),
                Path::Mentions => seen(
                    ids(&data["mentioning"]["mentions"]),
                    vec![author.handle.to_owned()],
                    vec![],
                ),
                Path::LikedBy => seen(
                    ids(&data["mentioning"]["likedBy"]),
                    vec![author.handle.to_owned()],
                    vec![],
                ),
                Path::Notifications => inbox.as_ref().map_or_else(not_asked, |inbox| {
                    seen(
                        from_author(inbox),
                        vec!["MENTION".to_owned(), "REPLY".to_owned()],
                        vec![],
                    )
                }),
                Path::Unread => inbox.as_ref().map_or_else(not_asked, |inbox| {
                    seen(
                        inbox["me"]["unreadNotificationCount"].as_i64(),
                        Some(2),
                        Some(0),
                    )
                }),
                Path::Counts => match same_counts {
                    true => Seen::Shown,
                    false => Seen::Odd(format!("{counts} / {own_counts} / {data}")),
                },
            };
            (*path, seen)
        })
        .collect()
}

#[tokio::test]
async fn every_read_path_shows_each_relation_exactly_what_the_contract_says() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let world = app.world().await;
    let mut wrong = Vec::new();
    for (relation, wants) in TABLE {
        let seen = observe(&app, &world, relation).await;
        for ((path, seen), want) in seen.into_iter().zip(wants) {
            let right = match want {
                Y => seen == Seen::Shown,
                N => seen == Seen::Hidden,
                X => true,
            };
            if !right {
                wrong.push(format!(
                    "{relation:?} / {path:?}: want {want:?}, saw {seen:?}"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[tokio::test]
async fn pages_stay_full_when_hidden_items_come_first() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let [host, shunned, other, viewer] = &app
        .signed_up_all(&["host", "shunned", "other", "viewer"])
        .await[..]
    else {
        panic!("four accounts")
    };
    let root = app.wrote(host, "a thread", None).await;
    // The shunned account's reply and like come first (oldest reply, but
    // newest like): each page's first row is one the viewer may not see.
    let hidden = app.wrote(shunned, "first", Some(&root)).await;
    let shown = app.wrote(other, "second", Some(&root)).await;
    for token in [other, shunned] {
        let like = app
            .gql(
                "mutation($p: ID!) { like(postId: $p) { errors { code } } }",
                json!({"p": root}),
                Some(token),
            )
            .await;
        assert_eq!(like["data"]["like"]["errors"], json!([]), "{like}");
    }
    app.as_account(viewer, "block", "shunned").await;

    let page = "query($p: ID!) { post(id: $p) {
        replies(first: 1) { edges { node { id } } pageInfo { hasNextPage } }
        likedBy(first: 1) { edges { node { handle } } pageInfo { hasNextPage } } } }";
    let data = app.read(page, json!({"p": root}), Some(viewer)).await;
    assert_eq!(ids(&data["post"]["replies"]), [shown], "{data}");
    assert_eq!(data["post"]["replies"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(ids(&data["post"]["likedBy"]), ["other"], "{data}");
    assert_eq!(data["post"]["likedBy"]["pageInfo"]["hasNextPage"], false);
    // Others still read both.
    let data = app.read(page, json!({"p": root}), Some(other)).await;
    assert_eq!(ids(&data["post"]["replies"]), [hidden], "{data}");
    assert_eq!(data["post"]["replies"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(ids(&data["post"]["likedBy"]), ["shunned"], "{data}");
}

#[tokio::test]
async fn mentions_across_a_block_and_actions_of_the_muted_write_no_notification() {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    use sns_api::entity::{notification_group, profile};
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let [blocker, muter, actor] = &app.signed_up_all(&["blocker", "muter", "actor"]).await[..]
    else {
        panic!("three accounts")
    };
    app.as_account(blocker, "block", "actor").await;
    app.as_account(muter, "mute", "actor").await;
    let muters = app.wrote(muter, "a post of the muter", None).await;
    app.wrote(actor, "hi @blocker and @muter", None).await;
    app.wrote(actor, "a reply", Some(&muters)).await;
    let like = app
        .gql(
            "mutation($p: ID!) { like(postId: $p) { errors { code } } }",
            json!({"p": muters}),
            Some(actor),
        )
        .await;
    assert_eq!(like["data"]["like"]["errors"], json!([]), "{like}");
    app.follow(actor, "muter").await;

    for handle in ["blocker", "muter"] {
        let id = profile::Entity::find()
            .filter(profile::Column::Handle.eq(handle))
            .one(&app.db)
            .await
            .unwrap()
            .expect("the profile")
            .user_id;
        let stored = notification_group::Entity::find()
            .filter(notification_group::Column::RecipientId.eq(id))
            .count(&app.db)
            .await
            .unwrap();
        assert_eq!(stored, 0, "{handle} was notified");
    }
}
