//! The harness itself: a cluster starts, serves fresh databases, survives a restart
//! and a crash, and is gone with its files when dropped.

use lienthong_testdb::Cluster;

async fn one(url: &str) -> i32 {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client.query_one("SELECT 1", &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn a_cluster_serves_restarts_and_cleans_up() {
    let Some(cluster) = Cluster::own("") else {
        return;
    };
    let (a, b) = (cluster.database().await, cluster.database().await);
    assert_ne!(a, b);
    assert_eq!(one(&a).await, 1);
    cluster.restart();
    assert_eq!(one(&b).await, 1);
    cluster.kill();
    assert!(
        tokio_postgres::connect(&a, tokio_postgres::NoTls)
            .await
            .is_err()
    );
    cluster.start();
    assert_eq!(one(&a).await, 1);
    let dir = cluster.dir().to_owned();
    drop(cluster);
    assert!(!dir.exists(), "{} left behind", dir.display());
}
