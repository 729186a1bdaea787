//! The `kubectl-stepup` binary, run by kubectl as `kubectl stepup …`.
fn main() -> std::process::ExitCode {
    stepup::cli::main(stepup::cli::Flavor::KubectlPlugin)
}
