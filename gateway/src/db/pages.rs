//! Keyset pages: one list query (sessions, requests, grants, the audit log) cut into pages
//! by its sort key and a unique tie-breaker, `WHERE (key, tie) after the last row's ORDER BY
//! key, tie LIMIT n`, so a page costs the same on the first day and after a year, and rows
//! inserted meanwhile neither repeat nor hide others. Also the count of the whole filtered
//! list. The lists themselves (their filters and sort columns) are `lists.rs`; turning the
//! last row into an opaque cursor is the web API's job.
//!
//! Text keys compare byte-wise on both databases (PostgreSQL's default collation would
//! order by locale, SQLite's by bytes), so a page boundary means the same on either.

use serde::{Deserialize, Serialize};

use super::*;

/// A sort key's or tie-breaker's value, as a cursor carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyValue {
    /// A number (instants, durations, the audit log's seq).
    Int(i64),
    /// Text (names, ids, states).
    Text(String),
}

/// One column a list can be sorted by: its SQL expression (never NULL) and its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortColumn {
    /// The name the API takes in `sort=`.
    pub name: &'static str,
    /// The SQL expression, never NULL (missing values are mapped to a sentinel).
    pub expr: &'static str,
    /// Whether it is text (else a 64-bit integer).
    pub text: bool,
}

/// Stands for "not yet" in a nullable instant's sort key (a live session's end): later than
/// any real instant, so open rows sort as the newest.
pub const OPEN_END: i64 = 9_000_000_000_000_000;

/// Which page of a list: sorted by what, which way, after which row, how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSpec {
    /// The sort key.
    pub sort: SortColumn,
    /// Descending (else ascending); the tie-breaker goes the same way.
    pub desc: bool,
    /// The last row of the previous page (its key and tie-breaker), if any.
    pub after: Option<(KeyValue, KeyValue)>,
    /// At most this many rows; `None` for all of them.
    pub limit: Option<i64>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// Its rows, in order.
    pub rows: Vec<T>,
    /// How many rows the whole list has (with its filters, without the page's cut).
    pub total: i64,
    /// The last row's key and tie-breaker, when another page follows.
    pub next: Option<(KeyValue, KeyValue)>,
}

/// A list's `WHERE` clauses and their values, numbered `$1, $2, …` in order.
#[derive(Debug, Default, Clone)]
pub(super) struct Filters {
    clauses: Vec<String>,
    values: Vec<KeyValue>,
}

impl Filters {
    /// Adds `sql`, whose `?`s take `values` in order.
    pub(super) fn clause(&mut self, sql: &str, values: Vec<KeyValue>) {
        let mut out = String::with_capacity(sql.len() + 8);
        let mut n = self.values.len();
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                out.push_str(&format!("${n}"));
            } else {
                out.push(c);
            }
        }
        self.clauses.push(out);
        self.values.extend(values);
    }

    /// `expr = value`, when there is a value.
    pub(super) fn eq(&mut self, expr: &str, value: &Option<String>) {
        if let Some(v) = value {
            self.clause(&format!("{expr} = ?"), vec![KeyValue::Text(v.clone())]);
        }
    }

    fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    fn bind<'q>(
        &'q self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        for v in &self.values {
            q = match v {
                KeyValue::Int(i) => q.bind(*i),
                KeyValue::Text(t) => q.bind(t.as_str()),
            };
        }
        q
    }
}

/// `text` with the wildcards of a `LIKE` pattern escaped (for `ESCAPE '\'`).
pub(super) fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A `LIKE` pattern matching `text` anywhere (for `ESCAPE '\'`).
pub(super) fn contains_pattern(text: &str) -> String {
    format!("%{}%", like_escaped(text))
}

impl Db {
    /// `expr` as it is compared and ordered: byte-wise for text on PostgreSQL too.
    fn keyed(&self, c: SortColumn) -> String {
        if c.text && self.postgres {
            format!("({}) COLLATE \"C\"", c.expr)
        } else {
            format!("({})", c.expr)
        }
    }

    /// One page of `select` (`SELECT columns FROM tables`, no `WHERE`) with `filters`, by
    /// `spec.sort` then `tie` (unique), and the count of the filtered list; `what` names
    /// the list in errors.
    pub(super) async fn page(
        &self,
        select: &str,
        mut filters: Filters,
        spec: &PageSpec,
        tie: SortColumn,
        what: &str,
    ) -> Result<Page<AnyRow>, DbError> {
        let Some(from_at) = select.find(" FROM ") else {
            return Err(DbError::Invalid(format!(
                "list query of {what} has no FROM"
            )));
        };
        let (columns, from) = select.split_at(from_at);
        let count_sql = format!("SELECT COUNT(*) AS n{from}{}", filters.where_sql());
        let row = filters
            .bind(sqlx::query(&count_sql))
            .fetch_one(&self.pool)
            .await
            .map_err(DbError::query(format!("counting {what}")))?;
        let total: i64 = get(&row, "n")?;

        let key = self.keyed(spec.sort);
        let tie_key = self.keyed(tie);
        let (op, dir) = if spec.desc {
            ("<", "DESC")
        } else {
            (">", "ASC")
        };
        if let Some((k, t)) = &spec.after {
            filters.clause(
                &format!("({key} {op} ? OR ({key} = ? AND {tie_key} {op} ?))"),
                vec![k.clone(), k.clone(), t.clone()],
            );
        }
        let mut sql = format!(
            "{columns}, {key} AS page_key, {tie_key} AS page_tie{from}{} ORDER BY {key} {dir}, {tie_key} {dir}",
            filters.where_sql()
        );
        if let Some(limit) = spec.limit {
            // One more than asked: whether another page follows.
            filters.values.push(KeyValue::Int(limit.saturating_add(1)));
            sql.push_str(&format!(" LIMIT ${}", filters.values.len()));
        }
        let mut rows = filters
            .bind(sqlx::query(&sql))
            .fetch_all(&self.pool)
            .await
            .map_err(DbError::query(format!("listing {what}")))?;
        let more = spec
            .limit
            .is_some_and(|l| i64::try_from(rows.len()).unwrap_or(i64::MAX) > l);
        if more {
            rows.pop();
        }
        let next = match rows.last() {
            Some(last) if more => Some((
                key_of(last, "page_key", spec.sort.text)?,
                key_of(last, "page_tie", tie.text)?,
            )),
            _ => None,
        };
        Ok(Page { rows, total, next })
    }
}

fn key_of(row: &AnyRow, col: &str, text: bool) -> Result<KeyValue, DbError> {
    Ok(if text {
        KeyValue::Text(get(row, col)?)
    } else {
        KeyValue::Int(get(row, col)?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_across_clauses() {
        let mut f = Filters::default();
        f.eq("engineer", &Some("alice".into()));
        f.eq("target", &None);
        f.clause(
            "(at >= ? AND at < ?)",
            vec![KeyValue::Int(1), KeyValue::Int(2)],
        );
        assert_eq!(
            f.where_sql(),
            " WHERE engineer = $1 AND (at >= $2 AND at < $3)"
        );
        assert_eq!(f.values.len(), 3);
    }

    #[test]
    fn like_patterns_escape_their_wildcards() {
        assert_eq!(contains_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
