//! Group commit for scans and check-ins. Requests hand their scans to a bounded queue; a writer
//! takes everything queued (up to `group_rows`) and records it in one transaction, then answers
//! each request. So a scan is answered only once it is on disk, and one fsync covers many
//! scans. The queue is bounded by row permits: when none are left the request is refused at
//! once with 503 and `Retry-After`, and reads, which never wait here, keep working.

use crate::clock::Clock;
use crate::config::ScanConfig;
use healthcode_store::{NewScan, Recorded, Store};
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the scan queue is full")]
    Overloaded,
    #[error("{0} scans are more than the queue ever holds")]
    TooMany(usize),
    #[error("the store failed: {0}")]
    Store(String),
}

struct Job {
    scans: Vec<NewScan>,
    reply: oneshot::Sender<Result<Vec<Recorded>, RecordError>>,
    /// One permit per scan, returned to the queue when the job is answered.
    permits: OwnedSemaphorePermit,
}

#[derive(Clone)]
pub struct Recorder {
    queue: mpsc::UnboundedSender<Job>,
    permits: Arc<Semaphore>,
    capacity: usize,
}

impl Recorder {
    /// Starts the writers: on the current runtime, or a SQLite writer on a thread of its own.
    pub fn spawn(store: Store, config: &ScanConfig, clock: Clock) -> std::io::Result<Recorder> {
        let (queue, jobs) = mpsc::unbounded_channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        let sqlite = store.backend_name() == "sqlite";
        let writers = match (config.writers, sqlite) {
            (0, true) => 1,
            (0, false) => 4,
            (n, _) => n,
        };
        let group_rows = config.group_rows.max(1);
        for _ in 0..writers {
            let writer = write_groups(store.clone(), jobs.clone(), group_rows, clock.clone());
            if sqlite {
                on_own_thread(writer)?;
            } else {
                tokio::spawn(writer);
            }
        }
        let capacity = config.queue_rows.max(1);
        Ok(Recorder {
            queue,
            permits: Arc::new(Semaphore::new(capacity)),
            capacity,
        })
    }

    /// Records scans durably, or refuses at once when the queue is full.
    pub async fn record(&self, scans: Vec<NewScan>) -> Result<Vec<Recorded>, RecordError> {
        if scans.is_empty() {
            return Ok(Vec::new());
        }
        if scans.len() > self.capacity {
            return Err(RecordError::TooMany(scans.len()));
        }
        let n = u32::try_from(scans.len()).map_err(|_| RecordError::TooMany(scans.len()))?;
        let permits = self
            .permits
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| RecordError::Overloaded)?;
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job {
                scans,
                reply,
                permits,
            })
            .map_err(|_| RecordError::Store("the writer stopped".into()))?;
        answer
            .await
            .map_err(|_| RecordError::Store("the writer stopped".into()))?
    }

    /// Scans waiting to be written.
    pub fn queued(&self) -> usize {
        self.capacity - self.permits.available_permits()
    }
}

/// Runs a SQLite writer on a thread of its own. A group is several statements, each a round
/// trip to the connection's thread; on the runtime's threads the writer waited behind the HTTP
/// requests for its turn after every one of them, and the one writer, not the cores, set how
/// many scans a second were recorded.
fn on_own_thread(
    writer: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("scan-writer".into())
        .spawn(move || runtime.block_on(writer))?;
    Ok(())
}

/// One writer: waits for a job, takes whatever else is queued up to `group_rows`, writes the
/// group in one transaction, answers every job in it.
async fn write_groups(
    store: Store,
    jobs: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>,
    group_rows: usize,
    clock: Clock,
) {
    loop {
        let mut group = Vec::new();
        {
            let mut jobs = jobs.lock().await;
            let Some(job) = jobs.recv().await else {
                return;
            };
            let mut rows = job.scans.len();
            group.push(job);
            while rows < group_rows {
                match jobs.try_recv() {
                    Ok(job) => {
                        rows += job.scans.len();
                        group.push(job);
                    }
                    Err(_) => break,
                }
            }
        }
        let mut all = Vec::with_capacity(group.iter().map(|j| j.scans.len()).sum());
        for job in &mut group {
            all.append(&mut job.scans);
        }
        match store.record_scans(&all, clock.now()).await {
            Ok(results) => {
                let mut results = results.into_iter();
                for job in group {
                    let n = job.permits.num_permits();
                    let mine: Vec<Recorded> = results.by_ref().take(n).collect();
                    let _ = job.reply.send(Ok(mine));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, scans = all.len(), "recording scans failed");
                for job in group {
                    let _ = job.reply.send(Err(RecordError::Store(e.to_string())));
                }
            }
        }
    }
}
