//! The use cases: one function per thing a person or a job does, taking the caller, the time
//! and the node's state, deciding who may do it and what it means, and returning domain types.
//! Routes, pages, the command line and background jobs call these and only translate HTTP, HTML
//! or arguments; the store below them only reads and writes.

pub mod appeals;
pub mod arrivals;
pub mod audit_lines;
pub mod batches;
pub mod cases;
pub mod checkins;
pub mod claims;
pub mod colours;
pub mod declarations;
pub mod feeds;
pub mod logins;
pub mod notices;
pub mod passes;
pub mod people;
pub mod policy_versions;
pub mod recording;
pub mod retention;
pub mod returns;
pub mod risk_areas;
pub mod scans;
pub mod traces;
pub mod venues;
pub mod visits;
