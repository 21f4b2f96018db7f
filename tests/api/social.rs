//! The social graph, field by field: handles at registration, profiles,
//! `updateProfile`, follows and posts, with their bad inputs. Paging, the
//! feed and account deletion are in `feed.rs`.

use serde_json::{Value, json};

use crate::common::*;

/// (code, field) of each of a payload's errors, sorted: the contract reports
/// every problem but names no order.
fn problems(payload: &Value) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = payload["errors"]
        .as_array()
        .expect("a payload has errors")
        .iter()
        .map(|e| {
            assert!(
                !e["message"].as_str().unwrap_or_default().is_empty(),
                "every error has a message: {e}"
            );
            (e["code"].as_str().unwrap().to_owned(), e["field"].clone())
        })
        .collect();
    sort(&mut out);
    out
}

fn sort(problems: &mut [(String, Value)]) {
    problems.sort_by_key(|(code, field)| (code.clone(), field.to_string()));
}

fn problem(code: &str, field: &[&str]) -> (String, Value) {
    (code.to_owned(), json!(field))
}

/// The expected (code, field) pairs in the order [`problems`] answers them.
fn sorted<const N: usize>(mut list: [(String, Value); N]) -> [(String, Value); N] {
    sort(&mut list);
    list
}

/// The handle a register payload answers.
fn handle_of(payload: &Value) -> &str {
    payload["user"]["profile"]["handle"]
        .as_str()
        .unwrap_or_else(|| panic!("a handle: {payload}"))
}

/// Asserts a refused register payload: no tokens, no user.
fn assert_refused(payload: &Value) {
    for field in ["accessToken", "refreshToken", "user"] {
        assert!(payload[field].is_null(), "{field} is null: {payload}");
    }
}

const UPDATE_PROFILE: &str = "mutation($i: UpdateProfileInput!) { updateProfile(input: $i) { profile { id handle displayName bio } errors { code message field } } }";

impl TestApp {
    /// The `updateProfile` payload for `input`.
    async fn update_profile(&self, token: &str, input: Value) -> Value {
        let body = self
            .gql(UPDATE_PROFILE, json!({"i": input}), Some(token))
            .await;
        assert!(body.get("errors").is_none(), "no top-level error: {body}");
        body["data"]["updateProfile"].clone()
    }

    /// `me { profile { ... } }` of `token`.
    async fn my_profile(&self, token: &str) -> Value {
        let body = self
            .gql(
                &format!("{{ me {{ id profile {{ {PROFILE_FIELDS} }} }} }}"),
                json!({}),
                Some(token),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        body["data"]["me"]["profile"].clone()
    }
}

// --- Handles at registration -------------------------------------------

#[tokio::test]
async fn a_handle_at_registration_is_stored_lower_case_and_its_case_variants_are_taken() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let first = app
        .register_with_handle("ada@example.com", PASSWORD, Some(" Ada_Lovelace "))
        .await;
    assert_eq!(first["errors"], json!([]), "{first}");
    assert_eq!(handle_of(&first), "ada_lovelace", "trimmed and lower-cased");
    assert_eq!(first["user"]["profile"]["id"], first["user"]["id"]);

    for variant in [
        "ADA_LOVELACE",
        "ada_lovelace",
        "Ada_LoveLace",
        " ada_lovelace",
    ] {
        let again = app
            .register_with_handle("grace@example.com", PASSWORD, Some(variant))
            .await;
        assert_eq!(
            problems(&again),
            [problem("HANDLE_TAKEN", &["input", "handle"])],
            "{variant:?}: {again}"
        );
        assert_refused(&again);
    }
    // Nothing was written by the refusals: the email registers now.
    let grace = app
        .register_with_handle("grace@example.com", PASSWORD, Some("Grace"))
        .await;
    assert_eq!(grace["errors"], json!([]), "{grace}");
    assert_eq!(handle_of(&grace), "grace");
    app.stop().await;
}

