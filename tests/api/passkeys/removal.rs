//! Removing a passkey, and deleting the account that has them.

use super::*;

/// An access token at `aal2` for the session of `refresh` (of `user`), as a passkey
/// sign-in would give (`aal2` is what removal and deletion need once a
/// passkey is registered): the session raised in the database, then
/// refreshed (tokens carry the session's stored level).
async fn at_aal2(app: &TestApp, user: Uuid, refresh: &str) -> String {
    use sns_api::entity::session;
    session::Entity::update_many()
        .col_expr(session::Column::Aal, Expr::value(2i16))
        .col_expr(session::Column::Amr, Expr::value("hwk"))
        .filter(session::Column::UserId.eq(user))
        .exec(&app.db)
        .await
        .unwrap();
    let payload = app.refresh(refresh).await;
    assert_eq!(payload["errors"], json!([]), "{payload}");
    pair(&payload).0
}

#[tokio::test]
async fn removing_a_passkey_answers_it_mails_the_account_and_refuses_others() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let email = unique_email("pk-remove");
    let (aal1, refresh) = app.signed_up_pair(&email).await;
    let user = app.user_id(&aal1).await;
    let other = app.signed_up(&unique_email("pk-stranger")).await;
    let other_user = app.user_id(&other).await;
    let older = app.stored_passkey(user, "phone").await;
    let newer = app.stored_passkey(user, "laptop").await;
    let theirs = app.stored_passkey(other_user, "theirs").await;
    let at_aal1 = app
        .gql(REMOVE, json!({"id": older.to_string()}), Some(&aal1))
        .await;
    assert_eq!(
        problems(&at_aal1["data"]["removePasskey"]),
        vec![("MFA_REQUIRED".to_owned(), Value::Null)],
        "{at_aal1}"
    );
    let token = at_aal2(&app, user, &refresh).await;

    let listed = app
        .gql("{ me { passkeys { id name } } }", json!({}), Some(&token))
        .await;
    assert_eq!(
        listed["data"]["me"]["passkeys"],
        json!([{"id": newer.to_string(), "name": "laptop"},
               {"id": older.to_string(), "name": "phone"}]),
        "newest first: {listed}"
    );

    let not_found = vec![("NOT_FOUND".to_owned(), json!(["id"]))];
    for id in [
        "not-a-uuid".to_owned(),
        Uuid::now_v7().to_string(),
        theirs.to_string(),
    ] {
        let body = app.gql(REMOVE, json!({"id": id}), Some(&token)).await;
        assert_eq!(
            problems(&body["data"]["removePasskey"]),
            not_found,
            "{id}: {body}"
        );
    }
    let body = app
        .gql(REMOVE, json!({"id": older.to_string()}), Some(&token))
        .await;
    let payload = &body["data"]["removePasskey"];
    assert_eq!(payload["errors"], json!([]), "{body}");
    assert_eq!(
        payload["passkey"],
        json!({"id": older.to_string(), "name": "phone"})
    );
    let again = app
        .gql(REMOVE, json!({"id": older.to_string()}), Some(&token))
        .await;
    assert_eq!(problems(&again["data"]["removePasskey"]), not_found);

    let mails = mail_outbox::Entity::find()
        .filter(mail_outbox::Column::Recipient.eq(email.to_lowercase()))
        .filter(mail_outbox::Column::Subject.eq("A passkey was removed from your account"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(mails, 1, "one notice, for the one removal");
    let left = passkey::Entity::find().count(&app.db).await.unwrap();
    assert_eq!(left, 2, "the newer one and the other account's stay");
    let anonymous = app
        .gql(REMOVE, json!({"id": newer.to_string()}), None)
        .await;
    assert_eq!(error_codes(&anonymous), ["UNAUTHENTICATED"]);
    app.stop().await;
}

#[tokio::test]
async fn deleting_an_account_leaves_none_of_its_passkeys_or_ceremonies() {
    let db = TestDb::fresh().await;
    let app = TestApp::spawn(&db).await;
    let (token, refresh) = app.signed_up_pair(&unique_email("pk-delete")).await;
    let user = app.user_id(&token).await;
    app.begin_registration(&token).await;
    app.stored_passkey(user, "laptop").await;
    let token = at_aal2(&app, user, &refresh).await;
    let body = app
        .gql(
            "mutation($i: DeleteAccountInput!) { deleteAccount(input: $i) { deleted errors { code } } }",
            json!({"i": {"currentPassword": PASSWORD}}),
            Some(&token),
        )
        .await;
    assert_eq!(body["data"]["deleteAccount"]["deleted"], true, "{body}");
    let passkeys = passkey::Entity::find()
        .filter(passkey::Column::UserId.eq(user))
        .count(&app.db)
        .await
        .unwrap();
    let ceremonies = webauthn_challenge::Entity::find()
        .filter(webauthn_challenge::Column::UserId.eq(user))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!((passkeys, ceremonies), (0, 0));
    app.stop().await;
}
