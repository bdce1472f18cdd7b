//! `GET /api/v1/openapi.json`: the OpenAPI 3.0 document, generated from the route table
//! ([`super::routes`]) — the same table the router and the role checks are built from, so
//! it lists exactly the routes that exist, with who may call them.

use axum::Json;
use serde_json::{json, Map, Value};

use super::routes;

/// The document.
pub fn build() -> Value {
    let mut paths = Map::new();
    for r in routes() {
        let mut params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        params.extend(r.query.iter().map(
            |q| json!({"name": q, "in": "query", "required": false, "schema": query_schema(r.path, q)}),
        ));
        let who: Vec<&str> = r.roles.iter().map(|role| role.as_str()).collect();
        let mut responses = Map::new();
        let ok = match r.status {
            101 => "Switching Protocols: the WebSocket is open",
            201 => "Created",
            204 => "Done; no content",
            _ => "OK",
        };
        let mut answer = json!({"description": ok});
        if let (Some(_), super::Verb::Get, Value::Object(m)) = (
            super::api::paging::List::of_path(r.path),
            r.method,
            &mut answer,
        ) {
            m.insert("headers".into(), json!({
                "X-Total-Count": {"description": "How many rows the filtered list has", "schema": {"type": "integer"}},
                "X-Next-Cursor": {"description": "The cursor of the next page; absent on the last", "schema": {"type": "string"}},
            }));
        }
        responses.insert(r.status.to_string(), answer);
        for (code, text) in [
            ("400", "bad_json, bad_input, bad_cursor or bad_sort"),
            ("401", "unauthenticated"),
            ("403", "forbidden or csrf"),
            ("404", "not_found"),
            ("405", "method_not_allowed"),
            ("409", "conflict"),
            ("413", "too_large"),
            ("429", "throttled"),
            ("503", "unavailable"),
        ] {
            responses.insert(code.into(), json!({"description": text, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}));
        }
        if r.path.ends_with("/recording") || r.path.ends_with("/commands") {
            responses.insert("410".into(), json!({"description": "recording_expired: removed under [retention] recordings", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}));
        }
        let mut op = json!({
            "summary": r.summary,
            "description": if r.public { "Public.".to_string() } else { format!("Roles: {}.", who.join(", ")) },
            "x-roles": who,
            "parameters": params,
            "responses": responses,
        });
        if let Value::Object(m) = &mut op {
            if r.public {
                m.insert("security".into(), json!([]));
            }
            if r.body {
                m.insert(
                    "requestBody".into(),
                    json!({"required": true, "content": {"application/json": {"schema": body_schema(r.path)}}}),
                );
            }
        }
        let entry = paths
            .entry(r.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(r.method.as_str().to_lowercase(), op);
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Menwei gateway API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Requests, approvals, grants, sessions, recordings, audit and reports of the Menwei bastion gateway. Cookie logins send X-CSRF-Token on every state change; scripts use Authorization: Bearer mwt_….",
        },
        "paths": paths,
        "security": [{"cookie": []}, {"bearer": []}],
        "components": {
            "securitySchemes": {
                "cookie": {"type": "apiKey", "in": "cookie", "name": super::auth::SESSION_COOKIE},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "object", "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "reason": {"type": "string"},
                    }, "required": ["code", "message"]}},
                },
            },
        },
    })
}

/// A query parameter's schema: the type its handler parses, so that generated requests
/// (schemathesis, `tests/api_fuzz.rs`) reach the handler's logic instead of stopping at its
/// type check; a plain string where the handler takes any text.
fn query_schema(path: &str, name: &str) -> Value {
    match name {
        "live" | "all" => json!({"type": "boolean"}),
        "limit" if path.ends_with("/audit") => json!({"type": "integer"}),
        "limit" => {
            json!({"type": "integer", "minimum": 1, "maximum": super::api::paging::MAX_PAGE})
        }
        "sort" => {
            let names = super::api::paging::List::of_path(path).map_or(&[][..], |l| l.sort_names());
            json!({"type": "string", "enum": names})
        }
        "order" => json!({"type": "string", "enum": ["asc", "desc"]}),
        "cursor" => {
            json!({"type": "string", "description": "X-Next-Cursor of the previous page, as given"})
        }
        "cols" | "rows" => json!({"type": "integer", "minimum": 0, "maximum": u32::MAX}),
        "level" => json!({"type": "string", "enum": ["A", "B", "C", "D"]}),
        "period" if path.ends_with("/reports/service") => json!({
            "type": "string",
            "pattern": "^[0-9]{4}(-(0[1-9]|1[0-2]|Q[1-4]))?$",
            "description": "2026-11, 2026-Q4 or 2026",
        }),
        "period" => json!({"type": "string", "enum": ["week", "month", "quarter", "year"]}),
        "format" if path.contains("/reports/") => {
            json!({"type": "string", "enum": ["json", "csv", "html", "pdf"]})
        }
        "lang" => json!({"type": "string", "enum": ["zh", "en"]}),
        "date" => json!({"type": "string", "format": "date"}),
        "format" if path.ends_with("/audit/export") => {
            json!({"type": "string", "enum": ["jsonl", "csv"]})
        }
        "format" => json!({"type": "string", "enum": ["json", "csv"]}),
        "since" | "until" | "from" | "to" | "at" => {
            json!({"type": "string", "format": "date-time"})
        }
        _ => json!({"type": "string"}),
    }
}