#[tokio::test]
async fn malformed_and_reserved_handles_are_invalid_at_registration() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let too_long = "a".repeat(31);
    let cases = [
        "",
        "   ",
        "ab",
        " ab ",
        too_long.as_str(),
        "has-dash",
        "has space",
        "dot.ted",
        "émile",
        "ａｂｃｄ", // full-width letters are no ASCII
        "abc\u{0}",
        "12345",
        "007",
        "admin",
        "Admin",
        "ROOT",
        "support",
        "api",
        "graphql",
        "settings",
    ];
    for (i, handle) in cases.iter().enumerate() {
        let email = format!("case{i}@example.com");
        let payload = app
            .register_with_handle(&email, PASSWORD, Some(handle))
            .await;
        assert_eq!(
            problems(&payload),
            [problem("INVALID_HANDLE", &["input", "handle"])],
            "{handle:?}: {payload}"
        );
        assert_refused(&payload);
    }
    // The edges of the rule are accepted; and nothing was written above:
    // the first refused email registers now.
    let b30 = "b".repeat(30);
    for (email, handle, want) in [
        ("case0@example.com", "abc", "abc"),
        ("edge30@example.com", b30.as_str(), b30.as_str()),
        ("digits@example.com", "123abc", "123abc"),
        ("under@example.com", "a_1", "a_1"),
        ("admins@example.com", "admin_jane", "admin_jane"),
    ] {
        let payload = app
            .register_with_handle(email, PASSWORD, Some(handle))
            .await;
        assert_eq!(payload["errors"], json!([]), "{handle:?}: {payload}");
        assert_eq!(handle_of(&payload), want);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_bad_handle_is_reported_together_with_the_email_and_password_problems() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    app.signed_up_as("taken").await;

    let payload = app
        .register_with_handle("not-an-email", PASSWORD, Some("x"))
        .await;
    assert_eq!(
        problems(&payload),
        sorted([
            problem("INVALID_EMAIL", &["input", "email"]),
            problem("INVALID_HANDLE", &["input", "handle"]),
        ]),
        "{payload}"
    );
    assert_refused(&payload);

    let payload = app
        .register_with_handle("nope", "short", Some("TAKEN"))
        .await;
    assert_eq!(
        problems(&payload),
        sorted([
            problem("HANDLE_TAKEN", &["input", "handle"]),
            problem("INVALID_EMAIL", &["input", "email"]),
            problem("PASSWORD_TOO_SHORT", &["input", "password"]),
        ]),
        "{payload}"
    );
    assert_refused(&payload);

    // A good handle with a bad password writes nothing: neither the email
    // nor the handle is taken afterwards.
    let payload = app
        .register_with_handle("dora@example.com", "short", Some("dora"))
        .await;
    assert_eq!(
        problems(&payload),
        [problem("PASSWORD_TOO_SHORT", &["input", "password"])]
    );
    assert!(app.profile("dora", None).await.is_null(), "no profile");
    let payload = app
        .register_with_handle("dora@example.com", PASSWORD, Some("dora"))
        .await;
    assert_eq!(payload["errors"], json!([]), "{payload}");
    assert_eq!(handle_of(&payload), "dora");
    app.stop().await;
}

#[tokio::test]
async fn without_a_handle_registration_picks_a_random_one_not_made_from_the_email() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let mut seen = Vec::new();
    for email in [
        "harkerjonathan@example.com",
        "HarkerJonathan2@example.org",
        "abc@example.com",
    ] {
        let payload = app.register_with_handle(email, PASSWORD, None).await;
        assert_eq!(payload["errors"], json!([]), "{payload}");
        let handle = handle_of(&payload).to_owned();
        assert!(
            (3..=30).contains(&handle.len())
                && handle
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                && !handle.bytes().all(|b| b.is_ascii_digit()),
            "{handle:?} follows the handle rule"
        );
        let local = email.split('@').next().unwrap().to_ascii_lowercase();
        for part in [local.as_str(), "harker", "jonathan", "example"] {
            assert!(!handle.contains(part), "{handle:?} gives away {email:?}");
        }
        let profile = app.profile(&handle, None).await;
        assert_eq!(profile["id"], payload["user"]["id"], "{profile}");
        seen.push(handle);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 3, "each account its own handle: {seen:?}");
    app.stop().await;
}

#[tokio::test]
async fn racing_registrations_with_distinct_handles_all_succeed() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let requests = (0..40)
        .map(|i| {
            let input = json!({"email": format!("racer{i}@example.com"), "password": PASSWORD, "handle": format!("racer_{i}")});
            (REGISTER_WITH_HANDLE.to_owned(), json!({"i": input}), None)
        })
        .collect();
    for (i, body) in all_at_once(&app, requests).await.iter().enumerate() {
        assert!(body.get("errors").is_none(), "racer {i}: {body}");
        assert_eq!(body["data"]["register"]["errors"], json!([]), "{body}");
        assert_eq!(handle_of(&body["data"]["register"]), format!("racer_{i}"));
    }
    app.stop().await;
}

