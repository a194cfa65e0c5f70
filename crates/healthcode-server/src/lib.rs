//! The regional node over HTTP: residents enroll and declare, officials and departments record
//! facts, everyone reads the colour the published policy derives, and every access to personal
//! data lands on the audit chain.

pub mod admission;
pub mod anchors;
pub mod auth;
mod body;
pub mod caches;
pub mod clock;
pub mod config;
pub mod error;
pub mod federation;
mod jobs;
mod kept;
pub mod metrics;
pub mod openapi;
mod panics;
pub mod passes;
pub mod policies;
pub mod recorder;
pub mod replica;
mod routes;
pub mod scanning;
pub mod usecases;
pub mod web;

use axum::Router;
use config::Config;
use healthcode_core::Policy;
use healthcode_store::{Store, Vault};
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::net::TcpListener;

/// What every handler shares, behind one pointer: a request clones it several times (the
/// router, each middleware), and cloning twenty fields was 3% of a scan's CPU.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The node's shared parts; handlers reach them through `AppState`.
#[derive(Clone)]
pub struct Shared {
    /// The one clock the node reads (tests move it forward).
    pub clock: clock::Clock,
    pub store: Store,
    /// The policy in effect at each instant (the base and the versions approved since).
    pub policy: Arc<policies::Policies>,
    pub config: Arc<Config>,
    pub metrics: metrics::Metrics,
    pub passes: Arc<passes::Passes>,
    /// Signs the audit chain's head with a key the database does not hold.
    pub anchors: Arc<anchors::Anchors>,
    /// Group commit of scans and check-ins.
    pub recorder: recorder::Recorder,
    pub caches: Arc<caches::Caches>,
    /// Wakes the tracing workers when a case is recorded.
    pub tracer: Arc<tokio::sync::Notify>,
    /// Wakes the outbox drain when a login code is queued.
    pub outbox: Arc<tokio::sync::Notify>,
    /// Delivers the outboxes' messages; `None` leaves them for another node or gateway.
    pub sender: Option<Arc<dyn usecases::notices::Sender>>,
    /// The trust list held from the hub (empty when no hub is configured).
    pub directory: Arc<federation::directory::Directory>,
    /// The hub's root key and publication settings, on the hub only.
    pub hub: Option<Arc<federation::hub::Hub>>,
    /// Signs the node's requests to the hub and to other nodes.
    pub node_key: Arc<healthcode_pass::keys::SigningKey>,
    /// Wakes the delivery of messages to other regions when one is queued.
    pub federation: Arc<tokio::sync::Notify>,
    /// The read replica residents' reads of their own code go to (`replica.url`).
    pub replica: Option<Arc<healthcode_store::Replica>>,
}

impl AppState {
    /// The same node delivering its messages through `sender` (tests put a gateway in).
    pub fn with_sender(&self, sender: Arc<dyn usecases::notices::Sender>) -> AppState {
        AppState(Arc::new(Shared {
            sender: Some(sender),
            ..Shared::clone(self)
        }))
    }

    /// The time by the node's clock; the domain takes it as a parameter.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("the data key: {0}")]
    Key(#[from] healthcode_store::vault::VaultError),
    #[error("the configuration: {0}")]
    Config(String),
    #[error("the store: {0}")]
    Store(#[from] healthcode_store::StoreError),
    #[error("the policy: {0}")]
    Policy(String),
    #[error("notifications: {0}")]
    Notifications(String),
    #[error("passes: {0}")]
    Passes(String),
    #[error("audit anchors: {0}")]
    Anchors(#[from] anchors::AnchorError),
    #[error("cannot listen on {0}: {1}")]
    Listen(String, std::io::Error),
    #[error("cannot start the scan writer: {0}")]
    Writer(std::io::Error),
}

/// Opens the data directory, the data key, the store (applying migrations) and the policy.
pub async fn open_state(config: Config) -> Result<AppState, StartError> {
    config
        .validate()
        .map_err(|problems| StartError::Config(problems.join("; ")))?;
    owner_only_dir(&config.data_dir)
        .map_err(|e| StartError::DataDir(config.data_dir.display().to_string(), e))?;
    let vault = match &config.data_key {
        Some(hex) => Vault::from_hex(&hex.0)?,
        None => Vault::load_or_create(&config.data_dir.join("data.key"))?,
    };
    let store = Store::open(&config.database_url(), vault).await?;
    let policy = match &config.policy_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| StartError::Policy(format!("{}: {e}", path.display())))?;
            Policy::from_json(&text)
        }
        None => Policy::default_policy(),
    }
    .map_err(|e| StartError::Policy(e.to_string()))?;
    let clock = clock::Clock::system();
    // The region's recorded base, which the file only starts.
    let policy = usecases::policy_versions::settle_base(&store, policy, clock.now())
        .await
        .map_err(|e| StartError::Policy(e.en))?;
    let passes = passes::Passes::open(&config, clock.now())?;
    let directory = federation::directory::Directory::new(
        &config.data_dir,
        config.federation.hub_url.clone(),
        passes::root_key(&config)?,
    );
    if let Some((list, others)) = directory.load(clock.now()).map_err(StartError::Passes)? {
        passes.install_others(others, list.valid_until);
    }
    let hub = match config.federation.role {
        config::NodeRole::Hub => Some(Arc::new(federation::hub::Hub {
            root: federation::hub_root_key(&config.data_dir)?,
            validity: time::Duration::hours(config.federation.list_validity_hours.max(1)),
        })),
        config::NodeRole::Region => None,
    };
    let node_key = Arc::new(federation::node_key(&config.data_dir)?);
    let anchors = anchors::Anchors::open(&config.data_dir)?;
    let recorder = recorder::Recorder::spawn(store.clone(), &config.scans, clock.clone())
        .map_err(StartError::Writer)?;
    let replica = match &config.replica.url {
        Some(url) => Some(Arc::new(
            store
                .replica(url, time::Duration::milliseconds(config.replica.max_lag_ms))
                .await?,
        )),
        None => None,
    };
    let sender =
        usecases::notices::configured(&config.notifications.sender, config.login.log_codes)
            .map_err(StartError::Notifications)?;
    let state = AppState(Arc::new(Shared {
        clock: clock.clone(),
        tracer: Arc::default(),
        outbox: Arc::default(),
        sender,
        passes: Arc::new(passes),
        anchors: Arc::new(anchors),
        recorder,
        caches: Arc::default(),
        store,
        policy: Arc::new(policies::Policies::new(
            policy,
            clock.clone(),
            time::Duration::seconds(config.policy_versions.notice_seconds),
        )),
        config: Arc::new(config),
        metrics: metrics::Metrics::default(),
        directory: Arc::new(directory),
        hub,
        node_key,
        federation: Arc::default(),
        replica,
    }));
    // The versions approved since the base.
    usecases::policy_versions::reload(&state)
        .await
        .map_err(|e| StartError::Policy(e.en))?;
    Ok(state)
}

