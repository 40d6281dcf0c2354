//! Key-value stores behind wasi:keyvalue: Spin's built-in SQLite store and its Redis store.
//!
//! One `Store` per label lives for the whole process, shared by every instance, as in Spin:
//! the SQLite store keeps one connection (table `spin_key_value`, integers as 8-byte
//! little-endian values) and the Redis store keeps one auto-reconnecting multiplexed
//! connection, so `redis-cli GET <key>` sees what `increment` wrote.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use rusqlite::{Connection, OptionalExtension};
use tokio::sync::OnceCell;

use crate::runtime_config::StoreConfig;

/// How a store operation failed (wasi:keyvalue's `error::other` carries the message).
pub type KvResult<T> = Result<T, String>;

/// Spin reports backend errors with their Debug form.
fn backend_error(err: impl std::fmt::Debug) -> String {
    format!("{err:?}")
}

/// A configured store.
pub enum Store {
    Sqlite(SqliteStore),
    Redis(RedisStore),
}

impl Store {
    pub fn new(config: &StoreConfig) -> Result<Self> {
        Ok(match config {
            StoreConfig::Sqlite(path) => Self::Sqlite(SqliteStore::new(path.clone())?),
            StoreConfig::Redis(url) => Self::Redis(RedisStore::new(url)?),
        })
    }

    /// A one-line description for the start-up summary.
    pub fn summary(&self) -> String {
        match self {
            Self::Sqlite(s) => match &s.path {
                Some(path) => format!("{:?}", path.display().to_string()),
                None => "a temporary in-memory store".to_string(),
            },
            Self::Redis(r) => format!("Redis at {}", r.address),
        }
    }

    /// Run when a component opens the store; `name` is the store's label.
    pub async fn open(&self, name: &str) -> KvResult<Bucket> {
        match self {
            Self::Sqlite(s) => Ok(Bucket::Sqlite {
                name: name.to_string(),
                conn: s.connection()?,
            }),
            Self::Redis(r) => Ok(Bucket::Redis(r.connection().await?)),
        }
    }
}

/// An open bucket, the resource behind wasi:keyvalue's `bucket`.
pub enum Bucket {
    Sqlite {
        name: String,
        conn: Arc<Mutex<Connection>>,
    },
    Redis(ConnectionManager),
}

const UPSERT: &str = "INSERT INTO spin_key_value (store, key, value) VALUES ($1, $2, $3)
     ON CONFLICT(store, key) DO UPDATE SET value=$3";

impl Bucket {
    /// Runs blocking SQLite work without stalling the async workers.
    fn with_sqlite<T>(
        conn: &Mutex<Connection>,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> KvResult<T> {
        tokio::task::block_in_place(|| {
            let mut conn = conn
                .lock()
                .map_err(|_| "the key-value connection is poisoned".to_string())?;
            work(&mut conn).map_err(backend_error)
        })
    }

    pub async fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        match self {
            Self::Sqlite { name, conn } => Self::with_sqlite(conn, |c| {
                c.prepare_cached("SELECT value FROM spin_key_value WHERE store=$1 AND key=$2")?
                    .query_row([name, key], |row| row.get(0))
                    .optional()
            }),
            Self::Redis(conn) => conn.clone().get(key).await.map_err(backend_error),
        }
    }

