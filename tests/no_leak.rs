//! Its own test binary, so the process's thread count is this server's alone.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn hundreds_of_stopped_rules_leak_no_threads() {
    let app = spawn_app(&[(
        "desk",
        &[
            ("ruleset.toml", "budget_ms = 60\nmargin_ms = 20\n"),
            ("spin.rhai", "loop {}"),
        ],
    )])
    .await;
    let threads = || {
        // lookout's own threads (rule pool, watchers), by name; tokio's are its business.
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).ok())
            .filter(|name| name.starts_with("lookout-"))
            .count()
    };
    let (_, warm) = app.post_json("desk", &json!({})).await;
    assert_eq!(warm[0]["alertType"], "Error");
    let before = threads();
    let empty = json!({});
    for _ in 0..50 {
        let calls = (0..4).map(|_| app.post_json("desk", &empty));
        for (status, alerts) in futures_join_all(calls).await {
            assert_eq!(status, 200);
            assert!(
                alerts[0]["message"]
                    .as_str()
                    .unwrap()
                    .contains("stopped at the deadline (40 ms)"),
                "{alerts}"
            );
        }
    }
    assert_eq!(
        threads(),
        before,
        "200 stopped rules later, the process has the same threads"
    );
}
