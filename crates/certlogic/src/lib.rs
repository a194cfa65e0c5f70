//! CertLogic: see README.
