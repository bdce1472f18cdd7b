//! Paging, sorting and filtering of the API's lists (`limit`, `cursor`, `sort`, `order`,
//! `X-Total-Count`, `X-Next-Cursor`) on both databases: 500 sessions walked page by page in
//! every sort both ways against the same list sorted here; a cursor altered, taken to
//! another list, sort or filter refused `bad_cursor`; an engineer paging requests and grants
//! sees only their own, and another engineer's cursor is refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use menwei_e2e::*;
use serde_json::{json, Value};

/// One answer: status, body, the total and the next cursor.
struct Got {
    status: u16,
    body: Value,
    total: Option<i64>,
    next: Option<String>,
}

fn get(gw: &Gateway, token: &str, path: &str) -> Got {
    let r = gw.api_get(token, path);
    let status = r.status().as_u16();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let total = header("x-total-count").map(|t| t.parse().unwrap());
    let next = header("x-next-cursor");
    let bytes = r.bytes().unwrap();
    assert_no_leak(&bytes, &format!("GET {path}"));
    Got {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        total,
        next,
    }
}

fn post(gw: &Gateway, token: &str, path: &str, body: Value) -> Value {
    let r = https_client(None)
        .post(format!("https://127.0.0.1:{}/api/v1{path}", gw.https_port))
        .bearer_auth(token)
        .json(&body)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "POST {path}: {}", r.status());
    r.json().unwrap()
}

fn code(g: &Got) -> (u16, String) {
    (
        g.status,
        g.body["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// Every page of `path` (which has its own `?`), `limit` rows at a time: the ids in order,
/// checking each page's total against `total`.
fn walk(gw: &Gateway, token: &str, path: &str, limit: usize, total: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..=total / limit + 1 {
        let mut p = format!("{path}&limit={limit}");
        if let Some(c) = &cursor {
            p.push_str(&format!("&cursor={c}"));
        }
        let g = get(gw, token, &p);
        assert_eq!(g.status, 200, "GET {p}: {}", g.body);
        assert_eq!(g.total, Some(total as i64), "X-Total-Count of {p}");
        let page = ids(&g.body);
        assert!(page.len() <= limit, "{p} gave {} rows", page.len());
        out.extend(page.clone());
        match g.next {
            Some(c) => {
                assert_eq!(page.len(), limit, "a page before the last is full ({p})");
                cursor = Some(c);
            }
            None => return out,
        }
    }
    panic!("{path}: more pages than {total} rows need");
}

/// A session as inserted.
#[derive(Clone)]
struct Row {
    id: String,
    engineer: String,
    target: String,
    started: i64,
    ended: Option<i64>,
}

const OPEN: i64 = i64::MAX;

fn key(r: &Row, sort: &str) -> (Option<i64>, Option<String>) {
    match sort {
        "started_at" => (Some(r.started), None),
        "ended_at" => (Some(r.ended.unwrap_or(OPEN)), None),
        "duration" => (Some(r.ended.map_or(OPEN, |e| e - r.started)), None),
        "engineer" => (None, Some(r.engineer.clone())),
        "target" => (None, Some(r.target.clone())),
        other => panic!("no sort {other}"),
    }
}

/// 500 sessions straight into the database: five engineers, seven targets, start instants
/// with ties (several per millisecond), one in nine still live, ids not in time order.
fn five_hundred_sessions(gw: &Gateway) -> Vec<Row> {
    let base = 1_780_000_000_000i64;
    let rows: Vec<Row> = (0..500i64)
        .map(|i| {
            let started = base + (i / 3) * 60_000;
            Row {
                id: format!("s-{:04x}", (i * 7919) % 65536),
                engineer: format!("eng-{}", (b'a' + (i % 5) as u8) as char),
                target: format!("t{}", (i * 3) % 7),
                started,
                ended: (i % 9 != 0).then_some(started + ((i * 37) % 50 + 1) * 1000),
            }
        })
        .collect();
    assert_eq!(
        rows.iter().map(|r| &r.id).collect::<BTreeSet<_>>().len(),
        500
    );
    let values: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "('{}', '{}', '{}', 'g-none', {}, {}, {}, 'node-1')",
                r.id,
                r.engineer,
                r.target,
                r.started,
                r.ended.map_or("NULL".into(), |e| e.to_string()),
                if r.ended.is_some() {
                    "'closed'"
                } else {
                    "NULL"
                },
            )
        })
        .collect();
    let out = gw.sql(&format!(
        "INSERT INTO sessions (id, engineer, target, grant_id, started_at, ended_at, end_reason, node) VALUES {}",
        values.join(", ")
    ));
    assert!(out.success(), "inserting sessions: {out}");
    rows
}

