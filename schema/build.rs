//! Rebuilds the crate when a migration is added or changed: `embed_migrations!` reads the
//! directory at compile time but does not track new entries in it.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
