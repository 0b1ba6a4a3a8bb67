//! The cache's disk: bounded, swept, warm after a restart, cold under another key,
//! holding neither names nor personal IDs, moved aside when it cannot be opened,
//! and purged on request.

use super::*;

#[tokio::test]
async fn the_oldest_records_go_beyond_the_size_bound() {
    let rig = Rig::new();
    let cache = rig.open(CacheConfig {
        max_bytes: 4096,
        ..settings()
    });
    let ids: Vec<String> = (0..40).map(|i| format!("0010850{i:05}")).collect();
    for id in &ids {
        rig.get(&cache, id, Ok(())).await.unwrap();
        rig.clock.advance(Duration::from_secs(1));
    }
    let before = cache.stats().unwrap();
    assert_eq!(before.entries, 40);
    assert!(before.bytes > 4096);
    let (expired, evicted) = cache.sweep();
    assert_eq!(expired, 0);
    assert!(evicted > 0);
    let after = cache.stats().unwrap();
    // Down to the low-water mark, so the next records do not each cost a sweep.
    assert!(after.bytes <= 4096 * 9 / 10, "{after:?}");
    assert!(
        after.bytes > 4096 * 9 / 10 - 200,
        "no more than needed went: {after:?}"
    );
    assert_eq!(after.entries, 40 - evicted);
    assert_eq!(cache.sweep(), (0, 0), "under the bound: nothing to do");
    // the newest stay, the oldest went
    let calls = rig.calls();
    assert_eq!(
        served(&rig.get(&cache, &ids[39], Ok(())).await),
        Some(Served::Hit)
    );
    assert_eq!(
        served(&rig.get(&cache, &ids[0], Ok(())).await),
        Some(Served::Miss)
    );
    assert_eq!(rig.calls(), calls + 1);
}

#[tokio::test]
async fn expired_records_are_swept() {
    let rig = Rig::new();
    let cache = rig.open(settings());
    rig.get(&cache, ID, Ok(())).await.unwrap();
    rig.clock
        .advance(24 * 60 * MIN + 5 * MIN + Duration::from_secs(1));
    rig.get(&cache, "079301012345", Ok(())).await.unwrap();
    assert_eq!(cache.sweep(), (1, 0));
    assert_eq!(cache.stats().unwrap().entries, 1);
}

#[tokio::test]
async fn a_restarted_cache_is_warm() {
    let rig = Rig::new();
    let cache = rig.open(settings());
    rig.get(&cache, ID, Ok(())).await.unwrap();
    cache.flush();
    drop(cache);
    let cache = rig.open(settings());
    assert_eq!(
        served(&rig.get(&cache, ID, down()).await),
        Some(Served::Hit)
    );
    assert_eq!(rig.calls(), 1, "served from disk after the restart");
}

#[tokio::test]
async fn another_key_means_a_cold_cache_not_a_wrong_answer() {
    let rig = Rig::new();
    let cache = rig.open(settings());
    rig.get(&cache, ID, Ok(())).await.unwrap();
    cache.flush();
    drop(cache);
    std::fs::write(rig.dir.path().join("cache.key"), [9u8; 32]).unwrap();
    let cache = rig.open(settings());
    assert_eq!(
        served(&rig.get(&cache, ID, Ok(())).await),
        Some(Served::Miss)
    );
    drop(cache);
    std::fs::remove_file(rig.dir.path().join("cache.key")).unwrap();
    let cache = rig.open(settings());
    assert!(
        rig.get(&cache, ID, down()).await.is_err(),
        "nothing readable under a new key"
    );
}

#[tokio::test]
async fn the_files_hold_neither_names_nor_personal_ids() {
    let rig = Rig::new();
    let cache = rig.open(settings());
    let today = lienthong_adapters::sim::today();
    let mut secrets = Vec::new();
    for n in 0..20 {
        let id =
            lienthong_proto::PersonalId::parse(&format!("0790{:02}0{:05}", 80 + n, n)).unwrap();
        let Some(c) = lienthong_adapters::sim::citizens::citizen(&id, today) else {
            continue;
        };
        secrets.push(c.personal_id.clone());
        secrets.push(c.full_name.clone());
        let fetch = async { Ok(c.clone()) };
        cache
            .get(Record::Citizen, id.as_str(), "H99.01", fetch)
            .await
            .unwrap();
    }
    assert!(secrets.len() >= 30);
    cache.flush();
    drop(cache);
    let mut bytes = Vec::new();
    let mut files = 0;
    let mut dirs = vec![rig.dir.path().join("cache")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                bytes.extend(std::fs::read(&path).unwrap());
                files += 1;
            }
        }
    }
    assert!(
        files > 0 && bytes.len() > 1000,
        "sled wrote {files} files, {} bytes",
        bytes.len()
    );
    for secret in &secrets {
        let needle = secret.as_bytes();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{secret:?} is readable in the cache files"
        );
    }
}

#[tokio::test]
async fn a_cache_that_cannot_be_opened_is_moved_aside() {
    let rig = Rig::new();
    let dir = rig.dir.path().join("cache");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("conf"), b"this is not sled's configuration").unwrap();
    std::fs::write(dir.join("db"), vec![0xff; 4096]).unwrap();
    let cache = rig.open(settings());
    assert_eq!(
        served(&rig.get(&cache, ID, Ok(())).await),
        Some(Served::Miss)
    );
    assert!(cache.stats().is_some(), "a new disk cache, not memory only");
    let aside: Vec<_> = std::fs::read_dir(rig.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("cache.broken-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
}

#[tokio::test]
async fn purge_removes_a_citizens_records() {
    let rig = Rig::new();
    let cache = rig.open(settings());
    rig.get(&cache, ID, Ok(())).await.unwrap();
    rig.get(&cache, "079301012345", Ok(())).await.unwrap();
    cache.purge(ID);
    assert!(rig.get(&cache, ID, down()).await.is_err(), "purged");
    assert_eq!(
        served(&rig.get(&cache, "079301012345", down()).await),
        Some(Served::Hit)
    );
}

#[tokio::test]
async fn a_cache_in_use_is_never_moved_aside() {
    let rig = Rig::new();
    let cache = rig.open(settings());
    rig.get(&cache, ID, Ok(())).await.unwrap();
    let err = Store::open(&rig.dir.path().join("cache"))
        .err()
        .expect("locked");
    assert!(err.to_string().contains("in use"), "{err}");
    let names: Vec<_> = std::fs::read_dir(rig.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        !names.iter().any(|n| n.to_string_lossy().contains("broken")),
        "{names:?}"
    );
    assert_eq!(
        served(&rig.get(&cache, ID, down()).await),
        Some(Served::Hit)
    );
}
