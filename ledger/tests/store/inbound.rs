//! Dossiers from the portal's feed in a store: stored once, with their cursor, and
//! still there after a reopen.

use super::*;

pub async fn inbound_dossiers_are_stored_once_with_their_cursor(b: &dyn Backend) {
    use DossierStatus::*;
    let store = b.open().await;
    assert_eq!(store.inbound_cursor().await.unwrap(), "");
    assert_eq!(store.inbound_head().await.unwrap(), 0);
    let page: Vec<Dossier> = (1..=3)
        .map(|i| dossier(&format!("H99.01-261122-000{i}"), Registered))
        .collect();
    assert_eq!(store.store_inbound(&page, "c3").await.unwrap(), (3, 3));
    // The same page again (a crash before the cursor moved on): nothing new.
    assert_eq!(store.store_inbound(&page, "c3").await.unwrap(), (0, 3));
    let more = vec![
        dossier("H99.01-261122-0003", Registered),
        dossier("H99.01-261122-0004", Registered),
    ];
    assert_eq!(store.store_inbound(&more, "c4").await.unwrap(), (1, 4));
    assert_eq!(store.inbound_cursor().await.unwrap(), "c4");
    // A page with nothing to keep still moves the cursor on.
    assert_eq!(store.store_inbound(&[], "c5").await.unwrap(), (0, 4));
    assert_eq!(store.inbound_cursor().await.unwrap(), "c5");
    let after: Vec<u64> = store
        .inbound(2, 10)
        .await
        .unwrap()
        .iter()
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(after, [3, 4]);
    drop(store);
    let store = b.open().await;
    assert_eq!(
        (
            store.inbound_head().await.unwrap(),
            store.inbound_cursor().await.unwrap()
        ),
        (4, "c5".to_owned())
    );
}
