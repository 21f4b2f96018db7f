//! How strongly a session proved who it is: the `amr` (authentication
//! methods) and `aal` (authenticator assurance level) of its tokens. A
//! session keeps the level it was opened or stepped up with (`session.aal`,
//! `session.amr`), and every token `refresh` issues for it carries it.

/// Authenticator assurance level (NIST SP 800-63B): one factor, or two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Aal {
    #[default]
    Aal1,
    Aal2,
}

impl Aal {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aal1 => "aal1",
            Self::Aal2 => "aal2",
        }
    }

    /// The claim's value; anything but `aal2` is the lowest level.
    pub fn from_claim(s: &str) -> Self {
        if s == "aal2" { Self::Aal2 } else { Self::Aal1 }
    }
}

/// The ways a session can have been opened, as RFC 8176 names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Assurance {
    /// A password alone: `["pwd"]`, `aal1`.
    #[default]
    Password,
    /// A password, then a TOTP code or a recovery code: `["pwd", "otp"]`, `aal2`.
    PasswordAndOtp,
    /// A passkey (user-verifying, hardware-bound key): `["hwk"]`, `aal2`.
    Passkey,
}

impl Assurance {
    pub fn aal(self) -> Aal {
        match self {
            Self::Password => Aal::Aal1,
            Self::PasswordAndOtp | Self::Passkey => Aal::Aal2,
        }
    }

    /// The `amr` claim's values.
    pub fn amr(self) -> &'static [&'static str] {
        match self {
            Self::Password => &["pwd"],
            Self::PasswordAndOtp => &["pwd", "otp"],
            Self::Passkey => &["hwk"],
        }
    }

    /// As stored in `session.amr`: the values, space-separated.
    pub fn column(self) -> &'static str {
        match self {
            Self::Password => "pwd",
            Self::PasswordAndOtp => "pwd otp",
            Self::Passkey => "hwk",
        }
    }

    /// From `session.amr`; what it does not know is the lowest level, so a
    /// bad value never raises a session.
    pub fn from_column(s: &str) -> Self {
        match s {
            "pwd otp" => Self::PasswordAndOtp,
            "hwk" => Self::Passkey,
            _ => Self::Password,
        }
    }

    /// `session.aal`'s value.
    pub fn aal_column(self) -> i16 {
        match self.aal() {
            Aal::Aal1 => 1,
            Aal::Aal2 => 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_alone_is_aal1_and_a_second_factor_or_a_passkey_aal2() {
        assert_eq!(Assurance::Password.aal(), Aal::Aal1);
        assert_eq!(Assurance::PasswordAndOtp.aal(), Aal::Aal2);
        assert_eq!(Assurance::Passkey.aal(), Aal::Aal2);
        for a in [
            Assurance::Password,
            Assurance::PasswordAndOtp,
            Assurance::Passkey,
        ] {
            assert_eq!(Assurance::from_column(a.column()), a);
            assert_eq!(Aal::from_claim(a.aal().as_str()), a.aal());
        }
        assert_eq!(Assurance::from_column("otp"), Assurance::Password);
        assert_eq!(Aal::from_claim("AAL2"), Aal::Aal1);
    }
}
