//! Throw-away PostgreSQL for tests: the log's PostgreSQL backend and the integration
//! tests under `tests/` get a real server without anyone setting one up.
//!
//! [`PgServer::start`] gives a test a database of its own (`lookout_test_<pid>_<n>_<t>`),
//! dropped again when the `PgServer` is dropped, on:
//! - the server at `LOOKOUT_TEST_PG_URL` when that is set (its user must be allowed to
//!   create databases);
//! - otherwise one server per test process, started on first use from Debian's
//!   binaries (`/usr/lib/postgresql/<version>/bin`, or `initdb` and `postgres` on the
//!   `PATH`): `initdb` into a new folder under the system temp dir, listening only on
//!   127.0.0.1 at a free port, its Unix socket in that folder, fsync off, trust
//!   authentication (user `postgres`, no password). PostgreSQL refuses to run as root,
//!   so as root (CI) the server runs as the `postgres` system user (`setpriv`).
//!
//! [`PgServer::start_own`] gives a test a server of its own (always from local
//! binaries), which it can [`stop`](PgServer::stop) and
//! [`start_again`](PgServer::start_again); dropping it stops the server and removes
//! its folder.
//!
//! No server outlives its test process. Each runs under a small `sh` watchdog that
//! reads from a pipe whose only writer is the test process. When the process ends,
//! normally, by a panic, or killed with SIGKILL, the kernel closes the pipe; the
//! watchdog reads end-of-file, stops the server (fast shutdown), waits for it and
//! removes its folder. The watchdog has a process group of its own, so Ctrl-C on
//! `cargo test` stops only the test process and the watchdog still cleans up. The
//! process-wide server sits in a static that is never dropped and goes this way. (Only
//! killing the watchdog itself would leave a server behind.)
//!
//! Costs: the first server of a process about 1.5 s (`initdb` and start), then about
//! 0.2 s for each test's database. A test process killed on `LOOKOUT_TEST_PG_URL`'s
//! server leaves its `lookout_test_*` databases there.
//!
//! Without binaries and without `LOOKOUT_TEST_PG_URL`, a test that asks for a server
//! fails with what to install: tests that need PostgreSQL are never skipped.
//!
//! Everything here that talks to PostgreSQL does so on a plain thread, so the helpers
//! work from `#[tokio::test]` functions too.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use postgres::{Client, NoTls};

const NOT_FOUND: &str = "PostgreSQL server binaries not found: install Debian's postgresql package (scripts/test does) or set LOOKOUT_TEST_PG_URL";

/// How long a new server may take to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// Runs the server (the arguments after the folder and the log) and waits for a line
/// or end-of-file on stdin: `keep` stops the server and keeps the folder (for
/// `start_again`); anything else, end-of-file included, also removes the folder.
const WATCHDOG: &str = r#"root=$1; log=$2; shift 2
"$@" </dev/null >>"$log" 2>&1 &
pid=$!
read -r command
kill -INT "$pid" 2>/dev/null
wait "$pid"
[ "$command" = keep ] || rm -rf "$root"
"#;

/// A database of its own for one test, on a throw-away (or `LOOKOUT_TEST_PG_URL`'s)
/// server. See the module docs.
pub struct PgServer {
    /// `postgres://user@127.0.0.1:<port>/<database>`: give it to the store.
    pub url: String,
    /// The same server's maintenance database, for creating and dropping ours.
    admin: String,
    database: String,
    /// The server, when this test has one of its own.
    own: Option<Cluster>,
}

struct Shared {
    admin: String,
    /// Kept for the process's life; its watchdog stops it when the process ends.
    _cluster: Option<Cluster>,
}

static SHARED: OnceLock<Result<Shared, String>> = OnceLock::new();
static NEXT: AtomicUsize = AtomicUsize::new(0);

impl PgServer {
    /// A fresh, empty database on the process-wide server (started on first use) or on
    /// `LOOKOUT_TEST_PG_URL`'s. Panics, failing the test, when there is neither.
    pub fn start() -> PgServer {
        let shared = SHARED.get_or_init(|| {
            match std::env::var("LOOKOUT_TEST_PG_URL")
                .ok()
                .filter(|u| !u.is_empty())
            {
                Some(url) => Ok(Shared {
                    admin: url,
                    _cluster: None,
                }),
                None => Cluster::create().map(|cluster| Shared {
                    admin: cluster.url("postgres"),
                    _cluster: Some(cluster),
                }),
            }
        });
        let shared = match shared {
            Ok(shared) => shared,
            Err(message) => panic!("{message}"),
        };
        let database = database_name();
        let url = with_database(&shared.admin, &database);
        create_database(&shared.admin, &database);
        PgServer {
            url,
            admin: shared.admin.clone(),
            database,
            own: None,
        }
    }

