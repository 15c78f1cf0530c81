//! F7 of fleet.md §5: the hub's bridge pushes what visitors made at the venue to a central
//! Roundware server exactly once, through a proxy that cuts the answer of every third request
//! (central did the work; the bridge never heard) and refuses one listen event as central
//! would a bad one. A roundwared stands in for central with the demo project; visitors record,
//! vote and listen at box 2 (through the catalogue and telemetry) and at the hub itself. Run
//! where `RW_NATS_NEW` names a nats-server ≥ 2.14.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::fleet_support::{
    Http, Hub, Leaf, Visitor, demo_central, device_token, eventually, record_bytes, server,
};
use crate::media_support::{Fmt, wav};
use crate::support::TestServer;

/// The start of the listen event the proxy refuses (central's 4xx).
const REFUSED_START: &str = "2001-02-03T04:05:06";

/// What the proxy saw.
#[derive(Default)]
struct Counts {
    forwarded: AtomicUsize,
    cut: AtomicUsize,
    refused: AtomicUsize,
}

struct Proxy {
    upstream: String,
    client: reqwest::Client,
    counts: Counts,
}

/// Starts the proxy in front of `upstream` (`http://127.0.0.1:PORT`); its base URL.
async fn fault_proxy(upstream: String) -> (String, Arc<Proxy>) {
    let proxy = Arc::new(Proxy {
        upstream,
        client: reqwest::Client::new(),
        counts: Counts::default(),
    });
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(proxy.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, proxy)
}

/// Forwards one request; the answer of every third is cut off (the connection breaks before
/// the client has it), and a listen event starting at [`REFUSED_START`] is answered 400.
async fn forward(State(p): State<Arc<Proxy>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 << 20).await else {
        return axum::http::StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    if parts.method == "POST"
        && path.starts_with("/api/2/listenevents/")
        && String::from_utf8_lossy(&body).contains(REFUSED_START)
    {
        p.counts.refused.fetch_add(1, Ordering::SeqCst);
        let refusal = json!({"detail": "this listen event is refused by central"});
        return (axum::http::StatusCode::BAD_REQUEST, axum::Json(refusal)).into_response();
    }
    let mut upstream = p
        .client
        .request(parts.method.clone(), format!("{}{path}", p.upstream))
        .body(body);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name, value);
        }
    }
    // Central gone (the test's end): a gateway's answer.
    let Ok(answer) = upstream.send().await else {
        return axum::http::StatusCode::BAD_GATEWAY.into_response();
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let Ok(bytes) = answer.bytes().await else {
        return axum::http::StatusCode::BAD_GATEWAY.into_response();
    };
    let n = p.counts.forwarded.fetch_add(1, Ordering::SeqCst) + 1;
    if n % 3 == 0 {
        p.counts.cut.fetch_add(1, Ordering::SeqCst);
        let broken = futures_util::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::other("the answer is cut off"))
        });
        return Response::builder()
            .status(200)
            .body(Body::from_stream(broken))
            .unwrap();
    }
    let mut response = Response::builder().status(status.as_u16());
    for (name, value) in &headers {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            response = response.header(name.as_str(), value.as_bytes());
        }
    }
    response.body(Body::from(bytes)).unwrap()
}

/// The event type visitors send in this test.
const STEP: &str = "tour_step";

/// How many of the project's assets, votes and listen events, and how many [`STEP`] events,
/// `central` has.
async fn counts_at(central: &TestServer, staff: &str, project: i64) -> [usize; 4] {
    let mut out = [0; 4];
    let lists = [
        format!("assets/?project_id={project}"),
        format!("votes/?project_id={project}"),
        format!("listenevents/?project_id={project}"),
        format!("events/?event_type={STEP}"),
    ];
    for (i, list) in lists.iter().enumerate() {
        let r = central.get(&format!("/api/2/{list}"), Some(staff)).await;
        out[i] = r.ok().as_array().unwrap().len();
    }
    out
}

