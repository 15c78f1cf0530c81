//! A project's floor plan travels with the venue's configuration (fleet mode): set, replaced
//! and removed at the hub, it follows at box 2, image and all, and the image it replaced
//! leaves box 2's media folder. Run where `RW_NATS_NEW` names a nats-server ≥ 2.14.

use std::time::Duration;

use image::ImageFormat;
use reqwest::StatusCode;
use serde_json::Value;

use crate::fleet_support::{Http, Pair, eventually, server};
use crate::map::{image_bytes, media_files, put_plan};

const PLAN: &str = "/api/2/projects/1/floorplan/";

/// Box `s`'s floor plan of project 1 once it is `width_px` wide (`None`: once it has none).
async fn plan_at(s: &Http, token: &str, width_px: Option<u64>) -> Option<Value> {
    eventually(
        Duration::from_secs(30),
        "the floor plan at box 2",
        || async {
            let r = s
                .client
                .get(format!("{}{PLAN}", s.base))
                .header("Authorization", format!("token {token}"))
                .send()
                .await
                .ok()?;
            match (r.status(), width_px) {
                (StatusCode::NOT_FOUND, None) => Some(None),
                (StatusCode::OK, Some(w)) => {
                    let plan: Value = r.json().await.ok()?;
                    (plan["width_px"].as_u64() == Some(w)).then_some(Some(plan))
                }
                _ => None,
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_floor_plan_set_replaced_and_removed_at_the_hub_follows_at_every_box_with_its_image() {
    let Some(binary) = server("RW_NATS_NEW") else {
        return;
    };
    let p = Pair::start(&binary, "").await;
    let staff = p.a.staff_token().await;

    let first = image_bytes(800, 400, ImageFormat::Png);
    let (status, set) = put_plan(&p.a, Some(&staff), 1, first.clone(), &[]).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    let there = plan_at(&p.hb, &p.vb.token, Some(800)).await.unwrap();
    for edge in ["south", "west", "north", "east", "opacity"] {
        assert_eq!(there[edge], set[edge], "{edge}");
    }
    let url = there["url"].as_str().unwrap();
    assert!(url.starts_with(&p.hb.base), "served by box 2 itself: {url}");
    let image = p.hb.client.get(url).send().await.unwrap();
    assert_eq!(image.status(), StatusCode::OK);
    assert_eq!(image.bytes().await.unwrap().as_ref(), first.as_slice());
    let before = media_files(p.b.data_dir());
    assert_eq!(before.len(), 1, "{before:?}");

    // Replaced: the new image at box 2, and the old one gone from its media folder.
    let second = image_bytes(600, 600, ImageFormat::Png);
    let (status, _) = put_plan(&p.a, Some(&staff), 1, second.clone(), &[]).await;
    assert_eq!(status, StatusCode::OK);
    let there = plan_at(&p.hb, &p.vb.token, Some(600)).await.unwrap();
    let image =
        p.hb.client
            .get(there["url"].as_str().unwrap())
            .send()
            .await
            .unwrap();
    assert_eq!(image.bytes().await.unwrap().as_ref(), second.as_slice());
    let after = media_files(p.b.data_dir());
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after, before, "the replaced image left box 2");

    // A box takes its configuration from the hub.
    let (status, refused) = put_plan(&p.b, Some(&p.b.staff_token().await), 1, first, &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");

    // Removed at the hub: gone at box 2, file and all.
    assert_eq!(
        p.a.delete(PLAN, Some(&staff)).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(plan_at(&p.hb, &p.vb.token, None).await.is_none());
    eventually(
        Duration::from_secs(10),
        "the image gone at box 2",
        || async { media_files(p.b.data_dir()).is_empty().then_some(()) },
    )
    .await;
    p.a.stop().await;
    p.b.stop().await;
}
