//! Command-line logic for the `healthcode` binary (wired in crates/healthcode; see
//! CLI-WIRING.md). Each command takes parsed arguments and the current time, and returns the
//! JSON to print with the exit code: 0 valid / done, 1 not valid, 2 unusable input.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

use crate::cert::SignerCertificate;
use crate::compress;
use crate::instant::parse_instant;
use crate::keyring::Keyring;
use crate::keys::{Algorithm, SigningKey, VerifyingKey};
use crate::pass::{self, Colour, DocumentKind, Pass};
use crate::qr;
use crate::region::RegionCode;
use crate::trust::{TrustList, TrustListEntry, TrustStore, TrustedKey};
use crate::venue::{self, VenueCode};
use crate::verify::{self, Options};

/// What a command prints and how it exits.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub json: Value,
    pub exit_code: i32,
}

impl Outcome {
    fn done(json: Value) -> Outcome {
        Outcome { json, exit_code: 0 }
    }

    /// Unusable input: exit 2 with the reason.
    pub fn unusable(reason: impl ToString) -> Outcome {
        Outcome {
            json: json!({ "error": reason.to_string() }),
            exit_code: 2,
        }
    }
}

type Result<T> = std::result::Result<T, Outcome>;

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| Outcome::unusable(format!("{}: {e}", path.display())))
}

fn read_text(path: &Path) -> Result<String> {
    String::from_utf8(read(path)?)
        .map_err(|_| Outcome::unusable(format!("{}: not UTF-8", path.display())))
}

fn instant(at: Option<&str>, now: OffsetDateTime) -> Result<OffsetDateTime> {
    at.map_or(Ok(now), |s| parse_instant(s).map_err(Outcome::unusable))
}

fn algorithm(name: &str) -> Result<Algorithm> {
    match Algorithm::parse(name) {
        Some(a @ (Algorithm::EdDSA | Algorithm::ES256)) => Ok(a),
        _ => Err(Outcome::unusable(format!(
            "{name}: signing algorithm must be ed25519 or es256"
        ))),
    }
}

/// Where the text to verify comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Text(String),
    Image(PathBuf),
    /// Standard input (`-`), already read by the caller or read here.
    Stdin,
}

/// `healthcode verify`.
#[derive(Debug, Clone, Default)]
pub struct VerifyArgs {
    pub input: Option<Input>,
    pub trust_list: Option<PathBuf>,
    /// Root public key (PEM) that signs the trust list.
    pub root_key: Option<PathBuf>,
    /// Signer certificates (DER, base64 DER or PEM), trusted directly.
    pub certificates: Vec<PathBuf>,
    /// Public keys (PEM SubjectPublicKeyInfo), trusted directly.
    pub public_keys: Vec<PathBuf>,
    /// RFC 3339 instant to verify at instead of now.
    pub at: Option<String>,
    pub skew_seconds: Option<i64>,
    pub strict_value_sets: bool,
}

/// Runs `healthcode verify`. `stdin` is read only for `Input::Stdin`.
pub fn verify(args: &VerifyArgs, now: OffsetDateTime, stdin: &mut dyn Read) -> Outcome {
    match verify_inner(args, now, stdin) {
        Ok(o) | Err(o) => o,
    }
}