/// A request body's schema: the fields its handler reads where the document knows them
/// (an account action's `reason`, a role change's `role`), else any object.
fn body_schema(path: &str) -> Value {
    if path.starts_with("/api/v1/users/") {
        let reason = json!({
            "type": "string",
            "minLength": 1,
            "maxLength": crate::accounts::MAX_REASON,
            "description": "Why, one line: kept in the audit log and shown to the account's live sessions as they end",
        });
        if path.ends_with("/role") {
            let roles: Vec<&str> = policy::Role::ALL.iter().map(|r| r.as_str()).collect();
            json!({
                "type": "object",
                "properties": {"role": {"type": "string", "enum": roles}, "reason": reason},
                "required": ["role", "reason"],
            })
        } else {
            json!({
                "type": "object",
                "properties": {"reason": reason},
                "required": ["reason"],
            })
        }
    } else {
        json!({"type": "object"})
    }
}

/// `GET /api/v1/openapi.json`.
pub async fn document() -> Json<Value> {
    Json(build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_document() {
        let doc = build();
        for r in routes() {
            let op = doc
                .pointer(&format!(
                    "/paths/{}/{}",
                    r.path.replace('~', "~0").replace('/', "~1"),
                    r.method.as_str().to_lowercase()
                ))
                .unwrap_or_else(|| panic!("{} {} is missing", r.method.as_str(), r.path));
            assert_eq!(op["summary"], r.summary);
        }
    }

    #[test]
    fn the_document_names_the_status_each_route_answers_when_it_works() {
        let doc = build();
        let responses = |path: &str, method: &str| {
            doc.pointer(&format!(
                "/paths/{}/{method}/responses",
                path.replace('/', "~1")
            ))
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        };
        // The document said 200 for all of them; schemathesis (tests/api_fuzz.rs) fails on
        // any status the document does not list, once it reaches these answers.
        assert!(responses("/api/v1/requests", "post").contains(&"201".to_string()));
        assert!(responses("/api/v1/logout", "post").contains(&"204".to_string()));
        assert!(responses("/api/v1/terminal", "get").contains(&"101".to_string()));
        assert!(!responses("/api/v1/requests", "post").contains(&"200".to_string()));
        assert!(responses("/api/v1/me", "get").contains(&"200".to_string()));
    }

    #[test]
    fn query_parameters_carry_the_type_their_handler_parses() {
        let doc = build();
        let param = |path: &str, name: &str| {
            doc.pointer(&format!(
                "/paths/{}/get/parameters",
                path.replace('/', "~1")
            ))
            .and_then(Value::as_array)
            .and_then(|ps| ps.iter().find(|p| p["name"] == name))
            .map(|p| p["schema"].clone())
            .unwrap_or(Value::Null)
        };
        assert_eq!(param("/api/v1/grants", "live")["type"], "boolean");
        assert_eq!(param("/api/v1/audit", "limit")["type"], "integer");
        assert_eq!(param("/api/v1/sessions", "from")["format"], "date-time");
        assert_eq!(
            param("/api/v1/audit/export", "format")["enum"],
            json!(["jsonl", "csv"])
        );
        assert_eq!(
            param("/api/v1/reports", "format")["enum"],
            json!(["json", "csv"])
        );
        assert_eq!(param("/api/v1/sessions", "engineer")["type"], "string");
        assert_eq!(
            param("/api/v1/reports/service", "format")["enum"],
            json!(["json", "csv", "html", "pdf"])
        );
        assert_eq!(
            param("/api/v1/reports/service", "period")["pattern"],
            "^[0-9]{4}(-(0[1-9]|1[0-2]|Q[1-4]))?$"
        );
        assert_eq!(param("/api/v1/reports/daily", "date")["format"], "date");
        assert_eq!(
            param("/api/v1/sessions", "sort")["enum"],
            json!(["started_at", "ended_at", "engineer", "target", "duration"])
        );
        assert_eq!(
            param("/api/v1/audit", "sort")["enum"],
            json!(["at", "actor", "action"])
        );
        assert_eq!(
            param("/api/v1/grants", "order")["enum"],
            json!(["asc", "desc"])
        );
        assert_eq!(param("/api/v1/requests", "limit")["maximum"], 500);
    }

    #[test]
    fn the_router_builds_from_the_table() {
        // Two routes for one method and path would panic here.
        let mut router: axum::Router<crate::web::AppState> = axum::Router::new();
        for r in routes() {
            router = router.route(r.path, (r.handler)());
        }
        let _ = router;
    }
}
