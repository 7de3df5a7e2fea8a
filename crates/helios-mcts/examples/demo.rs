//! Runs the MCTS demo (the library side of `helios demo`) until the CLI
//! wires it: `cargo run --release -p helios-mcts --example demo -- [--nodes N]
//! [--seed S] [--files F] [--store DIR] [--json] [--experiment SEEDS]`.
//! With `--experiment 1,2,3` it runs the waste experiment instead.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;

use helios_engine::{EngineConfig, HeliosEngine, StateManager};
use helios_mcts::demo::{DemoConfig, run_demo, waste_experiment};

fn main() {
    let mut config = DemoConfig::default();
    let mut json = false;
    let mut experiment: Option<Vec<u64>> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().expect("flag needs a value");
        match a.as_str() {
            "--nodes" => config.nodes = value().parse().expect("--nodes N"),
            "--seed" => config.seed = value().parse().expect("--seed S"),
            "--files" => config.files = value().parse().expect("--files F"),
            "--defects" => config.defects = value().parse().expect("--defects D"),
            "--store" => config.store = PathBuf::from(value()),
            "--json" => json = true,
            "--experiment" => {
                experiment = Some(
                    value()
                        .split(',')
                        .map(|s| s.parse().expect("seed list"))
                        .collect(),
                );
            }
            other => panic!("unknown flag {other}"),
        }
    }
    let engine = HeliosEngine::open(&config.store, EngineConfig::default()).expect("open store");
    if let Some(seeds) = experiment {
        let table = waste_experiment(&engine, &config, &seeds, &|done, total| {
            eprintln!("run {done}/{total}");
        })
        .expect("experiment");
        println!("{}", table.to_markdown());
        println!(
            "wasteful best path: weights on {:.0}%, off {:.0}%",
            table.wasteful_rate_on() * 100.0,
            table.wasteful_rate_off() * 100.0
        );
    } else {
        let report = run_demo(&engine, &config, &|done, total| {
            if done % 100 == 0 || done == total {
                eprintln!("{done}/{total} nodes");
            }
        })
        .expect("demo");
        print!("{}", report.render());
        if json {
            println!("{}", report.to_json());
        }
    }
    engine.close().expect("close");
}