fn verify_inner(args: &VerifyArgs, now: OffsetDateTime, stdin: &mut dyn Read) -> Result<Outcome> {
    let at = instant(args.at.as_deref(), now)?;
    let text = match &args.input {
        None => {
            return Err(Outcome::unusable(
                "give TEXT, --image FILE.png or - for standard input",
            ));
        }
        Some(Input::Text(t)) => t.clone(),
        Some(Input::Stdin) => {
            let mut buf = String::new();
            // Bounded: nothing longer than a QR code is worth reading.
            stdin
                .take((crate::prefix::MAX_TEXT * 4) as u64)
                .read_to_string(&mut buf)
                .map_err(|e| Outcome::unusable(format!("standard input: {e}")))?;
            buf
        }
        Some(Input::Image(path)) => qr::decode_png(&read(path)?)
            .map_err(|e| Outcome::unusable(format!("{}: {e}", path.display())))?,
    };
    let mut trust = TrustStore::new();
    let mut trust_info = Value::Null;
    if let Some(list_path) = &args.trust_list {
        let root = args.root_key.as_ref().ok_or_else(|| {
            Outcome::unusable("--trust-list needs --root-key (the hub's public key)")
        })?;
        let root = VerifyingKey::from_pem(&read_text(root)?).map_err(Outcome::unusable)?;
        let (list, store) = TrustList::verify(&read_trust_list(list_path)?, &root, at)
            .map_err(|e| Outcome::unusable(format!("trust list rejected: {e}")))?;
        trust_info =
            json!({ "issuer": list.issuer, "sequence": list.sequence, "keys": store.len() });
        trust.extend(store);
    }
    for path in &args.certificates {
        let cert = SignerCertificate::load(&read(path)?)
            .map_err(|e| Outcome::unusable(format!("{}: {e}", path.display())))?;
        trust.add(TrustedKey::from_certificate(cert));
    }
    for path in &args.public_keys {
        let key = VerifyingKey::from_pem(&read_text(path)?)
            .map_err(|e| Outcome::unusable(format!("{}: {e}", path.display())))?;
        trust.add(TrustedKey::new(key));
    }
    let options = Options {
        skew: args
            .skew_seconds
            .map_or(verify::DEFAULT_SKEW, Duration::seconds),
        strict_value_sets: args.strict_value_sets,
    };
    let report = verify::verify_with_options(&text, &trust, at, options);
    let mut out = serde_json::to_value(&report).map_err(Outcome::unusable)?;
    if let Value::Object(map) = &mut out {
        map.insert(
            "verified_at".into(),
            json!(crate::cwt::format_epoch(at.unix_timestamp())),
        );
        if !trust_info.is_null() {
            map.insert("trust_list".into(), trust_info);
        }
    }
    Ok(Outcome {
        json: out,
        exit_code: if report.valid { 0 } else { 1 },
    })
}

/// A trust list file: the COSE bytes, or their base64.
fn read_trust_list(path: &Path) -> Result<Vec<u8>> {
    use base64::Engine;
    let bytes = read(path)?;
    if matches!(bytes.first(), Some(0xd2 | 0x84)) {
        return Ok(bytes);
    }
    let text: String = String::from_utf8_lossy(&bytes).split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| Outcome::unusable(format!("{}: neither COSE nor base64: {e}", path.display())))
}

/// `healthcode keys generate` / `rotate` / `list`.
#[derive(Debug, Clone)]
pub struct KeysArgs {
    pub dir: PathBuf,
    /// `ed25519` (default) or `es256`.
    pub alg: String,
}

fn keyring_json(ring: &Keyring) -> Result<Value> {
    let active = ring.active().map_err(Outcome::unusable)?;
    // Write the public half beside the keys, for the hub and for other nodes.
    let public_path = ring_dir_public(ring, &active)?;
    Ok(json!({
        "active": {
            "kid": active.kid().to_base64(),
            "alg": active.algorithm(),
            "public_key_pem": active.verifying_key().to_pem(),
            "public_key_file": public_path,
        },
        "keys": ring.entries(),
    }))
}

fn ring_dir_public(ring: &Keyring, active: &SigningKey) -> Result<String> {
    let path = ring.dir().join("public.pem");
    fs::write(&path, active.verifying_key().to_pem())
        .map_err(|e| Outcome::unusable(format!("{}: {e}", path.display())))?;
    Ok(path.display().to_string())
}

