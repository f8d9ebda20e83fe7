//! Calling back when files under a path change, after the burst of writes settles.
//! Used for hot reload of rules and certificates.

use std::path::Path;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

/// Watches `path` and calls `on_change` on a thread named `thread_name` once a burst of
/// changes has been quiet for `settle`. `on_change` returns false to stop watching.
/// Changes are reported until the returned watcher is dropped.
pub fn on_change(
    path: &Path,
    mode: RecursiveMode,
    thread_name: &str,
    settle: Duration,
    mut on_change: impl FnMut() -> bool + Send + 'static,
) -> notify::Result<notify::RecommendedWatcher> {
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.map(|e| !e.kind.is_access()).unwrap_or(true) {
            let _ = tx.send(());
        }
    })?;
    watcher.watch(path, mode)?;
    std::thread::Builder::new()
        .name(thread_name.into())
        .spawn(move || {
            while rx.recv().is_ok() {
                // Let a burst of writes (an editor's save, a checkout, a renewal) settle.
                while rx.recv_timeout(settle).is_ok() {}
                if !on_change() {
                    break;
                }
            }
        })
        .map_err(notify::Error::io)?;
    Ok(watcher)
}
