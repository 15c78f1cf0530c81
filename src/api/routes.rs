//! The route table: each api/2 operation is registered once, with its access level and a
//! summary, and that one registration (a) mounts the handler on both slash forms of its path,
//! (b) enforces the access level, and (c) describes the operation in the OpenAPI document —
//! so the document cannot drift from what the server actually serves. The fields an operation
//! reads are described next to it with [`Resource::body`] and [`Resource::query`] (built with
//! [`super::schema`]).

use std::borrow::Cow;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use serde_json::{Map, Value, json};

use super::AppState;
use super::auth::{Access, Caller};
use super::error::ApiError;
use super::schema::{self, Obj};

/// Prefix of every api/2 path.
pub(crate) const PREFIX: &str = "/api/2";

/// One documented operation.
#[derive(Debug, Clone)]
pub(crate) struct Op {
    /// HTTP method.
    pub method: Method,
    /// Who may call it.
    pub access: Access,
    /// One line for the OpenAPI document.
    pub summary: Cow<'static, str>,
    /// The body fields it reads, if it reads a body.
    pub body: Option<Obj>,
    /// The query parameters it reads.
    pub query: Obj,
    /// Counted against a per-address limit (`[limits]`): may answer 429.
    pub limited: bool,
}

/// One path with its operations, being built; [`Resource::add`] ends the chain.
pub(crate) struct Resource<'r> {
    routes: &'r mut Routes,
    app: AppState,
    path: Cow<'static, str>,
    tag: &'static str,
    router: MethodRouter<AppState>,
    ops: Vec<Op>,
}

/// The route tags of configuration: in fleet mode it is written on the hub only
/// (fleet.md §3.2); assets stay writable everywhere (moderation).
const CONFIG_TAGS: [&str; 15] = [
    "projects",
    "projectgroups",
    "tags",
    "tagcategories",
    "tagrelationships",
    "speakers",
    "audiotracks",
    "languages",
    "localizedstrings",
    "uigroups",
    "uiitems",
    "uielements",
    "uielementnames",
    "timedassets",
    "floorplans",
];

#[derive(Clone)]
struct Guard {
    access: Access,
    app: AppState,
    /// A write of configuration.
    config_write: bool,
}

async fn enforce(State(guard): State<Guard>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let caller = match Caller::from_request_parts(&mut parts, &guard.app).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = guard.access.check(&caller) {
        return e.into_response();
    }
    let fleet = &guard.app.config.fleet;
    if guard.config_write && fleet.enabled && fleet.role == crate::config::FleetRole::Box {
        return ApiError::Detail(
            axum::http::StatusCode::CONFLICT,
            format!(
                "configuration is edited on the hub: this is box {} of a fleet, and changes \
                 made on the hub reach it by themselves",
                fleet.box_number
            ),
        )
        .into_response();
    }
    if caller.user.is_some_and(|u| u.is_kiosk)
        && !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
    {
        return ApiError::Detail(
            axum::http::StatusCode::FORBIDDEN,
            "A kiosk token may only read (GET) and follow event streams.".into(),
        )
        .into_response();
    }
    parts.extensions.insert(caller);
    next.run(Request::from_parts(parts, body)).await
}

macro_rules! verb {
    ($name:ident, $filter:expr, $method:expr) => {
        #[doc = concat!("Adds the `", stringify!($name), "` operation.")]
        pub(crate) fn $name<H, T>(
            self,
            access: Access,
            summary: impl Into<Cow<'static, str>>,
            handler: H,
        ) -> Self
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            self.op($filter, $method, access, summary.into(), handler)
        }
    };
}

