//! Configuration in layers: defaults, then a TOML file, then `HEALTHCODE_SECTION__KEY`
//! environment variables. Unknown keys are refused; secrets never print.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Holds the SQLite database, the data key and the signing keys; created on first start.
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL; the SQLite file in `data_dir` when absent.
    pub database_url: Option<String>,
    /// The region this node serves (GB/T 2260 code).
    #[serde(deserialize_with = "string_or_number")]
    pub region: String,
    /// The colour policy; the shipped default when absent.
    pub policy_file: Option<PathBuf>,
    /// The master key for personal data, 64 hex characters; `data_dir/data.key` when absent.
    pub data_key: Option<Secret>,
    /// How long a pass stays valid, in seconds: short, so a screenshot goes stale.
    pub pass_validity_seconds: i64,
    /// A signed trust list of other regions' keys (from `healthcode trust-list build`).
    pub trust_list: Option<PathBuf>,
    /// The hub's root public key (PEM) that signs the trust list, whether read from
    /// `trust_list` or fetched from `federation.hub_url`.
    pub trust_root_key: Option<PathBuf>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// A change affecting more people than this at once needs a second official's approval.
    pub batch_approval_threshold: u32,
    pub login: LoginConfig,
    pub facts: FactsConfig,
    pub scans: ScanConfig,
    pub admission: AdmissionConfig,
    pub metrics: MetricsConfig,
    pub tracing: TracingConfig,
    pub notifications: NotificationConfig,
    pub audit: AuditConfig,
    pub federation: FederationConfig,
    pub returns: ReturnsConfig,
    pub policy_versions: PolicyVersionsConfig,
    pub replica: ReplicaConfig,
}

/// A PostgreSQL streaming replica that serves residents' reads of their own code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicaConfig {
    /// `postgres://…` of a hot standby of `database_url`; every read goes to the primary when
    /// absent.
    pub url: Option<String>,
    /// The most a read the replica serves may miss, in milliseconds: commits older than this
    /// are always on it, else the read goes to the primary.
    pub max_lag_ms: i64,
}

impl Default for ReplicaConfig {
    fn default() -> ReplicaConfig {
        ReplicaConfig {
            url: None,
            max_lag_ms: 1_000,
        }
    }
}

/// Whether this node is a region's or the hub's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    #[default]
    Region,
    Hub,
}

/// Federation (docs/FEDERATION.md): the hub this region fetches its trust list from, or, on the
/// hub, how long a list it publishes is in force.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    pub role: NodeRole,
    /// The region's name in the directory (e.g. 武汉市).
    pub name: String,
    /// Where other nodes reach this one (`http://host:port`), as the directory publishes it.
    pub public_url: Option<String>,
    /// The hub's URL; with `trust_root_key`, the node fetches the hub's trust list from it.
    pub hub_url: Option<String>,
    /// How often the trust list is fetched (a region) or checked for re-publication (the hub).
    pub refresh_seconds: u64,
    /// On the hub: how long a published list is in force, in hours; it is published again
    /// when half of that has passed, so regions hold a list through a hub outage this long.
    pub list_validity_hours: i64,
}

impl Default for FederationConfig {
    fn default() -> FederationConfig {
        FederationConfig {
            role: NodeRole::Region,
            name: String::new(),
            public_url: None,
            hub_url: None,
            refresh_seconds: 300,
            list_validity_hours: 24,
        }
    }
}

/// The audit chain's anchors (signed heads, in `data_dir/audit-anchors.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// How often the chain's head is signed when it moved, in seconds (0: never).
    pub anchor_interval_seconds: u64,
}

impl Default for AuditConfig {
    fn default() -> AuditConfig {
        AuditConfig {
            anchor_interval_seconds: 60,
        }
    }
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Anyone may read `/metrics` (only on a network where that is fine).
    pub public: bool,
    /// The bearer token a scraper sends; an admin account's token is also accepted. Without
    /// either, `/metrics` answers 401.
    pub token: Option<Secret>,
}

