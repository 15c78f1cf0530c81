//! Fleet scenarios (fleet.md §5) on a loopback venue: a hub box and leaf boxes, each on its
//! own real nats-server, the leaf links through forwarders the tests cut. They run where
//! `RW_NATS_NEW` names a nats-server ≥ 2.14 (the test command prepares one) and skip with a
//! printed reason elsewhere, so a plain `cargo test` does not pay for them.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::fleet_support::{Hub, Leaf, eventually, has_project, seed_project, server};
use crate::media_support::{Fmt, P, send, wav};
use crate::support::TestServer;

/// A visitor of one box: a device token and a session there.
struct Visitor {
    token: String,
    session: i64,
}

async fn visitor(s: &TestServer, device: &str) -> Visitor {
    let (_, token) = s.device_token(device).await;
    let session = s
        .post("/api/2/sessions/", Some(&token), json!({"project_id": 1}))
        .await
        .ok()["id"]
        .as_i64()
        .expect("a session");
    Visitor { token, session }
}

/// Records `seconds` of tone at box `s` as `v`; the new asset's id.
async fn record(s: &TestServer, v: &Visitor, seconds: f64) -> i64 {
    let envelope = s
        .post(
            "/api/2/envelopes/",
            Some(&v.token),
            json!({"session_id": v.session}),
        )
        .await
        .ok()["id"]
        .as_i64()
        .unwrap();
    let session = v.session.to_string();
    let reply = send(
        s,
        Method::PATCH,
        &format!("/api/2/envelopes/{envelope}/"),
        Some(&v.token),
        vec![
            P::T("session_id", &session),
            P::T("submitted", "true"),
            P::F(
                "file",
                Some("take.wav"),
                "audio/wav",
                wav(22_050, 1, Fmt::Pcm16, seconds),
            ),
        ],
    )
    .await;
    reply.ok()["id"].as_i64().expect("an asset id")
}

/// The asset as box `s` answers it, once it does.
async fn asset_at(s: &TestServer, token: &str, id: i64) -> Option<Value> {
    let r = s.get(&format!("/api/2/assets/{id}/"), Some(token)).await;
    (r.status == 200).then(|| r.body.clone())
}

/// The bytes of a media URL (`file`) or name (`filename`) as box `s` serves them.
async fn media_bytes(s: &TestServer, url: &str) -> Vec<u8> {
    let path = match url.find("/rwmedia/") {
        Some(i) => url[i..].to_owned(),
        None => format!("/rwmedia/{url}"),
    };
    let r = s.client.get(s.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url} at {}", s.url(""));
    r.bytes().await.unwrap().to_vec()
}

