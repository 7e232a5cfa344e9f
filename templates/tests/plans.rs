//! Real plans from the sizing crate (dev single host, 25k, 250k, 1M MAU) go through `from_plan` and render.

use cc_sizing::{Coefficients, RawInputs, RawValue};

fn plan(mau: &str, target: Option<&str>, ha: Option<bool>) -> cc_sizing::Plan {
    let raw = RawInputs {
        mau: Some(RawValue::from(mau)),
        target: target.map(RawValue::from),
        ha,
        ..RawInputs::default()
    };
    let coefficients = Coefficients::embedded().expect("coefficients");
    let valid = raw.validate(coefficients).expect("valid inputs");
    cc_sizing::plan(&valid).expect("plan").plan
}

#[test]
fn real_plans_render() {
    for (name, mau, target, ha) in [
        ("dev", "1k", Some("compose"), Some(false)),
        ("25k", "25k", None, None),
        ("250k", "250k", None, None),
        ("1m", "1M", None, None),
    ] {
        let plan = plan(mau, target, ha);
        let model = cc_templates::from_plan(&plan, &cc_templates::sample::environment())
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        let files =
            cc_templates::render(&model, None).unwrap_or_else(|error| panic!("{name}: {error}"));
        if let Some(root) = std::env::var_os("CC_RENDER_DUMP") {
            for (path, bytes) in &files {
                let target = std::path::Path::new(&root)
                    .join(format!("plan-{name}"))
                    .join(path);
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::write(target, bytes).unwrap();
            }
            std::fs::write(
                std::path::Path::new(&root).join(format!("plan-{name}.yaml")),
                cc_sizing::plan_file::to_yaml(&plan).unwrap(),
            )
            .unwrap();
        }
    }
}