/// Requests in flight at most, per class; past the bound a request is refused at once with 503
/// and `Retry-After` (0: no bound). Health checks are never bounded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdmissionConfig {
    /// Checkpoint scans and venue check-ins.
    pub scans_in_flight: usize,
    /// Other reads (GET): status, pass, pages.
    pub reads_in_flight: usize,
    /// Other writes.
    pub writes_in_flight: usize,
    /// How long a refusal is held before it is sent, in milliseconds.
    pub shed_delay_ms: u64,
}

impl Default for AdmissionConfig {
    fn default() -> AdmissionConfig {
        AdmissionConfig {
            scans_in_flight: 64,
            reads_in_flight: 512,
            writes_in_flight: 128,
            shed_delay_ms: 250,
        }
    }
}

/// Publishing versions of the policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyVersionsConfig {
    /// A version takes effect at least this many seconds after it is approved, so that every
    /// node has read it before its time comes.
    pub notice_seconds: i64,
    /// How often a node reads the approved versions and activates those whose time has come.
    pub refresh_seconds: u64,
}

impl Default for PolicyVersionsConfig {
    fn default() -> PolicyVersionsConfig {
        PolicyVersionsConfig {
            notice_seconds: 60,
            refresh_seconds: 15,
        }
    }
}

/// The return journey (返程): how long things may wait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReturnsConfig {
    /// An application no worker has acted on for this many hours is escalated to the street
    /// office.
    pub escalate_after_hours: i64,
    /// How long a carrier holds a seat for payment, in minutes, before the booking lapses.
    pub hold_minutes: i64,
    /// Days after the planned date an approved person may still travel.
    pub window_days: i64,
    /// A person arrived or handed off and not received by the next side within this many
    /// minutes is escalated.
    pub handoff_minutes: i64,
}

impl Default for ReturnsConfig {
    fn default() -> ReturnsConfig {
        ReturnsConfig {
            escalate_after_hours: 24,
            hold_minutes: 120,
            window_days: 7,
            handoff_minutes: 120,
        }
    }
}

/// What the node accepts as a fact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FactsConfig {
    /// How far back a fact's times may reach, in days (a test sampled, an exposure, a stay);
    /// older times are refused. Times that already happened may not lie in the future (beyond
    /// five minutes of clock skew); planned ones (a trip, an observation's end) at most a year
    /// ahead.
    pub max_age_days: i64,
}

impl Default for FactsConfig {
    fn default() -> FactsConfig {
        FactsConfig { max_age_days: 365 }
    }
}

/// Contact tracing jobs and the re-derivation of colours that end by time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    /// Traces run at once on this node (0: this node runs none; another node sharing the
    /// PostgreSQL store does).
    pub workers: usize,
    /// How long a running trace is held before another worker may take it up, in seconds;
    /// renewed after each level.
    pub lease_seconds: i64,
    /// How often idle workers look for queued traces, in seconds.
    pub poll_seconds: u64,
    /// How often colours whose end by time has come are re-derived, in seconds (0: never).
    pub schedule_interval_seconds: u64,
}

impl Default for TracingConfig {
    fn default() -> TracingConfig {
        TracingConfig {
            workers: 1,
            lease_seconds: 300,
            poll_seconds: 5,
            schedule_interval_seconds: 60,
        }
    }
}

/// The notification outbox and its sender.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationConfig {
    /// `log` (writes each message to the node's log: the demo's gateway) or `none` (messages
    /// stay in the outbox for another node or a gateway to drain).
    pub sender: String,
    /// How often the outbox is drained, in seconds.
    pub poll_seconds: u64,
    /// Attempts before a message is given up as failed.
    pub max_attempts: i64,
    /// The first retry's delay, in seconds; each further one doubles it, up to an hour.
    pub backoff_seconds: i64,
}