#[tokio::test]
async fn racing_claims_of_one_handle_give_it_to_exactly_one_account() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    // By registration, in several spellings.
    let requests = (0..8)
        .map(|i| {
            let handle = if i % 2 == 0 { "Contested" } else { "contested" };
            let input = json!({"email": format!("claim{i}@example.com"), "password": PASSWORD, "handle": handle});
            (REGISTER_WITH_HANDLE.to_owned(), json!({"i": input}), None)
        })
        .collect();
    let bodies = all_at_once(&app, requests).await;
    let mut winners = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        assert!(body.get("errors").is_none(), "claim {i}: {body}");
        let payload = &body["data"]["register"];
        if payload["errors"] == json!([]) {
            winners.push((i, payload["user"]["id"].clone()));
        } else {
            assert_eq!(
                problems(payload),
                [problem("HANDLE_TAKEN", &["input", "handle"])],
                "{body}"
            );
            assert_refused(payload);
        }
    }
    assert_eq!(winners.len(), 1, "one account gets it: {bodies:?}");
    assert_eq!(app.profile("contested", None).await["id"], winners[0].1);
    // The losers wrote nothing: each email registers now, without a handle.
    for i in (0..8).filter(|i| *i != winners[0].0) {
        let payload = app
            .register_with_handle(&format!("claim{i}@example.com"), PASSWORD, None)
            .await;
        assert_eq!(payload["errors"], json!([]), "claim {i}: {payload}");
    }

    // By updateProfile.
    let tokens = app.signed_up_all(&["first_x", "second_x", "third_x"]).await;
    let requests = tokens
        .iter()
        .map(|t| {
            (
                UPDATE_PROFILE.to_owned(),
                json!({"i": {"handle": "prize"}}),
                Some(t.clone()),
            )
        })
        .collect();
    let bodies = all_at_once(&app, requests).await;
    let mut won = 0;
    for body in &bodies {
        assert!(body.get("errors").is_none(), "{body}");
        let payload = &body["data"]["updateProfile"];
        if payload["errors"] == json!([]) {
            won += 1;
            assert_eq!(payload["profile"]["handle"], "prize");
        } else {
            assert_eq!(
                problems(payload),
                [problem("HANDLE_TAKEN", &["input", "handle"])],
                "{body}"
            );
        }
    }
    assert_eq!(won, 1, "{bodies:?}");
    app.stop().await;
}

// --- Reading profiles ----------------------------------------------------

