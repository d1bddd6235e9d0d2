//! Byte-preserving edits of deployment descriptors (used by `bump`).
pub mod version;
