//! What each mail says. Plain text: a link scanner that follows a link
//! consumes nothing (the frontend's page posts the token), so the text says
//! to open the link, and what to do when the mail was not expected.

use super::Mail;

pub fn verify_email(to: &str, link: &str) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: "Confirm your email address".to_owned(),
        body: format!(
            "Open this link to confirm that this address is yours:\n\n{link}\n\n\
             The link works once and expires after a while. If you did not sign up, ignore this mail.\n"
        ),
    }
}

pub fn confirm_new_email(to: &str, link: &str) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: "Confirm your new email address".to_owned(),
        body: format!(
            "Open this link to make this address the one you sign in with:\n\n{link}\n\n\
             The link works once. If you did not ask for this, ignore this mail.\n"
        ),
    }
}

pub fn email_change_requested(to: &str) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: "Your email address is about to change".to_owned(),
        body: "Someone signed in to your account asked to move it to another email address. \
               Nothing changes until the link sent there is followed. If this was not you, \
               change your password now.\n"
            .to_owned(),
    }
}

pub fn reset_password(to: &str, link: &str) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: "Reset your password".to_owned(),
        body: format!(
            "Open this link to choose a new password:\n\n{link}\n\n\
             The link works once and expires after a while. If you did not ask for it, ignore this mail; \
             your password stays as it is.\n"
        ),
    }
}

pub fn password_changed(to: &str) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: "Your password was changed".to_owned(),
        body: "The password of your account was just changed. If this was not you, reset it \
               now with \"Forgot password\".\n"
            .to_owned(),
    }
}

// Passkeys: a notice to the account each time one is added or removed, so
// that someone who took over a session cannot add a way in unseen.

pub fn passkey_added(to: &str, name: Option<&str>) -> Mail {
    let which = name.map_or_else(String::new, |n| format!(" (\"{n}\")"));
    Mail {
        to: to.to_owned(),
        subject: "A passkey was added to your account".to_owned(),
        body: format!(
            "A passkey{which} was just added to your account: it can now sign in without a password. \
             If this was not you, remove it in your account's security settings and change your \
             password now.\n"
        ),
    }
}

pub fn passkey_removed(to: &str, name: Option<&str>) -> Mail {
    let which = name.map_or_else(String::new, |n| format!(" (\"{n}\")"));
    Mail {
        to: to.to_owned(),
        subject: "A passkey was removed from your account".to_owned(),
        body: format!(
            "A passkey{which} was just removed from your account: it can no longer sign in. \
             If this was not you, change your password now.\n"
        ),
    }
}