#[tokio::test]
async fn a_profile_is_found_by_its_handle_in_any_case_and_unknown_is_null() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let email = "quiet.person@example.com";
    let payload = app
        .register_with_handle(email, PASSWORD, Some("quiet_one"))
        .await;
    assert_eq!(payload["errors"], json!([]), "{payload}");
    let id = payload["user"]["id"].clone();
    let token = payload["accessToken"].as_str().unwrap().to_owned();

    for (handle, viewer) in [
        ("quiet_one", None),
        ("QUIET_ONE", None),
        ("Quiet_One", Some(token.as_str())),
    ] {
        let profile = app.profile(handle, viewer).await;
        assert_eq!(profile["id"], id, "{handle}: {profile}");
        assert_eq!(profile["handle"], "quiet_one");
        assert!(profile["displayName"].is_null());
        assert!(profile["bio"].is_null());
        assert!(profile["createdAt"].is_string());
        for count in ["postCount", "followerCount", "followingCount"] {
            assert_eq!(profile[count], 0, "{count}: {profile}");
        }
        assert_eq!(profile["viewerFollows"], false, "not even oneself");
        assert!(!profile.to_string().contains("quiet.person"), "{profile}");
    }
    for unknown in ["nobody_here", "no", "bad handle!", "admin", ""] {
        assert!(
            app.profile(unknown, Some(&token)).await.is_null(),
            "{unknown:?} is not found"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_profile_has_no_email_field() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("private").await;
    for query in [
        "{ profile(handle: \"private\") { handle email } }",
        "{ me { profile { email } } }",
        "{ feed { edges { node { author { email } } } } }",
    ] {
        let body = app.gql(query, json!({}), Some(&token)).await;
        assert_eq!(
            error_codes(&body),
            ["GRAPHQL_VALIDATION_FAILED"],
            "{query}: {body}"
        );
        assert!(body["data"].is_null(), "{body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn me_profile_is_the_viewers_own() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("Myself").await;
    app.signed_up_as("someone_else").await;
    let body = app
        .gql(
            "{ me { id profile { id handle } } }",
            json!({}),
            Some(&token),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["me"]["profile"]["handle"], "myself", "{body}");
    assert_eq!(
        body["data"]["me"]["profile"]["id"],
        body["data"]["me"]["id"]
    );
    app.stop().await;
}

#[tokio::test]
async fn anonymous_readers_get_profiles_and_posts_but_no_feed_and_no_mutations() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("open_book").await;
    let id = app.posted(&token, "hello, world").await;

    let profile = app.profile("open_book", None).await;
    assert_eq!(profile["postCount"], 1, "{profile}");
    let body = app
        .gql(
            "query($id: ID!) { post(id: $id) { id body author { handle viewerFollows } } }",
            json!({"id": id}),
            None,
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["post"]["body"], "hello, world");
    assert_eq!(body["data"]["post"]["author"]["handle"], "open_book");
    assert_eq!(body["data"]["post"]["author"]["viewerFollows"], false);
    let body = app
        .gql(
            "{ profile(handle: \"open_book\") { posts { edges { node { body } } } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(
        body["data"]["profile"]["posts"]["edges"][0]["node"]["body"], "hello, world",
        "{body}"
    );

    for query in [
        "{ feed { edges { node { id } } } }",
        "mutation { createPost(input: {body: \"x\"}) { post { id } errors { code } } }",
        "mutation { follow(handle: \"open_book\") { profile { id } errors { code } } }",
        "mutation { unfollow(handle: \"open_book\") { profile { id } errors { code } } }",
        "mutation { updateProfile(input: {bio: \"x\"}) { profile { id } errors { code } } }",
    ] {
        let body = app.gql(query, json!({}), None).await;
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{query}: {body}");
        assert!(body["data"].is_null(), "{query}: {body}");
    }
    let body = app
        .gql(
            "mutation($id: ID!) { deletePost(id: $id) { deleted errors { code } } }",
            json!({"id": id}),
            None,
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    // Nothing changed on the way.
    let profile = app.profile("open_book", None).await;
    assert_eq!(profile["postCount"], 1, "{profile}");
    assert_eq!(profile["followerCount"], 0, "{profile}");
    assert!(profile["bio"].is_null(), "{profile}");
    app.stop().await;
}

// --- updateProfile --------------------------------------------------------

#[tokio::test]
async fn update_profile_changes_only_the_fields_given_and_empty_clears() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("editor").await;

    let p = app
        .update_profile(&token, json!({"displayName": "  The Editor  "}))
        .await;
    assert_eq!(p["errors"], json!([]), "{p}");
    assert_eq!(p["profile"]["displayName"], "The Editor", "trimmed");
    assert!(p["profile"]["bio"].is_null());
    assert_eq!(p["profile"]["handle"], "editor");

    let p = app
        .update_profile(&token, json!({"bio": "Writes things."}))
        .await;
    assert_eq!(p["errors"], json!([]), "{p}");
    assert_eq!(p["profile"]["displayName"], "The Editor", "kept");
    assert_eq!(p["profile"]["bio"], "Writes things.");

    let p = app.update_profile(&token, json!({})).await;
    assert_eq!(p["errors"], json!([]), "{p}");
    assert_eq!(p["profile"]["displayName"], "The Editor");
    assert_eq!(p["profile"]["bio"], "Writes things.");

    let p = app.update_profile(&token, json!({"displayName": ""})).await;
    assert_eq!(p["errors"], json!([]), "{p}");
    assert!(p["profile"]["displayName"].is_null(), "cleared: {p}");
    assert_eq!(p["profile"]["bio"], "Writes things.");

    let p = app.update_profile(&token, json!({"bio": "   "})).await;
    assert_eq!(p["errors"], json!([]), "{p}");
    assert!(p["profile"]["bio"].is_null(), "blank clears too: {p}");

    // What the mutation answered is what is stored.
    let stored = app.my_profile(&token).await;
    assert!(stored["displayName"].is_null() && stored["bio"].is_null());
    assert_eq!(stored["handle"], "editor");
    app.stop().await;
}

#[tokio::test]
async fn too_long_texts_are_refused_by_code_points_and_nothing_is_written() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("wordy").await;

    // At the limits, in two-byte and four-byte characters.
    let name50 = "é".repeat(50);
    let bio160 = "😀".repeat(160);
    let p = app
        .update_profile(&token, json!({"displayName": name50, "bio": bio160}))
        .await;
    assert_eq!(p["errors"], json!([]), "{p}");
    assert_eq!(p["profile"]["displayName"], name50);
    assert_eq!(p["profile"]["bio"], bio160);

    let p = app
        .update_profile(&token, json!({"displayName": "n".repeat(51)}))
        .await;
    assert_eq!(
        problems(&p),
        [problem("TEXT_TOO_LONG", &["input", "displayName"])],
        "{p}"
    );
    assert!(p["profile"].is_null(), "{p}");
    let p = app
        .update_profile(&token, json!({"bio": "b".repeat(161)}))
        .await;
    assert_eq!(
        problems(&p),
        [problem("TEXT_TOO_LONG", &["input", "bio"])],
        "{p}"
    );

    // Every problem at once, and none of the input is written: not the
    // good handle either.
    let p = app
        .update_profile(
            &token,
            json!({"handle": "fresh_name", "displayName": "é".repeat(51), "bio": "😀".repeat(161)}),
        )
        .await;
    assert_eq!(
        problems(&p),
        sorted([
            problem("TEXT_TOO_LONG", &["input", "displayName"]),
            problem("TEXT_TOO_LONG", &["input", "bio"]),
        ]),
        "{p}"
    );
    assert!(p["profile"].is_null(), "{p}");
    let p = app
        .update_profile(
            &token,
            json!({"handle": "fresh_name", "bio": "x".repeat(161)}),
        )
        .await;
    assert_eq!(problems(&p), [problem("TEXT_TOO_LONG", &["input", "bio"])]);
    let stored = app.my_profile(&token).await;
    assert_eq!(stored["handle"], "wordy", "{stored}");
    assert_eq!(stored["displayName"], name50);
    assert_eq!(stored["bio"], bio160);
    assert!(app.profile("fresh_name", None).await.is_null());
    app.stop().await;
}

#[tokio::test]
async fn a_handle_change_frees_the_old_handle_and_refuses_taken_and_reserved_ones() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let alice = app.signed_up_as("alice").await;
    let bob = app.signed_up_as("bob").await;
    let post = app.posted(&alice, "before the rename").await;
    let alice_id = app.profile("alice", None).await["id"].clone();

    let p = app
        .update_profile(&alice, json!({"handle": " Alicia "}))
        .await;
    assert_eq!(p["errors"], json!([]), "{p}");
    assert_eq!(p["profile"]["handle"], "alicia");
    assert!(app.profile("alice", None).await.is_null(), "old one gone");
    assert_eq!(app.profile("ALICIA", None).await["id"], alice_id);
    let body = app
        .gql(
            "query($id: ID!) { post(id: $id) { author { handle } } }",
            json!({"id": post}),
            None,
        )
        .await;
    assert_eq!(body["data"]["post"]["author"]["handle"], "alicia", "{body}");

    // The same handle again, in another case: it is her own, not taken.
    let p = app
        .update_profile(&alice, json!({"handle": "ALICIA"}))
        .await;
    assert_eq!(p["errors"], json!([]), "{p}");
    assert_eq!(p["profile"]["handle"], "alicia");

    for (handle, code) in [
        ("Alicia", "HANDLE_TAKEN"),
        ("alicia", "HANDLE_TAKEN"),
        ("admin", "INVALID_HANDLE"),
        ("Support", "INVALID_HANDLE"),
        ("x", "INVALID_HANDLE"),
        ("9999", "INVALID_HANDLE"),
        ("no-dash", "INVALID_HANDLE"),
        ("", "INVALID_HANDLE"),
    ] {
        let p = app.update_profile(&bob, json!({"handle": handle})).await;
        assert_eq!(
            problems(&p),
            [problem(code, &["input", "handle"])],
            "{handle:?}: {p}"
        );
        assert!(p["profile"].is_null(), "{p}");
    }
    assert_eq!(app.my_profile(&bob).await["handle"], "bob", "unchanged");

    // The freed handle is anyone's: by update, and (once freed again) by registration.
    let p = app.update_profile(&bob, json!({"handle": "ALICE"})).await;
    assert_eq!(p["errors"], json!([]), "{p}");
    assert_eq!(p["profile"]["handle"], "alice");
    let payload = app
        .register_with_handle("newbob@example.com", PASSWORD, Some("Bob"))
        .await;
    assert_eq!(payload["errors"], json!([]), "{payload}");
    assert_eq!(handle_of(&payload), "bob");
    app.stop().await;
}

