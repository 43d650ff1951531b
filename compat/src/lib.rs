//! compat: one API over both execution models.
#![forbid(unsafe_code)]