impl Default for NotificationConfig {
    fn default() -> NotificationConfig {
        NotificationConfig {
            sender: "log".into(),
            poll_seconds: 2,
            max_attempts: 8,
            backoff_seconds: 10,
        }
    }
}

/// Checkpoint scans and check-ins: how they are written and when the node sheds them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {
    /// How long after it was made an offline scan is still accepted (judged at its own time).
    pub max_offline_hours: i64,
    /// Scans waiting to be written at most; past it scans get 503 with `Retry-After` while
    /// reads go on.
    pub queue_rows: usize,
    /// Scans written per transaction at most (group commit).
    pub group_rows: usize,
    /// Concurrent group writers: 0 for one on SQLite (a single writer) and four on PostgreSQL.
    pub writers: usize,
    /// Largest offline batch, in scans.
    pub batch_max: usize,
    /// Largest batch body, in bytes.
    pub batch_body_bytes: usize,
    /// How often expired visits and scan receipts are removed, in seconds (0: never).
    pub retention_interval_seconds: u64,
    /// A listener of the checkpoints' own (e.g. `0.0.0.0:8081`), served on threads of its own,
    /// so a flood of scans does not queue ahead of residents' reads; the main listener serves
    /// scans too.
    pub listen: Option<String>,
    /// Worker threads of the scan listener.
    pub listen_threads: usize,
}

impl Default for ScanConfig {
    fn default() -> ScanConfig {
        ScanConfig {
            max_offline_hours: 72,
            queue_rows: 50_000,
            group_rows: 5_000,
            writers: 0,
            batch_max: 10_000,
            batch_body_bytes: 8 * 1024 * 1024,
            retention_interval_seconds: 3600,
            listen: None,
            listen_threads: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    pub code_ttl_seconds: i64,
    /// Codes one phone may be sent per hour.
    pub codes_per_hour: i64,
    /// Codes one client address may ask for per hour (an IPv6 client: its /64).
    pub codes_per_address_per_hour: i64,
    /// Codes the whole store sends per hour, over every node sharing it.
    pub codes_per_hour_overall: i64,
    /// The numbers codes are sent to: a phone (mainland: 11 digits; elsewhere `+` and the
    /// country code) must start with one of these. Mainland mobile numbers by default.
    pub code_phone_prefixes: Vec<String>,
    /// The header a trusted reverse proxy puts the client's address in (e.g.
    /// `x-forwarded-for`, whose last address is taken); unset, the connection's own address.
    pub client_address_header: Option<String>,
    pub max_attempts: i64,
    pub session_hours: i64,
    /// How long a staff member's page session lasts, in hours.
    pub staff_session_hours: i64,
    /// The log sender prints login codes (the demo's SMS gateway). Never in production.
    pub log_codes: bool,
    /// Mark the web pages' cookies `Secure` on every response. They are anyway when a request
    /// says it arrived over TLS (`X-Forwarded-Proto: https` from the terminating proxy).
    pub secure_cookies: bool,
}

/// Region codes are digits, which environment variables would otherwise read as numbers.
fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(u64),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::Text(s) => s,
        Raw::Number(n) => n.to_string(),
    })
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("healthcode-data"),
            database_url: None,
            region: "330100".into(),
            policy_file: None,
            data_key: None,
            pass_validity_seconds: 180,
            trust_list: None,
            trust_root_key: None,
            max_body_bytes: 1024 * 1024,
            batch_approval_threshold: 50,
            login: LoginConfig::default(),
            facts: FactsConfig::default(),
            scans: ScanConfig::default(),
            admission: AdmissionConfig::default(),
            metrics: MetricsConfig::default(),
            tracing: TracingConfig::default(),
            notifications: NotificationConfig::default(),
            audit: AuditConfig::default(),
            federation: FederationConfig::default(),
            returns: ReturnsConfig::default(),
            policy_versions: PolicyVersionsConfig::default(),
            replica: ReplicaConfig::default(),
        }
    }
}

