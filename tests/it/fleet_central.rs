//! The hub's pulls from a central Roundware server (fleet.md §3.5 step 4, the pull half of F7):
//! a roundwared standing in for central holds the demo project; the hub pulls it, and a box
//! of the venue plays its recordings. Run where `RW_NATS_NEW` names a nats-server ≥ 2.14.

use std::time::Duration;

use serde_json::Value;

use crate::fleet_support::{Http, Hub, Leaf, demo_central, eventually, server};
use crate::support::TestServer;

/// The assets of the project named `name` at `s`, once it has it.
async fn assets_of(s: &Http, token: &str, name: &str) -> Option<(i64, Vec<Value>)> {
    let projects = s.get_json("/api/2/projects/", token).await?;
    let id = projects.as_array()?.iter().find(|p| p["name"] == name)?["id"].as_i64()?;
    let assets = s
        .get_json(&format!("/api/2/assets/?project_id={id}"), token)
        .await?;
    Some((id, assets.as_array()?.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_project_on_the_central_server_reaches_every_box_through_the_hub_and_follows_its_changes()
{
    let Some(binary) = server("RW_NATS_NEW") else {
        return;
    };
    let (central, staff, project, name) = demo_central().await;
    let there = central
        .get("/api/2/assets/", Some(&staff))
        .await
        .ok()
        .clone();
    let there = there.as_array().unwrap().clone();

    let hub = Hub::start(&binary);
    let leaf = Leaf::start(&binary, &hub, 2).await;
    let a = TestServer::start_with(&format!(
        "{}[fleet.central]\nurl = \"{}\"\nprojects = [{project}]\npoll_s = 5\npush = false\n",
        hub.toml(),
        central.url("/api/2/")
    ))
    .await;
    let b = TestServer::start_with(&leaf.toml()).await;
    let (ha, hb) = (Http::of(&a), Http::of(&b));
    let vb = visitor_when_ready(&hb).await;

    let (_, here) = eventually(
        Duration::from_secs(60),
        "the central project at box 2",
        || async {
            assets_of(&hb, &vb, &name)
                .await
                .filter(|(_, l)| l.len() == there.len())
        },
    )
    .await;
    for asset in &here {
        let file = asset["file"].as_str().unwrap();
        let url = if file.starts_with("http") {
            file.to_owned()
        } else {
            format!("{}{file}", hb.base)
        };
        let r = hb
            .client
            .get(url)
            .header("Authorization", format!("token {vb}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{file} at box 2");
        assert!(!r.bytes().await.unwrap().is_empty());
    }
    let health = ha
        .client
        .get(format!("{}/healthz", ha.base))
        .send()
        .await
        .unwrap();
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["components"]["fleet"]["state"], "ok", "{health}");
    let view = a.get("/api/2/fleet/", Some(&a.staff_token().await)).await;
    assert!(
        view.ok()["central"]["pull_error"].is_null(),
        "{}",
        view.body
    );
    // `push = false`: nothing is sent to central, and the view says there is no push.
    assert!(view.body["central"]["push"].is_null(), "{}", view.body);

    // A recording deleted at central goes from the venue at the next poll.
    let gone = there[0]["id"].as_i64().unwrap();
    assert_eq!(
        central
            .delete(&format!("/api/2/assets/{gone}/"), Some(&staff))
            .await
            .status,
        204
    );
    eventually(Duration::from_secs(60), "the deletion at box 2", || async {
        assets_of(&hb, &vb, &name)
            .await
            .filter(|(_, l)| l.len() == there.len() - 1)
    })
    .await;
    b.stop().await;
    a.stop().await;
    central.stop().await;
}

/// A visitor's token at `s` (any project will do for reading).
async fn visitor_when_ready(s: &Http) -> String {
    let user = s
        .client
        .post(format!("{}/api/2/users/", s.base))
        .json(&serde_json::json!({"device_id": "phone-central", "client_type": "phone"}))
        .send()
        .await
        .unwrap();
    user.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}