#[tokio::test]
async fn profile_text_is_nfc_without_control_characters() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("unicode").await;
    let cases = [
        // (field, sent, stored)
        ("displayName", "Jose\u{301}", "José"),
        ("displayName", "e\u{301}", "é"),
        ("displayName", "a\u{0}b\u{7}c\u{7f}d\u{85}e", "abcde"),
        ("displayName", "line\nbreak", "line break"),
        ("displayName", "tab\there", "tab here"),
        ("displayName", "\u{202e}evil\u{202c}", "evil"),
        ("displayName", "\u{1b}[31mred", "[31mred"),
        ("bio", "one\ntwo", "one\ntwo"),
        ("bio", "one\r\ntwo\rthree", "one\ntwo\nthree"),
        ("bio", "a\tb", "a b"),
        ("bio", "x\u{2066}y\u{2069}z\u{202a}", "xyz"),
        ("bio", "caf\u{65}\u{301}\u{0}", "café"),
        ("bio", "  \u{7}padded\u{0}  ", "padded"),
    ];
    for (field, sent, stored) in cases {
        let p = app.update_profile(&token, json!({field: sent})).await;
        assert_eq!(p["errors"], json!([]), "{sent:?}: {p}");
        assert_eq!(p["profile"][field], stored, "{field} {sent:?}: {p}");
        assert_eq!(app.my_profile(&token).await[field], stored, "{sent:?}");
    }
    // Only control characters: removed, then empty clears.
    let p = app
        .update_profile(&token, json!({"bio": "\u{0}\u{7}\u{202e}"}))
        .await;
    assert_eq!(p["errors"], json!([]), "{p}");
    assert!(p["profile"]["bio"].is_null(), "{p}");
    // The length counts after normalising: 50 decomposed é are 100 code
    // points sent and 50 stored.
    let p = app
        .update_profile(&token, json!({"displayName": "e\u{301}".repeat(50)}))
        .await;
    assert_eq!(p["errors"], json!([]), "{p}");
    assert_eq!(p["profile"]["displayName"], "é".repeat(50));
    app.stop().await;
}

