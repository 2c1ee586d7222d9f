//! How a database failure becomes a domain error: unreachable or overloaded → `Unavailable`
//! (retryable), anything else → `Internal`. The database's own text goes to the logs only.

use std::ops::Deref;

use sea_orm::{DbErr, RuntimeErr};

use crate::domain::Error;

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        if is_unavailable(&err) {
            Self::Unavailable(err.to_string())
        } else {
            Self::Internal(err.to_string())
        }
    }
}

fn is_unavailable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            is_unavailable_sqlx(e.deref())
        }
        _ => false,
    }
}

fn is_unavailable_sqlx(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| is_unavailable_code(&code)),
        _ => false,
    }
}

/// Whether SQLite refused `err` because another connection held the lock (SQLITE_BUSY).
pub(super) fn is_busy(err: &DbErr) -> bool {
    let sqlx = match err {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => e.deref(),
        _ => return false,
    };
    matches!(sqlx, sqlx::Error::Database(db)
        if db.code().and_then(|code| code.parse::<i32>().ok()).is_some_and(|c| c & 0xff == 5))
}

/// SQLSTATEs (PostgreSQL) and result codes (SQLite) that mean "try again later", not "bug".
fn is_unavailable_code(code: &str) -> bool {
    // PostgreSQL: class 08 connection exception, 53 insufficient resources, 57P0x shutdown /
    // cannot connect now, 40001/40P01 serialization failure and deadlock.
    code.starts_with("08")
        || code.starts_with("53")
        || matches!(code, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
        // SQLite: SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes.
        || code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_and_busy_codes_are_unavailable() {
        for code in ["08006", "08001", "53300", "57P01", "57P03", "40001", "5", "261", "6", "517"] {
            assert!(is_unavailable_code(code), "{code}");
        }
        for code in ["23505", "42P01", "1", "19", "2067"] {
            assert!(!is_unavailable_code(code), "{code}");
        }
    }

    #[test]
    fn acquire_timeouts_are_unavailable_and_type_errors_are_internal() {
        let acquire = DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout);
        assert!(matches!(Error::from(acquire), Error::Unavailable(_)));
        assert!(matches!(Error::from(DbErr::Type("x".into())), Error::Internal(_)));
    }
}
