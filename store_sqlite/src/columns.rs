//! Rows read by column name, so a column added to or moved in a `SELECT`
//! can never shift which value lands where.
//!
//! rusqlite's `row.get("name")` asks SQLite for the result's column names
//! again at every call: for a row of many columns (a login reads fourteen)
//! that costs as much again as decoding it. [`Columns`] reads the names
//! once per statement; a row of a value or a few is read with rusqlite's
//! own `get("name")`.

use rusqlite::types::FromSql;
use rusqlite::{Row, Statement};

/// A statement's column names, in the order of a row's values.
pub(crate) struct Columns(Vec<String>);

impl Columns {
    pub fn of(stmt: &Statement<'_>) -> Self {
        Columns(stmt.column_names().into_iter().map(String::from).collect())
    }

    /// `row`, read through these names.
    pub fn on<'a>(&'a self, row: &'a Row<'a>) -> Named<'a> {
        Named { row, columns: self }
    }
}

/// One row, read by column name.
pub(crate) struct Named<'a> {
    row: &'a Row<'a>,
    columns: &'a Columns,
}

impl Named<'_> {
    /// Where `name` is in the row (for an error that names the column).
    pub fn index(&self, name: &str) -> rusqlite::Result<usize> {
        self.columns
            .0
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| rusqlite::Error::InvalidColumnName(name.into()))
    }

    pub fn get<T: FromSql>(&self, name: &str) -> rusqlite::Result<T> {
        self.row.get(self.index(name)?)
    }
}

#[cfg(test)]
mod tests {
    use super::Columns;
    use rusqlite::Connection;

    #[test]
    fn a_value_is_found_by_its_name_wherever_the_select_puts_it() {
        let conn = Connection::open_in_memory().unwrap();
        for sql in ["SELECT 1 AS a, 'two' AS b", "SELECT 'two' AS b, 1 AS a"] {
            let mut stmt = conn.prepare(sql).unwrap();
            let columns = Columns::of(&stmt);
            let (a, b): (i64, String) = stmt
                .query_row([], |r| {
                    let r = columns.on(r);
                    Ok((r.get("a")?, r.get("b")?))
                })
                .unwrap();
            assert_eq!((a, b.as_str()), (1, "two"));
        }
    }

    #[test]
    fn a_missing_column_is_an_error() {
        let conn = Connection::open_in_memory().unwrap();
        let mut stmt = conn.prepare("SELECT 1 AS a").unwrap();
        let columns = Columns::of(&stmt);
        let got = stmt.query_row([], |r| columns.on(r).get::<i64>("b"));
        assert!(matches!(got, Err(rusqlite::Error::InvalidColumnName(n)) if n == "b"));
    }
}