#[tokio::test]
async fn update_profile_requires_a_token() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let body = app
        .gql(UPDATE_PROFILE, json!({"i": {"displayName": "ghost"}}), None)
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    let body = app
        .gql_with_auth(
            "mutation { updateProfile(input: {displayName: \"ghost\"}) { profile { id } } }",
            "Bearer not-a-token",
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    app.stop().await;
}

// --- follow / unfollow -----------------------------------------------------

#[tokio::test]
async fn follow_and_unfollow_are_idempotent_and_the_counts_follow_each_step() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let alice = app.signed_up_as("alice").await;
    let bob = app.signed_up_as("bob").await;
    let counts = |p: &Value| {
        (
            p["followerCount"].as_i64().unwrap(),
            p["followingCount"].as_i64().unwrap(),
        )
    };

    for round in 0..2 {
        let p = app.follow_as(&alice, "follow", "BOB").await;
        assert_eq!(p["errors"], json!([]), "{p}");
        assert_eq!(p["profile"]["handle"], "bob");
        assert_eq!(p["profile"]["viewerFollows"], true, "round {round}: {p}");
        assert_eq!(counts(&p["profile"]), (1, 0), "round {round}: {p}");
        assert_eq!(counts(&app.profile("alice", None).await), (0, 1));
        assert_eq!(
            app.profile("bob", Some(&alice)).await["viewerFollows"],
            true
        );
        assert_eq!(app.profile("bob", None).await["viewerFollows"], false);
        assert_eq!(app.profile("bob", Some(&bob)).await["viewerFollows"], false);
        assert_eq!(
            app.profile("alice", Some(&bob)).await["viewerFollows"],
            false
        );
    }

    app.follow(&bob, "alice").await;
    assert_eq!(counts(&app.profile("alice", None).await), (1, 1));
    assert_eq!(counts(&app.profile("bob", None).await), (1, 1));

    for round in 0..2 {
        let p = app.follow_as(&alice, "unfollow", "bob").await;
        assert_eq!(p["errors"], json!([]), "{p}");
        assert_eq!(p["profile"]["handle"], "bob");
        assert_eq!(p["profile"]["viewerFollows"], false, "round {round}: {p}");
        assert_eq!(counts(&p["profile"]), (0, 1), "round {round}: {p}");
        assert_eq!(counts(&app.profile("alice", None).await), (1, 0));
        assert_eq!(
            app.profile("bob", Some(&alice)).await["viewerFollows"],
            false
        );
        assert_eq!(
            app.profile("alice", Some(&bob)).await["viewerFollows"],
            true
        );
    }

    // Following again after an unfollow counts once more.
    app.follow(&alice, "bob").await;
    assert_eq!(counts(&app.profile("bob", None).await), (1, 1));
    app.stop().await;
}

