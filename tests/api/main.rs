//! Black-box tests: the real app over HTTP on a fresh database each. They
//! run on SQLite, or on PostgreSQL / MariaDB when `TEST_DATABASE_URL` names a
//! server (each test then creates and drops its own database there).

mod abuse;
mod backfill;
mod common;
mod cutoff;
mod eddsa;
mod feed;
mod flow;
mod http;
mod inputs;
mod interactions;
mod limits;
mod live;
mod live_safety;
mod live_socket;
mod logs;
mod mail;
mod media_attach;
mod media_common;
mod media_inputs;
mod mfa_common;
mod mfa_gates;
mod mfa_lock;
mod mfa_signin;
mod mfa_totp;
mod mfa_totp_ops;
mod multi;
mod notifications;
mod ops;
mod otp;
mod outage;
mod passkeys;
mod reports;
mod reposts;
mod safety_graph;
mod safety_matrix;
mod safety_rows;
mod schema;
mod sessions;
mod smtp;
mod social;
mod statements;
mod threads;
mod tokens;
mod ws;
