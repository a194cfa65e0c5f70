//! The signed pass (work in progress).
