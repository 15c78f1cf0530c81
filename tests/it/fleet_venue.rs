//! Fleet scenarios (fleet.md §5) on a loopback venue: a hub box and leaf boxes, each on its
//! own real nats-server, the leaf links through forwarders the tests cut or hang. They run where
//! `RW_NATS_NEW` names a nats-server ≥ 2.14 (the test command prepares one) and skip with a
//! printed reason elsewhere, so a plain `cargo test` does not pay for them.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::fleet_support::{
    Http, Hub, Leaf, Link, Pair, Proc, REACH, Visitor, arrives, asset_at, eventually, fleet_cli,
    has_project, record, seed_project, server, visitor,
};
use crate::support::TestServer;

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
    let (ha, hb, hc) = (Http::of(&a), Http::of(&b), Http::of(&c));

    let (va, vb, vc) = (
        visitor(&ha, "phone-a").await,
        visitor(&hb, "phone-b").await,
        visitor(&hc, "phone-c").await,
    );
    let boxes = [(&ha, &va), (&hb, &vb), (&hc, &vc)];
    let mut made = Vec::new();
    for origin in [1, 1, 0, 2] {
        let (h, v) = boxes[origin];
        made.push((origin, record(h, v, 1.5).await));
    }
    let ids: HashSet<i64> = made.iter().map(|(_, id)| *id).collect();
    assert_eq!(ids.len(), made.len(), "every box numbers its own: {made:?}");
    for &(origin, id) in &made {
        for to in boxes {
            arrives(boxes[origin], to, id, REACH).await;
        }
    }

    // A vote at C on B's recording counts at B; a curator's moderation at the hub reaches
    // every box, and so does a deletion.
    let liked = made[0].1;
    hc.post(
        "/api/2/votes/",
        Some(&vc.token),
        json!({"session_id": vc.session, "asset_id": liked, "type": "like"}),
    )
    .await;
    eventually(REACH, "the vote at B", || async {
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
    eventually(REACH, "the moderation at C", || async {
        let asset = asset_at(&hc, &vc.token, liked).await?;
        (asset["description"] == "moderated at the hub").then_some(())
    })
    .await;
    let gone = made[1].1;
    let gone_file = asset_at(&hc, &vc.token, gone).await.unwrap()["filename"]
        .as_str()
        .unwrap()
        .to_owned();
    let gone_stem = gone_file.split('.').next().unwrap().to_owned();
    assert_eq!(
        a.delete(&format!("/api/2/assets/{gone}/"), Some(&staff))
            .await
            .status,
        204
    );
    eventually(REACH, "the deletion at B and C", || async {
        let at_b = asset_at(&hb, &vb.token, gone).await;
        // Its files go with it, at its origin and where it was copied.
        for box_ in [&b, &c] {
            let dir = box_.data_dir().join("media");
            eventually(REACH, "the deleted recording's files", || async {
                let left = std::fs::read_dir(&dir)
                    .unwrap()
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(&gone_stem));
                (!left).then_some(())
            })
            .await;
        }
        let at_c = asset_at(&hc, &vc.token, gone).await;
        (at_b.is_none() && at_c.is_none()).then_some(())
    })
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
    let detail = refused.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("edited on the hub"), "{detail}");
    let metrics = b.metrics().await;
    assert!(
        metrics.contains("roundwared_fleet_registered 1"),
        "{metrics}"
    );

    // F6 in small: a box that joins the venue now becomes a replica of it, every recording
    // there but the deleted one, with the same media, the moderation and the vote.
    let leaf_d = Leaf::start(&binary, &hub, 4).await;
    let d = TestServer::start_with(&leaf_d.toml()).await;
    let hd = Http::of(&d);
    has_project(&d).await;
    let vd = visitor(&hd, "phone-d").await;
    for &(origin, id) in made.iter().filter(|(_, id)| *id != gone) {
        arrives(boxes[origin], (&hd, &vd), id, REACH).await;
    }
    assert!(asset_at(&hd, &vd.token, gone).await.is_none());
    let there = asset_at(&hd, &vd.token, liked).await.unwrap();
    assert_eq!(there["description"], "moderated at the hub");
    assert_eq!(
        d.scalar(&format!(
            "SELECT count(*) FROM votes WHERE asset_id = {liked}"
        ))
        .await,
        1
    );
    for s in [a, b, c, d] {
        s.stop().await;
    }
}

