//! The HTTP API: the Roundware api/2 surface under `/api/2/`, the media files under
//! `/rwmedia/` (`media`) and the live streams at `/stream<id>.mp3` (`stream`, handed to the
//! feeds' fan-out writers by [`listen`]), with CORS on every route; [`conn`] wraps accepted
//! sockets so a stream can cap its send buffer.
//!
//! Handlers are thin: read input ([`input`]), check it, make one call into the store (or,
//! later, the conductor), shape the answer. Every operation is registered through
//! [`routes::Routes`], which also enforces its access level and documents it in the OpenAPI
//! document served at `/api/2/openapi.json`.
//!
//! Owns: routing, request parsing, response shapes (DTOs), status codes. May not touch: SQL,
//! audio, locks held across awaits, business rules that belong to the store or the engine.

pub(crate) mod auth;
pub(crate) mod client;
pub(crate) mod conn;
pub(crate) mod error;
mod fields;
mod health;
pub(crate) mod ingest;
pub(crate) mod input;
pub(crate) mod limits;
pub(crate) mod list_cache;
pub(crate) mod listen;
pub(crate) mod login_guard;
mod paging;
pub(crate) mod routes;
pub(crate) mod schema;
pub(crate) mod serve;
pub(crate) mod slow_body;
pub(crate) mod stream_slots;

mod asset_filters;
mod assets;
mod audiotracks;
mod crud;
mod envelopes;
mod events;
mod eventstreams;
mod fleet;
mod floorplans;
mod kiosks;
mod languages;
mod listenevents;
mod livepeer;
mod local_audio;
mod media;
mod media_files;
mod position;
mod projectgroups;
mod projects;
mod sessions;
mod speakers;
mod stream;
mod streams;
mod tags;
mod timedassets;
mod uielements;
mod uigroups;
mod uploads;
mod users;
mod votes;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, RawPathParams};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use axum::http::request::Parts;
use axum::http::{HeaderName, Method};
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};
use tower_http::cors::{Any, CorsLayer};

use crate::conductor::Engine;
use crate::config::Config;
use crate::health::Health;
use crate::output::card::Card;
use crate::output::feed::Feeds;
use crate::position::PositionSource;
use crate::store::Store;
pub(crate) use error::{ApiError, ApiResult};

/// Shared state of every handler; cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState {
    /// The database.
    pub store: Store,
    /// The validated configuration.
    pub config: Arc<Config>,
    /// Recently resolved tokens.
    pub tokens: Arc<auth::TokenCache>,
    /// Cached renderings of hot list responses, invalidated by the store revision.
    pub cache: Arc<list_cache::ListCache>,
    /// The stream engine (`/api/2/streams/`).
    pub engine: Engine,
    /// Live MP3 feeds by stream (session) id, served at `/stream<id>.mp3`.
    pub feeds: Feeds,
    /// Component probes and request counters for `/healthz`, `/metrics` and the watchdog.
    pub health: Health,
    /// The box's own position (`[position]`), shown at `/api/2/position/`.
    pub position: PositionSource,
    /// The local listener's sound card, once started.
    pub card: Arc<OnceLock<Card>>,
    /// The upload service (with its uploads in flight and conversion slots).
    pub ingest: Arc<crate::ingest::Ingest>,
    /// Per-address request limits, stream caps per user, the login back-off.
    pub limits: Arc<limits::Limits>,
    /// Event streams (`/stream/0/`).
    pub events: crate::events::Events,
    /// Broadcast channels live now (`/livepeer/api/`, `/live/`).
    pub broadcast: crate::broadcast::Broadcast,
    /// Fleet mode, when `[fleet] enabled` (`/api/2/fleet/`).
    pub fleet: Option<crate::fleet::Fleet>,
}

/// What the daemon's start built and hands to the API ready-made.
pub(crate) struct Components {
    /// The database.
    pub store: Store,
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The running stream engine.
    pub engine: Engine,
    /// The feeds the engine publishes into.
    pub feeds: Feeds,
    /// The health registry, with the probes of what the daemon started.
    pub health: Health,
    /// The running position source.
    pub position: PositionSource,
    /// Where the local listener's card is put once started.
    pub card: Arc<OnceLock<Card>>,
    /// The upload service.
    pub ingest: Arc<crate::ingest::Ingest>,
    /// The event stream service.
    pub events: crate::events::Events,
    /// The live broadcast channels.
    pub broadcast: crate::broadcast::Broadcast,
    /// Fleet mode, when it runs.
    pub fleet: Option<crate::fleet::Fleet>,
}

impl AppState {
    /// The API's state over the daemon's components, with the API's own caches and limits.
    pub(crate) fn new(c: Components) -> Self {
        Self {
            tokens: Arc::new(auth::TokenCache::default()),
            cache: Arc::new(list_cache::ListCache::default()),
            limits: Arc::new(limits::Limits::new(&c.config)),
            store: c.store,
            engine: c.engine,
            feeds: c.feeds,
            health: c.health,
            position: c.position,
            card: c.card,
            ingest: c.ingest,
            events: c.events,
            broadcast: c.broadcast,
            fleet: c.fleet,
            config: c.config,
        }
    }
}

