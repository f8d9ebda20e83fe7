//! `kill -9` under load: every call answered more than a second before the kill is in
//! the log, and the database opens clean. The real binary, the shipped rules, the
//! 100 KB sample over HTTPS.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

fn start(dir: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("serve-{port}.log"))).unwrap())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_under_load_loses_no_call_answered_a_second_before() {
    lookout::tls::install_provider();
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/default"),
        &dir.path().join("rules/default"),
    );
    // Certificates first, so the client can trust the CA before the server starts.
    make_certs(dir.path());
    let client = client_for(&dir.path().join("certs/ca.pem"));
    let port = free_port();
    let mut server = start(dir.path(), port);
    wait_ready(&client, port).await;

    let body = Arc::new(sample("multiport-100k.json"));
    let answered: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let stop_at = Instant::now() + Duration::from_secs(4);
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (client, body, answered) = (client.clone(), body.clone(), answered.clone());
        workers.push(tokio::spawn(async move {
            let url = format!("https://localhost:{port}/hooks/default");
            while Instant::now() < stop_at {
                let Ok(response) = client.post(&url).body(body.to_vec()).send().await else {
                    break;
                };
                if response.status() != 200 {
                    continue;
                }
                let id = call_id(&response);
                if response.bytes().await.is_ok() {
                    answered.lock().unwrap().push((id, Instant::now()));
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    // SIGKILL: no shutdown, no flush.
    server.kill().unwrap();
    let killed_at = Instant::now();
    server.wait().unwrap();
    for worker in workers {
        worker.await.unwrap();
    }

    let answered = answered.lock().unwrap().clone();
    let must_have: Vec<&String> = answered
        .iter()
        .filter(|(_, at)| *at + Duration::from_secs(1) < killed_at)
        .map(|(id, _)| id)
        .collect();
    assert!(
        must_have.len() >= 50,
        "only {} calls answered before the kill; the load was too light to mean much",
        must_have.len()
    );

    let db = dir.path().join("data/lookout.db");
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let mut missing = Vec::new();
        for id in &must_have {
            let n: i64 = conn
                .query_row("SELECT count(*) FROM calls WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .unwrap();
            if n != 1 {
                missing.push(*id);
            }
        }
        assert!(
            missing.is_empty(),
            "{} of {} calls answered a second before the kill are not in the log: {:?}",
            missing.len(),
            must_have.len(),
            &missing[..missing.len().min(5)]
        );
        eprintln!(
            "{} answered, {} answered more than 1 s before the kill, all in the log",
            answered.len(),
            must_have.len()
        );
    }

    // lookout starts again on the same files and goes on recording.
    let port = free_port();
    let mut server = start(dir.path(), port);
    wait_ready(&client, port).await;
    let response = client
        .post(format!("https://localhost:{port}/hooks/default"))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = call_id(&response);
    // SIGTERM: a graceful stop writes what is queued.
    let pid = server.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(server.wait().unwrap().success());
    let store = lookout::store::sqlite::Sqlite::open(&db).unwrap();
    use lookout::store::Backend;
    assert!(store.get(&id).unwrap().is_some());
    assert!(store.get(must_have[0]).unwrap().is_some());
}