/// Creates the keyring (and its first key) if absent, and prints the active key.
pub fn keys_generate(args: &KeysArgs, now: OffsetDateTime) -> Outcome {
    let run = || -> Result<Outcome> {
        let ring = Keyring::open_or_create(&args.dir, algorithm(&args.alg)?, now)
            .map_err(Outcome::unusable)?;
        Ok(Outcome::done(keyring_json(&ring)?))
    };
    run().unwrap_or_else(|e| e)
}

/// Generates a new signing key; the old one keeps verifying until its passes expire.
pub fn keys_rotate(args: &KeysArgs, now: OffsetDateTime) -> Outcome {
    let run = || -> Result<Outcome> {
        let alg = algorithm(&args.alg)?;
        let mut ring = Keyring::open_or_create(&args.dir, alg, now).map_err(Outcome::unusable)?;
        ring.rotate(alg, now).map_err(Outcome::unusable)?;
        Ok(Outcome::done(keyring_json(&ring)?))
    };
    run().unwrap_or_else(|e| e)
}

/// `healthcode trust-list build`.
#[derive(Debug, Clone)]
pub struct TrustListBuildArgs {
    /// The hub's keyring (its active key signs the list; created on first use).
    pub root_dir: PathBuf,
    /// `REGION=KEYRING_DIR`: every key of a local keyring still needed by verifiers.
    pub keyrings: Vec<String>,
    /// `REGION=PUBLIC_KEY.pem`: a key another node sent.
    pub public_keys: Vec<String>,
    pub out: PathBuf,
    pub issuer: String,
    pub sequence: u64,
    pub valid_days: i64,
    /// How long an active key is listed as valid for issuing.
    pub key_validity_days: i64,
    pub at: Option<String>,
}

fn split_region(spec: &str) -> Result<(String, PathBuf)> {
    let (region, path) = spec
        .split_once('=')
        .ok_or_else(|| Outcome::unusable(format!("{spec}: expected REGION=PATH")))?;
    RegionCode::parse(region).map_err(Outcome::unusable)?;
    Ok((region.to_owned(), PathBuf::from(path)))
}

/// Builds and signs a trust list.
pub fn trust_list_build(args: &TrustListBuildArgs, now: OffsetDateTime) -> Outcome {
    let run = || -> Result<Outcome> {
        let now = instant(args.at.as_deref(), now)?;
        let key_until = now + Duration::days(args.key_validity_days);
        let mut entries = Vec::new();
        for spec in &args.keyrings {
            let (region, dir) = split_region(spec)?;
            let ring =
                Keyring::open_or_create(&dir, Algorithm::EdDSA, now).map_err(Outcome::unusable)?;
            for (key, entry) in ring
                .verifying_keys(now, pass::MAX_VALIDITY)
                .map_err(Outcome::unusable)?
            {
                let until = entry.retired_at.unwrap_or(key_until);
                entries.push(TrustListEntry::for_key(
                    &region,
                    &key,
                    entry.created_at,
                    until,
                ));
            }
        }
        for spec in &args.public_keys {
            let (region, path) = split_region(spec)?;
            let key = VerifyingKey::from_pem(&read_text(&path)?).map_err(Outcome::unusable)?;
            entries.push(TrustListEntry::for_key(&region, &key, now, key_until));
        }
        let root_ring = Keyring::open_or_create(&args.root_dir, Algorithm::EdDSA, now)
            .map_err(Outcome::unusable)?;
        let root = root_ring.active().map_err(Outcome::unusable)?;
        let list = TrustList {
            version: 1,
            issuer: args.issuer.clone(),
            sequence: args.sequence,
            issued_at: now,
            valid_until: now + Duration::days(args.valid_days),
            entries,
        };
        let signed = list.sign(&root).map_err(Outcome::unusable)?;
        fs::write(&args.out, &signed)
            .map_err(|e| Outcome::unusable(format!("{}: {e}", args.out.display())))?;
        let root_public = ring_dir_public(&root_ring, &root)?;
        Ok(Outcome::done(json!({
            "file": args.out.display().to_string(),
            "bytes": signed.len(),
            "root_kid": root.kid().to_base64(),
            "root_public_key_file": root_public,
            "list": list,
        })))
    };
    run().unwrap_or_else(|e| e)
}

