//! The job store: jobs, tasks, workers and the artifact index in one SQLite
//! file (WAL). Every change the manager answers 2xx for is written here
//! first, in one transaction per change.

use std::path::Path;

use rusqlite::{Connection, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ArtifactMeta, Job, Task, Worker};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, job_id TEXT NOT NULL, idx INTEGER NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_by_job ON tasks (job_id, idx);
CREATE TABLE IF NOT EXISTS workers (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS artifacts (
    job_id TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (job_id, name)
);
";

/// Everything stored, as loaded at start.
pub struct Loaded {
    pub jobs: Vec<Job>,
    pub tasks: Vec<Task>,
    pub workers: Vec<Worker>,
    pub artifacts: Vec<(String, ArtifactMeta)>,
}

/// An open job store.
pub struct Store {
    conn: Connection,
}

/// Writes of one transaction.
pub struct Tx<'a> {
    tx: rusqlite::Transaction<'a>,
}

fn to_json<T: Serialize>(value: &T) -> rusqlite::Result<String> {
    serde_json::to_string(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn from_json<T: DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

impl Store {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> rusqlite::Result<Store> {
        let conn = Connection::open(path)?;
        // First: switching to WAL takes a lock that another process opening the
        // file at the same moment may hold.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // NORMAL in WAL mode: a commit survives a crash of the process (the
        // WAL is written before the call returns); only an OS crash or power
        // loss may roll back the last transactions.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", 1)?;
        // Rows of jobs that have no row: a submission or a deletion that a
        // crash cut short (both write their rows in batches).
        conn.execute_batch(
            "DELETE FROM tasks WHERE job_id NOT IN (SELECT id FROM jobs);
             DELETE FROM artifacts WHERE job_id NOT IN (SELECT id FROM jobs);",
        )?;
        Ok(Store { conn })
    }

    /// Loads every row.
    pub fn load(&self) -> rusqlite::Result<Loaded> {
        fn all<T: DeserializeOwned>(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<T>> {
            let mut stmt = conn.prepare(sql)?;
            let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
            rows.map(|r| r.and_then(|text| from_json(&text))).collect()
        }
        let jobs = all(&self.conn, "SELECT body FROM jobs ORDER BY seq")?;
        let tasks = all(&self.conn, "SELECT body FROM tasks ORDER BY job_id, idx")?;
        let workers = all(&self.conn, "SELECT body FROM workers")?;
        let mut stmt = self
            .conn
            .prepare("SELECT job_id, body FROM artifacts ORDER BY job_id, name")?;
        let artifacts = stmt
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?
            .map(|r| r.and_then(|(job, body)| Ok((job, from_json(&body)?))))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Loaded {
            jobs,
            tasks,
            workers,
            artifacts,
        })
    }

    /// Runs `f` in one transaction and commits it.
    pub fn write<R>(
        &mut self,
        f: impl FnOnce(&Tx<'_>) -> rusqlite::Result<R>,
    ) -> rusqlite::Result<R> {
        let tx = Tx {
            tx: self.conn.transaction()?,
        };
        let out = f(&tx)?;
        tx.tx.commit()?;
        Ok(out)
    }
}

impl Tx<'_> {
    /// Inserts or replaces a job.
    pub fn job(&self, job: &Job) -> rusqlite::Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO jobs (id, seq, body) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            )?
            .execute(params![job.id, job.seq as i64, to_json(job)?])?;
        Ok(())
    }

    /// Inserts or replaces a task.
    pub fn task(&self, task: &Task) -> rusqlite::Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO tasks (id, job_id, idx, body) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            )?
            .execute(params![
                task.id,
                task.job_id,
                task.index as i64,
                to_json(task)?
            ])?;
        Ok(())
    }

    /// Inserts or replaces a worker.
    pub fn worker(&self, worker: &Worker) -> rusqlite::Result<()> {
        self.tx
            .prepare_cached("INSERT OR REPLACE INTO workers (id, body) VALUES (?1, ?2)")?
            .execute(params![worker.id, to_json(worker)?])?;
        Ok(())
    }

    /// Removes a worker.
    pub fn delete_worker(&self, id: &str) -> rusqlite::Result<()> {
        self.tx.execute("DELETE FROM workers WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Inserts or replaces an artifact's index entry.
    pub fn artifact(&self, job_id: &str, artifact: &ArtifactMeta) -> rusqlite::Result<()> {
        self.tx
            .prepare_cached(
                "INSERT OR REPLACE INTO artifacts (job_id, name, body) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![job_id, artifact.name, to_json(artifact)?])?;
        Ok(())
    }

    /// Removes a job's row: the job is gone, even if its task and artifact
    /// rows are still there (see [`delete_job_rows`](Self::delete_job_rows)).
    pub fn delete_job(&self, id: &str) -> rusqlite::Result<()> {
        self.tx.execute("DELETE FROM jobs WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Removes up to `limit` task rows and `limit` artifact rows of job
    /// `id` → how many were removed.
    pub fn delete_job_rows(&self, id: &str, limit: usize) -> rusqlite::Result<usize> {
        let limit = limit as i64;
        let tasks = self.tx.execute(
            "DELETE FROM tasks WHERE rowid IN \
             (SELECT rowid FROM tasks WHERE job_id = ?1 LIMIT ?2)",
            params![id, limit],
        )?;
        let artifacts = self.tx.execute(
            "DELETE FROM artifacts WHERE rowid IN \
             (SELECT rowid FROM artifacts WHERE job_id = ?1 LIMIT ?2)",
            params![id, limit],
        )?;
        Ok(tasks + artifacts)
    }
}