/// Creates the data directory (keys, the SQLite files, the anchors) open to its owner only, or
/// narrows an existing one to that.
fn owner_only_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

pub fn router(state: AppState) -> Router {
    routes::router(state)
}

/// A bound, running node; dropping the handle does not stop it, `shutdown` does.
pub struct Running {
    pub addr: std::net::SocketAddr,
    /// The checkpoints' own listener (`scans.listen`), when configured.
    pub scan_addr: Option<std::net::SocketAddr>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// Stops accepting, finishes the requests in flight, and waits.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            task.await.unwrap_or(Ok(()))?;
        }
        Ok(())
    }
}

/// Serves the node's routes on `listener` until `stop` turns true.
async fn serve(
    state: AppState,
    listener: TcpListener,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    // Each request knows the address it came from (the login-code limits count by it).
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        })
        .await
}

async fn bind(listen: &str) -> Result<(TcpListener, std::net::SocketAddr), StartError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| StartError::Listen(listen.to_owned(), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Listen(listen.to_owned(), e))?;
    Ok((listener, addr))
}

/// Binds `config.listen` (port 0 for any) and serves until `shutdown`. With `scans.listen`, the
/// checkpoints' scans get a listener of their own, served by a runtime of its own on its own
/// threads (`scans.listen_threads`) and a pool of database connections of its own: a flood of
/// scans then competes with residents' reads and health checks only for the processor, as
/// threads do, not in one queue of tasks or for one pool.
pub async fn start(state: AppState) -> Result<Running, StartError> {
    let (listener, addr) = bind(&state.config.listen).await?;
    let scans = match &state.config.scans.listen {
        Some(listen) => Some(bind(listen).await?),
        None => None,
    };
    let (shutdown, stop) = tokio::sync::watch::channel(false);
    jobs::spawn(&state);
    replica::spawn_watcher(&state);
    anchors::spawn(state.clone());
    let mut tasks = vec![tokio::spawn(serve(state.clone(), listener, stop.clone()))];
    let mut scan_addr = None;
    if let Some((listener, bound)) = scans {
        scan_addr = Some(bound);
        // Scans look up their checkpoint's token through connections of their own.
        let url = state.config.database_url();
        let state = AppState(Arc::new(Shared {
            store: state.store.with_own_pool(&url).await?,
            ..Shared::clone(&state)
        }));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(state.config.scans.listen_threads.max(1))
            .thread_name("scans")
            .enable_all()
            .build()
            .map_err(|e| StartError::Listen(bound.to_string(), e))?;
        let (done, finished) = tokio::sync::oneshot::channel();
        let listener = listener
            .into_std()
            .map_err(|e| StartError::Listen(bound.to_string(), e))?;
        std::thread::Builder::new()
            .name("scans-listener".into())
            .spawn(move || {
                let served = runtime.block_on(async move {
                    serve(state, TcpListener::from_std(listener)?, stop).await
                });
                let _ = done.send(served);
            })
            .map_err(|e| StartError::Listen(bound.to_string(), e))?;
        tasks.push(tokio::spawn(
            async move { finished.await.unwrap_or(Ok(())) },
        ));
    }
    Ok(Running {
        addr,
        scan_addr,
        shutdown,
        tasks,
    })
}