impl Resource<'_> {
    fn op<H, T>(
        mut self,
        filter: MethodFilter,
        method: Method,
        access: Access,
        summary: Cow<'static, str>,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let guard = Guard {
            access,
            app: self.app.clone(),
            config_write: CONFIG_TAGS.contains(&self.tag)
                && !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS),
        };
        let one = axum::routing::on(filter, handler)
            .route_layer(middleware::from_fn_with_state(guard, enforce));
        self.router = self.router.merge(one);
        self.ops.push(Op {
            method,
            access,
            summary,
            body: None,
            query: Obj::default(),
            limited: false,
        });
        self
    }

    fn last_op(&mut self) -> &mut Op {
        // Only ever called right after a verb in a route registration; a describe call before
        // any verb is a bug that the OpenAPI tests (which build the whole table) hit at once.
        self.ops
            .last_mut()
            .expect("describe an operation after adding it")
    }

    /// Describes the body fields the operation just added reads.
    pub(crate) fn body(mut self, fields: Obj) -> Self {
        self.last_op().body = Some(fields);
        self
    }

    /// Marks the operation just added as counted against a per-address limit (its handler
    /// takes a `limits::Allow`), so the document lists its 429.
    pub(crate) fn limited(mut self) -> Self {
        self.last_op().limited = true;
        self
    }

    /// Describes the query parameters the operation just added reads.
    pub(crate) fn query(mut self, fields: Obj) -> Self {
        self.last_op().query = fields;
        self
    }

    verb!(get, MethodFilter::GET, Method::GET);
    verb!(post, MethodFilter::POST, Method::POST);
    verb!(put, MethodFilter::PUT, Method::PUT);
    verb!(patch, MethodFilter::PATCH, Method::PATCH);
    verb!(delete, MethodFilter::DELETE, Method::DELETE);

    /// Mounts the resource on `/api/2<path>` and on the same path without its trailing
    /// slash.
    pub(crate) fn add(self) {
        let Resource {
            routes,
            app: _,
            path,
            tag,
            router,
            ops,
        } = self;
        routes.mount(path, tag, router, ops);
    }
}

/// The api/2 router being assembled, with the documentation of everything in it.
pub(crate) struct Routes {
    app: AppState,
    router: Router<AppState>,
    docs: Vec<(Cow<'static, str>, &'static str, Vec<Op>)>,
}

impl Routes {
    /// An empty table for the given state (access checks need the store).
    pub(crate) fn new(app: AppState) -> Self {
        Self {
            app,
            router: Router::new(),
            docs: Vec::new(),
        }
    }

