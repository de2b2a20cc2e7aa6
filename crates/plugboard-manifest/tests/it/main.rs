//! Integration tests of manifest parsing through the public API.

#![allow(clippy::unwrap_used, reason = "test helpers may unwrap like the tests they serve")]

mod cases;
mod folders;
mod permissions;
