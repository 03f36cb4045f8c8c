fn main() -> std::process::ExitCode {
    apppass_cli::run()
}
