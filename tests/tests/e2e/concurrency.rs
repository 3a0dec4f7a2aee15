//! Four desks pressing "call next" at the same moment never get the same ticket.

use std::collections::HashSet;
use std::sync::Arc;

use lotse_tests::Server;
use serde_json::{Value, json};

#[tokio::test]
async fn four_desks_calling_concurrently_never_share_a_ticket() {
    let dir = tempfile::tempdir().unwrap();
    // Four counters serving the same concern, laid over the demo site.
    let cfg = dir.path().join("extra.toml");
    std::fs::write(
        &cfg,
        r#"
[[counters]]
id = "c1"
name = "Schalter 1"
services = ["general"]
[[counters]]
id = "c2"
name = "Schalter 2"
services = ["general"]
[[counters]]
id = "c3"
name = "Schalter 3"
services = ["general"]
[[counters]]
id = "c4"
name = "Schalter 4"
services = ["general"]
"#,
    )
    .unwrap();
    let data = dir.path().join("data");
    let srv = Server::start_with(&data, &["--config", cfg.to_str().unwrap()]);
    let c = srv.client();
    let tickets = 60;
    for _ in 0..tickets {
        let r = c
            .post(srv.url("/api/v1/checkins"))
            .json(&json!({"service": "general", "language": "de"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(4));
    let mut desks = vec![];
    for counter in ["c1", "c2", "c3", "c4"] {
        let c = c.clone();
        let url = srv.url(&format!("/api/v1/counters/{counter}/call-next"));
        let barrier = barrier.clone();
        desks.push(tokio::spawn(async move {
            let mut got = vec![];
            loop {
                barrier.wait().await;
                let r = c.post(&url).send().await.unwrap();
                if r.status() == 204 {
                    // Keep the barrier balanced until everyone has seen the end.
                    return (got, true);
                }
                assert_eq!(r.status(), 200);
                let t: Value = r.json().await.unwrap();
                assert_eq!(t["counter"], counter);
                got.push(t["id"].as_i64().unwrap());
            }
        }));
    }
    let mut all = vec![];
    for d in desks {
        let (got, _) = d.await.unwrap();
        all.extend(got);
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), tickets, "every ticket called once");
    assert_eq!(unique.len(), tickets, "no ticket called twice");
}
