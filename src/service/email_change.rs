//! Moving an account to another address: asked for with the password,
//! done when the link mailed to the new address is followed
//! (`verification::verify_email`).

use sea_orm::TransactionTrait;

use super::mail_token::{self, Kind};
use super::problem::{Field, InputProblem, ProblemKind};
use super::reauth::confirm_password;
use super::throttle;
use crate::auth::Viewer;
use crate::domain::Email;
use crate::error::AppError;
use crate::mail::{self, messages, outbox};
use crate::state::AppState;

/// Asks to move the viewer's account to `new_email`: a confirmation link to
/// the new address, a notice to the old one. Nothing changes until the link
/// is followed (`verification::verify_email`).
#[tracing::instrument(skip_all, fields(user = %viewer.user_id))]
pub async fn change_email(
    state: &AppState,
    viewer: &Viewer,
    current_password: &str,
    new_email: &str,
) -> Result<(), AppError> {
    super::mfa::gate::require_aal2(state, viewer).await?;
    let new = Email::parse(new_email);
    let bad_email = new.is_err();
    let user = confirm_password(state, viewer, current_password, |_| {
        if bad_email {
            vec![InputProblem::new(
                ProblemKind::InvalidEmail,
                Some(Field::NewEmail),
            )]
        } else {
            Vec::new()
        }
    })
    .await?;
    let Ok(new) = new else {
        return Err(AppError::internal("an invalid email passed the check"));
    };
    let taken = || {
        AppError::input(InputProblem::new(
            ProblemKind::EmailTaken,
            Some(Field::NewEmail),
        ))
    };
    if new.as_str() == user.email || super::user::email_exists(state, &new).await? {
        return Err(taken());
    }
    if let Some(limited) = throttle::per_mail_address(state, new.as_str()).await? {
        return Err(AppError::input(limited));
    }
    super::tasks::to_completion(state, |state| async move {
        let now = super::clock::now();
        let policy = state.mail();
        let txn = state.db().begin().await?;
        let token = mail_token::issue(
            &txn,
            user.id,
            Kind::ChangeEmail,
            Some(new.as_str()),
            policy.verification_ttl,
            now,
        )
        .await?;
        let link = mail::link(&policy.verify_url, &token);
        outbox::enqueue(&txn, messages::confirm_new_email(new.as_str(), &link), now).await?;
        outbox::enqueue(&txn, messages::email_change_requested(&user.email), now).await?;
        txn.commit().await?;
        state.mail_wake().notify_one();
        Ok(())
    })
    .await?;
    tracing::info!("email change requested");
    Ok(())
}
