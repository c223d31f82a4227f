//! Interpretation throughput of the embedded NLU on one core: every query
//! of the development set (with its history), and training time on the
//! core plugins' examples.
//!
//! Run with `cargo bench -p switchboard --bench nlu`.

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchboard::config::Config;
use switchboard::nlu::Nlu;
use switchboard::nlu::eval::parse_cases;
use switchboard::plugins::PluginHost;

fn nlu(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::TempDir::new().expect("temp dir");
    let mut config = Config::default();
    config.plugins.cache_dir = Some(dir.path().to_path_buf());
    let host = rt
        .block_on(PluginHost::start(&config, None))
        .expect("plugins");
    let set = host.set();
    let model = Nlu::from_registry(set.registry(), &[]).expect("train");
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/nlu-dev.jsonl"),
    )
    .expect("dev set");
    let cases = parse_cases(&text).expect("cases");

    let mut group = c.benchmark_group("nlu");
    group.throughput(Throughput::Elements(cases.len() as u64));
    group.bench_function("interpret the development set", |b| {
        b.iter(|| {
            for case in &cases {
                std::hint::black_box(model.interpret(&case.text, &case.history));
            }
        });
    });
    group.finish();
    let mut group = c.benchmark_group("nlu-train");
    group.sample_size(10);
    group.bench_function("train on the core plugins", |b| {
        b.iter(|| Nlu::from_registry(set.registry(), &[]).expect("train"));
    });
    group.finish();
}

criterion_group!(benches, nlu);
criterion_main!(benches);