impl Default for LoginConfig {
    fn default() -> LoginConfig {
        LoginConfig {
            code_ttl_seconds: 300,
            codes_per_hour: 5,
            codes_per_address_per_hour: 20,
            codes_per_hour_overall: 10_000,
            code_phone_prefixes: ["13", "14", "15", "16", "17", "18", "19"]
                .map(String::from)
                .to_vec(),
            client_address_header: None,
            max_attempts: 5,
            session_hours: 72,
            staff_session_hours: 12,
            log_codes: false,
            secure_cookies: false,
        }
    }
}

/// A secret value: `Debug` and `Serialize` never show it.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<secret>\"")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<secret>")
    }
}

impl Config {
    /// Defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        // These belong to the test suite, the benchmarks and the command line's client commands
        // (a department's or a hub official's token, the node or hub they talk to), not to the
        // node's configuration.
        figment = figment.merge(Env::prefixed("HEALTHCODE_").split("__").ignore(&[
            "test_database_url",
            "bench_database_url",
            "bench_replica_url",
            "token",
            "node",
            "hub",
            "bin",
        ]));
        figment.extract().map_err(Box::new)
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!("sqlite://{}", self.data_dir.join("healthcode.db").display())
        })
    }

    /// An example configuration file with every key and its default.
    pub fn example() -> String {
        let body = toml_of(&Config::default());
        format!(
            "# healthcode configuration: every key with its default value.\n# Environment variables override: HEALTHCODE_LISTEN, HEALTHCODE_LOGIN__SESSION_HOURS, ...\n{body}"
        )
    }
}

/// Collects every key whose value is out of its range, named as in the configuration file.
struct Checks(Vec<String>);

impl Checks {
    fn range<T: PartialOrd + fmt::Display>(&mut self, key: &str, value: T, lo: T, hi: T) {
        if value < lo || value > hi {
            self.0.push(format!(
                "{key} = {value} is out of range: it must be from {lo} to {hi}"
            ));
        }
    }

    fn check(&mut self, key: &str, ok: bool, why: &str) {
        if !ok {
            self.0.push(format!("{key}: {why}"));
        }
    }
}

