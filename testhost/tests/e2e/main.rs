//! End-to-end suite: the built `.wasm` behind a real HTTP server, talking to a real `redis-server`.
//!
//! Every scenario talks HTTP only, so it runs unchanged on the test host built with this crate
//! and on a real Spin CLI (`SPIN_BIN=/path/to/spin`, or `spin` on PATH); each one is registered
//! once per runtime found, e.g. `sequential_counts [test-host]` and `sequential_counts [spin]`.
//! Build the component first: `cargo build --target wasm32-wasip1 --release`.

mod scenarios;
mod support;

use std::process::ExitCode;

use libtest_mimic::{Arguments, Trial};

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let discovery = match support::runtime::discover() {
        Ok(discovery) => discovery,
        Err(e) => {
            eprintln!("e2e: {e}");
            return ExitCode::from(101);
        }
    };
    if !args.list {
        println!("{}", discovery.summary);
        let wasm = support::wasm_path();
        if !wasm.is_file() {
            eprintln!(
                "e2e: {} is missing: build the component first with \
                 `cargo build --target wasm32-wasip1 --release` at the repository root",
                wasm.display()
            );
            return ExitCode::from(101);
        }
    }
    let trials = discovery
        .runtimes
        .iter()
        .flat_map(|runtime| {
            scenarios::ALL.iter().map(move |&(name, scenario)| {
                let runtime = runtime.clone();
                Trial::test(format!("{name} [{runtime}]"), move || {
                    scenario(&runtime);
                    Ok(())
                })
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}
