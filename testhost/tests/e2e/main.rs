//! End-to-end suite: the built `.wasm` behind a real HTTP server, talking to a real `redis-server`.
//!
//! Every scenario talks HTTP only, so it runs unchanged on the test host built with this crate
//! and on a real Spin CLI (`SPIN_BIN=/path/to/spin`, or `spin` on PATH; `SPIN3_BIN` for a Spin 3);
//! each one is registered once per runtime and edition found, e.g. `sequential_counts
//! [test-host/spin4]`, `[test-host/portable]`, `[spin/spin4]`. Build both editions first:
//! `cargo build --target wasm32-wasip1 --release -p spin-redis-counter -p spin-redis-counter-portable`.

mod scenarios;
mod support;

use std::process::ExitCode;

use libtest_mimic::{Arguments, Trial};
use support::runtime::Edition;

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
        for edition in Edition::ALL {
            let wasm = edition.wasm();
            if !wasm.is_file() {
                eprintln!(
                    "e2e: {} is missing: build both editions first with `cargo build --target \
                     wasm32-wasip1 --release -p spin-redis-counter -p spin-redis-counter-portable`",
                    wasm.display()
                );
                return ExitCode::from(101);
            }
        }
    }
    let trials = discovery
        .targets()
        .into_iter()
        .flat_map(|target| {
            let spin3 = !target.runtime.editions.contains(&Edition::Spin4);
            let applies =
                move |name: &str| !(spin3 && scenarios::SPIN4_RUNTIMES_ONLY.contains(&name));
            scenarios::ALL
                .iter()
                .filter(move |(name, _)| applies(name))
                .map(move |&(name, scenario)| {
                    let target = target.clone();
                    Trial::test(format!("{name} [{target}]"), move || {
                        scenario(&target);
                        Ok(())
                    })
                })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}
