//! `from_plan`: the one place that reads a `cc_sizing` plan and turns it into the render model.
