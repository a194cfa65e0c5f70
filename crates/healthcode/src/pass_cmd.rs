//! `healthcode verify`, `keys`, `trust-list`, `pass issue` and `venue-code`: argument parsing
//! only; the logic is in `healthcode_pass::cli`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use healthcode_pass::cli;

/// `healthcode verify [--trust-list FILE --root-key FILE] [--certificate FILE] [--at RFC3339]
/// (TEXT | --image FILE.png | -)`
#[derive(Args)]
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

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create the keyring and its first signing key if absent; print the active key.
    Generate(KeysArgs),
    /// Make a new signing key; old keys keep verifying until their passes expire.
    Rotate(KeysArgs),
}

#[derive(Args)]
pub struct KeysArgs {
    /// Keyring directory (PKCS#8 PEM files, mode 0600).
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// ed25519 (default) or es256.
    #[arg(long, default_value = "ed25519")]
    pub alg: String,
}

#[derive(Subcommand)]
pub enum TrustListCommand {
    /// Build and sign a trust list with the hub's root key.
    Build {
        /// The hub's keyring directory (its active key signs; created on first use).
        #[arg(long, value_name = "DIR")]
        root_dir: PathBuf,
        /// REGION=KEYRING_DIR: list every key of a local keyring still needed; repeatable.
        #[arg(long = "keyring", value_name = "REGION=DIR")]
        keyrings: Vec<String>,
        /// REGION=PUBLIC_KEY.pem: list a key another node sent; repeatable.
        #[arg(long = "public-key", value_name = "REGION=FILE")]
        public_keys: Vec<String>,
        /// Where to write the signed list.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[arg(long, default_value = "healthcode hub")]
        issuer: String,
        /// Publication number; verifiers may refuse a lower one than they hold.
        #[arg(long, default_value_t = 1)]
        sequence: u64,
        /// Days the list stays valid.
        #[arg(long, default_value_t = 7)]
        valid_days: i64,
        /// Days an active key is listed as valid for issuing.
        #[arg(long, default_value_t = 365)]
        key_validity_days: i64,
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
    },
    /// Check a trust list's signature and validity.
    Verify {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The hub's root public key (PEM).
        #[arg(long, value_name = "FILE")]
        root_key: PathBuf,
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum PassCommand {
    /// Issue a signed pass (for testing and demos).
    Issue {
        /// Keyring directory of the issuing node (created on first use).
        #[arg(long, value_name = "DIR")]
        keys: PathBuf,
        /// Issuing region, GB/T 2260 (e.g. 440300).
        #[arg(long)]
        region: String,
        /// green, yellow, red or pending.
        #[arg(long)]
        colour: String,
        /// Full name; only the masked form (张*三) goes into the pass.
        #[arg(long)]
        name: String,
        /// resident_id, hk_macao_permit, taiwan_permit, passport or other.
        #[arg(long, default_value = "resident_id")]
        document_kind: String,
        /// Document number; only its last four characters go into the pass.
        #[arg(long)]
        document_number: String,
        /// The node's person id, turned into a pseudonymous subject.
        #[arg(long)]
        person_id: String,
        #[arg(long, default_value = cli::DEFAULT_POLICY_VERSION)]
        policy_version: String,
        #[arg(long, default_value_t = cli::DEFAULT_VALIDITY_SECONDS)]
        validity_seconds: i64,
        /// When the colour was computed (RFC 3339; default: the issue time).
        #[arg(long, value_name = "RFC3339")]
        colour_at: Option<String>,
        /// Issue time (RFC 3339; default: now).
        #[arg(long, value_name = "RFC3339")]
        at: Option<String>,
        /// zlib level 0-9.
        #[arg(long, default_value_t = cli::DEFAULT_LEVEL)]
        level: u32,
        #[arg(long, value_name = "FILE.png")]
        png: Option<PathBuf>,
        #[arg(long, value_name = "FILE.svg")]
        svg: Option<PathBuf>,
    },
}

/// `healthcode venue-code`
#[derive(Args)]
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
    #[arg(long, default_value_t = cli::DEFAULT_VENUE_VALIDITY_DAYS)]
    pub validity_days: i64,
    #[arg(long, value_name = "RFC3339")]
    pub at: Option<String>,
    #[arg(long, value_name = "FILE.png")]
    pub png: Option<PathBuf>,
    #[arg(long, value_name = "FILE.svg")]
    pub svg: Option<PathBuf>,
}

/// Prints the outcome as one JSON object and turns its code into the process exit code (a
/// reader that stops early changes neither; output that cannot be written is exit 2).
fn finish(outcome: cli::Outcome) -> ExitCode {
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

fn now() -> time::OffsetDateTime {
    healthcode_server::clock::Clock::system().now()
}

pub fn verify(cmd: VerifyCommand) -> ExitCode {
    let input = match (cmd.text, cmd.image) {
        (_, Some(path)) => Some(cli::Input::Image(path)),
        (Some(t), None) if t == "-" => Some(cli::Input::Stdin),
        (Some(t), None) => Some(cli::Input::Text(t)),
        (None, None) => None,
    };
    let args = cli::VerifyArgs {
        input,
        trust_list: cmd.trust_list,
        root_key: cmd.root_key,
        certificates: cmd.certificates,
        public_keys: cmd.public_keys,
        at: cmd.at,
        skew_seconds: cmd.skew,
        strict_value_sets: cmd.strict_value_sets,
    };
    finish(cli::verify(&args, now(), &mut std::io::stdin()))
}

pub fn keys(cmd: KeysCommand) -> ExitCode {
    finish(match cmd {
        KeysCommand::Generate(a) => cli::keys_generate(
            &cli::KeysArgs {
                dir: a.dir,
                alg: a.alg,
            },
            now(),
        ),
        KeysCommand::Rotate(a) => cli::keys_rotate(
            &cli::KeysArgs {
                dir: a.dir,
                alg: a.alg,
            },
            now(),
        ),
    })
}

pub fn trust_list(cmd: TrustListCommand) -> ExitCode {
    finish(match cmd {
        TrustListCommand::Build {
            root_dir,
            keyrings,
            public_keys,
            out,
            issuer,
            sequence,
            valid_days,
            key_validity_days,
            at,
        } => cli::trust_list_build(
            &cli::TrustListBuildArgs {
                root_dir,
                keyrings,
                public_keys,
                out,
                issuer,
                sequence,
                valid_days,
                key_validity_days,
                at,
            },
            now(),
        ),
        TrustListCommand::Verify { file, root_key, at } => {
            cli::trust_list_verify(&cli::TrustListVerifyArgs { file, root_key, at }, now())
        }
    })
}

pub fn pass(cmd: PassCommand) -> ExitCode {
    let PassCommand::Issue {
        keys,
        region,
        colour,
        name,
        document_kind,
        document_number,
        person_id,
        policy_version,
        validity_seconds,
        colour_at,
        at,
        level,
        png,
        svg,
    } = cmd;
    finish(cli::pass_issue(
        &cli::PassIssueArgs {
            keys,
            region,
            colour,
            name,
            document_kind,
            document_number,
            person_id,
            policy_version,
            validity_seconds,
            colour_at,
            at,
            level,
            images: cli::ImageArgs { png, svg },
        },
        now(),
    ))
}

pub fn venue_code(cmd: VenueCodeCommand) -> ExitCode {
    finish(cli::venue_code(
        &cli::VenueCodeArgs {
            keys: cmd.keys,
            region: cmd.region,
            venue_id: cmd.venue_id,
            name: cmd.name,
            category: cmd.category,
            validity_days: cmd.validity_days,
            at: cmd.at,
            images: cli::ImageArgs {
                png: cmd.png,
                svg: cmd.svg,
            },
        },
        now(),
    ))
}
