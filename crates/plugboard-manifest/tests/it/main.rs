//! Integration tests of manifest parsing through the public API.

mod cases;
mod folders;
