//! The signed pass (健康码) and venue codes (场所码): CWT claims signed as COSE_Sign1, zlib,
//! base45, a prefix and a QR code, as the EU Digital COVID Certificate does; keys, trust lists,
//! and an offline verifier that also verifies EU certificates. The format is described in
//! docs/PASS-FORMAT.md.
//!
//! Every stage is its own function with its own error type, so the verifier can say which stage
//! rejected a code. Nothing here reads the clock: `now` is always a parameter. The only I/O is
//! key files ([`keys`], [`keyring`]); the commands that use all this are in the `healthcode`
//! binary.

// The pipeline, stage by stage.
pub mod base45;
pub mod compress;
pub mod cose;
pub mod cwt;
pub mod pipeline;
pub mod prefix;
pub mod qr;

// What is signed.
pub mod dcc;
pub mod pass;
pub mod venue;

// Keys and trust.
pub mod cert;
pub mod keyring;
pub mod keys;
pub mod trust;

// Verification.
pub mod instant;
pub mod memo;
pub mod verify;