/// Builds the api/2 route table (exposed for the OpenAPI tests).
pub(crate) fn routes(state: &AppState) -> routes::Routes {
    let mut r = routes::Routes::new(state.clone());
    users::routes(&mut r);
    sessions::routes(&mut r);
    projects::routes(&mut r);
    floorplans::routes(&mut r);
    projectgroups::routes(&mut r);
    assets::routes(&mut r);
    envelopes::routes(&mut r);
    tags::routes(&mut r);
    languages::routes(&mut r);
    audiotracks::routes(&mut r);
    speakers::routes(&mut r);
    streams::routes(&mut r);
    uigroups::routes(&mut r);
    uielements::routes(&mut r);
    timedassets::routes(&mut r);
    votes::routes(&mut r);
    events::routes(&mut r);
    listenevents::routes(&mut r);
    position::routes(&mut r);
    kiosks::routes(&mut r);
    local_audio::routes(&mut r);
    fleet::routes(&mut r);
    r
}

/// The whole HTTP application: api/2, the root map, the OpenAPI document, `/rwmedia/`,
/// `/healthz` and `/metrics`, the routes in `pages` (the web pages, merged by the daemon's
/// start), request metrics, CORS, and JSON answers for unknown paths.
pub(crate) fn router(state: AppState, pages: Router<AppState>) -> Router {
    let body_limit = DefaultBodyLimit::max(state.config.limits.max_upload_bytes());
    let table = routes(&state);
    // Built on the first request and kept as text: the document's tree is a few MB of small
    // maps while it is built, which a daemon that is never asked for it should not pay for.
    let openapi = Arc::new(OnceLock::<bytes::Bytes>::new());
    let openapi_state = state.clone();
    let names = Arc::new(root_map(&table));
    let names_no_slash = names.clone();
    table
        .into_router()
        .route(
            "/api/2/",
            axum::routing::get(move |base: BaseUrl| root(base, names.clone())),
        )
        .route(
            "/api/2",
            axum::routing::get(move |base: BaseUrl| root(base, names_no_slash.clone())),
        )
        .route(
            "/api/2/openapi.json",
            axum::routing::get(move || {
                let doc = openapi
                    .get_or_init(|| {
                        let mut doc = routes(&openapi_state).openapi();
                        eventstreams::document(&mut doc);
                        livepeer::document(&mut doc);
                        bytes::Bytes::from(serde_json::to_vec(&doc).unwrap_or_default())
                    })
                    .clone();
                async move { ([(CONTENT_TYPE, "application/json")], doc) }
            }),
        )
        .route(
            "/rwmedia/{*path}",
            axum::routing::get(media::serve).fallback(|method: Method| async move {
                ApiError::MethodNotAllowed(method.to_string())
            }),
        )
        .route(
            // matchit has no suffix parameters: `{file}` is `<id>.mp3`, checked by the handler.
            "/stream{file}",
            axum::routing::get(stream::serve).fallback(|method: Method| async move {
                ApiError::MethodNotAllowed(method.to_string())
            }),
        )
        .merge(health::routes())
        .route(
            "/live/{file}",
            axum::routing::get(stream::serve_live).fallback(|method: Method| async move {
                ApiError::MethodNotAllowed(method.to_string())
            }),
        )
        .merge(eventstreams::router())
        .merge(livepeer::router())
        .merge(pages)
        .fallback(|| async { ApiError::NotFound("path".into()) })
        .layer(axum::middleware::from_fn_with_state(
            state.health.clone(),
            health::track,
        ))
        .layer(body_limit)
        .layer(cors())
        .with_state(state)
}

/// CORS for browsers on the venue network: any origin (the box has no cookies; the token
/// travels in a header), the headers and methods the Roundware clients use.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PATCH,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            AUTHORIZATION,
            CONTENT_TYPE,
            HeaderName::from_static("icy-metadata"),
            HeaderName::from_static("range"),
        ])
        .expose_headers(
            ["content-length", "content-range", "accept-ranges", "etag"]
                .into_iter()
                .chain(stream::ICY_HEADERS)
                .map(HeaderName::from_static)
                .collect::<Vec<_>>(),
        )
        .max_age(std::time::Duration::from_secs(3600))
}

fn root_map(table: &routes::Routes) -> Vec<String> {
    let mut names: Vec<String> = table
        .operations()
        .into_iter()
        .filter(|(path, method, _)| *method == Method::GET && !path.contains('{'))
        .filter_map(|(path, _, _)| {
            let rest = path.strip_prefix("/api/2/")?.trim_end_matches('/');
            (!rest.is_empty() && !rest.contains('/')).then(|| rest.to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

async fn root(base: BaseUrl, names: Arc<Vec<String>>) -> impl IntoResponse {
    let map: Map<String, Value> = names
        .iter()
        .map(|n| (n.clone(), json!(format!("{}/api/2/{n}/", base.0))))
        .collect();
    axum::Json(Value::Object(map))
}

/// The base of absolute URLs handed to clients: `[http] public_url`, else `http://<Host>`.
#[derive(Debug, Clone)]
pub(crate) struct BaseUrl(pub String);

impl FromRequestParts<AppState> for BaseUrl {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(url) = &state.config.http.public_url {
            return Ok(Self(url.clone()));
        }
        Ok(Self(base_from_host(parts, state)))
    }
}

fn base_from_host(parts: &Parts, state: &AppState) -> String {
    let host = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| valid_host(h))
        .map(str::to_string)
        .unwrap_or_else(|| state.config.http.listen.to_string());
    format!("http://{host}")
}

/// A Host header is only echoed into URLs when it looks like `name[:port]` or `[v6]:port`.
fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'))
}

/// The `{id}` of a path, as an integer; anything else is a 404 like an unknown id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("path".into()))?;
        let raw = params
            .iter()
            .find(|(k, _)| *k == "id")
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        raw.parse::<i64>()
            .map(Id)
            .map_err(|_| ApiError::NotFound(format!("id `{raw}`")))
    }
}
