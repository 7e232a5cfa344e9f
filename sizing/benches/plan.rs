//! Time to plan: from validated inputs to a sealed plan with every explanation, across the whole input range
//! (the development size to the 100M MAU maximum). Target: under 20 ms for any input.
//!
//! Run: `cargo bench -p cc-sizing --bench plan`; criterion prints the median as the middle `time:` figure.

use cc_sizing::{Coefficients, RawInputs, RawValue, ValidInputs};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

fn inputs(mau: &str) -> ValidInputs {
    RawInputs {
        mau: Some(RawValue::Text(mau.to_owned())),
        ..RawInputs::default()
    }
    .validate(Coefficients::embedded().expect("embedded coefficients"))
    .expect("valid inputs")
}

fn plan(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("plan");
    for mau in ["1k", "10k", "250k", "1M", "10M", "100M"] {
        let valid = inputs(mau);
        group.bench_with_input(
            BenchmarkId::from_parameter(mau),
            &valid,
            |bencher, valid| {
                bencher.iter(|| cc_sizing::plan(std::hint::black_box(valid)).expect("plan"));
            },
        );
    }
    group.finish();
}

criterion_group!(benches, plan);
criterion_main!(benches);
