//! The rate-limit group: how many attempts and mails the throttle lets
//! through per window, and the `COUNT/DURATION` form they are written in.

use std::str::FromStr;
use std::time::Duration;

use clap::Args;

use super::parse_duration;

#[derive(Debug, Clone, Copy, Args)]
pub struct RateLimits {
    /// Failed logins per account per window, then back-off (`COUNT/DURATION`).
    #[arg(
        long = "rate-limit-login-failures",
        env = "RATE_LIMIT_LOGIN_FAILURES",
        value_name = "RATE_LIMIT_LOGIN_FAILURES",
        default_value = "10/15m",
        global = true
    )]
    pub login_failures: RateLimit,

    /// Login + register + refresh attempts per client IP per window.
    #[arg(
        long = "rate-limit-auth-per-ip",
        env = "RATE_LIMIT_AUTH_PER_IP",
        value_name = "RATE_LIMIT_AUTH_PER_IP",
        default_value = "30/1m",
        global = true
    )]
    pub auth_per_ip: RateLimit,

    /// Mails per recipient address per window (and never more than one a minute).
    #[arg(
        long = "rate-limit-mail",
        env = "RATE_LIMIT_MAIL",
        value_name = "RATE_LIMIT_MAIL",
        default_value = "5/1h",
        global = true
    )]
    pub mail: RateLimit,

    /// Reports an account may file per window (`COUNT/DURATION`).
    #[arg(
        long = "report-limit",
        env = "REPORT_LIMIT",
        value_name = "REPORT_LIMIT",
        default_value = "10/1h",
        global = true
    )]
    pub reports: RateLimit,

    /// Uploads an account may make per window (`COUNT/DURATION`).
    #[arg(
        long = "upload-limit",
        env = "UPLOAD_LIMIT",
        value_name = "UPLOAD_LIMIT",
        default_value = "30/1h",
        global = true
    )]
    pub uploads: RateLimit,
}

/// `COUNT/DURATION`, e.g. `10/15m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u32,
    pub window: Duration,
}

impl FromStr for RateLimit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (count, window) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not COUNT/DURATION, e.g. 10/15m"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| format!("`{count}` is not a whole number"))?;
        if count == 0 {
            return Err("the count must be at least 1".into());
        }
        let window = parse_duration(window.trim())?;
        Ok(Self { count, window })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::parse;
    use super::*;

    #[test]
    fn rate_limits_parse_count_and_window() {
        let r: RateLimit = "10/15m".parse().unwrap();
        assert_eq!(r.count, 10);
        assert_eq!(r.window, Duration::from_secs(900));
        assert!("0/1m".parse::<RateLimit>().is_err());
        assert!("10".parse::<RateLimit>().is_err());
    }

    #[test]
    fn the_limits_default_to_the_contract_and_take_their_flags() {
        let limits = parse(&[]).unwrap().rate_limits;
        assert_eq!(limits.login_failures, "10/15m".parse().unwrap());
        assert_eq!(limits.auth_per_ip, "30/1m".parse().unwrap());
        assert_eq!(limits.mail, "5/1h".parse().unwrap());
        let set = parse(&["--rate-limit-mail", "3/1m"]).unwrap().rate_limits;
        assert_eq!(set.mail, "3/1m".parse().unwrap());
        assert!(parse(&["--rate-limit-auth-per-ip", "0/1m"]).is_err());
    }
}