#[tokio::test]
async fn following_oneself_or_an_unknown_handle_is_refused_without_a_change() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let alice = app.signed_up_as("alice").await;
    app.signed_up_as("bob").await;
    for mutation in ["follow", "unfollow"] {
        for (handle, code) in [
            ("alice", "CANNOT_FOLLOW_SELF"),
            ("ALICE", "CANNOT_FOLLOW_SELF"),
            ("nobody", "NOT_FOUND"),
            ("bad handle!", "NOT_FOUND"),
            ("", "NOT_FOUND"),
        ] {
            let p = app.follow_as(&alice, mutation, handle).await;
            assert_eq!(
                problems(&p),
                [problem(code, &["handle"])],
                "{mutation} {handle:?}: {p}"
            );
            assert!(p["profile"].is_null(), "{p}");
        }
    }
    let me = app.profile("alice", Some(&alice)).await;
    assert_eq!(me["followerCount"], 0, "{me}");
    assert_eq!(me["followingCount"], 0, "{me}");
    assert_eq!(me["viewerFollows"], false, "{me}");
    app.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_follows_with_repeats_count_each_follower_once() {
    const FOLLOWERS: usize = 50;
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    app.signed_up_as("popular").await;
    let handles: Vec<String> = (0..FOLLOWERS).map(|i| format!("fan_{i}")).collect();
    let handles: Vec<&str> = handles.iter().map(String::as_str).collect();
    let tokens = app.signed_up_all(&handles).await;

    // Every follower once, every third one two more times, all at once.
    let follow = "mutation { follow(handle: \"popular\") { profile { handle } errors { code } } }";
    let mut requests = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let repeats = if i % 3 == 0 { 3 } else { 1 };
        for _ in 0..repeats {
            requests.push((follow.to_owned(), json!({}), Some(token.clone())));
        }
    }
    let sent = requests.len();
    assert!(sent > FOLLOWERS);
    let failed: Vec<Value> = all_at_once(&app, requests)
        .await
        .into_iter()
        .filter(|body| {
            body.get("errors").is_some() || body["data"]["follow"]["errors"] != json!([])
        })
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {sent} follows failed: {failed:?}",
        failed.len()
    );

    let popular = app.profile("popular", None).await;
    assert_eq!(popular["followerCount"], FOLLOWERS, "{popular}");
    let body = app
        .gql(
            "{ profile(handle: \"popular\") { followers(first: 100) { edges { node { handle } } pageInfo { hasNextPage } } } }",
            json!({}),
            None,
        )
        .await;
    let followers = &body["data"]["profile"]["followers"];
    let mut handles: Vec<&str> = followers["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|e| e["node"]["handle"].as_str().unwrap())
        .collect();
    assert_eq!(handles.len(), FOLLOWERS, "{body}");
    handles.sort_unstable();
    handles.dedup();
    assert_eq!(handles.len(), FOLLOWERS, "each follower once: {body}");
    assert_eq!(followers["pageInfo"]["hasNextPage"], false);
    for i in [0, 1, 3, 49] {
        let fan = app.profile(&format!("fan_{i}"), None).await;
        assert_eq!(fan["followingCount"], 1, "{fan}");
    }
    app.stop().await;
}

// --- posts --------------------------------------------------------------------

#[tokio::test]
async fn create_post_trims_and_counts_code_points_after_nfc() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("poster").await;
    let mut accepted = 0;

    let accept = [
        ("  hello  ", "hello".to_owned()),
        ("x", "x".to_owned()),
        ("line one\r\nline two\n", "line one\nline two".to_owned()),
        ("tab\tstop", "tab stop".to_owned()),
        ("bell\u{7}\u{0}\u{202e}", "bell".to_owned()),
        ("Jose\u{301}", "José".to_owned()),
    ];
    let a500 = "a".repeat(500);
    let e500 = "é".repeat(500);
    let emoji500 = "😀".repeat(500);
    let padded = format!("   {a500}   ");
    let decomposed = "e\u{301}".repeat(500);
    let limits = [
        (a500.as_str(), a500.clone()),
        (e500.as_str(), e500.clone()),
        (emoji500.as_str(), emoji500.clone()),
        (padded.as_str(), a500.clone()),
        (decomposed.as_str(), e500.clone()),
    ];
    for (sent, stored) in accept.iter().chain(limits.iter()) {
        let p = app.create_post(&token, sent).await;
        assert_eq!(p["errors"], json!([]), "{sent:?}: {p}");
        assert_eq!(p["post"]["body"], stored.as_str(), "{sent:?}");
        assert_eq!(p["post"]["author"]["handle"], "poster");
        assert!(p["post"]["createdAt"].is_string());
        accepted += 1;
    }

    let refuse = [
        (String::new(), "TEXT_EMPTY"),
        ("   \n\t\r\n ".to_owned(), "TEXT_EMPTY"),
        ("\u{0}\u{7}\u{202e} ".to_owned(), "TEXT_EMPTY"),
        ("a".repeat(501), "TEXT_TOO_LONG"),
        ("é".repeat(501), "TEXT_TOO_LONG"),
        ("😀".repeat(501), "TEXT_TOO_LONG"),
        ("e\u{301}".repeat(501), "TEXT_TOO_LONG"),
        ("ten kilobytes ".repeat(750), "TEXT_TOO_LONG"),
    ];
    for (sent, code) in &refuse {
        let p = app.create_post(&token, sent).await;
        assert_eq!(
            problems(&p),
            [problem(code, &["input", "body"])],
            "{} code points: {p}",
            sent.chars().count()
        );
        assert!(p["post"].is_null(), "{p}");
    }
    let profile = app.profile("poster", None).await;
    assert_eq!(profile["postCount"], accepted, "{profile}");
    app.stop().await;
}