/// Box 2's link fails by `fault` (F2: cut, F3: hung) while both sides record: nothing
/// crosses it, and once it heals every recording is at both boxes, once.
async fn an_outage_loses_nothing(p: &Pair, fault: fn(&Link)) {
    let (ha, hb, va, vb) = (&p.ha, &p.hb, &p.va, &p.vb);
    // Registered and flowing before the outage.
    let first = record(hb, vb, 1.0).await;
    arrives((hb, vb), (ha, va), first, REACH).await;

    fault(&p.leaf.link);
    let mut at_a = Vec::new();
    let mut at_b = Vec::new();
    for _ in 0..3 {
        at_a.push(record(ha, va, 1.0).await);
        at_b.push(record(hb, vb, 1.0).await);
    }
    // Longer than the hub waits before taking a quiet box stream up again (10 s).
    tokio::time::sleep(Duration::from_secs(15)).await;
    for &id in &at_a {
        assert!(
            asset_at(hb, &vb.token, id).await.is_none(),
            "{id} crossed a failed link"
        );
    }
    for &id in &at_b {
        assert!(
            asset_at(ha, &va.token, id).await.is_none(),
            "{id} crossed a failed link"
        );
    }

    p.leaf.link.heal();
    let healed = Instant::now();
    for &id in &at_a {
        arrives((ha, va), (hb, vb), id, REACH).await;
    }
    for &id in &at_b {
        arrives((hb, vb), (ha, va), id, REACH).await;
    }
    eprintln!("converged {:?} after the link healed", healed.elapsed());
    for s in [&p.a, &p.b] {
        let total = s.scalar("SELECT count(*) FROM assets").await;
        let distinct = s.scalar("SELECT count(DISTINCT id) FROM assets").await;
        assert_eq!(
            (total, distinct),
            (7, 7),
            "every recording once at every box"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_box_cut_off_keeps_recording_and_the_venue_converges_when_the_link_heals() {
    let Some(binary) = server("RW_NATS_NEW") else {
        return;
    };
    let p = Pair::start(&binary, "").await;
    an_outage_loses_nothing(&p, Link::cut).await;
    let Pair { leaf, a, b, .. } = p;

    // The publication cursor passes what was applied from the venue too, so the outbox's
    // retention is not held back on a box that mostly receives.
    eventually(REACH, "the cursor at the outbox's head", || async {
        let behind = b
            .scalar("SELECT (SELECT MAX(id) FROM outbox) - published_id FROM fleet_state")
            .await;
        (behind == 0).then_some(())
    })
    .await;

    // What a technician sees at the box's shell, the daemon running.
    let (ok, report, errors) = fleet_cli("status", b.data_dir(), &leaf.toml());
    assert!(ok, "{report} {errors}");
    for line in [
        "box 2, a box of the venue",
        "0 changes of this box not yet in its stream",
        "CAT_b2 (this box's rows): ",
        "CATALOGUE at the hub: ",
        "the hub's copy of this box's media: ",
        "registered with the hub: yes",
        "box 1 (the hub): its changes go straight into the catalogue",
        "box 2 (this box): changes 0 behind, heard from ",
    ] {
        assert!(report.contains(line), "{line:?} in:\n{report}");
    }
    for s in [a, b] {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_box_whose_link_hangs_keeps_recording_and_the_venue_converges_when_it_resumes() {
    let Some(binary) = server("RW_NATS_NEW") else {
        return;
    };
    // F3: the forwarder holds every connection open and moves nothing, so only the servers'
    // pings notice; new connections are taken and held too.
    let p = Pair::start(&binary, "").await;
    an_outage_loses_nothing(&p, Link::hang).await;
    p.a.stop().await;
    p.b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recordings_made_while_the_link_flaps_all_play_at_the_hub_with_no_media_lost() {
    let Some(binary) = server("RW_NATS_NEW") else {
        return;
    };
    // Recording that often from one address is past the per-address upload limit.
    let Pair {
        hub,
        leaf,
        a,
        b,
        ha,
        hb,
        va,
        vb,
    } = Pair::start(&binary, "[limits]\nuploads_per_ip_per_min = 10000\n").await;

    // 15 flaps of 1 s down and 2 s up (fleet.md F4) while B records every 200 ms or so.
    let recorder = {
        let (hb, vb) = (hb.clone(), Visitor { ..vb });
        tokio::spawn(async move {
            let mut made = Vec::new();
            let until = Instant::now() + Duration::from_secs(45);
            while Instant::now() < until {
                made.push(record(&hb, &vb, 0.5).await);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            (made, vb)
        })
    };
    for _ in 0..15 {
        leaf.link.cut();
        tokio::time::sleep(Duration::from_secs(1)).await;
        leaf.link.heal();
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let (made, vb) = recorder.await.unwrap();
    assert!(made.len() >= 15, "only {} recordings", made.len());
    let settled = Instant::now();
    for &id in &made {
        arrives((&hb, &vb), (&ha, &va), id, REACH).await;
    }
    eprintln!(
        "{} recordings at the hub {:?} after the last flap",
        made.len(),
        settled.elapsed()
    );
    // The hub's copy of B's bucket comes to hold every message of it, with no gap.
    let box_bucket = stream_state(leaf.nats.port, "OBJ_media_b2").await;
    let copied = Instant::now();
    let mut hub_copy = (0, 0);
    while copied.elapsed() < Duration::from_secs(120) {
        hub_copy = stream_state(hub.nats.port, "OBJ_media_b2").await;
        if hub_copy == box_bucket {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "the hub's copy of the bucket complete {:?} later",
        copied.elapsed()
    );
    assert_eq!(box_bucket, hub_copy, "messages and last sequence");
    for s in [a, b] {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recording_survives_its_box_killed_after_the_answer_and_the_hubs_server_killed() {
    let Some(binary) = server("RW_NATS_NEW") else {
        return;
    };
    let mut hub = Hub::start(&binary);
    let leaf = Leaf::start(&binary, &hub, 2).await;
    let a = TestServer::start_with(&hub.toml()).await;
    seed_project(&a).await;
    let mut b = Proc::start(&leaf.toml()).await;
    let ha = Http::of(&a);
    let va = visitor(&ha, "phone-a").await;
    // Tokens belong to the box that issued them.
    let b_user = b
        .http
        .post(
            "/api/2/users/",
            None,
            json!({"device_id": "probe", "client_type": "phone"}),
        )
        .await;
    let b_token = b_user["token"].as_str().unwrap().to_owned();
    eventually(REACH, "the project at B", || async {
        let r = b
            .http
            .client
            .get(format!("{}/api/2/projects/", b.http.base))
            .header("Authorization", format!("token {b_token}"))
            .send()
            .await
            .ok()?;
        let list: serde_json::Value = r.json().await.ok()?;
        list.as_array()?.iter().any(|p| p["id"] == 1).then_some(())
    })
    .await;
    let vb = visitor(&b.http, "phone-b").await;

    // Killed 50 ms after answering: the outbox has the recording, the stream may not.
    let first = record(&b.http, &vb, 1.0).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    b.kill9();
    let db = rusqlite::Connection::open(b.data_dir.join("roundwared.sqlite3")).unwrap();
    let check: String = db
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(db);
    b.restart().await;
    arrives((&b.http, &vb), (&ha, &va), first, REACH).await;

    // The hub's nats-server killed while the next recording travels.
    let second = record(&b.http, &vb, 1.0).await;
    hub.nats.kill_and_restart();
    // A restarted hub server takes up its sources again on its own retry (about 40 s on
    // nats-server 2.15.1, reporting lag 0 meanwhile) unless the hub's roundwared takes a quiet
    // source up first; the allowance covers the server's own retry.
    arrives((&b.http, &vb), (&ha, &va), second, Duration::from_secs(90)).await;
    let third = record(&ha, &va, 1.0).await;
    arrives((&ha, &va), (&b.http, &vb), third, REACH).await;
    let copies = a
        .scalar(&format!(
            "SELECT count(*) FROM assets WHERE id IN ({first}, {second})"
        ))
        .await;
    assert_eq!(copies, 2);
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_media_object_lost_from_the_venue_copy_is_found_and_put_again_by_the_audit() {
    let Some(binary) = server("RW_NATS_NEW") else {
        return;
    };
    let Pair {
        hub,
        leaf,
        a,
        b,
        ha,
        hb,
        va,
        vb,
    } = Pair::start(&binary, "audit_s = 10\n").await;
    let id = record(&hb, &vb, 1.0).await;
    arrives((&hb, &vb), (&ha, &va), id, REACH).await;
    let asset = asset_at(&hb, &vb.token, id).await.unwrap();
    let mp3 = asset["filename"]
        .as_str()
        .unwrap()
        .replace(".pcm.wav", ".mp3");

    // Deleted from the box's bucket: the hub's copy follows and no longer has it.
    let client = async_nats::connect(format!("nats://127.0.0.1:{}", leaf.nats.port))
        .await
        .unwrap();
    let own = async_nats::jetstream::new(client);
    own.get_object_store("media_b2")
        .await
        .unwrap()
        .delete(&mp3)
        .await
        .unwrap();
    let copy = async_nats::jetstream::new(
        async_nats::connect(format!("nats://127.0.0.1:{}", hub.nats.port))
            .await
            .unwrap(),
    )
    .get_object_store("media_b2")
    .await
    .unwrap();
    // The audit (every 10 s here) finds it missing from the hub's copy and puts it again.
    eventually(Duration::from_secs(40), "the audit's repair", || async {
        let metrics = b.metrics().await;
        metrics
            .contains("roundwared_fleet_audit_repaired 1")
            .then_some(())
    })
    .await;
    let info = eventually(REACH, "the object back at the hub", || async {
        copy.info(&mp3).await.ok().filter(|i| !i.deleted)
    })
    .await;
    let on_disk = std::fs::metadata(b.data_dir().join("media").join(&mp3)).unwrap();
    assert_eq!(info.size as u64, on_disk.len());
    for s in [a, b] {
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_standalone_box_that_joins_brings_its_recordings_to_the_venue() {
    let Some(binary) = server("RW_NATS_NEW") else {
        return;
    };
    let hub = Hub::start(&binary);
    let leaf = Leaf::start(&binary, &hub, 2).await;
    let a = TestServer::start_with(&hub.toml()).await;
    seed_project(&a).await;
    let ha = Http::of(&a);
    let va = visitor(&ha, "phone-a").await;

    // A box that served on its own for a while.
    let dir = tempfile::tempdir().unwrap();
    let alone = TestServer::start_in(dir.path(), "").await;
    seed_project(&alone).await;
    let vb = visitor(&Http::of(&alone), "phone-b").await;
    let old = record(&Http::of(&alone), &vb, 1.0).await;
    assert!(old < 1_000_000_000_000);
    alone.stop().await;

    let (ok, said, errors) = fleet_cli("join", dir.path(), &leaf.toml());
    assert!(ok, "{said} {errors}");
    assert!(said.contains("box 2 of the fleet"), "{said}");
    assert!(said.contains("1 assets"), "{said}");

    // In fleet mode now: the recording made alone reaches the hub under its new number, and
    // the visitor's token still works at their box.
    let b = TestServer::start_in(dir.path(), &leaf.toml()).await;
    let hb = Http::of(&b);
    let renumbered = 2_000_000_000_001;
    assert!(asset_at(&hb, &vb.token, old).await.is_none());
    arrives((&hb, &vb), (&ha, &va), renumbered, REACH).await;
    let (again, _, _) = fleet_cli("join", dir.path(), &leaf.toml());
    assert!(!again, "joining while the daemon runs is refused");
    for s in [a, b] {
        s.stop().await;
    }
}

/// A stream's (message count, last sequence) on the server at `port`.
async fn stream_state(port: u16, name: &str) -> (u64, u64) {
    let client = async_nats::connect(format!("nats://127.0.0.1:{port}"))
        .await
        .unwrap();
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream(name).await.unwrap();
    let info = stream.info().await.unwrap();
    (info.state.messages, info.state.last_sequence)
}
