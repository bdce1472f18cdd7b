//! Paging of the API's lists (`/sessions`, `/requests`, `/grants`, `/audit`): the query
//! parameters `limit`, `cursor`, `sort` and `order`, the opaque cursor, and the answer's
//! `X-Total-Count` and `X-Next-Cursor` headers. The body stays the JSON array it always was;
//! without `limit` a list answers as it did before paging (all rows; the audit log its
//! first 5000).
//!
//! A cursor is the last row's sort key and tie-breaker, with the list, sort, order and
//! filters it was made for, MACed with the web session key (shared by every node, so any
//! node takes another's cursor). A cursor that was altered, made for another list, another
//! sort or order, or other filters (another engineer's, say) is 400 `bad_cursor`: it can only
//! ever move within the list the caller is already allowed to read. The keyset query itself
//! is `crate::db`'s.

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::db::{KeyValue, Page, PageSpec, SortColumn};
use crate::web::error::{ApiCode, ApiError, ApiResult};
use crate::web::AppState;

/// The most rows one page holds.
pub const MAX_PAGE: i64 = 500;

/// Header: how many rows the filtered list has.
pub const TOTAL_HEADER: &str = "x-total-count";
/// Header: the cursor of the next page, only when there is one.
pub const NEXT_HEADER: &str = "x-next-cursor";

/// A list the API pages through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// `GET /sessions`.
    Sessions,
    /// `GET /requests`.
    Requests,
    /// `GET /grants`.
    Grants,
    /// `GET /audit`.
    Audit,
}

impl List {
    fn name(self) -> &'static str {
        match self {
            List::Sessions => "sessions",
            List::Requests => "requests",
            List::Grants => "grants",
            List::Audit => "audit",
        }
    }

    /// Every sort column, the default first.
    fn columns(self) -> &'static [SortColumn] {
        match self {
            List::Sessions => crate::db::SESSION_SORTS,
            List::Requests => crate::db::REQUEST_SORTS,
            List::Grants => crate::db::GRANT_SORTS,
            List::Audit => crate::db::AUDIT_SORTS,
        }
    }

    /// The names `sort=` takes (the OpenAPI document's enum).
    pub fn sort_names(self) -> &'static [&'static str] {
        match self {
            List::Sessions => &["started_at", "ended_at", "engineer", "target", "duration"],
            List::Requests => &["created_at", "engineer", "level", "state"],
            List::Grants => &["starts_at", "ends_at", "engineer", "target"],
            List::Audit => &["at", "actor", "action"],
        }
    }

    /// The list of an API path, if it pages.
    pub fn of_path(path: &str) -> Option<List> {
        match path {
            "/api/v1/sessions" => Some(List::Sessions),
            "/api/v1/requests" => Some(List::Requests),
            "/api/v1/grants" => Some(List::Grants),
            "/api/v1/audit" => Some(List::Audit),
            _ => None,
        }
    }
}

/// `limit`, `cursor`, `sort` and `order` as given.
#[derive(Debug, Default, Clone)]
pub struct PageParams {
    /// Rows per page.
    pub limit: Option<i64>,
    /// The previous page's `X-Next-Cursor`.
    pub cursor: Option<String>,
    /// A column name of the list.
    pub sort: Option<String>,
    /// `asc` or `desc`.
    pub order: Option<String>,
}

/// What the cursor of a page is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    list: List,
    sort: SortColumn,
    desc: bool,
    filters: String,
    /// The database's page.
    pub spec: PageSpec,
}

/// What a cursor carries.
#[derive(Serialize, Deserialize)]
struct CursorBody {
    /// List.
    l: String,
    /// Sort column.
    s: String,
    /// Descending.
    d: bool,
    /// Digest of the filters.
    f: String,
    /// Last row's key.
    k: KeyValue,
    /// Last row's tie-breaker.
    t: KeyValue,
}

/// The stable reason of a refused cursor.
fn bad_cursor(message: impl Into<String>) -> ApiError {
    ApiError::new(ApiCode::BadCursor, message)
}

const MAC_CONTEXT: &[u8] = b"menwei list cursor v1\0";
const MAC_BYTES: usize = 16;

