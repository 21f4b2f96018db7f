//! Requests cut off part-way (a client gone, REQUEST_TIMEOUT): the service
//! future is dropped after each number of polls in turn, and what it leaves
//! behind must be all of its writes or none.

use std::future::Future;
use std::task::Poll;

use sea_orm::EntityTrait;
use secrecy::ExposeSecret as _;
use sns_api::app::App;
use sns_api::auth::ClientInfo;
use sns_api::auth::password::Verdict;
use sns_api::domain::PasswordInput;
use sns_api::entity::{refresh_token, session, user};
use sns_api::service;

use crate::common::*;

const NEW_PASSWORD: &str = "a-brand-new-passphrase";

/// Polls `work` at most `polls` times; `None` when it had not finished by
/// then, and it is dropped as a cut-off request's future is.
async fn cut_after<F: Future>(work: F, polls: usize) -> Option<F::Output> {
    let mut work = std::pin::pin!(work);
    let mut left = polls;
    std::future::poll_fn(move |cx| {
        if left == 0 {
            return Poll::Ready(None);
        }
        left -= 1;
        work.as_mut().poll(cx).map(Some)
    })
    .await
}

#[tokio::test]
async fn a_password_change_cut_off_at_any_step_changes_everything_or_nothing() {
    let db = TestDb::fresh().await;
    let app = App::build(config_for(&db)).await.expect("the app starts");
    let state = app.state();
    let client = ClientInfo::default();
    for cut in 0.. {
        assert!(cut < 500, "changePassword never finished");
        let email = unique_email(&format!("cut-{cut}"));
        let this = service::user::register(&state, &email, PASSWORD, None, &client)
            .await
            .unwrap();
        let service::session::Authenticated::Session(other) =
            service::user::login(&state, &email, PASSWORD, &client)
                .await
                .unwrap()
        else {
            panic!("no second factor is enrolled: login opens a session");
        };
        let viewer =
            sns_api::auth::authenticate(&state, this.access.token.expose_secret()).unwrap();

        let work = service::user::change_password(&state, &viewer, PASSWORD, NEW_PASSWORD);
        let finished = cut_after(work, cut).await;
        // Whatever was spawned to run to completion has now done so.
        service::tasks::wait_until_idle(&state).await;

        let hash = user::Entity::find_by_id(viewer.user_id)
            .one(state.db())
            .await
            .unwrap()
            .unwrap()
            .password_hash;
        let verify = |password: &str| {
            let hash = hash.clone();
            let hasher = state.hasher().clone();
            let password = PasswordInput::new(password);
            async move { hasher.verify(&password, Some(&hash)).await.unwrap() }
        };
        let changed = matches!(verify(NEW_PASSWORD).await, Verdict::Match { .. });
        if !changed {
            assert!(
                matches!(verify(PASSWORD).await, Verdict::Match { .. }),
                "cut after {cut} polls: neither password works"
            );
        }
        let other_row = session::Entity::find_by_id(other.session.id)
            .one(state.db())
            .await
            .unwrap()
            .unwrap();
        let old_refresh = refresh_token::Entity::find_by_id(this.refresh.hash())
            .one(state.db())
            .await
            .unwrap()
            .unwrap();
        let context = format!("cut after {cut} polls, password changed: {changed}");
        assert_eq!(
            other_row.revoked_at.is_some(),
            changed,
            "the other session ends exactly when the password changes ({context})"
        );
        assert_eq!(
            state.revocations().is_revoked(&other.session.id),
            changed,
            "this instance's cache agrees with the database ({context})"
        );
        assert_eq!(
            old_refresh.rotated_at.is_some(),
            changed,
            "this session's refresh token is replaced exactly when the password changes ({context})"
        );
        assert!(
            sns_api::auth::authenticate(&state, this.access.token.expose_secret()).is_ok(),
            "this session lives on ({context})"
        );
        if let Some(answer) = finished {
            assert!(answer.is_ok() && changed, "{context}");
            break;
        }
    }
}