impl Config {
    /// Every value out of range, each naming its key; the node refuses to start with any, rather
    /// than cap it silently or let time arithmetic overflow.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        const DAY: i64 = 86_400;
        let mut c = Checks(Vec::new());
        c.check(
            "region",
            healthcode_core::region::RegionCode::parse(&self.region).is_ok(),
            "a six-digit GB/T 2260 code of a known province, e.g. 330100",
        );
        if let Some(key) = &self.data_key {
            c.check(
                "data_key",
                key.0.len() == 64 && key.0.bytes().all(|b| b.is_ascii_hexdigit()),
                "64 hexadecimal characters (32 bytes)",
            );
        }
        c.range(
            "pass_validity_seconds",
            self.pass_validity_seconds,
            30,
            3600,
        );
        c.range("max_body_bytes", self.max_body_bytes, 1024, 64 << 20);
        c.range(
            "batch_approval_threshold",
            self.batch_approval_threshold,
            1,
            1_000_000,
        );
        let l = &self.login;
        c.range("login.code_ttl_seconds", l.code_ttl_seconds, 60, 3600);
        c.range("login.codes_per_hour", l.codes_per_hour, 1, 100);
        c.range(
            "login.codes_per_address_per_hour",
            l.codes_per_address_per_hour,
            1,
            1_000_000,
        );
        c.range(
            "login.codes_per_hour_overall",
            l.codes_per_hour_overall,
            1,
            100_000_000,
        );
        c.range("login.max_attempts", l.max_attempts, 1, 20);
        c.range("login.session_hours", l.session_hours, 1, 24 * 90);
        c.range(
            "login.staff_session_hours",
            l.staff_session_hours,
            1,
            24 * 7,
        );
        c.check(
            "login.code_phone_prefixes",
            !l.code_phone_prefixes.is_empty(),
            "at least one accepted number range",
        );
        c.range("facts.max_age_days", self.facts.max_age_days, 1, 3650);
        let f = &self.federation;
        c.range("federation.refresh_seconds", f.refresh_seconds, 1, 86_400);
        c.range(
            "federation.list_validity_hours",
            f.list_validity_hours,
            1,
            720,
        );
        c.check(
            "federation.name",
            f.name.chars().count() <= 50 && !f.name.chars().any(char::is_control),
            "at most 50 printable characters",
        );
        for (key, url) in [
            ("federation.public_url", &f.public_url),
            ("federation.hub_url", &f.hub_url),
        ] {
            if let Some(url) = url {
                c.check(
                    key,
                    url.starts_with("http://") || url.starts_with("https://"),
                    "an http:// or https:// URL",
                );
            }
        }
        c.check(
            "trust_root_key",
            f.hub_url.is_none() || self.trust_root_key.is_some(),
            "the hub's root public key (PEM file), needed with federation.hub_url",
        );
        let s = &self.scans;
        c.range("scans.max_offline_hours", s.max_offline_hours, 1, 24 * 30);
        c.range("scans.queue_rows", s.queue_rows, 1, 10_000_000);
        c.range("scans.group_rows", s.group_rows, 1, 100_000);
        c.range("scans.writers", s.writers, 0, 64);
        c.range("scans.batch_max", s.batch_max, 1, 1_000_000);
        c.range("scans.batch_body_bytes", s.batch_body_bytes, 1024, 1 << 30);
        c.range(
            "scans.retention_interval_seconds",
            s.retention_interval_seconds,
            0,
            7 * 86_400,
        );
        let a = &self.admission;
        c.range("admission.scans_in_flight", a.scans_in_flight, 0, 1_000_000);
        c.range("admission.reads_in_flight", a.reads_in_flight, 0, 1_000_000);
        c.range(
            "admission.writes_in_flight",
            a.writes_in_flight,
            0,
            1_000_000,
        );
        if let Some(token) = &self.metrics.token {
            c.check(
                "metrics.token",
                token.0.len() >= 16,
                "at least 16 characters",
            );
        }
        let t = &self.tracing;
        c.range("tracing.workers", t.workers, 0, 64);
        c.range("tracing.lease_seconds", t.lease_seconds, 10, DAY);
        c.range("tracing.poll_seconds", t.poll_seconds, 1, 3600);
        c.range(
            "tracing.schedule_interval_seconds",
            t.schedule_interval_seconds,
            0,
            86_400,
        );
        c.range("replica.max_lag_ms", self.replica.max_lag_ms, 10, 60_000);
        if self.replica.url.is_some() {
            c.check(
                "replica.url",
                self.database_url
                    .as_deref()
                    .is_some_and(|u| u.starts_with("postgres")),
                "a replica of a PostgreSQL database_url",
            );
        }
        let pv = &self.policy_versions;
        c.range("policy_versions.notice_seconds", pv.notice_seconds, 10, DAY);
        c.check(
            "policy_versions.refresh_seconds",
            pv.refresh_seconds >= 1 && (pv.refresh_seconds as i64) * 2 <= pv.notice_seconds,
            "at least 1 and at most half of policy_versions.notice_seconds, so that every node \
             reads a version twice before it applies",
        );
        let n = &self.notifications;
        c.check(
            "notifications.sender",
            matches!(n.sender.as_str(), "log" | "none"),
            "`log` or `none`",
        );
        c.range("notifications.poll_seconds", n.poll_seconds, 1, 3600);
        c.range("notifications.max_attempts", n.max_attempts, 1, 100);
        c.range("notifications.backoff_seconds", n.backoff_seconds, 1, DAY);
        c.range(
            "audit.anchor_interval_seconds",
            self.audit.anchor_interval_seconds,
            0,
            86_400,
        );
        if c.0.is_empty() { Ok(()) } else { Err(c.0) }
    }
}

