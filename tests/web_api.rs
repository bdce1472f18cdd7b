//! The REST API end to end: the real binary over HTTPS (its self-signed certificate),
//! every endpoint called as every role, an API token and nobody; CSRF, forged and expired
//! logins, malformed and oversize bodies, path-like ids, login throttling; and an approver
//! approving through the API after which the engineer's `ssh` works.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use menwei_e2e::*;
use reqwest::blocking::{Client, Response};
use reqwest::Method;
use serde_json::{json, Value};

/// One caller of the API: a cookie-holding client and, after login, its CSRF token.
struct Api {
    base: String,
    http: Client,
    csrf: Option<String>,
    bearer: Option<String>,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
    /// Everything this caller receives is checked for target addresses: engineers and
    /// callers not logged in (who may be anyone, engineers included).
    engineer_visible: bool,
}

/// An answer of the API, read whole (so that it can be checked for leaks first).
struct Answer {
    status: reqwest::StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn status(&self) -> reqwest::StatusCode {
        self.status
    }

    fn headers(&self) -> &reqwest::header::HeaderMap {
        &self.headers
    }

    fn json(&self) -> serde_json::Result<Value> {
        serde_json::from_slice(&self.body)
    }

    fn text(&self) -> Result<String, std::convert::Infallible> {
        Ok(String::from_utf8_lossy(&self.body).into_owned())
    }

    fn bytes(&self) -> Result<Vec<u8>, std::convert::Infallible> {
        Ok(self.body.clone())
    }
}

impl Api {
    fn new(gw: &Gateway) -> Api {
        Api::from_address(gw, "127.0.0.1")
    }

    /// A client whose connections come from `ip` (any 127.0.0.0/8 address is this machine).
    fn from_address(gw: &Gateway, ip: &str) -> Api {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        Api {
            base: format!("https://127.0.0.1:{}", gw.https_port),
            jar: jar.clone(),
            http: Client::builder()
                .danger_accept_invalid_certs(true)
                .cookie_provider(jar)
                .local_address(ip.parse::<std::net::IpAddr>().unwrap())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            csrf: None,
            bearer: None,
            engineer_visible: true,
        }
    }

    fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut r = self
            .http
            .request(method.clone(), format!("{}/api/v1{path}", self.base));
        if let Some(c) = &self.csrf {
            r = r.header("X-CSRF-Token", c);
        }
        if let Some(b) = &self.bearer {
            r = r.bearer_auth(b);
        }
        if let Some(b) = body {
            r = r.json(&b);
        } else if method == Method::POST {
            r = r.json(&json!({}));
        }
        let r = r.send().unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        // An event stream never ends: its status is the answer here ([`EventReader`] reads
        // one for what it carries).
        let streaming = r
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"));
        let body = if streaming {
            Vec::new()
        } else {
            r.bytes().unwrap().to_vec()
        };
        if self.engineer_visible {
            assert_no_leak(&body, &format!("API answer to {method} {path}"));
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    /// The session cookies this client holds, as a `Cookie` header.
    fn cookie_header(&self) -> String {
        use reqwest::cookie::CookieStore;
        let url: reqwest::Url = self.base.parse().unwrap();
        self.jar
            .cookies(&url)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }

    fn login(&mut self, user: &str, totp: Option<&str>) -> Answer {
        let r = self.call(
            Method::POST,
            "/login",
            Some(json!({"user": user, "password": WEB_PASSWORD, "totp": totp})),
        );
        if r.status() == 200 {
            let v: Value = r.json().unwrap();
            self.csrf = Some(v["csrf"].as_str().unwrap().to_string());
            return self.call(Method::GET, "/me", None);
        }
        r
    }
}

/// Sets a password for `name` and, for roles that need it, enrolls TOTP; returns the secret.
fn web_user(gw: &Gateway, name: &str) -> Option<Vec<u8>> {
    gw.cli_with(
        &["user", "passwd", name],
        Stdin::Bytes(format!("{WEB_PASSWORD}\n").into_bytes()),
    )
    .ok();
    // Every role's web login asks for a code by default.
    Some(gw.enroll_totp(name))
}

fn logged_in(gw: &Gateway, name: &str, secret: &Option<Vec<u8>>) -> Api {
    let mut api = Api::new(gw);
    let code = secret.as_ref().map(|_| gw.totp_code(name));
    let r = api.login(name, code.as_deref());
    assert_eq!(
        r.status(),
        200,
        "login as {name}: {}",
        r.text().unwrap_or_default()
    );
    api
}

/// Status and JSON error code of an answer (or of a raw response, for hand-made requests).
fn error_code(r: impl Into<Answer>) -> (u16, String) {
    let r: Answer = r.into();
    let status = r.status().as_u16();
    let v: Value = r.json().unwrap_or(Value::Null);
    (
        status,
        v["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

impl From<Response> for Answer {
    fn from(r: Response) -> Answer {
        Answer {
            status: r.status(),
            headers: r.headers().clone(),
            body: r.bytes().map(|b| b.to_vec()).unwrap_or_default(),
        }
    }
}

/// An `/events` stream read in the background as it arrives.
struct EventReader {
    text: std::sync::Arc<std::sync::Mutex<String>>,
}

impl EventReader {
    fn open(api: &Api) -> EventReader {
        use std::io::Read;
        let http = Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let mut r = http
            .get(format!("{}/api/v1/events", api.base))
            .header("Cookie", api.cookie_header())
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = text.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        EventReader { text }
    }

    /// Everything received once `needle` has arrived (deadline 30 s).
    fn until(&mut self, needle: &str) -> String {
        let text = self.text.clone();
        wait_until(&format!("{needle} in the event stream"), SHORT, || {
            let t = text.lock().unwrap().clone();
            t.contains(needle).then_some(t)
        })
    }
}

struct Desk {
    w: World,
    engineer: Api,
    approver: Api,
    auditor: Api,
    admin: Api,
    token: Api,
    nobody: Api,
}

fn desk(db: Db) -> Desk {
    let w = World::with(
        db,
        WorldOpts {
            grant_for: None,
            config: WEB_GROUP,
            ..WorldOpts::default()
        },
    );
    let gw = &w.gw;
    gw.add_user("audrey", "auditor");
    gw.add_user("adam", "admin");
    let secrets: Vec<Option<Vec<u8>>> = ["alice", "bob", "audrey", "adam"]
        .iter()
        .map(|n| web_user(gw, n))
        .collect();
    let engineer = logged_in(gw, "alice", &secrets[0]);
    let seen_by_staff = |mut api: Api| {
        api.engineer_visible = false;
        api
    };
    let approver = seen_by_staff(logged_in(gw, "bob", &secrets[1]));
    let auditor = seen_by_staff(logged_in(gw, "audrey", &secrets[2]));
    let admin = seen_by_staff(logged_in(gw, "adam", &secrets[3]));
    let secret = gw.token("bob");
    let mut token = seen_by_staff(Api::new(gw));
    token.bearer = Some(secret);
    let nobody = Api::new(gw);
    Desk {
        engineer,
        approver,
        auditor,
        admin,
        token,
        nobody,
        w,
    }
}

both_databases! {
    fn every_endpoint_answers_every_role_as_the_table_says(db) {
        let d = desk(db);
        let file = json!({"targets": ["web01"], "reason": "disk full", "incident": "INC-7", "level": "B", "duration": "30m"});
        // (method, path, body, [engineer, approver, auditor, admin]) with the status each gets;
        // the token acts as bob (approver), nobody always gets 401.
        let table: Vec<(Method, &str, Option<Value>, [u16; 4])> = vec![
            (Method::GET, "/me", None, [200, 200, 200, 200]),
            (Method::GET, "/requests", None, [200, 200, 200, 403]),
            (Method::GET, "/requests?limit=1&sort=level&order=asc", None, [200, 200, 200, 403]),
            (Method::GET, "/requestable", None, [200, 403, 403, 403]),
            (Method::POST, "/requests", Some(file.clone()), [201, 403, 403, 403]),
            (Method::GET, "/requests/r-nosuch", None, [404, 404, 404, 403]),
            (Method::POST, "/requests/r-nosuch/withdraw", None, [404, 403, 403, 403]),
            (Method::POST, "/requests/r-nosuch/approve", Some(json!({})), [403, 404, 403, 403]),
            (Method::POST, "/requests/r-nosuch/deny", Some(json!({"comment": "no"})), [403, 404, 403, 403]),
            (Method::GET, "/grants?live=true", None, [200, 200, 200, 403]),
            (Method::POST, "/grants/g-nosuch/revoke", None, [403, 404, 403, 403]),
            (Method::GET, "/sessions", None, [403, 200, 200, 403]),
            (Method::GET, "/sessions?limit=1&sort=duration", None, [403, 200, 200, 403]),
            (Method::POST, "/sessions/s-nosuch/terminate", None, [403, 404, 403, 403]),
            (Method::GET, "/sessions/s-nosuch/recording", None, [403, 404, 404, 403]),
            (Method::GET, "/sessions/s-nosuch/commands", None, [403, 404, 404, 403]),
            (Method::GET, "/breakglass", None, [403, 200, 403, 403]),
            (Method::POST, "/breakglass/r-nosuch/signoff", Some(json!({"comment": "ok"})), [403, 404, 403, 403]),
            (Method::GET, "/audit", None, [403, 403, 200, 403]),
            (Method::GET, "/audit?limit=1&sort=actor", None, [403, 403, 200, 403]),
            (Method::GET, "/audit/export?format=csv", None, [403, 403, 200, 403]),
            (Method::GET, "/audit/verify", None, [403, 403, 200, 403]),
            (Method::GET, "/reports?period=month", None, [403, 403, 200, 403]),
            (Method::GET, "/reports?period=week&format=csv", None, [403, 403, 200, 403]),
            (Method::GET, "/reports/fault/INC-nosuch", None, [403, 404, 404, 403]),
            (Method::GET, "/reports/fault/INC-7?format=html", None, [403, 200, 200, 403]),
            (Method::GET, "/reports/service?period=2026-11", None, [403, 200, 200, 403]),
            (Method::GET, "/reports/service?period=2026-Q4&format=csv", None, [403, 200, 200, 403]),
            (Method::GET, "/reports/daily?date=2026-11-29&format=html", None, [403, 200, 200, 403]),
            (Method::GET, "/reports/overview?from=2026-11-01&to=2026-11-30", None, [403, 200, 200, 403]),
            (Method::GET, "/inspections", None, [403, 200, 200, 403]),
            (Method::GET, "/inspections/nosuch-book", None, [403, 404, 404, 403]),
            (Method::POST, "/inspections/nosuch-book/approve", Some(json!({})), [403, 404, 403, 403]),
            (Method::POST, "/inspections/nosuch-book/run", None, [403, 404, 404, 403]),
            (Method::GET, "/inspections/nosuch-book/runs/nosuch-run/report", None, [403, 404, 404, 403]),
            (Method::GET, "/users", None, [403, 403, 403, 200]),
            (Method::GET, "/users?all=true", None, [403, 403, 403, 200]),
            (Method::POST, "/users/nosuch-user/disable", Some(json!({"reason": "x"})), [403, 403, 403, 404]),
            (Method::POST, "/users/nosuch-user/enable", None, [403, 403, 403, 404]),
            (Method::DELETE, "/users/nosuch-user", Some(json!({"reason": "x"})), [403, 403, 403, 404]),
            (Method::POST, "/users/nosuch-user/logout", None, [403, 403, 403, 404]),
            (Method::POST, "/users/nosuch-user/role", Some(json!({"role": "auditor", "reason": "x"})), [403, 403, 403, 404]),
            (Method::GET, "/users/nosuch-user/keys", None, [403, 403, 403, 404]),
            (Method::DELETE, "/users/nosuch-user/keys/SHA256%3Anosuch", None, [403, 403, 403, 404]),
            (Method::GET, "/targets", None, [403, 403, 403, 200]),
            (Method::GET, "/nodes", None, [403, 403, 403, 200]),
            (Method::GET, "/policy", None, [403, 403, 403, 200]),
            (Method::GET, "/events", None, [200, 200, 403, 403]),
            (Method::GET, "/openapi.json", None, [200, 200, 200, 200]),
            // WebSockets: without the page's Origin even an allowed role gets 403 (`origin`).
            (Method::GET, "/terminal?target=web01", None, [403, 403, 403, 403]),
            (Method::GET, "/sessions/s-nosuch/watch", None, [403, 403, 403, 403]),
        ];
        let callers = [&d.engineer, &d.approver, &d.auditor, &d.admin];
        let doc: Value = d.nobody.call(Method::GET, "/openapi.json", None).json().unwrap();
        for (method, path, body, want) in &table {
            let route = path.split('?').next().unwrap()
                .replace("r-nosuch", "{id}").replace("INC-nosuch", "{id}").replace("INC-7", "{id}").replace("g-nosuch", "{id}").replace("s-nosuch", "{id}")
                .replace("SHA256%3Anosuch", "{fingerprint}").replace("nosuch-user", "{name}")
                .replace("nosuch-book", "{name}").replace("nosuch-run", "{id}");
            assert!(doc["paths"][&format!("/api/v1{route}")][method.as_str().to_lowercase()].is_object(),
                "{method} {route} is not in the OpenAPI document");
            for (who, (api, status)) in ["engineer", "approver", "auditor", "admin"].iter().zip(callers.iter().zip(want)) {
                let r = api.call(method.clone(), path, body.clone());
                assert_eq!(r.status().as_u16(), *status, "{method} {path} as {who}: {}", r.text().unwrap_or_default());
            }
            let r = d.token.call(method.clone(), path, body.clone());
            assert_eq!(r.status().as_u16(), want[1], "{method} {path} with bob's token");
            let public = *path == "/openapi.json";
            let (status, code) = error_code(d.nobody.call(method.clone(), path, body.clone()));
            if public {
                assert_eq!(status, 200);
            } else {
                assert_eq!((status, code.as_str()), (401, "unauthenticated"), "{method} {path} as nobody");
            }
        }
        // Another engineer's request and grant: alice gets 403 on them, and they are in none
        // of her lists or her event stream.
        d.w.gw.add_user("erin", "engineer");
        let erin = logged_in(&d.w.gw, "erin", &web_user(&d.w.gw, "erin"));
        let mut events = EventReader::open(&d.engineer);
        let filed: Value = erin.call(Method::POST, "/requests", Some(json!({
            "targets": ["web01"], "reason": "erin's disk", "incident": "INC-8", "level": "C", "duration": "30m"
        }))).json().unwrap();
        let theirs = filed["id"].as_str().unwrap().to_string();
        let their_grant = d.w.gw.grant("erin", "web01", "1h");
        for (method, path) in [
            (Method::GET, format!("/requests/{theirs}")),
            (Method::POST, format!("/requests/{theirs}/withdraw")),
        ] {
            let (status, code) = error_code(d.engineer.call(method.clone(), &path, None));
            assert_eq!((status, code.as_str()), (403, "forbidden"), "{method} {path} as alice");
        }
        assert_eq!(error_code(d.engineer.call(Method::GET, "/requests?engineer=erin", None)).0, 403);
        for path in ["/requests", "/requests?state=pending", "/grants?live=true", "/grants"] {
            let list = d.engineer.call(Method::GET, path, None).text().unwrap();
            assert!(!list.contains(&theirs) && !list.contains(&their_grant) && !list.contains("erin"),
                "alice's {path} shows erin's rows: {list}");
        }
        // The approver does see them (the ids are real).
        let all = d.approver.call(Method::GET, "/requests?state=pending", None).text().unwrap();
        assert!(all.contains(&theirs), "{all}");
        let all = d.approver.call(Method::GET, "/grants?live=true", None).text().unwrap();
        assert!(all.contains(&their_grant), "{all}");
        // Alice's own request after erin's: once it is in her stream, erin's would have been too.
        let mine: Value = d.engineer.call(Method::POST, "/requests", Some(file.clone())).json().unwrap();
        let mine = mine["id"].as_str().unwrap().to_string();
        let heard = events.until(&mine);
        assert_no_leak(heard.as_bytes(), "alice's event stream");
        assert!(!heard.contains(&theirs) && !heard.contains("erin"), "alice's event stream carries erin's request: {heard}");

        // Every route of the document was exercised above (plus login and logout).
        let documented = doc["paths"].as_object().unwrap().len();
        assert_eq!(documented, 2 + table.iter().map(|t| t.1.split('?').next().unwrap()
            .replace("r-nosuch", "{id}").replace("g-nosuch", "{id}").replace("s-nosuch", "{id}")
            .replace("INC-nosuch", "{id}").replace("INC-7", "{id}"))
            .collect::<std::collections::BTreeSet<_>>().len());
    }

    fn requestable_lists_what_the_policy_lets_the_engineer_request_by_name_only(db) {
        // web01 is requestable by alice only; erin is in no group.
        let w = World::with(
            db,
            WorldOpts {
                grant_for: None,
                config: "[policy.groups.web]\ntargets = [\"web01\"]\nengineers = [\"alice\"]\napprovals = 1\n",
                ..WorldOpts::default()
            },
        );
        let gw = &w.gw;
        gw.add_user("erin", "engineer");
        let alice = logged_in(gw, "alice", &web_user(gw, "alice"));
        let erin = logged_in(gw, "erin", &web_user(gw, "erin"));

        let answer = alice.call(Method::GET, "/requestable", None);
        assert_eq!(answer.status(), 200);
        let body = answer.text().unwrap();
        let v: Value = serde_json::from_str(&body).unwrap();
        let names: Vec<&str> = v["targets"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["web01"], "{body}");
        assert_eq!(v["groups"][0]["name"], "web", "{body}");
        assert_eq!(v["groups"][0]["targets"], json!(["web01"]), "{body}");
        // Names and descriptions only: no address, port or login, under any key.
        for t in v["targets"].as_array().unwrap() {
            let keys: Vec<&String> = t.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["description", "name"], "{body}");
        }
        assert_no_leak(body.as_bytes(), "GET /requestable");

        let theirs: Value = erin.call(Method::GET, "/requestable", None).json().unwrap();
        assert_eq!(theirs, json!({"targets": [], "groups": []}), "erin may request nothing");
    }

    fn websockets_open_only_from_the_gateways_own_page(db) {
        let d = desk(db);
        d.w.gw.grant("alice", "web01", "1h");
        let origin = format!("https://127.0.0.1:{}", d.w.gw.https_port);
        // A WebSocket handshake by hand (HTTP/1.1 upgrade), with the caller's cookie.
        let upgrade = |api: &Api, path: &str, from: &str| {
            let http = Client::builder()
                .danger_accept_invalid_certs(true)
                .http1_only()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let cookies = api.cookie_header();
            http.get(format!("{}/api/v1{path}", api.base))
                .header("Cookie", cookies)
                .header("Connection", "Upgrade")
                .header("Upgrade", "websocket")
                .header("Sec-WebSocket-Version", "13")
                .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
                .header("Origin", from)
                .send()
                .unwrap()
        };
        // Cross-site, and origins that only look like the page's: refused before any
        // session opens.
        let port = d.w.gw.https_port;
        let other_port = free_port("127.0.0.1");
        for from in [
            "https://evil.example".to_string(),
            format!("https://127.0.0.1:{port}.evil.example"),
            format!("https://127.0.0.1.evil.example:{port}"),
            format!("https://127.0.0.1:{other_port}"),
            format!("http://127.0.0.1:{port}"),
            format!("https://localhost:{port}"),
            format!("https://127.0.0.1:{port}/"),
            format!("{origin}x"),
            "null".to_string(),
            String::new(),
        ] {
            let r = upgrade(&d.engineer, "/terminal?target=web01", &from);
            assert_eq!(error_code(r), (403, "origin".into()), "Origin {from:?} was let in");
        }
        // And without any Origin header at all.
        let http = Client::builder().danger_accept_invalid_certs(true).http1_only().build().unwrap();
        let r = http.get(format!("{}/api/v1/terminal?target=web01", d.engineer.base))
            .header("Cookie", d.engineer.cookie_header())
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .header("Sec-WebSocket-Version", "13")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
            .unwrap();
        assert_eq!(error_code(r), (403, "origin".into()), "no Origin was let in");
        assert!(d.w.gw.sessions().is_empty(), "a cross-site attempt opened a session");
        // From the page: the terminal opens (101) and a session starts through the same checks as ssh.
        let r = upgrade(&d.engineer, "/terminal?target=web01", &origin);
        assert_eq!(r.status().as_u16(), 101, "{:?}", r.text());
        let s = wait_until("the browser session", Duration::from_secs(10), || {
            d.w.gw.sessions().into_iter().find(|s| json_text(s, "engineer") == "alice")
        });
        let id = json_text(&s, "id");
        // Watching it: only approvers and auditors, only from the page.
        let r = upgrade(&d.approver, &format!("/sessions/{id}/watch"), "https://evil.example");
        assert_eq!(error_code(r), (403, "origin".into()));
        let r = upgrade(&d.engineer, &format!("/sessions/{id}/watch"), &origin);
        assert_eq!(r.status().as_u16(), 403, "an engineer may not watch");
        let r = upgrade(&d.auditor, &format!("/sessions/{id}/watch"), &origin);
        assert_eq!(r.status().as_u16(), 101);
        d.w.gw.wait_audit("session.watch", |e| e.to_string().contains(&id));
        // No grant, no terminal: the refusal comes back as JSON before any upgrade.
        let r = upgrade(&d.engineer, "/terminal?target=nosuch", &origin);
        assert_eq!(r.status().as_u16(), 403, "{:?}", r.text());
    }

    fn bad_input_gets_its_status_and_code(db) {
        let mut d = desk(db);
        // CSRF: a cookie login without the header.
        let csrf = d.engineer.csrf.take();
        let file = json!({"targets": ["web01"], "reason": "r", "incident": "INC-1", "level": "B", "duration": "30m"});
        assert_eq!(error_code(d.engineer.call(Method::POST, "/requests", Some(file.clone()))), (403, "csrf".into()));
        d.engineer.csrf = Some("wrong".into());
        assert_eq!(error_code(d.engineer.call(Method::POST, "/requests", Some(file.clone()))), (403, "csrf".into()));
        d.engineer.csrf = csrf;
        // Malformed JSON, wrong fields, oversize.
        let raw = |api: &Api, body: Vec<u8>| {
            api.http.post(format!("{}/api/v1/requests", api.base))
                .header("X-CSRF-Token", api.csrf.clone().unwrap())
                .header("Content-Type", "application/json")
                .body(body).send().unwrap()
        };
        assert_eq!(error_code(raw(&d.engineer, b"{\"targets\": [".to_vec())), (400, "bad_json".into()));
        assert_eq!(error_code(raw(&d.engineer, b"{\"reason\": 3}".to_vec())), (400, "bad_input".into()));
        // A NUL character, which PostgreSQL cannot store, in a body, a query parameter or a
        // path: refused as input (it answered 503 "database unavailable" on PostgreSQL).
        let nul = json!({"targets": ["web\u{0}01"], "reason": "r", "incident": "INC-1", "level": "B", "duration": "30m"});
        assert_eq!(error_code(d.engineer.call(Method::POST, "/requests", Some(nul))), (400, "bad_input".into()));
        assert_eq!(error_code(d.auditor.call(Method::GET, "/audit?actor=%00x&order=desc", None)), (400, "bad_input".into()));
        assert_eq!(error_code(d.admin.call(Method::GET, "/users/a%00b/keys", None)), (400, "bad_input".into()));
        assert_eq!(d.auditor.call(Method::GET, "/audit?actor=x&order=desc", None).status(), 200, "without the NUL");
        let big = format!("{{\"reason\": \"{}\"}}", "x".repeat(70 * 1024));
        assert_eq!(error_code(raw(&d.engineer, big.into_bytes())), (413, "too_large".into()));
        // A forged JWT and an expired (logged out) one: 401.
        let forged = d.nobody.http.get(format!("{}/api/v1/me", d.nobody.base))
            .header("Cookie", "__Host-menwei_session=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.AAAA").send().unwrap();
        assert_eq!(error_code(forged), (401, "unauthenticated".into()));
        // The login cookies are `__Host-` cookies: Secure, Path=/, no Domain, so no other
        // host or path (a sibling subdomain, a plain-HTTP page) can set or shadow them.
        let fresh = Api::new(&d.w.gw);
        let login = fresh.http.post(format!("{}/api/v1/login", fresh.base))
            .json(&json!({"user": "alice", "password": WEB_PASSWORD, "totp": d.w.gw.totp_code("alice")}))
            .send().unwrap();
        assert_eq!(login.status(), 200);
        let set: Vec<String> = login.headers().get_all("set-cookie").iter()
            .map(|v| v.to_str().unwrap().to_string()).collect();
        assert_eq!(set.len(), 2, "{set:?}");
        for c in &set {
            assert!(c.starts_with("__Host-menwei_") && c.contains("; Secure") && c.contains("; Path=/")
                && !c.to_lowercase().contains("domain="), "{c}");
        }
        // Path-like recording ids: 404.
        for id in ["..%2F..%2Fmenwei.toml", "%2E%2E", ".mwrec", "a%20b"] {
            let (status, _) = error_code(d.auditor.call(Method::GET, &format!("/sessions/{id}/recording"), None));
            assert_eq!(status, 404, "{id}");
        }
        // Logout ends the login on the server: the old cookie is refused afterwards.
        let jar_cookie = {
            let r = d.approver.call(Method::GET, "/me", None);
            assert_eq!(r.status(), 200);
            r
        };
        drop(jar_cookie);
        let r = d.approver.call(Method::POST, "/logout", None);
        assert_eq!(r.status(), 204);
        assert_eq!(error_code(d.approver.call(Method::GET, "/me", None)).0, 401);
        // A replay fetched without a session is refused.
        assert_eq!(error_code(d.nobody.call(Method::GET, "/sessions/s-x/recording", None)), (401, "unauthenticated".into()));
        // A revoked token is refused.
        let list = d.w.gw.json(&["token", "list"]);
        let id = json_text(&list[0], "id");
        d.w.gw.cli_ok(&["token", "revoke", &id]);
        assert_eq!(error_code(d.token.call(Method::GET, "/me", None)), (401, "unauthenticated".into()));
        // Audit entries name who did it.
        d.w.gw.wait_audit("web.logout", |e| json_text(e, "actor") == "bob");
    }

    fn every_api_error_is_json_with_a_stable_code(db) {
        let d = desk(db);
        // What a client sees: the status, a JSON content type and the stable code.
        let shape = |r: Response| {
            let json = r.headers().get("content-type").and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            let status = r.status().as_u16();
            let text = r.text().unwrap_or_default();
            assert!(json, "status {status} is not JSON: {text:?}");
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            assert!(!v["error"]["message"].as_str().unwrap_or("").is_empty(), "no message: {text}");
            (status, v["error"]["code"].as_str().unwrap_or("").to_string())
        };
        let raw = |api: &Api, method: Method, path: &str| {
            let mut r = api.http.request(method, format!("{}{path}", api.base));
            if let Some(c) = &api.csrf {
                r = r.header("X-CSRF-Token", c);
            }
            r.send().unwrap()
        };
        // Unknown routes under /api/v1, logged in or not: 404 `not_found`.
        for path in ["/api/v1/nosuch", "/api/v1/requests/r-1/nosuch", "/api/v1", "/api/v1/", "/api/v2/requests"] {
            for api in [&d.auditor, &d.nobody] {
                assert_eq!(shape(raw(api, Method::GET, path)), (404, "not_found".into()), "GET {path}");
            }
        }
        // A known path with a method it does not take: 405 `method_not_allowed`, and Allow.
        let r = raw(&d.engineer, Method::DELETE, "/api/v1/requests");
        let allow = r.headers().get("allow").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        assert!(allow.contains("GET") && allow.contains("POST"), "Allow: {allow:?}");
        assert_eq!(shape(r), (405, "method_not_allowed".into()));
        assert_eq!(shape(raw(&d.auditor, Method::PUT, "/api/v1/me")), (405, "method_not_allowed".into()));
        assert_eq!(shape(raw(&d.nobody, Method::POST, "/api/v1/openapi.json")), (405, "method_not_allowed".into()));
        // Ids that are not UTF-8 once decoded: 400 `bad_input`, on every kind of id route.
        for (api, method, path) in [
            (&d.engineer, Method::GET, "/api/v1/requests/r-%FF%FE"),
            (&d.engineer, Method::POST, "/api/v1/requests/r-%FF%FE/withdraw"),
            (&d.approver, Method::POST, "/api/v1/grants/g-%C3%28/revoke"),
            (&d.auditor, Method::GET, "/api/v1/sessions/s-%FF/recording"),
            (&d.auditor, Method::GET, "/api/v1/sessions/s-%FF/commands"),
        ] {
            assert_eq!(shape(raw(api, method.clone(), path)), (400, "bad_input".into()), "{method} {path}");
        }
        // A query parameter that does not parse: 400 `bad_input`.
        assert_eq!(shape(raw(&d.auditor, Method::GET, "/api/v1/sessions?live=maybe")), (400, "bad_input".into()));
        assert_eq!(shape(raw(&d.engineer, Method::GET, "/api/v1/grants?live=2")), (400, "bad_input".into()));
        // The page's own paths are still the page's (no JSON there).
        let r = raw(&d.nobody, Method::GET, "/no-such-page");
        assert_eq!(r.status(), 404);
    }

    fn a_sessions_command_list_comes_back_with_text_and_times(db) {
        let d = desk(db);
        d.w.gw.grant("alice", "web01", "1h");
        let mut t = d.w.alice.pty(&d.w.gw, "alice:web01", &[], 24, 80);
        // Type at the prompt, as a person would: once the shell answered and prompted again.
        t.line("echo ready-$((6*7))");
        t.expect("ready-42", SHORT);
        wait_until("the prompt", SHORT, || {
            let s = t.screen_text();
            s.trim_end_matches(' ').ends_with(['$', '#']).then_some(())
        });
        t.line("echo hi");
        t.expect("\rhi\r\n", SHORT);
        t.line("exit");
        t.wait(SHORT);
        let s = wait_until("the session to end", SHORT, || {
            let s = d.w.gw.last_session("alice");
            (!json_text(&s, "ended_at").is_empty()).then_some(s)
        });
        let id = json_text(&s, "id");
        let (started, ended) = (json_text(&s, "started_at"), json_text(&s, "ended_at"));
        // The auditor and the approver get the same list, each audited as a replay.
        for (api, who) in [(&d.auditor, "audrey"), (&d.approver, "bob")] {
            let r = api.call(Method::GET, &format!("/sessions/{id}/commands"), None);
            assert_eq!(r.status(), 200, "as {who}");
            let v: Value = r.json().unwrap();
            assert_eq!(v["session_id"], id.as_str(), "{v}");
            assert_eq!(v["sealed"], true, "{v}");
            let list = v["commands"].as_array().unwrap();
            let texts: Vec<&str> = list.iter().map(|c| c["text"].as_str().unwrap()).collect();
            let hi = list.iter().position(|c| c["text"] == "echo hi").unwrap_or_else(|| panic!("no `echo hi` in {texts:?}"));
            assert_eq!(list[hi]["hidden"], false);
            assert_eq!(list.get(hi + 1).map(|c| &c["text"]), Some(&json!("exit")), "{texts:?}");
            // Times: after the start, in order, and the instant is the start plus the offset.
            let at_ms = list[hi]["at_ms"].as_i64().unwrap();
            assert!(at_ms > 0, "{v}");
            assert!(list[hi + 1]["at_ms"].as_i64().unwrap() >= at_ms, "{v}");
            let at = list[hi]["at"].as_str().unwrap();
            assert!(at > started.as_str() && at <= ended.as_str(), "{at} not within {started}..{ended}");
            d.w.gw.wait_audit("recording.replay", |e| json_text(e, "actor") == who
                && json_text(e, "subject") == id && e["detail"]["part"] == "commands");
        }
    }

    fn failed_logins_are_throttled_per_user_and_address(db) {
        let w = World::with(db, WorldOpts { grant_for: None, ..WorldOpts::default() });
        web_user(&w.gw, "alice");
        let mut api = Api::new(&w.gw);
        let mut statuses = Vec::new();
        for _ in 0..7 {
            let r = api.call(Method::POST, "/login", Some(json!({"user": "alice", "password": "wrong password"})));
            statuses.push(error_code(r));
        }
        assert_eq!(statuses[0], (401, "unauthenticated".into()));
        assert_eq!(statuses[6], (429, "throttled".into()), "{statuses:?}");
        // Even the right password waits now.
        let r = api.login("alice", None);
        assert_eq!(r.status(), 429);
        // A spoofed X-Forwarded-For changes nothing (no trusted proxies).
        let r = api.http.post(format!("{}/api/v1/login", api.base))
            .header("X-Forwarded-For", "203.0.113.9")
            .json(&json!({"user": "alice", "password": WEB_PASSWORD})).send().unwrap();
        assert_eq!(r.status(), 429);
        w.gw.wait_audit("web.login.failure", |e| e["detail"]["reason"] == "throttled");

        // The throttle is per user and address: it locks out neither alice on another
        // address nor another user on this one.
        let mut elsewhere = Api::from_address(&w.gw, "127.0.0.7");
        assert_eq!(elsewhere.login("alice", Some(&w.gw.totp_code("alice"))).status(), 200, "alice is locked out from every address");
        w.gw.add_user("erin", "engineer");
        web_user(&w.gw, "erin");
        assert_eq!(api.login("erin", Some(&w.gw.totp_code("erin"))).status(), 200, "another user is locked out from alice's attacker's address");
    }

    fn an_approval_through_the_api_opens_ssh(db) {
        let d = desk(db);
        let filed: Value = d.engineer.call(Method::POST, "/requests", Some(json!({
            "targets": ["web01"], "reason": "disk full", "incident": "INC-9", "level": "A", "duration": "30m"
        }))).json().unwrap();
        let id = filed["id"].as_str().unwrap().to_string();
        assert_eq!(filed["state"], "pending");
        let queue: Value = d.approver.call(Method::GET, "/requests?state=pending", None).json().unwrap();
        assert!(queue.as_array().unwrap().iter().any(|r| r["id"] == id.as_str()), "{queue}");
        let r = d.approver.call(Method::POST, &format!("/requests/{id}/approve"), Some(json!({"comment": "go"})));
        assert_eq!(r.status(), 200);
        let v: Value = r.json().unwrap();
        assert_eq!(v["outcome"]["state"], "approved", "{v}");
        let out = d.w.alice.ssh(&d.w.gw, "alice:web01", &[], &["echo", "via-web-approval"], Stdin::Null);
        assert!(out.success(), "{out}");
        assert!(out.stdout_text().contains("via-web-approval"), "{out}");
        let mine: Value = d.engineer.call(Method::GET, "/grants?live=true", None).json().unwrap();
        assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");
        d.w.gw.wait_audit("review.approve", |e| e["detail"]["via"] == "web");
        // The auditor replays the session's recording, and that is audited.
        let s = d.w.gw.last_session("alice");
        let sid = json_text(&s, "id");
        let answer = d.auditor.call(Method::GET, &format!("/sessions/{sid}/recording"), None);
        assert_eq!(answer.status(), 200);
        // The file as it is on disk (encrypted) and its data key, which opens it.
        let key = answer.headers().get("x-menwei-recording-key").expect("the data key header").to_str().unwrap().to_string();
        let bytes = answer.bytes().unwrap();
        assert!(!contains(&bytes, b"via-web-approval"), "the recording is sent encrypted");
        use base64::Engine as _;
        let key = recordings::DataKey::from_slice(&base64::engine::general_purpose::STANDARD.decode(key).unwrap()).unwrap();
        assert_eq!(recordings::Recording::parse(&bytes, None).unwrap_err(), recordings::ReadError::Encrypted);
        let rec = recordings::Recording::parse(&bytes, Some(&key)).unwrap();
        assert!(rec.events().iter().any(|(_, e)| matches!(e, recordings::Event::Output { data, .. } if contains(data, b"via-web-approval"))));
        d.w.gw.wait_audit("recording.replay", |e| json_text(e, "actor") == "audrey" && json_text(e, "subject") == sid);
        d.w.gw.wait_audit("recording.decrypt", |e| json_text(e, "actor") == "audrey" && json_text(e, "subject") == sid && e["detail"]["how"] == "api recording");
        // The engineer may not replay: no file, no key.
        let refused = d.engineer.call(Method::GET, &format!("/sessions/{sid}/recording"), None);
        assert!(refused.headers().get("x-menwei-recording-key").is_none());
        assert_eq!(error_code(refused).0, 403);
    }
}

both_databases! {
    fn web_logins_and_api_tokens_end(db) {
        let mut w = World::with(db, WorldOpts { grant_for: None, config: WEB_GROUP, ..WorldOpts::default() });
        w.gw.stop(SHORT);
        w.gw.replace_config_line("max_login = \"12h\"", "max_login = \"4s\"");
        w.gw.serve();
        // A web login used all the time still ends max_login after the password was given.
        let secret = web_user(&w.gw, "alice");
        let alice = logged_in(&w.gw, "alice", &secret);
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(3) {
            assert_eq!(alice.call(Method::GET, "/me", None).status(), 200);
            std::thread::sleep(Duration::from_millis(500));
        }
        std::thread::sleep(Duration::from_secs(2));
        // Idle for 2 s of a 15-minute session_ttl: only max_login can have ended it.
        assert_eq!(error_code(alice.call(Method::GET, "/me", None)), (401, "unauthenticated".into()));

        // Tokens end: 30 days unless --ttl, never past max_token_ttl.
        w.gw.add_user("adam", "admin");
        w.gw.token("adam");
        let list = w.gw.json(&["token", "list"]);
        let ends = rfc3339_ms(&json_text(&list[0], "expires_at"));
        let in_30d = now_secs() as i64 * 1000 + 30 * 24 * 3600 * 1000;
        assert!((ends - in_30d).abs() < 120_000, "{list:?}");
        let out = w.gw.token_add("adam", &["--ttl", "100d"]);
        assert!(!out.success(), "{out}");
        assert_eq!(lines(&out.stderr_text()).len(), 1, "{out}");
        assert!(out.stderr_text().contains("max_token_ttl"), "{out}");
        // A token stored without an end (issued before they had to end) ends max_token_ttl
        // after it was issued.
        let secret = w.gw.token_add("adam", &["--ttl", "1h"]).stdout_text();
        let secret = secret.lines().find(|l| l.starts_with("mwt_")).unwrap().to_string();
        let mut api = Api::new(&w.gw);
        api.bearer = Some(secret);
        assert_eq!(api.call(Method::GET, "/me", None).status(), 200);
        let old = now_secs() as i64 * 1000 - 91 * 24 * 3600 * 1000;
        w.gw.sql(&format!("UPDATE api_tokens SET expires_at = NULL, created_at = {old}")).ok();
        assert_eq!(error_code(api.call(Method::GET, "/me", None)), (401, "unauthenticated".into()));
    }
}
