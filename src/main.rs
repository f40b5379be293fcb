//! The `spinex` command: parses the command line and hands over to [`cli::run`].

mod cli;

/// Reports allocate many small, short-lived buffers; mimalloc's thread-local free lists serve
/// them with less work than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