    /// Adds `delta` to the integer at `key` (0 when absent), atomically: INCRBY on Redis, a
    /// transaction on SQLite, deferred as Spin's is, so another process on the same file can
    /// make it fail busy (and roll back) rather than wait.
    pub async fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        match self {
            Self::Sqlite { name, conn } => {
                let outcome = Self::with_sqlite(conn, |c| {
                    let tx = c.transaction()?;
                    let current: Option<Vec<u8>> = tx
                        .prepare_cached(
                            "SELECT value FROM spin_key_value WHERE store=$1 AND key=$2",
                        )?
                        .query_row([name, key], |row| row.get(0))
                        .optional()?;
                    let current = match current {
                        None => 0,
                        Some(bytes) => match <[u8; 8]>::try_from(bytes.as_slice()) {
                            Ok(bytes) => i64::from_le_bytes(bytes),
                            // Leave the value alone; the caller gets a clear error below.
                            Err(_) => return Ok(Err(bytes.len())),
                        },
                    };
                    let Some(next) = current.checked_add(delta) else {
                        return Ok(Err(usize::MAX));
                    };
                    tx.prepare_cached(UPSERT)?.execute(rusqlite::params![
                        name,
                        key,
                        next.to_le_bytes()
                    ])?;
                    tx.commit()?;
                    Ok(Ok(next))
                })?;
                outcome.map_err(|len| match len {
                    usize::MAX => {
                        format!("incrementing {key:?} by {delta} overflows a 64-bit integer")
                    }
                    len => format!(
                        "the value of {key:?} is {len} bytes, not an 8-byte little-endian integer"
                    ),
                })
            }
            Self::Redis(conn) => conn.clone().incr(key, delta).await.map_err(backend_error),
        }
    }
}

/// Spin's built-in store: one SQLite connection, made by the first open that completes.
///
/// Like Spin's, an open that finds no connection yet makes one of its own and creates the table
/// on it, with rusqlite's defaults; only the first to finish is kept. So while the first opens of
/// a fresh file run at once, SQLite can answer one of them busy: Spin has that race, and so must
/// the test host, or the component's handling of it would go untested.
pub struct SqliteStore {
    path: Option<PathBuf>,
    conn: std::sync::OnceLock<Arc<Mutex<Connection>>>,
}

impl SqliteStore {
    fn new(path: Option<PathBuf>) -> Result<Self> {
        if let Some(parent) = path.as_deref().and_then(std::path::Path::parent) {
            std::fs::create_dir_all(parent).with_context(|| {
                format!(
                    "failed to create key value store's parent directory: '{}'",
                    parent.display()
                )
            })?;
        }
        Ok(Self {
            path,
            conn: std::sync::OnceLock::new(),
        })
    }

    fn connection(&self) -> KvResult<Arc<Mutex<Connection>>> {
        tokio::task::block_in_place(|| {
            if let Some(conn) = self.conn.get() {
                return Ok(conn.clone());
            }
            let conn = self.create_connection().map_err(backend_error)?;
            Ok(self.conn.get_or_init(|| Arc::new(Mutex::new(conn))).clone())
        })
    }

    fn create_connection(&self) -> rusqlite::Result<Connection> {
        let conn = match &self.path {
            Some(path) => Connection::open(path)?,
            None => Connection::open_in_memory()?,
        };
        conn.execute(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key   TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            )",
            [],
        )?;
        Ok(conn)
    }
}

/// Spin's Redis store: one auto-reconnecting multiplexed connection, made on first open.
pub struct RedisStore {
    client: redis::Client,
    address: String,
    conn: OnceCell<ConnectionManager>,
}

impl RedisStore {
    fn new(url: &str) -> Result<Self> {
        let client = redis::Client::open(url).context("Invalid Redis URL")?;
        let info = client.get_connection_info();
        let address = info.addr.to_string();
        Ok(Self {
            client,
            address,
            conn: OnceCell::new(),
        })
    }

    async fn connection(&self) -> KvResult<ConnectionManager> {
        let conn = self
            .conn
            .get_or_try_init(|| self.client.get_connection_manager())
            .await
            .map_err(backend_error)?
            .clone();
        // Like Spin: a PING on every open lets a broken connection start reconnecting;
        // its result is ignored.
        let _: redis::RedisResult<()> = conn.clone().ping().await;
        Ok(conn)
    }
}

/// All stores of the app, by label.
pub struct Stores(HashMap<String, Arc<Store>>);

impl Stores {
    pub fn new(stores: HashMap<String, Arc<Store>>) -> Self {
        Self(stores)
    }

