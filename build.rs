// cargo-pgrx links the extension with `-Wl,--no-gc-sections` so that the linker keeps the `.pgrxsc` section its
// schema generation reads, but it passes the flag as RUSTFLAGS, which apply to every crate: the dependency tree
// of `cargo pgrx install` then differs from that of `cargo test` and was built twice. scripts/*.sh set
// CARGO_PGRX_DISABLE_GC_SECTIONS_WORKAROUND=1 and this gives the flag to the cdylib's own link instead.
fn main() {
    let family = std::env::var("CARGO_CFG_TARGET_FAMILY").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if family.split(',').any(|f| f == "unix") && os != "macos" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,--no-gc-sections");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
