//! `healthcode verify`, `keys`, `trust-list`, `pass issue` and `venue-code`. Each command takes
//! its parsed arguments and the current time, and gives the JSON to print with the exit code:
//! 0 valid / done, 1 not valid, 2 unusable input.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use healthcode_core::region::RegionCode;
use healthcode_pass::cert::SignerCertificate;
use healthcode_pass::instant::parse_instant;
use healthcode_pass::keyring::Keyring;
use healthcode_pass::keys::{Algorithm, SigningKey, VerifyingKey};
use healthcode_pass::pass::{self, Colour, DocumentKind, Pass};
use healthcode_pass::trust::{TrustList, TrustListEntry, TrustStore, TrustedKey};
use healthcode_pass::venue::{self, VenueCode};
use healthcode_pass::verify::{self, Options};
use healthcode_pass::{compress, cwt, pipeline, prefix, qr};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

/// Default policy version of `pass issue`.
pub const DEFAULT_POLICY_VERSION: &str = "default-2020.1";
/// Default pass validity in seconds (3 minutes).
pub const DEFAULT_VALIDITY_SECONDS: i64 = 180;
/// Default venue code validity in days.
pub const DEFAULT_VENUE_VALIDITY_DAYS: i64 = venue::DEFAULT_VALIDITY.whole_days();
/// Default zlib level of `pass issue`.
pub const DEFAULT_LEVEL: u32 = compress::PASS_LEVEL;

/// `healthcode verify [--trust-list FILE --root-key FILE] [--certificate FILE] [--at RFC3339]
/// (TEXT | --image FILE.png | -)`
#[derive(Args, Debug, Clone, Default)]
pub struct VerifyCommand {
    /// The scanned text (HC1:, HCP1: or HCV1:), or - to read it from standard input.
    #[arg(conflicts_with = "image", required_unless_present = "image")]
    pub text: Option<String>,
    /// Read the code from a PNG image instead.
    #[arg(long, value_name = "FILE.png")]
    pub image: Option<PathBuf>,
    /// Signed trust list (COSE file from `trust-list build`, or its base64).
    #[arg(long, value_name = "FILE", requires = "root_key")]
    pub trust_list: Option<PathBuf>,
    /// The hub's root public key (PEM) that signs the trust list.
    #[arg(long, value_name = "FILE")]
    pub root_key: Option<PathBuf>,
    /// A signer certificate to trust (DER, base64 DER or PEM); repeatable.
    #[arg(long = "certificate", value_name = "FILE")]
    pub certificates: Vec<PathBuf>,
    /// A public key (PEM) to trust directly; repeatable.
    #[arg(long = "public-key", value_name = "FILE")]
    pub public_keys: Vec<PathBuf>,
    /// Verify at this instant (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// Allowed clock skew in seconds (default 30).
    #[arg(long, value_name = "SECONDS")]
    pub skew: Option<i64>,
    /// Fail EU certificates whose codes are outside the bundled value sets.
    #[arg(long)]
    pub strict_value_sets: bool,
}

#[derive(Subcommand, Debug, Clone)]
pub enum KeysCommand {
    /// Create the keyring and its first signing key if absent; print the active key.
    Generate(KeysArgs),
    /// Make a new signing key; old keys keep verifying until their passes expire.
    Rotate(KeysArgs),
}

#[derive(Args, Debug, Clone)]
pub struct KeysArgs {
    /// Keyring directory (PKCS#8 PEM files, mode 0600).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// ed25519 (default) or es256.
    #[arg(long, default_value = "ed25519")]
    pub alg: String,
}

#[derive(Subcommand, Debug, Clone)]
pub enum TrustListCommand {
    /// Build and sign a trust list with the hub's root key.
    Build(TrustListBuildArgs),
    /// Check a trust list's signature and validity.
    Verify(TrustListVerifyArgs),
}

