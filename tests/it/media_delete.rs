//! `delete_binary` on asset and speaker DELETE: exactly the asset's files (original and
//! renditions, never a longer name sharing the prefix), only inside the media folder, none
//! without the option, none another asset still names.

use std::path::Path;

use reqwest::StatusCode;

use crate::media_serving::{SECRET, setup};

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

fn touch(dir: &Path, list: &[&str]) {
    for n in list {
        std::fs::write(dir.join(n), n.as_bytes()).unwrap();
    }
}

#[tokio::test]
async fn delete_binary_removes_exactly_the_assets_files() {
    let m = setup().await;
    let staff = m.s.staff_token().await;
    m.s.sql(
        "INSERT INTO assets (id, project_id, file, filename, created, updated) VALUES
         (10, 1, 'x.orig.wav', 'x.wav', '2020-01-01T00:00:00', '2020-01-01T00:00:00'),
         (11, 1, 'y.wav', 'y.mp3', '2020-01-01T00:00:00', '2020-01-01T00:00:00'),
         (12, 1, 'z.wav', 'z.mp3', '2020-01-01T00:00:00', '2020-01-01T00:00:00'),
         (13, 1, 'z.wav', 'z.mp3', '2020-01-01T00:00:00', '2020-01-01T00:00:00'),
         (14, 1, '../secret.txt', '/etc/passwd', '2020-01-01T00:00:00', '2020-01-01T00:00:00');",
    )
    .await;
    touch(
        &m.dir,
        &[
            "x.orig.wav",
            "x.mp3",
            "x.wav",
            "x",
            "xy.mp3",
            "x1.mp3",
            "x-2.wav",
            ".x.tmp",
            "y.wav",
            "y.mp3",
            "z.wav",
            "z.mp3",
        ],
    );
    let before = names(&m.dir);

    // Without delete_binary (and with a false one) the files stay.
    let r = m.s.delete("/api/2/assets/11/", Some(&staff)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(names(&m.dir), before);
    let r =
        m.s.delete("/api/2/assets/10/?delete_binary=false", Some(&staff))
            .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(names(&m.dir), before);
    m.s.sql(
        "INSERT INTO assets (id, project_id, file, filename, created, updated) VALUES
         (10, 1, 'x.orig.wav', 'x.wav', '2020-01-01T00:00:00', '2020-01-01T00:00:00');",
    )
    .await;

    let r =
        m.s.delete("/api/2/assets/10/?delete_binary=maybe", Some(&staff))
            .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        m.s.scalar("SELECT COUNT(*) FROM assets WHERE id = 10")
            .await,
        1
    );

    let r =
        m.s.delete("/api/2/assets/10/?delete_binary=true", Some(&staff))
            .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        m.s.scalar("SELECT COUNT(*) FROM assets WHERE id = 10")
            .await,
        0
    );
    let left = names(&m.dir);
    for gone in ["x.orig.wav", "x.mp3", "x.wav", "x"] {
        assert!(
            !left.contains(&gone.to_string()),
            "{gone} should be removed: {left:?}"
        );
    }
    for kept in [
        "xy.mp3", "x1.mp3", "x-2.wav", ".x.tmp", "y.wav", "y.mp3", "tone.wav", "big.mp3",
    ] {
        assert!(
            left.contains(&kept.to_string()),
            "{kept} should stay: {left:?}"
        );
    }

    // Files another asset still names stay.
    let r =
        m.s.delete("/api/2/assets/12/?delete_binary=1", Some(&staff))
            .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(m.dir.join("z.wav").exists() && m.dir.join("z.mp3").exists());
    let r =
        m.s.delete("/api/2/assets/13/?delete_binary=True", Some(&staff))
            .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(!m.dir.join("z.wav").exists() && !m.dir.join("z.mp3").exists());

    // Stored names pointing outside the media folder remove nothing.
    let r =
        m.s.delete("/api/2/assets/14/?delete_binary=true", Some(&staff))
            .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        std::fs::read_to_string(m.s.data_dir().join("secret.txt")).unwrap(),
        SECRET
    );

    let r =
        m.s.delete("/api/2/assets/999/?delete_binary=true", Some(&staff))
            .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn speaker_delete_binary_removes_its_local_file_only() {
    let m = setup().await;
    let staff = m.s.staff_token().await;
    let base = &m.s.base;
    m.s.sql(&format!(
        "INSERT INTO speakers (id, project_id, maxvolume, minvolume, uri, attenuation_distance) VALUES
         (20, 1, 1, 0, '{base}/rwmedia/speaker-project1-bed-20240101-120000.mp3', 10),
         (21, 1, 1, 0, 'http://example.invalid/rwmedia/speaker-remote.mp3', 10),
         (22, 1, 1, 0, '/rwmedia/speaker-rel.mp3', 10),
         (23, 1, 1, 0, '/rwmedia/%2e%2e/secret.txt', 10),
         (24, 1, 1, 0, '/rwmedia/speaker-kept.mp3', 10);"
    ))
    .await;
    touch(
        &m.dir,
        &[
            "speaker-project1-bed-20240101-120000.mp3",
            "speaker-project1-bed-20240101-120000.wav",
            "speaker-project1-bed-20240101-1200001.mp3",
            "speaker-remote.mp3",
            "speaker-rel.mp3",
            "speaker-kept.mp3",
        ],
    );
    for id in [20, 21, 22, 23] {
        let r =
            m.s.delete(
                &format!("/api/2/speakers/{id}/?delete_binary=true"),
                Some(&staff),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "speaker {id}");
    }
    let r = m.s.delete("/api/2/speakers/24/", Some(&staff)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let left = names(&m.dir);
    for gone in [
        "speaker-project1-bed-20240101-120000.mp3",
        "speaker-project1-bed-20240101-120000.wav",
        "speaker-rel.mp3",
    ] {
        assert!(!left.contains(&gone.to_string()), "{gone}: {left:?}");
    }
    for kept in [
        "speaker-project1-bed-20240101-1200001.mp3",
        "speaker-remote.mp3",
        "speaker-kept.mp3",
    ] {
        assert!(left.contains(&kept.to_string()), "{kept}: {left:?}");
    }
    assert_eq!(
        std::fs::read_to_string(m.s.data_dir().join("secret.txt")).unwrap(),
        SECRET
    );
    assert_eq!(
        m.s.scalar("SELECT COUNT(*) FROM speakers WHERE id >= 20")
            .await,
        0
    );
}
