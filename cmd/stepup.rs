//! The `stepup` binary: everything lives in the library.
fn main() -> std::process::ExitCode {
    stepup::cli::main(stepup::cli::Flavor::Standalone)
}
