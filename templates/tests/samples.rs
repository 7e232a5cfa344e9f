//! Every sample size renders, passes the lint, and renders byte-identically twice.

use cc_templates::sample;

#[test]
fn every_sample_renders_deterministically() {
    for size in sample::SIZES {
        let model = sample::model(size)
            .expect("known size")
            .expect("model assembles");
        let first =
            cc_templates::render(&model, None).unwrap_or_else(|error| panic!("{size}: {error}"));
        let second = cc_templates::render(&model, None).expect("second render");
        assert_eq!(first, second, "{size}: rendering is not deterministic");
        // Handy while editing templates: CC_RENDER_DUMP=/tmp/out cargo test -p cc-templates
        if let Some(root) = std::env::var_os("CC_RENDER_DUMP") {
            for (path, bytes) in &first {
                let target = std::path::Path::new(&root).join(size).join(path);
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::write(target, bytes).unwrap();
            }
        }
    }
}