fn mac(key: &[u8], body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    m.update(MAC_CONTEXT);
    m.update(body);
    Some(m)
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

/// A digest of the effective filters (name and value pairs, in a fixed order).
fn digest(filters: &[(&str, Option<String>)]) -> String {
    let mut h = Sha256::new();
    for (name, value) in filters {
        h.update(name.as_bytes());
        h.update([0]);
        match value {
            Some(v) => {
                h.update([1]);
                h.update(v.as_bytes());
            }
            None => h.update([0]),
        }
        h.update([0]);
    }
    hex::encode(h.finalize().get(..8).unwrap_or_default())
}

impl Paging {
    /// Checks `p` for `list` with its effective `filters`: unknown sort or order, a limit out
    /// of range are 400 `bad_input`; a cursor not made for exactly this is 400 `bad_cursor`.
    /// `default_limit` is the limit when none is given (`None`: all rows).
    pub fn new(
        state: &AppState,
        list: List,
        p: &PageParams,
        filters: &[(&str, Option<String>)],
        default_limit: Option<i64>,
        max_limit: i64,
    ) -> ApiResult<Paging> {
        let columns = list.columns();
        let sort = match p.sort.as_deref().filter(|s| !s.is_empty()) {
            None => columns
                .first()
                .copied()
                .ok_or_else(|| ApiError::unavailable("a list without sort columns"))?,
            Some(name) => columns
                .iter()
                .find(|c| c.name == name && list.sort_names().contains(&name))
                .copied()
                .ok_or_else(|| {
                    ApiError::new(
                        ApiCode::BadSort,
                        format!(
                            "sort {name:?}: {} sorts by {}",
                            list.name(),
                            list.sort_names().join(", ")
                        ),
                    )
                })?,
        };
        let desc = match p.order.as_deref().filter(|s| !s.is_empty()) {
            None => list != List::Audit,
            Some("desc") => true,
            Some("asc") => false,
            Some(other) => {
                return Err(ApiError::bad_input(format!(
                    "order {other:?}: expected asc or desc"
                )))
            }
        };
        let limit = match p.limit {
            None => default_limit,
            Some(l) if (1..=max_limit).contains(&l) => Some(l),
            Some(l) => {
                return Err(ApiError::bad_input(format!(
                    "limit {l}: a page holds 1 to {max_limit} rows"
                )))
            }
        };
        let mut paging = Paging {
            list,
            sort,
            desc,
            filters: digest(filters),
            spec: PageSpec {
                sort,
                desc,
                after: None,
                limit,
            },
        };
        if let Some(cursor) = p.cursor.as_deref().filter(|c| !c.is_empty()) {
            paging.spec.after = Some(paging.open(state, cursor)?);
        }
        Ok(paging)
    }

    fn open(&self, state: &AppState, cursor: &str) -> ApiResult<(KeyValue, KeyValue)> {
        let forged =
            || bad_cursor("the cursor is not one this gateway gave out; start again without it");
        let (body, tag) = cursor.split_once('.').ok_or_else(forged)?;
        let body = b64().decode(body).map_err(|_| forged())?;
        let tag = b64().decode(tag).map_err(|_| forged())?;
        let m = mac(state.key.as_slice(), &body).ok_or_else(forged)?;
        if tag.len() != MAC_BYTES || m.verify_truncated_left(&tag).is_err() {
            return Err(forged());
        }
        let c: CursorBody = serde_json::from_slice(&body).map_err(|_| forged())?;
        if c.l != self.list.name() {
            return Err(bad_cursor(format!(
                "the cursor belongs to the {} list, not {}",
                c.l,
                self.list.name()
            )));
        }
        if c.s != self.sort.name || c.d != self.desc || c.f != self.filters {
            return Err(bad_cursor(
                "the cursor was made for another sort, order or filter; start again without it",
            ));
        }
        let typed = |v: &KeyValue, text: bool| {
            matches!(
                (v, text),
                (KeyValue::Text(_), true) | (KeyValue::Int(_), false)
            )
        };
        if !typed(&c.k, self.sort.text) {
            return Err(forged());
        }
        Ok((c.k, c.t))
    }

    fn cursor(&self, state: &AppState, key: &KeyValue, tie: &KeyValue) -> ApiResult<String> {
        let body = serde_json::to_vec(&CursorBody {
            l: self.list.name().to_string(),
            s: self.sort.name.to_string(),
            d: self.desc,
            f: self.filters.clone(),
            k: key.clone(),
            t: tie.clone(),
        })
        .map_err(ApiError::unavailable)?;
        let m = mac(state.key.as_slice(), &body)
            .ok_or_else(|| ApiError::unavailable("cannot key the cursor"))?;
        let tag = m.finalize().into_bytes();
        Ok(format!(
            "{}.{}",
            b64().encode(&body),
            b64().encode(tag.get(..MAC_BYTES).unwrap_or_default())
        ))
    }

    /// The answer: `rows` as the JSON array, with the total and the next page's cursor.
    pub fn answer<T>(
        &self,
        state: &AppState,
        page: &Page<T>,
        rows: Vec<Value>,
    ) -> ApiResult<Response> {
        let mut resp = Json(Value::Array(rows)).into_response();
        let h = resp.headers_mut();
        h.insert(TOTAL_HEADER, HeaderValue::from(page.total));
        if let Some((key, tie)) = &page.next {
            let cursor = self.cursor(state, key, tie)?;
            h.insert(
                NEXT_HEADER,
                HeaderValue::from_str(&cursor).map_err(ApiError::unavailable)?,
            );
        }
        Ok(resp)
    }
}

/// A filter parameter: absent and empty both mean any.
pub fn given(v: &Option<String>) -> Option<String> {
    v.clone().filter(|s| !s.is_empty())
}