/// A visitor of box `s` in project `project` (its local id there).
async fn visitor_in(s: &Http, device: &str, project: i64) -> Visitor {
    let token = device_token(s, device).await;
    let session = s
        .post(
            "/api/2/sessions/",
            Some(&token),
            json!({"project_id": project}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    Visitor { token, session }
}

/// The project's assets at `s`, as `token` sees them.
async fn listed(s: &Http, token: &str, project: i64) -> Option<Vec<Value>> {
    let listed = s
        .get_json(&format!("/api/2/assets/?project_id={project}"), token)
        .await?;
    listed.as_array().cloned()
}

/// The local id of the project named `name` at `s`, once it has it with `assets` assets.
async fn project_at(s: &Http, token: &str, name: &str, assets: usize) -> i64 {
    eventually(
        Duration::from_secs(90),
        "the central project at the box",
        || async {
            let projects = s.get_json("/api/2/projects/", token).await?;
            let id = projects.as_array()?.iter().find(|p| p["name"] == name)?["id"].as_i64()?;
            (listed(s, token, id).await?.len() == assets).then_some(id)
        },
    )
    .await
}

/// At box `s`, `v` records `takes` times, votes on each of `voted`, listens to each of
/// `heard` and sends `steps` events; the new assets' ids.
async fn contribute(
    s: &Http,
    v: &Visitor,
    takes: usize,
    voted: &[i64],
    heard: &[i64],
    steps: usize,
) -> Vec<i64> {
    let mut made = Vec::new();
    for i in 0..takes {
        let seconds = 1.0 + i as f64 * 0.25;
        made.push(record_bytes(s, v, wav(22_050, 1, Fmt::Pcm16, seconds)).await);
    }
    for asset in voted {
        s.post(
            "/api/2/votes/",
            Some(&v.token),
            json!({"session_id": v.session, "asset_id": asset, "type": "like"}),
        )
        .await;
    }
    for (i, asset) in heard.iter().enumerate() {
        s.post(
            "/api/2/listenevents/",
            Some(&v.token),
            json!({
                "session": v.session,
                "asset": asset,
                "starttime": format!("2026-12-07T10:{:02}:00", i % 60),
                "duration_in_seconds": 12.5,
            }),
        )
        .await;
    }
    for i in 0..steps {
        s.post(
            "/api/2/events/",
            Some(&v.token),
            json!({
                "session_id": v.session,
                "event_type": STEP,
                "client_time": format!("2026-12-07T11:00:{i:02}"),
                "data": format!("{{\"step\": {i}}}"),
            }),
        )
        .await;
    }
    made
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_visitors_make_at_the_venue_reaches_central_exactly_once_though_answers_are_lost() {
    let Some(binary) = server("RW_NATS_NEW") else {
        return;
    };
    let (central, staff, project, name) = demo_central().await;
    let before = counts_at(&central, &staff, project).await;
    let last_asset = central.scalar("SELECT max(id) FROM assets").await;
    let (proxied, proxy) = fault_proxy(central.url("")).await;

    let hub = Hub::start(&binary);
    let leaf = Leaf::start(&binary, &hub, 2).await;
    let a = TestServer::start_with(&format!(
        "{}[fleet.central]\nurl = \"{proxied}/api/2/\"\nprojects = [{project}]\npoll_s = 5\n",
        hub.toml(),
    ))
    .await;
    let b = TestServer::start_with(&leaf.toml()).await;
    let (ha, hb) = (Http::of(&a), Http::of(&b));
    let (ta, tb) = (
        device_token(&ha, "phone-venue-a").await,
        device_token(&hb, "phone-venue-b").await,
    );
    let here_b = project_at(&hb, &tb, &name, before[0]).await;
    let here_a = project_at(&ha, &ta, &name, before[0]).await;
    let pulled: Vec<i64> = listed(&hb, &tb, here_b)
        .await
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert!(pulled.len() >= 3, "the demo has assets to vote on");

    // Box 2: 6 recordings, 6 votes, 12 listen events (6 of them on its own new recordings,
    // which must reach central first) and 2 events; the hub: 4, 4, 8 and 1, and one listen
    // event central refuses.
    let vb = visitor_in(&hb, "phone-venue-b", here_b).await;
    let made_b = contribute(&hb, &vb, 6, &[], &[], 0).await;
    let mut voted_b: Vec<i64> = pulled.iter().take(3).copied().collect();
    voted_b.extend(&made_b[..3]);
    let mut heard_b: Vec<i64> = pulled.iter().cycle().take(6).copied().collect();
    heard_b.extend(&made_b);
    contribute(&hb, &vb, 0, &voted_b, &heard_b, 2).await;
    let va = visitor_in(&ha, "phone-venue-a", here_a).await;
    let made_a = contribute(&ha, &va, 4, &[], &[], 0).await;
    let mut voted_a: Vec<i64> = pulled.iter().take(2).copied().collect();
    voted_a.extend(&made_a[..2]);
    let mut heard_a: Vec<i64> = pulled.iter().cycle().take(4).copied().collect();
    heard_a.extend(&made_a);
    contribute(&ha, &va, 0, &voted_a, &heard_a, 1).await;
    ha.post(
        "/api/2/listenevents/",
        Some(&va.token),
        json!({"session": va.session, "asset": pulled[0], "starttime": REFUSED_START,
               "duration_in_seconds": 3}),
    )
    .await;

    let goal = [before[0] + 10, before[1] + 10, before[2] + 20, 3];
    eventually(Duration::from_secs(180), "central has it all", || async {
        let now = counts_at(&central, &staff, project).await;
        now.iter().zip(goal).all(|(n, g)| *n >= g).then_some(())
    })
    .await;
    // Two more rounds: nothing more arrives (each exactly once), and the venue still holds
    // each recording once (none pulled back as new).
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        counts_at(&central, &staff, project).await,
        goal,
        "central's assets, votes, listen events and {STEP} events"
    );
    assert!(
        proxy.counts.cut.load(Ordering::SeqCst) >= 10,
        "answers were cut: {}",
        proxy.counts.cut.load(Ordering::SeqCst)
    );
    for (s, token, here) in [(&ha, &ta, here_a), (&hb, &tb, here_b)] {
        let assets = listed(s, token, here).await.unwrap();
        assert_eq!(assets.len(), before[0] + 10, "{}", s.base);
    }
    // Each recording is its visitor's at central: 6 of box 2's device, 4 of the hub's.
    for (device, n) in [("phone-venue-b", 6), ("phone-venue-a", 4)] {
        let theirs = central
            .scalar(&format!(
                "SELECT count(*) FROM assets a JOIN users u ON u.id = a.user_id
                  WHERE a.id > {last_asset} AND u.device_id = '{device}'"
            ))
            .await;
        assert_eq!(theirs, n, "{device}'s recordings at central");
    }
    let refused = proxy.counts.refused.load(Ordering::SeqCst);
    assert_eq!(refused, 1, "a dead letter is not sent again");
    let view = a.get("/api/2/fleet/", Some(&a.staff_token().await)).await;
    let push = &view.ok()["central"]["push"];
    assert_eq!(push["waiting"], 0, "{push}");
    assert_eq!(push["pushed"], 43, "{push}");
    assert_eq!(push["dead"], 1, "{push}");
    let letter = &push["dead_letters"][0];
    assert_eq!(letter["kind"], "listenevent", "{push}");
    assert!(
        letter["why"]
            .as_str()
            .unwrap()
            .contains("refused by central"),
        "{push}"
    );
    let metrics = a.metrics().await;
    for line in [
        "roundwared_fleet_central_waiting 0",
        "roundwared_fleet_central_pushed 43",
        "roundwared_fleet_central_dead 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    b.stop().await;
    a.stop().await;
    central.stop().await;
}
