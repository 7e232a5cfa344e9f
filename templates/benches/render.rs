//! Time to turn the 1M-MAU plan into every file (`from_plan` + `render`, pure, no I/O). Target: < 100 ms.
//! Run: cargo bench -p cc-templates --bench render

use cc_sizing::{Coefficients, RawInputs, RawValue};
use criterion::{Criterion, criterion_group, criterion_main};

fn plan_1m() -> cc_sizing::Plan {
    let raw = RawInputs {
        mau: Some(RawValue::from("1M")),
        ..RawInputs::default()
    };
    let valid = raw
        .validate(Coefficients::embedded().expect("coefficients"))
        .expect("valid inputs");
    cc_sizing::plan(&valid).expect("plan").plan
}

fn render_1m(criterion: &mut Criterion) {
    let plan = plan_1m();
    let environment = cc_templates::sample::environment();
    criterion.bench_function("render 1M-MAU plan", |bencher| {
        bencher.iter(|| {
            let model = cc_templates::from_plan(&plan, &environment).expect("model");
            cc_templates::render(&model, None).expect("render")
        });
    });
}

criterion_group!(benches, render_1m);
criterion_main!(benches);
