//! Telling apart the database errors a service answers as something other
//! than an internal error: a row that exists already, a row referred to that
//! is gone.

use sea_orm::{DbErr, SqlErr};

/// Whether `e` is a unique-index violation (a row that exists already).
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Whether `e` is a foreign-key violation (the row referred to is gone).
pub fn is_foreign_key_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_)))
}