#[tokio::test]
async fn a_post_by_id_shows_its_author_and_unknown_or_malformed_ids_are_null() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let token = app.signed_up_as("author").await;
    let author_id = app.profile("author", None).await["id"].clone();
    let created = app.create_post(&token, "findable").await;
    let id = created["post"]["id"].as_str().unwrap().to_owned();
    let query = format!(
        "query($id: ID!) {{ post(id: $id) {{ id body createdAt author {{ {PROFILE_FIELDS} }} }} }}"
    );
    let body = app.gql(&query, json!({"id": id}), None).await;
    assert!(body.get("errors").is_none(), "{body}");
    let post = &body["data"]["post"];
    assert_eq!(post["id"], id.as_str());
    assert_eq!(post["body"], "findable");
    assert_eq!(post["createdAt"], created["post"]["createdAt"]);
    assert_eq!(post["author"]["id"], author_id);
    assert_eq!(post["author"]["handle"], "author");
    assert_eq!(post["author"]["postCount"], 1);
    assert!(!post.to_string().contains("@example.com"), "{post}");

    for unknown in [
        uuid::Uuid::now_v7().to_string(),
        "not-a-uuid".to_owned(),
        String::new(),
        author_id.as_str().unwrap().to_owned(),
    ] {
        let body = app.gql(&query, json!({"id": unknown}), Some(&token)).await;
        assert!(body.get("errors").is_none(), "{unknown:?}: {body}");
        assert!(body["data"]["post"].is_null(), "{unknown:?}: {body}");
    }
    app.stop().await;
}

const DELETE_POST: &str =
    "mutation($id: ID!) { deletePost(id: $id) { deleted errors { code message field } } }";

#[tokio::test]
async fn delete_post_removes_ones_own_and_refuses_others_alike() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let alice = app.signed_up_as("alice").await;
    let bob = app.signed_up_as("bob").await;
    let keep = app.posted(&alice, "stays").await;
    let goes = app.posted(&alice, "goes").await;
    let bobs = app.posted(&bob, "bob's").await;
    assert_eq!(app.profile("alice", None).await["postCount"], 2);

    let body = app
        .gql(DELETE_POST, json!({"id": goes}), Some(&alice))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["deletePost"]["deleted"], true, "{body}");
    assert_eq!(body["data"]["deletePost"]["errors"], json!([]));
    let post = |id: String| {
        let app = &app;
        async move {
            app.gql(
                "query($id: ID!) { post(id: $id) { id } }",
                json!({"id": id}),
                None,
            )
            .await["data"]["post"]
                .clone()
        }
    };
    assert!(post(goes.clone()).await.is_null(), "gone");
    assert!(post(keep.clone()).await.is_object(), "the other stays");
    assert_eq!(app.profile("alice", None).await["postCount"], 1);
    let body = app
        .gql(
            "{ profile(handle: \"alice\") { posts { edges { node { id } } } } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(
        body["data"]["profile"]["posts"]["edges"],
        json!([{"node": {"id": keep}}]),
        "{body}"
    );

    // Someone else's, already deleted, unknown, malformed: all FORBIDDEN alike.
    for (id, who) in [
        (keep.clone(), &bob),
        (bobs.clone(), &alice),
        (goes.clone(), &alice),
        (uuid::Uuid::now_v7().to_string(), &alice),
        ("not-a-uuid".to_owned(), &alice),
    ] {
        let body = app.gql(DELETE_POST, json!({"id": id}), Some(who)).await;
        assert_eq!(error_codes(&body), ["FORBIDDEN"], "{id}: {body}");
        assert!(body["data"].is_null(), "{body}");
    }
    assert!(post(keep).await.is_object(), "bob could not delete it");
    assert!(post(bobs).await.is_object(), "alice could not delete it");
    assert_eq!(app.profile("alice", None).await["postCount"], 1);
    assert_eq!(app.profile("bob", None).await["postCount"], 1);
    app.stop().await;
}