fn toml_of(config: &Config) -> String {
    let mut out = String::new();
    let value = serde_json::to_value(config).unwrap_or_default();
    let mut tables = Vec::new();
    if let serde_json::Value::Object(map) = value {
        for (key, v) in map {
            match v {
                serde_json::Value::Object(inner) => tables.push((key, inner)),
                serde_json::Value::Null => out.push_str(&format!("# {key} = \n")),
                other => out.push_str(&format!("{key} = {other}\n")),
            }
        }
        for (name, inner) in tables {
            out.push_str(&format!("\n[{name}]\n"));
            for (key, v) in inner {
                match v {
                    serde_json::Value::Null => out.push_str(&format!("# {key} = \n")),
                    other => out.push_str(&format!("{key} = {other}\n")),
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's test jail decides the closure's type
    fn layers_file_then_environment_and_refuses_unknown_keys() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "hc.toml",
                "listen = \"0.0.0.0:9000\"\nregion = \"110000\"\n[login]\nmax_attempts = 3\n",
            )?;
            jail.set_env("HEALTHCODE_REGION", "310000");
            jail.set_env("HEALTHCODE_LOGIN__SESSION_HOURS", "1");
            jail.set_env("HEALTHCODE_TEST_DATABASE_URL", "postgres://ignored");
            // The client commands' own variables (a hub official's token, the hub) are no
            // node configuration: a `healthcode federation …` run with them set still loads it.
            jail.set_env("HEALTHCODE_TOKEN", "hc_secret");
            jail.set_env("HEALTHCODE_HUB", "http://127.0.0.1:8090");
            jail.set_env("HEALTHCODE_FEDERATION__ROLE", "hub");
            let c = Config::load(Some(Path::new("hc.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.federation.role, NodeRole::Hub);
            assert_eq!(c.listen, "0.0.0.0:9000");
            assert_eq!(c.region, "310000", "environment wins over the file");
            assert_eq!((c.login.max_attempts, c.login.session_hours), (3, 1));
            jail.create_file("bad.toml", "lisen = \"x\"\n")?;
            assert!(Config::load(Some(Path::new("bad.toml"))).is_err());
            Ok(())
        });
    }

    #[test]
    fn values_out_of_range_are_refused_each_naming_its_key() {
        assert_eq!(Config::default().validate(), Ok(()));
        let mut c = Config {
            pass_validity_seconds: 7200,
            region: "33".into(),
            ..Config::default()
        };
        c.scans.max_offline_hours = i64::MAX / 1000;
        c.notifications.sender = "carrier-pigeon".into();
        let problems = c.validate().unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("region"), "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("pass_validity_seconds = 7200 is out of range")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("scans.max_offline_hours"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("notifications.sender"))
        );
    }

    #[test]
    fn every_key_is_in_the_operations_guide() {
        let guide = include_str!("../../../docs/OPERATIONS.md");
        let mut section = String::new();
        let mut missing = Vec::new();
        for line in Config::example().lines() {
            let line = line.trim_start_matches("# ");
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = format!("{name}.");
            } else if let Some((key, _)) = line.split_once(" = ") {
                let key = format!("{section}{key}");
                if !guide.contains(&format!("`{key}`")) {
                    missing.push(key);
                }
            }
        }
        assert!(missing.is_empty(), "not in docs/OPERATIONS.md: {missing:?}");
    }

    #[test]
    fn secrets_do_not_print_and_the_example_parses() {
        let c = Config {
            data_key: Some(Secret("ab".repeat(32))),
            ..Config::default()
        };
        assert!(!format!("{c:?}").contains("abab"));
        let example = Config::example();
        let parsed: Config = Figment::from(Toml::string(&example)).extract().unwrap();
        assert_eq!(parsed, Config::default());
    }
}
