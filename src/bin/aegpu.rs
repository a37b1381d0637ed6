//! The `aegpu` command; everything lives in `aegpu::cli`.

fn main() -> std::process::ExitCode {
    aegpu::cli::main()
}
