//! `GET /api/2/fleet/` (the console's Fleet section): staff only; `{"enabled": false}` on a
//! standalone box; in fleet mode, on a loopback venue of real nats-servers (`RW_NATS_NEW`, see
//! `fleet_venue.rs`), the box registered, its positions moving with a recording, the hub's list
//! of boxes, and a hub that does not answer shown as such without holding the request.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fleet_support::{Pair, REACH, arrives, eventually, record, server};
use crate::support::TestServer;

#[tokio::test]
async fn a_standalone_box_tells_staff_fleet_mode_is_off_and_refuses_anyone_else() {
    let s = TestServer::start().await;
    let anonymous = s.get("/api/2/fleet/", None).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    let (_, visitor) = s.device_token("curious-visitor").await;
    let visitor = s.get("/api/2/fleet/", Some(&visitor)).await;
    assert_eq!(visitor.status, 403, "{}", visitor.body);
    let staff = s.staff_token().await;
    let r = s.get("/api/2/fleet/", Some(&staff)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, json!({"enabled": false}));
    // Without the trailing slash too, like every api/2 path.
    assert_eq!(
        s.get("/api/2/fleet", Some(&staff)).await.body["enabled"],
        false
    );
    s.stop().await;
}

/// The fleet view at `s` as staff `token` sees it, and how long it took.
async fn view(s: &TestServer, token: &str) -> (Value, Duration) {
    let asked = Instant::now();
    let r = s.get("/api/2/fleet/", Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    (r.body, asked.elapsed())
}

fn seq(v: &Value, key: &str) -> u64 {
    v["position"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("position.{key} in {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_fleet_view_shows_the_box_registered_its_positions_moving_and_a_silent_hub() {
    let Some(binary) = server("RW_NATS_NEW") else {
        return;
    };
    let Pair {
        hub: _hub,
        leaf,
        a,
        b,
        ha,
        hb,
        va,
        vb,
    } = Pair::start(&binary, "").await;
    let (staff_a, staff_b) = (a.staff_token().await, b.staff_token().await);

    // Box 2 registered, its link up, the venue's boxes listed with the hub named.
    let before = eventually(REACH, "box 2 registered, the hub named", || async {
        let (v, _) = view(&b, &staff_b).await;
        let boxes = v["venue"]["boxes"].as_array()?.clone();
        let named = boxes.iter().any(|x| x["box"] == 1 && x["hub"] == true);
        (v["registered"] == true && v["link"] == "up" && named).then_some(v)
    })
    .await;
    assert_eq!(before["enabled"], true);
    assert_eq!(before["box"], 2);
    assert_eq!(before["role"], "box");
    assert!(before["central"].is_null(), "{before}");
    assert!(before["audit"].is_null(), "no audit within its first 300 s");
    let this = before["venue"]["boxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["box"] == 2)
        .cloned()
        .expect("box 2 in the registry");
    assert_eq!(this["this_box"], true);
    let holds: Vec<&str> = before["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["holds"].as_str().unwrap())
        .collect();
    assert_eq!(
        holds,
        [
            "own_changes",
            "own_media",
            "catalogue",
            "hub_catalogue",
            "hub_copy_of_media"
        ]
    );

    // A recording at box 2: its stream's position moves, the outbox empties, and the change
    // comes back through the venue catalogue, applied here too.
    let id = record(&hb, &vb, 1.0).await;
    arrives((&hb, &vb), (&ha, &va), id, REACH).await;
    let after = eventually(REACH, "box 2's positions moved", || async {
        let (v, _) = view(&b, &staff_b).await;
        let moved = seq(&v, "published_seq") > seq(&before, "published_seq")
            && seq(&v, "applied_seq") > seq(&before, "applied_seq")
            && seq(&v, "outbox_depth") == 0
            && v["position"]["behind_venue"] == 0;
        moved.then_some(v)
    })
    .await;
    assert!(after["published"].as_u64().unwrap() >= 1, "{after}");
    assert_eq!(after["waiting_for_media"], false);

    // The hub's view: it is the hub, and it takes in box 2's changes and recordings.
    let hub = eventually(REACH, "the hub in touch with box 2", || async {
        let (v, _) = view(&a, &staff_a).await;
        let row = v["venue"]["boxes"]
            .as_array()?
            .iter()
            .find(|x| x["box"] == 2)
            .cloned()?;
        (row["changes"]["in_touch"] == true && row["media"]["kind"] == "mirror").then_some(v)
    })
    .await;
    assert_eq!(
        (hub["role"].as_str(), hub["link"].as_str()),
        (Some("hub"), Some("hub"))
    );
    assert!(
        seq(&hub, "venue_seq") >= seq(&after, "applied_seq"),
        "{hub}"
    );

    // The link cut: box 2 says the hub does not answer, promptly, and keeps its own state.
    leaf.link.cut();
    let (cut, _) = eventually(REACH, "box 2 sees the hub gone", || async {
        let (v, took) = view(&b, &staff_b).await;
        (v["link"] == "down").then_some((v, took))
    })
    .await;
    let (again, took) = view(&b, &staff_b).await;
    eprintln!("the view with the link cut answered in {took:?}");
    assert!(
        took < Duration::from_secs(8),
        "a silent hub held the request {took:?}"
    );
    assert_eq!(again["link"], "down", "{again}");
    assert!(cut["position"]["venue_seq"].is_null(), "{cut}");
    let own = cut["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["holds"] == "own_changes")
        .cloned()
        .unwrap();
    assert_eq!(own["answered"], true, "its own server still answers: {own}");
    let hub_side = cut["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["holds"] == "hub_catalogue")
        .cloned()
        .unwrap();
    assert_eq!(hub_side["answered"], false, "{hub_side}");
    assert!(hub_side["error"].is_string(), "{hub_side}");
    leaf.link.heal();
    for s in [a, b] {
        s.stop().await;
    }
}
