//! healthcode's domain: facts about people and the published colour policy that turns them into a
//! colour. Pure: no I/O, and time is always a parameter.

pub mod color;
pub mod contacts;
pub mod facts;
pub mod identity;
pub mod notice;
pub mod policy;
pub mod policy_diff;
pub mod region;
pub mod returns;
pub mod text;
pub mod visits;

pub use color::Color;
pub use facts::{Fact, FactBody, FactDocument};
pub use policy::{Policy, PolicyDocument, PolicyError, Reason, RuleDocument, Status};
pub use text::Text;