    pub fn get(&self, label: &str) -> Option<&Arc<Store>> {
        self.0.get(label)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Arc<Store>)> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn temp_db(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("spin-test-host-kv-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("sqlite_key_value.db")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_store_round_trips_and_increments_like_spin() {
        let path = temp_db("roundtrip");
        let store = Store::new(&StoreConfig::Sqlite(Some(path.clone()))).unwrap();
        let bucket = store.open("default").await.unwrap();
        assert_eq!(bucket.get("k").await.unwrap(), None);
        assert_eq!(bucket.increment("visits", 1).await.unwrap(), 1);
        assert_eq!(bucket.increment("visits", 41).await.unwrap(), 42);
        // Stored exactly as Spin stores it: 8 bytes, little-endian, in table spin_key_value.
        let raw: Vec<u8> = Connection::open(&path)
            .unwrap()
            .query_row(
                "SELECT value FROM spin_key_value WHERE store='default' AND key='visits'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(raw, 42i64.to_le_bytes().to_vec());
        assert_eq!(
            bucket.get("visits").await.unwrap(),
            Some(42i64.to_le_bytes().to_vec())
        );
        Connection::open(&path)
            .unwrap()
            .execute(
                "INSERT INTO spin_key_value (store, key, value) VALUES ('default', 'k', x'76')",
                [],
            )
            .unwrap();
        // A value that is not an 8-byte integer is reported, and left alone.
        assert!(bucket
            .increment("k", 1)
            .await
            .unwrap_err()
            .contains("not an 8-byte little-endian integer"));
        assert_eq!(bucket.get("k").await.unwrap(), Some(b"v".to_vec()));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    /// What makes Spin's first opens race with its first increments: another connection on the
    /// file (a racing open creating the table, or another process) holds the write lock, and an
    /// increment, whose deferred transaction has already read, answers busy at once, changing
    /// nothing, instead of waiting on the busy timeout.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_increment_answers_busy_while_another_connection_writes() {
        let path = temp_db("busy");
        let store = Store::new(&StoreConfig::Sqlite(Some(path.clone()))).unwrap();
        let bucket = store.open("default").await.unwrap();
        assert_eq!(bucket.increment("visits", 1).await.unwrap(), 1);

        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let started = std::time::Instant::now();
        let busy = bucket.increment("visits", 1).await.unwrap_err();
        assert_eq!(busy, counter_core::spin_says::SQLITE_BUSY);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "answered at once"
        );
        other.execute_batch("COMMIT").unwrap();

        assert_eq!(
            bucket.increment("visits", 1).await.unwrap(),
            2,
            "nothing was applied"
        );
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    fn is_busy(message: &str) -> bool {
        message.contains("DatabaseBusy") || message.contains("DatabaseLocked")
    }

    /// Two stores on one file stand for two Spin processes: an increment either applies or
    /// answers busy having changed nothing, so the applied ones are exactly 1..=n.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_increments_across_processes_apply_once_or_answer_busy() {
        let path = temp_db("two-processes");
        let stores = [
            Arc::new(Store::new(&StoreConfig::Sqlite(Some(path.clone()))).unwrap()),
            Arc::new(Store::new(&StoreConfig::Sqlite(Some(path.clone()))).unwrap()),
        ];
        // The table exists before the race on the data starts.
        stores[0].open("default").await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..4 {
            let store = stores[i % 2].clone();
            tasks.push(tokio::spawn(async move {
                let bucket = store.open("default").await.unwrap();
                let mut applied = Vec::new();
                for _ in 0..50 {
                    match bucket.increment("n", 1).await {
                        Ok(n) => applied.push(n),
                        Err(e) => assert!(is_busy(&e), "{e}"),
                    }
                }
                applied
            }));
        }
        let mut applied = Vec::new();
        for t in tasks {
            applied.extend(t.await.unwrap());
        }
        applied.sort();
        let n = applied.len() as i64;
        assert!(n > 0);
        assert_eq!(applied, (1..=n).collect::<Vec<i64>>());
        let bucket = stores[1].open("default").await.unwrap();
        assert_eq!(
            bucket.get("n").await.unwrap(),
            Some(n.to_le_bytes().to_vec())
        );
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
