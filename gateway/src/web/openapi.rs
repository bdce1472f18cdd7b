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
            |q| json!({"name": q, "in": "query", "required": false, "schema": {"type": "string"}}),
        ));
        let who: Vec<&str> = r.roles.iter().map(|role| role.as_str()).collect();
        let mut responses = Map::new();
        responses.insert("200".into(), json!({"description": "OK"}));
        for (code, text) in [
            ("400", "bad_json or bad_input"),
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
                    json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}}}}),
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
    fn the_router_builds_from_the_table() {
        // Two routes for one method and path would panic here.
        let mut router: axum::Router<crate::web::AppState> = axum::Router::new();
        for r in routes() {
            router = router.route(r.path, (r.handler)());
        }
        let _ = router;
    }
}