both_databases! {
    fn five_hundred_sessions_page_in_every_sort_without_gaps_or_repeats(db) {
        let w = World::with(db, WorldOpts { grant_for: None, ..WorldOpts::default() });
        let gw = &w.gw;
        gw.add_user("audrey", "auditor");
        let rows = five_hundred_sessions(gw);
        let auditor = gw.token("audrey");

        // Without limit: the whole list, newest first, as before paging.
        let all = get(gw, &auditor, "/sessions");
        assert_eq!(all.status, 200);
        assert_eq!(ids(&all.body).len(), 500);
        assert_eq!(all.total, Some(500));
        assert_eq!(all.next, None);
        let started: Vec<&str> = all.body.as_array().unwrap().iter().map(|s| s["started_at"].as_str().unwrap()).collect();
        assert!(started.windows(2).all(|p| p[0] >= p[1]), "not newest first");

        for sort in ["started_at", "ended_at", "engineer", "target", "duration"] {
            for order in ["asc", "desc"] {
                let got = walk(gw, &auditor, &format!("/sessions?sort={sort}&order={order}"), 50, 500);
                assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), 500, "{sort} {order}: a row came twice");
                let mut want = rows.clone();
                want.sort_by(|a, b| key(a, sort).cmp(&key(b, sort)).then_with(|| a.id.cmp(&b.id)));
                if order == "desc" {
                    want.reverse();
                }
                let want: Vec<String> = want.into_iter().map(|r| r.id).collect();
                assert_eq!(got, want, "sessions sorted by {sort} {order}");
            }
        }

        // Filters hold across pages, and the total counts what they keep.
        let bs: BTreeSet<String> = rows.iter().filter(|r| r.engineer == "eng-b" && r.ended.is_none()).map(|r| r.id.clone()).collect();
        let got = walk(gw, &auditor, "/sessions?engineer=eng-b&live=true&sort=target", 4, bs.len());
        assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), bs);

        // Rows inserted between pages neither repeat nor push others out.
        let first = get(gw, &auditor, "/sessions?limit=50&sort=started_at&order=asc");
        gw.sql("INSERT INTO sessions (id, engineer, target, grant_id, started_at, node) VALUES ('s-new', 'eng-a', 't1', 'g-none', 1, 'node-1')");
        let second = get(gw, &auditor, &format!("/sessions?limit=50&sort=started_at&order=asc&cursor={}", first.next.unwrap()));
        assert_eq!(second.total, Some(501));
        let mut want: Vec<Row> = rows.clone();
        want.sort_by(|a, b| a.started.cmp(&b.started).then_with(|| a.id.cmp(&b.id)));
        let want: Vec<String> = want[50..100].iter().map(|r| r.id.clone()).collect();
        assert_eq!(ids(&second.body), want);
    }

    fn a_cursor_is_good_only_for_the_list_sort_and_filters_it_came_from(db) {
        let w = World::with(db, WorldOpts { grant_for: None, ..WorldOpts::default() });
        let gw = &w.gw;
        gw.add_user("audrey", "auditor");
        five_hundred_sessions(gw);
        let auditor = gw.token("audrey");
        let page = get(gw, &auditor, "/sessions?limit=10&sort=engineer");
        let cursor = page.next.unwrap();
        assert_eq!(get(gw, &auditor, &format!("/sessions?limit=10&sort=engineer&cursor={cursor}")).status, 200);

        let audit = get(gw, &auditor, "/audit?limit=1");
        assert_eq!(audit.status, 200);
        let audit_cursor = audit.next.expect("the audit log has more than one entry");
        let mut tampered = cursor.clone().into_bytes();
        tampered[3] = if tampered[3] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        for (path, why) in [
            (format!("/sessions?limit=10&sort=engineer&cursor={audit_cursor}"), "the audit log's cursor"),
            (format!("/sessions?limit=10&sort=engineer&cursor={tampered}"), "an altered cursor"),
            (format!("/sessions?limit=10&sort=engineer&cursor={}", cursor.replace('.', "")), "a cursor without its tag"),
            ("/sessions?limit=10&sort=engineer&cursor=not-a-cursor".to_string(), "a made-up cursor"),
            (format!("/sessions?limit=10&sort=target&cursor={cursor}"), "another sort"),
            (format!("/sessions?limit=10&sort=engineer&order=asc&cursor={cursor}"), "another order"),
            (format!("/sessions?limit=10&sort=engineer&engineer=eng-a&cursor={cursor}"), "another filter"),
            (format!("/audit?limit=1&cursor={cursor}"), "the sessions' cursor on the audit log"),
        ] {
            assert_eq!(code(&get(gw, &auditor, &path)), (400, "bad_cursor".to_string()), "{why}: {path}");
        }
        assert_eq!(code(&get(gw, &auditor, "/sessions?sort=client_addr")), (400, "bad_sort".to_string()));
        assert_eq!(code(&get(gw, &auditor, "/audit?sort=hash")), (400, "bad_sort".to_string()));
        for bad in ["/sessions?limit=0", "/sessions?limit=501", "/sessions?order=sideways"] {
            assert_eq!(code(&get(gw, &auditor, bad)), (400, "bad_input".to_string()), "{bad}");
        }
        // The audit log pages too, oldest first, filtered by action family.
        let grants = get(gw, &auditor, "/audit?action=user&limit=1");
        assert_eq!(grants.body[0]["action"].as_str().unwrap().split('.').next(), Some("user"));
        let next = get(gw, &auditor, &format!("/audit?action=user&limit=1&cursor={}", grants.next.unwrap()));
        assert!(next.body[0]["seq"].as_i64() > grants.body[0]["seq"].as_i64());
        assert_eq!(next.total, grants.total);
    }

    fn an_engineer_pages_through_only_their_own_requests_and_grants(db) {
        let w = World::with(db, WorldOpts { grant_for: None, config: WEB_GROUP, ..WorldOpts::default() });
        let gw = &w.gw;
        gw.add_user("erin", "engineer");
        let (alice, erin, bob) = (gw.token("alice"), gw.token("erin"), gw.token("bob"));
        let file = |token: &str, incident: &str, level: &str| {
            post(gw, token, "/requests", json!({"targets": ["web01"], "reason": "disk", "incident": incident, "level": level, "duration": "30m"}))["id"].as_str().unwrap().to_string()
        };
        let mine: BTreeSet<String> = (0..3).map(|i| file(&alice, &format!("INC-{i}"), "C")).collect();
        let theirs: BTreeSet<String> = (0..3).map(|i| file(&erin, &format!("INC-{i}"), "B")).collect();
        let my_grants: BTreeSet<String> = (0..3).map(|_| gw.grant("alice", "web01", "1h")).collect();
        let their_grants: BTreeSet<String> = (0..3).map(|_| gw.grant("erin", "web01", "1h")).collect();

        let got: BTreeSet<String> = walk(gw, &alice, "/requests?sort=created_at", 1, 3).into_iter().collect();
        assert_eq!(got, mine);
        let got: BTreeSet<String> = walk(gw, &alice, "/grants?sort=ends_at", 1, 3).into_iter().collect();
        assert_eq!(got, my_grants);
        // The approver pages through all of them, filtered.
        let got: BTreeSet<String> = walk(gw, &bob, "/requests?level=B&target=web01", 2, 3).into_iter().collect();
        assert_eq!(got, theirs);
        let got: BTreeSet<String> = walk(gw, &bob, "/grants?engineer=erin&sort=engineer", 2, 3).into_iter().collect();
        assert_eq!(got, their_grants);
        assert_eq!(walk(gw, &bob, "/requests?incident=INC-1", 5, 2).len(), 2);

        // Erin's cursors and names get alice nothing of erin's.
        let erins = get(gw, &erin, "/requests?limit=1").next.unwrap();
        assert_eq!(code(&get(gw, &alice, &format!("/requests?limit=1&cursor={erins}"))), (400, "bad_cursor".to_string()));
        let erins = get(gw, &erin, "/grants?limit=1").next.unwrap();
        assert_eq!(code(&get(gw, &alice, &format!("/grants?limit=1&cursor={erins}"))), (400, "bad_cursor".to_string()));
        assert_eq!(code(&get(gw, &alice, "/requests?limit=1&engineer=erin")).0, 403);
        assert_eq!(code(&get(gw, &alice, "/grants?limit=1&engineer=erin")).0, 403);
        for path in ["/requests?limit=500", "/grants?limit=500&sort=target", "/requests?limit=2&incident=INC-1"] {
            let g = get(gw, &alice, path);
            let seen: BTreeSet<String> = ids(&g.body).into_iter().collect();
            assert!(seen.is_disjoint(&theirs) && seen.is_disjoint(&their_grants), "alice's {path} shows erin's rows");
            assert!(!g.body.to_string().contains("erin"), "alice's {path}: {}", g.body);
        }
    }
}
