//! The `stepup` binary: everything lives in the library.
/// mimalloc: the server's per-request path and the manifest loader allocate
/// many small objects (see the `mimalloc` note in Cargo.toml).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    stepup::cli::main(stepup::cli::Flavor::Standalone)
}