/// `healthcode trust-list verify`.
#[derive(Debug, Clone)]
pub struct TrustListVerifyArgs {
    pub file: PathBuf,
    pub root_key: PathBuf,
    pub at: Option<String>,
}

/// Checks a trust list: exit 0 and the list when valid, 1 with the reason when not.
pub fn trust_list_verify(args: &TrustListVerifyArgs, now: OffsetDateTime) -> Outcome {
    let run = || -> Result<Outcome> {
        let at = instant(args.at.as_deref(), now)?;
        let root =
            VerifyingKey::from_pem(&read_text(&args.root_key)?).map_err(Outcome::unusable)?;
        let bytes = read_trust_list(&args.file)?;
        Ok(match TrustList::verify(&bytes, &root, at) {
            Ok((list, store)) => {
                Outcome::done(json!({ "valid": true, "keys": store.len(), "list": list }))
            }
            Err(e) => Outcome {
                json: json!({ "valid": false, "reason": e.to_string() }),
                exit_code: 1,
            },
        })
    };
    run().unwrap_or_else(|e| e)
}

/// Image outputs shared by `pass issue` and `venue-code`.
#[derive(Debug, Clone, Default)]
pub struct ImageArgs {
    pub png: Option<PathBuf>,
    pub svg: Option<PathBuf>,
}

fn write_images(
    text: &str,
    images: &ImageArgs,
    out: &mut serde_json::Map<String, Value>,
) -> Result<()> {
    if let Some(path) = &images.png {
        let png = qr::render_png(text, 4).map_err(Outcome::unusable)?;
        fs::write(path, png).map_err(|e| Outcome::unusable(format!("{}: {e}", path.display())))?;
        out.insert("png".into(), json!(path.display().to_string()));
    }
    if let Some(path) = &images.svg {
        let svg = qr::render_svg(text).map_err(Outcome::unusable)?;
        fs::write(path, svg).map_err(|e| Outcome::unusable(format!("{}: {e}", path.display())))?;
        out.insert("svg".into(), json!(path.display().to_string()));
    }
    Ok(())
}

/// `healthcode pass issue` (testing and demos; the server issues passes from its own state).
#[derive(Debug, Clone)]
pub struct PassIssueArgs {
    pub keys: PathBuf,
    pub region: String,
    pub colour: String,
    pub name: String,
    pub document_kind: String,
    pub document_number: String,
    pub person_id: String,
    pub policy_version: String,
    pub validity_seconds: i64,
    pub colour_at: Option<String>,
    pub at: Option<String>,
    pub level: u32,
    pub images: ImageArgs,
}

/// The node's secret for pseudonymous subjects, created (mode 0600) on first use.
fn node_secret(dir: &Path) -> Result<Vec<u8>> {
    let path = dir.join("subject.secret");
    match fs::read(&path) {
        Ok(secret) => Ok(secret),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = crate::pipeline::random_bytes::<32>().map_err(Outcome::unusable)?;
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options
                .open(&path)
                .map_err(|e| Outcome::unusable(format!("{}: {e}", path.display())))?;
            std::io::Write::write_all(&mut file, &secret).map_err(Outcome::unusable)?;
            Ok(secret.to_vec())
        }
        Err(e) => Err(Outcome::unusable(format!("{}: {e}", path.display()))),
    }
}

