//! Migrations when several replicas start at once.

use ticket_service::store::{self, PoolSettings};
use tickets_testing::test_each_backend;

use crate::helpers::{Backend, TestDb};

async fn replicas_migrating_at_once_all_succeed(backend: Backend) {
    let Some(database) = TestDb::create(backend).await else { return };
    let replicas = (0..4).map(|_| {
        let url = database.url.clone();
        tokio::spawn(async move {
            let db = store::connect(&url, PoolSettings::default()).expect("pool");
            store::migrate(&db).await
        })
    });
    for result in futures::future::join_all(replicas).await {
        result.expect("task").expect("every replica's migration succeeds");
    }
    // And the schema is complete and usable: migrating again finds nothing to do.
    let db = store::connect(&database.url, PoolSettings::default()).unwrap();
    store::migrate(&db).await.unwrap();
}
test_each_backend!(replicas_migrating_at_once_all_succeed);
