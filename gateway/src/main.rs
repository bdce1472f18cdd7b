//! The `menwei` binary: everything lives in the library; see [`menwei::cli`].

fn main() -> std::process::ExitCode {
    menwei::cli::main()
}