/// Issues a pass signed with the keyring's active key.
pub fn pass_issue(args: &PassIssueArgs, now: OffsetDateTime) -> Outcome {
    let run = || -> Result<Outcome> {
        let at = instant(args.at.as_deref(), now)?;
        let colour_at = instant(args.colour_at.as_deref(), at)?;
        let region = RegionCode::parse(&args.region).map_err(Outcome::unusable)?;
        let colour = Colour::parse(&args.colour)
            .ok_or_else(|| Outcome::unusable("colour: green, yellow, red or pending"))?;
        let kind = DocumentKind::parse(&args.document_kind).ok_or_else(|| {
            Outcome::unusable(
                "document kind: resident_id, hk_macao_permit, taiwan_permit, passport or other",
            )
        })?;
        if !(1..=pass::MAX_VALIDITY.whole_seconds()).contains(&args.validity_seconds) {
            return Err(Outcome::unusable("validity: 1 second to 24 hours"));
        }
        let ring =
            Keyring::open_or_create(&args.keys, Algorithm::EdDSA, at).map_err(Outcome::unusable)?;
        let key = ring.active().map_err(Outcome::unusable)?;
        let secret = node_secret(&args.keys)?;
        let pass = Pass::new(
            region,
            at,
            Duration::seconds(args.validity_seconds),
            colour,
            colour_at,
            &args.policy_version,
            pass::pseudonym(&secret, &args.person_id),
            pass::mask_name(&args.name),
            kind,
            pass::document_tail(&args.document_number),
        )
        .map_err(Outcome::unusable)?;
        let text = pass
            .seal(&key, args.level.min(9))
            .map_err(Outcome::unusable)?;
        let mut out = serde_json::Map::new();
        out.insert("text".into(), json!(text));
        out.insert("kid".into(), json!(key.kid().to_base64()));
        out.insert(
            "pass".into(),
            serde_json::to_value(&pass).map_err(Outcome::unusable)?,
        );
        write_images(&text, &args.images, &mut out)?;
        Ok(Outcome::done(Value::Object(out)))
    };
    run().unwrap_or_else(|e| e)
}

/// `healthcode venue-code`.
#[derive(Debug, Clone)]
pub struct VenueCodeArgs {
    pub keys: PathBuf,
    pub region: String,
    pub venue_id: String,
    pub name: String,
    pub category: String,
    pub validity_days: i64,
    pub at: Option<String>,
    pub images: ImageArgs,
}

/// Issues a venue code signed with the keyring's active key.
pub fn venue_code(args: &VenueCodeArgs, now: OffsetDateTime) -> Outcome {
    let run = || -> Result<Outcome> {
        let at = instant(args.at.as_deref(), now)?;
        let region = RegionCode::parse(&args.region).map_err(Outcome::unusable)?;
        if args.validity_days < 1 {
            return Err(Outcome::unusable("validity: at least one day"));
        }
        let ring =
            Keyring::open_or_create(&args.keys, Algorithm::EdDSA, at).map_err(Outcome::unusable)?;
        let key = ring.active().map_err(Outcome::unusable)?;
        let code = VenueCode::new(
            &args.venue_id,
            &args.name,
            region,
            &args.category,
            at,
            Duration::days(args.validity_days),
        )
        .map_err(Outcome::unusable)?;
        // Printed once, scanned for a year: compress hard.
        let text = code.seal(&key, 9).map_err(Outcome::unusable)?;
        let mut out = serde_json::Map::new();
        out.insert("text".into(), json!(text));
        out.insert(
            "venue".into(),
            serde_json::to_value(&code).map_err(Outcome::unusable)?,
        );
        write_images(&text, &args.images, &mut out)?;
        Ok(Outcome::done(Value::Object(out)))
    };
    run().unwrap_or_else(|e| e)
}

/// Default arguments for `pass issue` that the binary can use for its optional flags.
pub const DEFAULT_POLICY_VERSION: &str = "default-2020.1";
/// Default pass validity in seconds (3 minutes).
pub const DEFAULT_VALIDITY_SECONDS: i64 = 180;
/// Default venue code validity in days.
pub const DEFAULT_VENUE_VALIDITY_DAYS: i64 = venue::DEFAULT_VALIDITY.whole_days();
/// Default zlib level for `pass issue`.
pub const DEFAULT_LEVEL: u32 = compress::PASS_LEVEL;