/// Waits until `id` is an asset at `to`; then its media must be there at once, byte for byte
/// the origin's.
async fn arrives(from: &TestServer, from_token: &str, to: &TestServer, to_token: &str, id: i64) {
    let there = eventually(Duration::from_secs(30), &format!("asset {id}"), || async {
        asset_at(to, to_token, id).await
    })
    .await;
    let here = asset_at(from, from_token, id).await.expect("at its origin");
    for field in ["file", "filename"] {
        let (a, b) = (
            here[field].as_str().unwrap(),
            there[field].as_str().unwrap(),
        );
        assert_eq!(
            media_bytes(from, a).await,
            media_bytes(to, b).await,
            "{field} of asset {id}"
        );
    }
    assert_eq!(
        here["audio_length_in_seconds"],
        there["audio_length_in_seconds"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recording_made_at_one_box_plays_at_every_other_with_the_same_media() {
    let Some(binary) = server("RW_NATS_NEW") else {
        return;
    };
    let hub = Hub::start(&binary);
    let leaf_b = Leaf::start(&binary, &hub, 2).await;
    let leaf_c = Leaf::start(&binary, &hub, 3).await;
    let a = TestServer::start_with(&hub.toml()).await;
    seed_project(&a).await;
    let b = TestServer::start_with(&leaf_b.toml()).await;
    let c = TestServer::start_with(&leaf_c.toml()).await;
    has_project(&b).await;
    has_project(&c).await;

    let (va, vb, vc) = (
        visitor(&a, "phone-a").await,
        visitor(&b, "phone-b").await,
        visitor(&c, "phone-c").await,
    );
    let mut made = Vec::new();
    for (s, v) in [(&b, &vb), (&b, &vb), (&a, &va), (&c, &vc)] {
        made.push(record(s, v, 1.5).await);
    }
    let ids: HashSet<i64> = made.iter().copied().collect();
    assert_eq!(ids.len(), made.len(), "every box numbers its own: {made:?}");
    let boxes = [(&a, &va), (&b, &vb), (&c, &vc)];
    for &id in &made {
        let origin = boxes
            .iter()
            .find(|(_, v)| id / 1_000_000_000_000 == v.session / 1_000_000_000_000)
            .expect("the origin box");
        for (s, v) in boxes {
            arrives(origin.0, &origin.1.token, s, &v.token, id).await;
        }
    }

    // A vote at C on B's recording counts at B; a curator's moderation at the hub reaches
    // every box, and so does a deletion.
    let liked = made[0];
    c.post(
        "/api/2/votes/",
        Some(&vc.token),
        json!({"session_id": vc.session, "asset_id": liked, "type": "like"}),
    )
    .await
    .ok();
    eventually(Duration::from_secs(20), "the vote at B", || async {
        (b.scalar(&format!(
            "SELECT count(*) FROM votes WHERE asset_id = {liked}"
        ))
        .await
            == 1)
            .then_some(())
    })
    .await;
    let staff = a.staff_token().await;
    a.patch(
        &format!("/api/2/assets/{liked}/"),
        Some(&staff),
        json!({"description": "moderated at the hub"}),
    )
    .await
    .ok();
    eventually(Duration::from_secs(20), "the moderation at C", || async {
        let asset = asset_at(&c, &vc.token, liked).await?;
        (asset["description"] == "moderated at the hub").then_some(())
    })
    .await;
    assert_eq!(
        a.delete(&format!("/api/2/assets/{}/", made[1]), Some(&staff))
            .await
            .status,
        204
    );
    eventually(
        Duration::from_secs(20),
        "the deletion at B and C",
        || async {
            let gone_b = asset_at(&b, &vb.token, made[1]).await.is_none();
            let gone_c = asset_at(&c, &vc.token, made[1]).await.is_none();
            (gone_b && gone_c).then_some(())
        },
    )
    .await;

    // Configuration is the hub's: a box refuses a curator's write and names why.
    let staff_b = b.staff_token().await;
    let refused = b
        .post(
            "/api/2/tags/",
            Some(&staff_b),
            json!({"value": "local", "project_id": 1}),
        )
        .await;
    assert_eq!(refused.status, 409, "{:?}", refused.body);
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("edited on the hub"),
        "{:?}",
        refused.body
    );
    let metrics = b.metrics().await;
    assert!(
        metrics.contains("roundwared_fleet_registered 1"),
        "{metrics}"
    );
    for s in [a, b, c] {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_box_cut_off_keeps_recording_and_the_venue_converges_when_the_link_heals() {
    let Some(binary) = server("RW_NATS_NEW") else {
        return;
    };
    let hub = Hub::start(&binary);
    let leaf = Leaf::start(&binary, &hub, 2).await;
    let a = TestServer::start_with(&hub.toml()).await;
    seed_project(&a).await;
    let b = TestServer::start_with(&leaf.toml()).await;
    has_project(&b).await;
    let (va, vb) = (visitor(&a, "phone-a").await, visitor(&b, "phone-b").await);
    // Registered and flowing before the cut.
    let first = record(&b, &vb, 1.0).await;
    arrives(&b, &vb.token, &a, &va.token, first).await;

    leaf.link.cut();
    let mut at_a = Vec::new();
    let mut at_b = Vec::new();
    for _ in 0..3 {
        at_a.push(record(&a, &va, 1.0).await);
        at_b.push(record(&b, &vb, 1.0).await);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    for &id in &at_a {
        assert!(
            asset_at(&b, &vb.token, id).await.is_none(),
            "{id} crossed a cut link"
        );
    }
    for &id in &at_b {
        assert!(
            asset_at(&a, &va.token, id).await.is_none(),
            "{id} crossed a cut link"
        );
    }

    leaf.link.heal();
    let healed = Instant::now();
    for &id in &at_a {
        arrives(&a, &va.token, &b, &vb.token, id).await;
    }
    for &id in &at_b {
        arrives(&b, &vb.token, &a, &va.token, id).await;
    }
    eprintln!("converged {:?} after the link healed", healed.elapsed());
    for s in [&a, &b] {
        let total = s.scalar("SELECT count(*) FROM assets").await;
        let distinct = s.scalar("SELECT count(DISTINCT id) FROM assets").await;
        assert_eq!(
            (total, distinct),
            (7, 7),
            "every recording once at every box"
        );
    }
    for s in [a, b] {
        s.stop().await;
    }
}
