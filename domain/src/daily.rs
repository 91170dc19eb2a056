//! Counting and summing per UTC day in the database, the same way on PostgreSQL and SQLite:
//! a statement written with `{day}` (the UTC day of its time column as `YYYY-MM-DD` text) and
//! `{1}`…`{4}` (its four parameters) becomes the backend's SQL. A leaf module.
use sea_orm::{DatabaseBackend, Statement, Value};

/// `sql` for `backend`: `{day}` is the UTC day of `time_col`, `{n}` the n-th of `params`.
pub(crate) fn statement(
    backend: DatabaseBackend,
    sql: &str,
    time_col: &str,
    params: [Value; 4],
) -> Statement {
    let (day, marks) = match backend {
        DatabaseBackend::Postgres => (
            format!("TO_CHAR({time_col} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
            ["$1", "$2", "$3", "$4"],
        ),
        // Timestamps are stored as RFC 3339 text in UTC: the day is its first ten characters.
        _ => (
            format!("substr({time_col}, 1, 10)"),
            ["?1", "?2", "?3", "?4"],
        ),
    };
    let sql = sql
        .replace("{day}", &day)
        .replace("{1}", marks[0])
        .replace("{2}", marks[1])
        .replace("{3}", marks[2])
        .replace("{4}", marks[3]);
    Statement::from_sql_and_values(backend, sql, params)
}
