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

// Second factors: the authenticator app and recovery codes. Each change is
// mailed, so that someone who took over a session cannot add or remove one
// unseen.

pub fn totp_enabled(to: &str) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: "An authenticator app was added to your account".to_owned(),
        body: "An authenticator app was just added to your account: signing in now also asks \
               for a code from it. If this was not you, someone else can sign in to your \
               account: reset your password now with \"Forgot password\" and tell the site's \
               support.\n"
            .to_owned(),
    }
}

pub fn totp_disabled(to: &str) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: "The authenticator app was removed from your account".to_owned(),
        body: "The authenticator app was just removed from your account, with its recovery \
               codes: signing in asks for the password alone again. If this was not you, \
               reset your password now with \"Forgot password\".\n"
            .to_owned(),
    }
}

pub fn recovery_code_used(to: &str, left: u64) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: "A recovery code of your account was used".to_owned(),
        body: format!(
            "One of your recovery codes was just used in place of a code from your \
             authenticator app; {left} of them are left. If this was not you, reset your \
             password now with \"Forgot password\", and make new recovery codes.\n"
        ),
    }
}

pub fn recovery_codes_regenerated(to: &str) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: "New recovery codes were made for your account".to_owned(),
        body: "New recovery codes were just made for your account; the earlier ones no longer \
               work. If this was not you, reset your password now with \"Forgot password\".\n"
            .to_owned(),
    }
}

// Passkeys, likewise.

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