// Plain comments on the argument structs: a doc comment there would become the subcommand's help.
#[derive(Args, Debug, Clone)]
pub struct TrustListBuildArgs {
    /// The hub's keyring directory (its active key signs; created on first use).
    #[arg(long, value_name = "DIR")]
    pub root_dir: PathBuf,
    /// REGION=KEYRING_DIR: list every key of a local keyring still needed; repeatable.
    #[arg(long = "keyring", value_name = "REGION=DIR")]
    pub keyrings: Vec<String>,
    /// REGION=PUBLIC_KEY.pem: list a key another node sent; repeatable.
    #[arg(long = "public-key", value_name = "REGION=FILE")]
    pub public_keys: Vec<String>,
    /// Where to write the signed list.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[arg(long, default_value = "healthcode hub")]
    pub issuer: String,
    /// Publication number; verifiers may refuse a lower one than they hold.
    #[arg(long, default_value_t = 1)]
    pub sequence: u64,
    /// Days the list stays valid.
    #[arg(long, default_value_t = 7)]
    pub valid_days: i64,
    /// Days an active key is listed as valid for issuing.
    #[arg(long, default_value_t = 365)]
    pub key_validity_days: i64,
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct TrustListVerifyArgs {
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The hub's root public key (PEM).
    #[arg(long, value_name = "FILE")]
    pub root_key: PathBuf,
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum PassCommand {
    /// Issue a signed pass (for testing and demos).
    Issue(PassIssueArgs),
}

// `pass issue`: for testing and demos; the node issues passes from its own state.
#[derive(Args, Debug, Clone)]
pub struct PassIssueArgs {
    /// Keyring directory of the issuing node (created on first use).
    #[arg(long, value_name = "DIR")]
    pub keys: PathBuf,
    /// Issuing region, GB/T 2260 (e.g. 440300).
    #[arg(long)]
    pub region: String,
    /// green, yellow, red or pending.
    #[arg(long)]
    pub colour: String,
    /// Full name; only the masked form (张*三) goes into the pass.
    #[arg(long)]
    pub name: String,
    /// resident_id, hk_macao_permit, taiwan_permit, passport or other.
    #[arg(long, default_value = "resident_id")]
    pub document_kind: String,
    /// Document number; only its last four characters go into the pass.
    #[arg(long)]
    pub document_number: String,
    /// The node's person id, turned into a pseudonymous subject.
    #[arg(long)]
    pub person_id: String,
    #[arg(long, default_value = DEFAULT_POLICY_VERSION)]
    pub policy_version: String,
    #[arg(long, default_value_t = DEFAULT_VALIDITY_SECONDS)]
    pub validity_seconds: i64,
    /// When the colour was computed (RFC 3339; default: the issue time).
    #[arg(long, value_name = "RFC3339")]
    pub colour_at: Option<String>,
    /// Issue time (RFC 3339; default: now).
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    /// zlib level 0-9.
    #[arg(long, default_value_t = DEFAULT_LEVEL)]
    pub level: u32,
    #[command(flatten)]
    pub images: ImageArgs,
}

/// `healthcode venue-code`
#[derive(Args, Debug, Clone)]
pub struct VenueCodeCommand {
    #[arg(long, value_name = "DIR")]
    pub keys: PathBuf,
    #[arg(long)]
    pub region: String,
    #[arg(long)]
    pub venue_id: String,
    #[arg(long)]
    pub name: String,
    /// Venue category (metro, mall, hospital, ...).
    #[arg(long)]
    pub category: String,
    #[arg(long, default_value_t = DEFAULT_VENUE_VALIDITY_DAYS)]
    pub validity_days: i64,
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    #[command(flatten)]
    pub images: ImageArgs,
}

// The QR images `pass issue` and `venue-code` can write.
#[derive(Args, Debug, Clone, Default)]
pub struct ImageArgs {
    #[arg(long, value_name = "FILE.png")]
    pub png: Option<PathBuf>,
    #[arg(long, value_name = "FILE.svg")]
    pub svg: Option<PathBuf>,
}

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
    fn unusable(reason: impl ToString) -> Outcome {
        Outcome {
            json: json!({ "error": reason.to_string() }),
            exit_code: 2,
        }
    }
}

type Result<T> = std::result::Result<T, Outcome>;

/// Prints the outcome as one JSON object and turns its code into the process exit code (a
/// reader that stops early changes neither; output that cannot be written is exit 2).
fn finish(outcome: Outcome) -> ExitCode {
    let printed = outln!(
        "{}",
        serde_json::to_string_pretty(&outcome.json).unwrap_or_else(|_| outcome.json.to_string())
    );
    if let Err(failure) = printed {
        eprintln!("{failure}");
        return failure.exit_code();
    }
    ExitCode::from(u8::try_from(outcome.exit_code).unwrap_or(2))
}

fn now() -> OffsetDateTime {
    healthcode_server::clock::Clock::system().now()
}

pub fn verify(cmd: VerifyCommand) -> ExitCode {
    finish(verify_at(&cmd, now(), &mut std::io::stdin()))
}

pub fn keys(cmd: KeysCommand) -> ExitCode {
    finish(match &cmd {
        KeysCommand::Generate(args) => keys_generate(args, now()),
        KeysCommand::Rotate(args) => keys_rotate(args, now()),
    })
}

pub fn trust_list(cmd: TrustListCommand) -> ExitCode {
    finish(match &cmd {
        TrustListCommand::Build(args) => trust_list_build(args, now()),
        TrustListCommand::Verify(args) => trust_list_verify(args, now()),
    })
}

pub fn pass(cmd: PassCommand) -> ExitCode {
    let PassCommand::Issue(args) = &cmd;
    finish(pass_issue(args, now()))
}

pub fn venue_code(cmd: VenueCodeCommand) -> ExitCode {
    finish(venue_code_at(&cmd, now()))
}

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

/// `healthcode verify` at `now`; `stdin` is read only for the text `-`.
fn verify_at(cmd: &VerifyCommand, now: OffsetDateTime, stdin: &mut dyn Read) -> Outcome {
    verify_inner(cmd, now, stdin).unwrap_or_else(|e| e)
}

fn verify_inner(cmd: &VerifyCommand, now: OffsetDateTime, stdin: &mut dyn Read) -> Result<Outcome> {
    let at = instant(cmd.at.as_deref(), now)?;
    let text = match (&cmd.text, &cmd.image) {
        (_, Some(path)) => qr::decode_png(&read(path)?)
            .map_err(|e| Outcome::unusable(format!("{}: {e}", path.display())))?,
        (Some(t), None) if t == "-" => {
            let mut buf = String::new();
            // Bounded: nothing longer than a QR code is worth reading.
            stdin
                .take((prefix::MAX_TEXT * 4) as u64)
                .read_to_string(&mut buf)
                .map_err(|e| Outcome::unusable(format!("standard input: {e}")))?;
            buf
        }
        (Some(t), None) => t.clone(),
        (None, None) => {
            return Err(Outcome::unusable(
                "give TEXT, --image FILE.png or - for standard input",
            ));
        }
    };
    let mut trust = TrustStore::new();
    let mut trust_info = Value::Null;
    if let Some(list_path) = &cmd.trust_list {
        let root = cmd.root_key.as_ref().ok_or_else(|| {
            Outcome::unusable("--trust-list needs --root-key (the hub's public key)")
        })?;
        let root = VerifyingKey::from_pem(&read_text(root)?).map_err(Outcome::unusable)?;
        let (list, store) = TrustList::verify(&read_trust_list(list_path)?, &root, at)
            .map_err(|e| Outcome::unusable(format!("trust list rejected: {e}")))?;
        trust_info =
            json!({ "issuer": list.issuer, "sequence": list.sequence, "keys": store.len() });
        trust.extend(store);
    }
    for path in &cmd.certificates {
        let cert = SignerCertificate::load(&read(path)?)
            .map_err(|e| Outcome::unusable(format!("{}: {e}", path.display())))?;
        trust.add(TrustedKey::from_certificate(cert));
    }
    for path in &cmd.public_keys {
        let key = VerifyingKey::from_pem(&read_text(path)?)
            .map_err(|e| Outcome::unusable(format!("{}: {e}", path.display())))?;
        trust.add(TrustedKey::new(key));
    }
    let options = Options {
        skew: cmd.skew.map_or(verify::DEFAULT_SKEW, Duration::seconds),
        strict_value_sets: cmd.strict_value_sets,
        ..Options::default()
    };
    let report = verify::verify_with_options(&text, &trust, at, options);
    let mut out = serde_json::to_value(&report).map_err(Outcome::unusable)?;
    if let Value::Object(map) = &mut out {
        map.insert(
            "verified_at".into(),
            json!(cwt::format_epoch(at.unix_timestamp())),
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

/// Creates the keyring (and its first key) if absent, and gives the active key.
fn keys_generate(args: &KeysArgs, now: OffsetDateTime) -> Outcome {
    let run = || -> Result<Outcome> {
        let ring = Keyring::open_or_create(&args.dir, algorithm(&args.alg)?, now)
            .map_err(Outcome::unusable)?;
        Ok(Outcome::done(keyring_json(&ring)?))
    };
    run().unwrap_or_else(|e| e)
}

/// Generates a new signing key; the old one keeps verifying until its passes expire.
fn keys_rotate(args: &KeysArgs, now: OffsetDateTime) -> Outcome {
    let run = || -> Result<Outcome> {
        let alg = algorithm(&args.alg)?;
        let mut ring = Keyring::open_or_create(&args.dir, alg, now).map_err(Outcome::unusable)?;
        ring.rotate(alg, now).map_err(Outcome::unusable)?;
        Ok(Outcome::done(keyring_json(&ring)?))
    };
    run().unwrap_or_else(|e| e)
}

fn split_region(spec: &str) -> Result<(String, PathBuf)> {
    let (region, path) = spec
        .split_once('=')
        .ok_or_else(|| Outcome::unusable(format!("{spec}: expected REGION=PATH")))?;
    RegionCode::parse(region).map_err(Outcome::unusable)?;
    Ok((region.to_owned(), PathBuf::from(path)))
}

/// Builds and signs a trust list.
fn trust_list_build(args: &TrustListBuildArgs, now: OffsetDateTime) -> Outcome {
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
            revoked: Vec::new(),
            regions: Vec::new(),
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

/// Checks a trust list: exit 0 and the list when valid, 1 with the reason when not.
fn trust_list_verify(args: &TrustListVerifyArgs, now: OffsetDateTime) -> Outcome {
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

/// The node's secret for pseudonymous subjects, created (mode 0600) on first use.
fn node_secret(dir: &Path) -> Result<Vec<u8>> {
    let path = dir.join("subject.secret");
    match fs::read(&path) {
        Ok(secret) => Ok(secret),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = pipeline::random_bytes::<32>().map_err(Outcome::unusable)?;
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
fn pass_issue(args: &PassIssueArgs, now: OffsetDateTime) -> Outcome {
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

/// Issues a venue code signed with the keyring's active key.
fn venue_code_at(args: &VenueCodeCommand, now: OffsetDateTime) -> Outcome {
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

#[cfg(test)]
mod tests;