    /// A server of this test's own (from local binaries, whatever
    /// `LOOKOUT_TEST_PG_URL` says), with a fresh database: for tests that stop it.
    pub fn start_own() -> PgServer {
        let cluster = Cluster::create().unwrap_or_else(|message| panic!("{message}"));
        let admin = cluster.url("postgres");
        let database = database_name();
        create_database(&admin, &database);
        PgServer {
            url: cluster.url(&database),
            admin,
            database,
            own: Some(cluster),
        }
    }

    /// Stops the server (fast shutdown: connections are cut), keeping its data.
    /// Only for a server from [`PgServer::start_own`].
    pub fn stop(&mut self) {
        self.cluster().stop();
    }

    /// Starts the stopped server again, on the same port with the same data, and
    /// returns once it accepts connections.
    pub fn start_again(&mut self) {
        let cluster = self.cluster();
        if let Err(message) = cluster.start() {
            panic!("{message}");
        }
    }

    fn cluster(&mut self) -> &mut Cluster {
        self.own.as_mut().expect(
            "only a server from PgServer::start_own can be stopped and started; PgServer::start shares one",
        )
    }

    /// Every column of every row of the log's `calls` table as text, one `column: value`
    /// line each, rows apart by a blank line, oldest first. `bytea` columns are shown as
    /// UTF-8 (lossily), decompressed first when they are compressed (see [`readable`]), so
    /// any text that reached the table, in a compressed body or not, shows up here as it
    /// was sent.
    pub fn dump_calls_text(&self) -> String {
        let url = self.url.clone();
        on_plain_thread(move || {
            let mut client = connect(&url);
            let columns: Vec<(String, bool)> = client
                .query(
                    "SELECT column_name::text, data_type = 'bytea' FROM information_schema.columns
                     WHERE table_name = 'calls' AND table_schema = current_schema() ORDER BY ordinal_position",
                    &[],
                )
                .unwrap_or_else(|e| panic!("listing the columns of `calls`: {e:?}"))
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            assert!(!columns.is_empty(), "no `calls` table in {url}");
            let select: Vec<String> = columns
                .iter()
                .map(|(name, bytes)| {
                    if *bytes {
                        format!("\"{name}\"")
                    } else {
                        format!("\"{name}\"::text")
                    }
                })
                .collect();
            let sql = format!("SELECT {} FROM calls ORDER BY id", select.join(", "));
            let mut out = String::new();
            for row in client
                .query(&sql, &[])
                .unwrap_or_else(|e| panic!("reading `calls`: {e:?}"))
            {
                for (i, (name, bytes)) in columns.iter().enumerate() {
                    let value = if *bytes {
                        row.get::<_, Option<Vec<u8>>>(i).map(|b| readable(&b))
                    } else {
                        row.get::<_, Option<String>>(i)
                    };
                    out.push_str(name);
                    out.push_str(": ");
                    out.push_str(value.as_deref().unwrap_or("NULL"));
                    out.push('\n');
                }
                out.push('\n');
            }
            out
        })
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.own.is_some() {
            // Stopping it removes everything.
            return;
        }
        let admin = self.admin.clone();
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database);
        on_plain_thread(move || {
            if let Ok(mut client) = Client::connect(&admin, NoTls) {
                let _ = client.batch_execute(&sql);
            }
        });
    }
}

/// Stored bytes as a person with the database could read them: as they are (UTF-8,
/// lossily), then decompressed when they decode as a zstd frame or as a length-prefixed
/// LZ4 block (the log's two codecs), without trusting any column to say which.
pub fn readable(bytes: &[u8]) -> String {
    let mut out = String::from_utf8_lossy(bytes).into_owned();
    let zstd = bytes
        .starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        .then(|| zstd::stream::decode_all(bytes).ok())
        .flatten();
    let lz4 = || {
        let (size, packed) = lz4_flex::block::uncompressed_size(bytes).ok()?;
        if size > 64 << 20 {
            return None;
        }
        lz4_flex::block::decompress(packed, size)
            .ok()
            .filter(|plain| plain.len() == size)
    };
    if let Some(plain) = zstd.or_else(lz4) {
        out.push_str(" | decompressed: ");
        out.push_str(&String::from_utf8_lossy(&plain));
    }
    out
}

/// The sync client blocks on a runtime of its own, which panics on a thread that
/// drives async tasks: run it on a plain one.
fn on_plain_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| match scope.spawn(f).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

fn connect(url: &str) -> Client {
    Client::connect(url, NoTls).unwrap_or_else(|e| {
        panic!(
            "cannot connect to the test database {}: {e:?}",
            crate::store::without_password(url)
        )
    })
}

fn database_name() -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("lookout_test_{}_{n}_{nanos}", std::process::id())
}

fn create_database(admin: &str, database: &str) {
    let admin = admin.to_string();
    let sql = format!("CREATE DATABASE \"{database}\"");
    on_plain_thread(move || {
        connect(&admin)
            .batch_execute(&sql)
            .unwrap_or_else(|e| panic!("creating a test database: {e:?}"));
    });
}

