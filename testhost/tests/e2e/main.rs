//! End-to-end suite: the built `.wasm` behind a real HTTP server, talking to a real `redis-server`.
//!
//! Every scenario talks HTTP only, so it runs unchanged on the test host built with this crate
//! and on a real Spin CLI (`SPIN_BIN=/path/to/spin`, or `spin` on PATH; `SPIN3_BIN` for a Spin 3);
//! each one is registered once per runtime and edition found, e.g. `counting::sequential_counts
//! [test-host/spin4]`, `[test-host/portable]`, `[spin/spin4]`. Before any scenario runs, the
//! suite builds both editions' `.wasm` from the sources as they are (see `support::build`).

// A scenario function that is not registered in `scenarios::ALL` is dead code: refuse to build.
#![deny(dead_code)]

mod scenarios;
mod support;
mod up_script;

use std::process::ExitCode;
use std::sync::{PoisonError, RwLock};

use libtest_mimic::{Arguments, Trial};
use scenarios::Runs;

/// Held shared by every scenario and exclusively by those that must run alone.
static ALONE: RwLock<()> = RwLock::new(());

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
        if let Err(e) = support::build::build_editions() {
            eprintln!("e2e: {e}");
            return ExitCode::from(101);
        }
    }
    let up_script = up_script::trials(&discovery);
    let trials = discovery
        .targets()
        .into_iter()
        .flat_map(|target| {
            let spin4 = target.runtime.editions.iter().any(|e| e.is_wasip3());
            scenarios::ALL
                .iter()
                .filter(move |scenario| spin4 || scenario.runs == Runs::Everywhere)
                .map(move |scenario| {
                    let target = target.clone();
                    let (run, alone) = (scenario.run, scenario.alone);
                    Trial::test(format!("{} [{target}]", scenario.name), move || {
                        if alone {
                            let _alone = ALONE.write().unwrap_or_else(PoisonError::into_inner);
                            run(&target);
                        } else {
                            let _shared = ALONE.read().unwrap_or_else(PoisonError::into_inner);
                            run(&target);
                        }
                        Ok(())
                    })
                })
        })
        .chain(support::load::self_checks())
        .chain(support::build::export_checks())
        .chain([support::build::size_check()])
        .chain(up_script)
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}
