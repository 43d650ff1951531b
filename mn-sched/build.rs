//! Detects an AddressSanitizer build (`RUSTFLAGS=-Zsanitizer=address`, see
//! `scripts/asan-mn.sh`) and sets `cfg(switchyard_asan)`, which makes the context
//! switch tell ASan about every stack switch. Nothing else is configured here.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(switchyard_asan)");
    println!("cargo::rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if flags
        .split('\x1f')
        .any(|f| f == "-Zsanitizer=address" || f == "sanitizer=address")
    {
        println!("cargo::rustc-cfg=switchyard_asan");
    }
}