/// `url` with its path (the database) replaced.
fn with_database(url: &str, database: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap_or_else(|e| {
        panic!(
            "LOOKOUT_TEST_PG_URL is not a URL ({e}); write postgres://user:password@host:port/db"
        )
    });
    parsed.set_path(&format!("/{database}"));
    parsed.to_string()
}

/// One PostgreSQL server in a folder of its own, under its watchdog.
struct Cluster {
    root: PathBuf,
    bin: PathBuf,
    /// The user the server runs as, when we are root.
    user: Option<String>,
    port: u16,
    watchdog: Option<Watchdog>,
}

struct Watchdog {
    child: Child,
    stdin: ChildStdin,
}

impl Cluster {
    /// `initdb` into a new folder and start the server.
    fn create() -> Result<Cluster, String> {
        let bin = binaries().ok_or_else(|| NOT_FOUND.to_string())?;
        let user = if running_as_root() {
            let known = Command::new("id")
                .args(["-u", "postgres"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !known {
                return Err("running as root and there is no `postgres` user to run the test server as (PostgreSQL refuses root): install Debian's postgresql package or set LOOKOUT_TEST_PG_URL".into());
            }
            Some("postgres".to_string())
        } else {
            None
        };
        let root = std::env::temp_dir().join(format!(
            "lookout-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
        let mut cluster = Cluster {
            root,
            bin,
            user,
            port: 0,
            watchdog: None,
        };
        if let Some(user) = &cluster.user {
            run(Command::new("chown").arg(user).arg(&cluster.root))?;
        }
        let mut initdb = cluster.as_user(&cluster.bin.join("initdb"));
        initdb.arg("-D").arg(cluster.root.join("data")).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        run(&mut initdb)?;
        // A free port can be taken between choosing and binding it: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            cluster.port = free_port()?;
            match cluster.start() {
                Ok(()) => return Ok(cluster),
                Err(message) => last = message,
            }
        }
        Err(last)
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// `program` as the server's user.
    fn as_user(&self, program: &Path) -> Command {
        let mut command = match &self.user {
            Some(user) => {
                let mut c = Command::new("setpriv");
                c.arg(format!("--reuid={user}"))
                    .arg(format!("--regid={user}"))
                    .arg("--clear-groups")
                    .arg("--")
                    .arg(program);
                c
            }
            None => Command::new(program),
        };
        command.current_dir(&self.root);
        command
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
    }

    /// Starts the server under a new watchdog and waits until it accepts connections.
    fn start(&mut self) -> Result<(), String> {
        let server = self.as_user(&self.bin.join("postgres"));
        let log_start = self.log().len();
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(WATCHDOG)
            .arg("lookout-pg-watchdog")
            .arg(&self.root)
            .arg(self.root.join("server.log"))
            .arg(server.get_program())
            .args(server.get_args())
            .arg("-D")
            .arg(self.root.join("data"))
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.root.display()))
            .args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
            ])
            .current_dir(&self.root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start the test PostgreSQL server: {e}"))?;
        let stdin = child.stdin.take().expect("piped");
        self.watchdog = Some(Watchdog { child, stdin });

        let url = self.url("postgres");
        let started = Instant::now();
        loop {
            let attempt = {
                let url = url.clone();
                on_plain_thread(move || Client::connect(&url, NoTls).map(drop))
            };
            let refused = match &attempt {
                Ok(()) => return Ok(()),
                // The server answered (still starting up): wait.
                Err(e) => e.as_db_error().is_none(),
            };
            let log = self.log();
            let new = log.get(log_start..).unwrap_or(&log);
            // Nobody answers and the server logged why (a port taken, say): it is gone.
            let gave_up = refused
                && new.lines().any(|line| {
                    (line.contains("FATAL:") || line.contains("PANIC:"))
                        && !line.contains("starting up")
                });
            if gave_up || started.elapsed() > READY_WITHIN {
                self.stop();
                return Err(format!(
                    "the test PostgreSQL server in {} did not start: {attempt:?}; its log:\n{new}",
                    self.root.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server, keeping its folder.
    fn stop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.stdin.write_all(b"keep\n");
            drop(watchdog.stdin);
            let _ = watchdog.child.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        match self.watchdog.take() {
            Some(Watchdog { mut child, stdin }) => {
                // End-of-file: the watchdog stops the server and removes the folder.
                drop(stdin);
                let _ = child.wait();
            }
            None => {
                let _ = std::fs::remove_dir_all(&self.root);
            }
        }
    }
}

/// The folder with `initdb` and `postgres`: Debian's newest, else the `PATH`'s.
fn binaries() -> Option<PathBuf> {
    let complete = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    let mut debian: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| complete(bin))
        .collect();
    debian.sort();
    if let Some((_, bin)) = debian.pop() {
        return Some(bin);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).find(|dir| complete(dir))
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))
}

/// Runs a setup command; its output is the error when it fails.
fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    if output.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    Err(format!(
        "{:?} failed ({}):\n{text}",
        command.get_program(),
        output.status
    ))
}