    /// Starts a path below `/api/2`, written with its trailing slash (`/assets/{id}/`); `tag`
    /// groups it in the OpenAPI document. Finish it with [`Resource::add`].
    pub(crate) fn at(
        &mut self,
        path: impl Into<Cow<'static, str>>,
        tag: &'static str,
    ) -> Resource<'_> {
        Resource {
            app: self.app.clone(),
            routes: self,
            path: path.into(),
            tag,
            router: MethodRouter::new(),
            ops: Vec::new(),
        }
    }

    fn mount(
        &mut self,
        path: Cow<'static, str>,
        tag: &'static str,
        router: MethodRouter<AppState>,
        ops: Vec<Op>,
    ) {
        let allowed: Vec<String> = ops
            .iter()
            .map(|o| o.method.to_string())
            .chain(["OPTIONS".to_string()])
            .collect();
        let options_body = json!({"name": tag, "allowed_methods": allowed});
        let mr = router
            .options(move || {
                let body = options_body.clone();
                async move { axum::Json(body) }
            })
            .fallback(
                |method: Method| async move { ApiError::MethodNotAllowed(method.to_string()) },
            );
        let with_slash = format!("{PREFIX}{path}");
        let without = with_slash.trim_end_matches('/').to_string();
        self.router = std::mem::take(&mut self.router).route(&with_slash, mr.clone());
        if without != with_slash {
            self.router = std::mem::take(&mut self.router).route(&without, mr);
        }
        self.docs.push((path, tag, ops));
    }

    /// Every documented operation as (path, method, access).
    pub(crate) fn operations(&self) -> Vec<(String, Method, Access)> {
        self.docs
            .iter()
            .flat_map(|(path, _, ops)| {
                ops.iter()
                    .map(move |o| (format!("{PREFIX}{path}"), o.method.clone(), o.access))
            })
            .collect()
    }

    /// The OpenAPI 3 document of every registered operation.
    pub(crate) fn openapi(&self) -> Value {
        let mut paths = Map::new();
        for (path, tag, ops) in &self.docs {
            let mut item = Map::new();
            let path_ids: Vec<Value> = path_params(path)
                .into_iter()
                .map(|name| json!({"name": name, "in": "path", "required": true, "schema": schema::path_id()}))
                .collect();
            for op in ops {
                let mut params = path_ids.clone();
                params.extend(op.query.query_parameters());
                let method = op.method.as_str().to_ascii_lowercase();
                let mut responses = Map::new();
                if op.method == Method::DELETE {
                    responses.insert("204".into(), json!({"description": "Deleted; empty body."}));
                } else {
                    responses.insert(
                        "200".into(),
                        json!({"description": "Success (creates answer 200 too).",
                               "content": {"application/json": {"schema": {}}}}),
                    );
                }
                responses.insert(
                    "400".into(),
                    json!({"$ref": "#/components/responses/BadRequest"}),
                );
                if op.access != Access::Anyone {
                    responses.insert(
                        "401".into(),
                        json!({"$ref": "#/components/responses/Unauthenticated"}),
                    );
                }
                if matches!(op.access, Access::Staff | Access::Owner) {
                    responses.insert(
                        "403".into(),
                        json!({"$ref": "#/components/responses/Forbidden"}),
                    );
                }
                responses.insert(
                    "404".into(),
                    json!({"$ref": "#/components/responses/NotFound"}),
                );
                if op.body.is_some() {
                    responses.insert(
                        "408".into(),
                        json!({"$ref": "#/components/responses/SlowBody"}),
                    );
                    responses.insert(
                        "413".into(),
                        json!({"$ref": "#/components/responses/TooLarge"}),
                    );
                    responses.insert(
                        "415".into(),
                        json!({"$ref": "#/components/responses/UnsupportedMediaType"}),
                    );
                }
                responses.insert(
                    "414".into(),
                    json!({"$ref": "#/components/responses/UriTooLong"}),
                );
                responses.insert(
                    "503".into(),
                    json!({"$ref": "#/components/responses/Unavailable"}),
                );
                if op.limited {
                    responses.insert(
                        "429".into(),
                        json!({"$ref": "#/components/responses/TooManyRequests"}),
                    );
                }
                if op.method != Method::GET {
                    responses.insert(
                        "507".into(),
                        json!({"$ref": "#/components/responses/InsufficientStorage"}),
                    );
                }
                let mut operation = json!({
                    "summary": op.summary,
                    "operationId": format!("{method}_{}", path.trim_matches('/').replace(['/', '{', '}'], "_")),
                    "tags": [tag],
                    "x-access": op.access.describe(),
                    "parameters": params,
                    "responses": responses,
                });
                if op.access != Access::Anyone {
                    operation["security"] = json!([{"token": []}]);
                }
                if let Some(body) = &op.body {
                    operation["requestBody"] = body.request_body();
                }
                item.insert(method, operation);
            }
            paths.insert(format!("{PREFIX}{path}"), Value::Object(item));
        }
        let detail = json!({"type": "object", "properties": {"detail": {"type": "string"}}});
        json!({
            "openapi": "3.0.3",
            "info": {
                "title": "roundwared api/2",
                "version": env!("CARGO_PKG_VERSION"),
                "description": "The Roundware api/2 surface served by roundwared. Every path also answers without its trailing slash. Bodies are described in their canonical JSON form; the server also takes urlencoded and multipart forms, numbers as strings and id lists as `1,2`.",
            },
            "paths": paths,
            "components": {
                "securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "`token <key>` as returned by POST /api/2/users/ or /api/2/login/"}},
                "responses": {
                    "BadRequest": {"description": "Invalid input: `detail` or a field map naming the problem.",
                        "content": {"application/json": {"schema": {"type": "object"}}}},
                    "Unauthenticated": {"description": "Missing or invalid token.", "content": {"application/json": {"schema": detail}}},
                    "Forbidden": {"description": "Staff only (`x-access: staff`), or the object's owner or staff (`x-access: owner`).", "content": {"application/json": {"schema": detail}}},
                    "NotFound": {"description": "No such object (the path's id, or one the request names), or no such page.", "content": {"application/json": {"schema": detail}}},
                    "TooLarge": {"description": "The body is over the size limit.", "content": {"application/json": {"schema": detail}}},
                    "UnsupportedMediaType": {"description": "Send JSON, a urlencoded form or multipart.", "content": {"application/json": {"schema": detail}}},
                    "UriTooLong": {"description": "The URI is over 64 KiB (answered by the HTTP layer, without a body)."},
                    "Unavailable": {"description": "The box is busy (every stream slot taken, every upload place in use) or shutting down; `Retry-After` says when to try again.", "content": {"application/json": {"schema": detail}}},
                    "SlowBody": {"description": "The body arrived too slowly (`[http] body_timeout_s`, `body_min_bytes_per_s`); the connection is closed."},
                    "TooManyRequests": {"description": "A per-address or per-user limit of `[limits]` was reached; `detail` names it and `Retry-After` says when to try again.", "content": {"application/json": {"schema": detail}}},
                    "InsufficientStorage": {"description": "The disk is full, or below the upload reserve (`[storage] min_free_mb`); nothing was written.", "content": {"application/json": {"schema": detail}}},
                }
            }
        })
    }

    /// The finished router.
    pub(crate) fn into_router(self) -> Router<AppState> {
        self.router
    }
}

fn path_params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}
