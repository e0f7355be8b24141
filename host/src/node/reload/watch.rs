//! Reload when the config file or a plugin component it names changes on
//! disk. The parent directories are watched, not the files, because editors
//! and deploy tools replace a file (write a temporary, rename it over) rather
//! than write it in place. Events are debounced: a reload starts once the
//! files have been quiet for [`DEBOUNCE`]. After a refused reload any change
//! in the watched directories retries (the fix may be a file the broken
//! config names but the last good one does not).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{Event, EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Reloader, Trigger, watched_files};

/// Quiet time after the last change before a reload starts.
pub const DEBOUNCE: Duration = Duration::from_millis(250);

/// `dir/name` with `dir` canonical, as the watcher reports paths.
fn normalize(path: &Path) -> PathBuf {
    let name = path.file_name().map(PathBuf::from).unwrap_or_default();
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::canonicalize(dir)
        .unwrap_or_else(|_| dir.to_path_buf())
        .join(name)
}

/// Whether an event may mean new content (our own reads are not).
fn relevant(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        _ => true,
    }
}

/// The files to watch and their directories.
struct Targets {
    files: HashSet<PathBuf>,
    dirs: HashSet<PathBuf>,
}

async fn targets(reloader: &Reloader) -> Option<Targets> {
    let file = reloader.file().await?;
    let config = reloader.shared().generation().config.clone();
    let files: HashSet<PathBuf> = watched_files(&file, &config)
        .iter()
        .map(|p| normalize(p))
        .collect();
    let dirs = files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    Some(Targets { files, dirs })
}

/// Starts watching the files of `reloader`'s config; stops when `stop` is
/// cancelled. Fails if the platform watcher cannot be created.
pub fn spawn(reloader: Arc<Reloader>, stop: CancellationToken) -> notify::Result<()> {
    let (tx, rx) = mpsc::unbounded_channel::<PathBuf>();
    let watcher = notify::recommended_watcher(move |res: notify::Result<Event>| match res {
        Ok(ev) if relevant(&ev.kind) => {
            for p in ev.paths {
                let _ = tx.send(p);
            }
        }
        Ok(_) => {}
        Err(e) => tracing::debug!("file watcher: {e}"),
    })?;
    tokio::spawn(run(reloader, watcher, rx, stop));
    Ok(())
}

async fn run(
    reloader: Arc<Reloader>,
    mut watcher: notify::RecommendedWatcher,
    mut rx: mpsc::UnboundedReceiver<PathBuf>,
    stop: CancellationToken,
) {
    let mut watching: HashSet<PathBuf> = HashSet::new();
    let mut files = HashSet::new();
    let mut failed = false;
    let mut refresh = true;
    loop {
        if refresh {
            let Some(t) = targets(&reloader).await else {
                return;
            };
            for d in watching.difference(&t.dirs) {
                let _ = watcher.unwatch(d);
            }
            for d in t.dirs.difference(&watching) {
                if let Err(e) = watcher.watch(d, RecursiveMode::NonRecursive) {
                    tracing::warn!("cannot watch {} for changes: {e}", d.display());
                }
            }
            watching = t.dirs;
            files = t.files;
            refresh = false;
        }
        let path = tokio::select! {
            _ = stop.cancelled() => return,
            p = rx.recv() => match p {
                Some(p) => p,
                None => return,
            },
        };
        let in_dir = path.parent().is_some_and(|d| watching.contains(d));
        let wanted = files.contains(&path) || (failed && in_dir);
        if !wanted {
            continue;
        }
        // Debounce: wait until the files are quiet.
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(DEBOUNCE) => break,
                p = rx.recv() => if p.is_none() { return },
            }
        }
        tracing::info!("{} changed: reloading", path.display());
        failed = reloader.reload(Trigger::File).await.is_err();
        refresh = true;
    }
}
