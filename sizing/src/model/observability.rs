//! Prometheus, Loki, Grafana and the per-host exporters.

use crate::explain::{ceil_div, number, thousands};
use crate::model::{Ctx, Figure, STORE_LIMITS, member_tasks, node_labels};
use crate::placement::Task;
use crate::plan::{
    GlobalService, Observability, ObservabilityComponent, Workload, service_names as names,
};

const GIB: f64 = 1_073_741_824.0;

pub(crate) fn compute(ctx: &mut Ctx, workload: &Workload, application_tasks: u64) -> Observability {
    let fill = ctx.rec.c("stores.disk_fill_target");
    let seconds_per_day = ctx.rec.c("workload.seconds_per_day");

    // Prometheus: series from the task count, disk from samples kept for the retention.
    let series_per_task = ctx.rec.c("prometheus.series_per_task");
    let series = application_tasks as f64 * series_per_task;
    let interval = ctx.rec.c("prometheus.scrape_interval_seconds");
    let bytes_per_sample = ctx.rec.c("prometheus.bytes_per_sample");
    let prometheus_days = ctx.rec.c_u64("prometheus.retention_days") as u32;
    let prometheus_min = ctx.rec.c_u64("prometheus.min_disk_gib");
    let prometheus_disk = prometheus_min.max(ceil_div(
        series * seconds_per_day / interval * bytes_per_sample * f64::from(prometheus_days) / GIB,
        fill,
    ));
    let series_text = format!(
        "{application_tasks} tasks × {} prometheus.series_per_task = {} series",
        number(series_per_task),
        thousands(series as u64)
    );
    let prometheus_replicas = if ctx.ha {
        ctx.rec.c_u64("prometheus.ha_replicas") as u32
    } else {
        1
    };
    let replicas_names: Vec<&str> = if ctx.ha {
        vec!["prometheus.ha_replicas"]
    } else {
        vec![]
    };
    ctx.rec.explain(
        "observability.prometheus.replicas",
        prometheus_replicas,
        if ctx.ha {
            "prometheus.ha_replicas (independent, same targets)"
        } else {
            "1 (not HA)"
        },
        &replicas_names,
    );
    ctx.rec.explain(
        "observability.prometheus.retention_days",
        prometheus_days,
        "prometheus.retention_days",
        &["prometheus.retention_days"],
    );
    let disk_names = vec![
        "prometheus.min_disk_gib",
        "prometheus.series_per_task",
        "prometheus.scrape_interval_seconds",
        "prometheus.bytes_per_sample",
        "prometheus.retention_days",
        "stores.disk_fill_target",
    ];
    let disk_formula = format!(
        "max({prometheus_min} prometheus.min_disk_gib, ceil(({series_text}) × 86,400 s / {} s × {} B × {prometheus_days} days / 1 GiB / {} stores.disk_fill_target))",
        number(interval),
        number(bytes_per_sample),
        number(fill)
    );
    ctx.rec.explain(
        "observability.prometheus.disk_gib",
        prometheus_disk,
        disk_formula.clone(),
        &disk_names,
    );
    let base = ctx.rec.c("prometheus.memory_base_mib");
    let per_series = ctx.rec.c("prometheus.memory_per_series_kib");
    let memory = Figure {
        value: ceil_div(base + series * per_series / 1024.0, 1.0),
        formula: format!(
            "ceil({} MiB prometheus.memory_base_mib + {series_text} × {} KiB prometheus.memory_per_series_kib / 1024)",
            number(base),
            number(per_series)
        ),
        names: vec![
            "prometheus.memory_base_mib",
            "prometheus.memory_per_series_kib",
            "prometheus.series_per_task",
        ],
    };
    let memory = ctx.scale(memory);
    let cpu = ctx.scaled("prometheus.cpu_reservation_millicores");
    let prometheus_resources = ctx.resources(
        "observability.prometheus.resources",
        cpu,
        memory,
        Figure {
            value: prometheus_disk,
            formula: disk_formula,
            names: disk_names,
        },
        STORE_LIMITS,
    );

    // Loki: a day of logs from requests and messages, compressed, kept for the retention.
    let loki_days = ctx.rec.c_u64("loki.retention_days") as u32;
    let per_request = ctx.rec.c("loki.log_bytes_per_request");
    let per_message = ctx.rec.c("loki.log_bytes_per_message");
    let compression = ctx.rec.c("loki.compression_ratio");
    let loki_min = ctx.rec.c_u64("loki.min_disk_gib");
    let average_requests =
        workload.peak_rest_requests_per_second as f64 / ctx.inputs.peak_to_average;
    let raw_per_day = average_requests * seconds_per_day * per_request
        + workload.messages_per_day as f64 * per_message;
    let loki_disk = loki_min.max(ceil_div(
        raw_per_day * compression * f64::from(loki_days) / GIB,
        fill,
    ));
    ctx.rec.explain(
        "observability.loki.replicas",
        1,
        "1: Loki runs as a single binary (logs are not a quorum)",
        &[],
    );
    ctx.rec.explain(
        "observability.loki.retention_days",
        loki_days,
        "loki.retention_days",
        &["loki.retention_days"],
    );
    let loki_names = vec![
        "loki.min_disk_gib",
        "loki.log_bytes_per_request",
        "loki.log_bytes_per_message",
        "loki.compression_ratio",
        "loki.retention_days",
        "stores.disk_fill_target",
    ];
    let loki_formula = format!(
        "max({loki_min} loki.min_disk_gib, ceil(({} average req/s × 86,400 × {} B + {} messages/day × {} B) × {} loki.compression_ratio × {loki_days} days / 1 GiB / {} stores.disk_fill_target))",
        number(average_requests.ceil()),
        number(per_request),
        thousands(workload.messages_per_day),
        number(per_message),
        number(compression),
        number(fill)
    );
    ctx.rec.explain(
        "observability.loki.disk_gib",
        loki_disk,
        loki_formula.clone(),
        &loki_names,
    );
    let cpu = ctx.scaled("loki.cpu_reservation_millicores");
    let memory = ctx.scaled("loki.memory_reservation_mib");
    let loki_resources = ctx.resources(
        "observability.loki.resources",
        cpu,
        memory,
        Figure {
            value: loki_disk,
            formula: loki_formula,
            names: loki_names,
        },
        STORE_LIMITS,
    );

    ctx.rec.explain(
        "observability.grafana.replicas",
        1,
        "1: dashboards only",
        &[],
    );
    ctx.rec.explain(
        "observability.grafana.retention_days",
        0,
        "0: Grafana keeps no metrics or logs of its own",
        &[],
    );
    let grafana_disk = ctx.rec.c_u64("grafana.disk_gib");
    ctx.rec.explain(
        "observability.grafana.disk_gib",
        grafana_disk,
        "grafana.disk_gib",
        &["grafana.disk_gib"],
    );
    let cpu = ctx.scaled("grafana.cpu_reservation_millicores");
    let memory = ctx.scaled("grafana.memory_reservation_mib");
    let grafana_resources = ctx.resources(
        "observability.grafana.resources",
        cpu,
        memory,
        Figure {
            value: grafana_disk,
            formula: format!("{grafana_disk} (grafana.disk_gib)"),
            names: vec!["grafana.disk_gib"],
        },
        STORE_LIMITS,
    );

    let cpu = ctx.scaled("node_exporter.cpu_reservation_millicores");
    let memory = ctx.scaled("node_exporter.memory_reservation_mib");
    let node_exporter = ctx.resources(
        "observability.node_exporter.resources",
        cpu,
        memory,
        Figure::fixed(0, "no data"),
        STORE_LIMITS,
    );
    let cpu = ctx.scaled("cadvisor.cpu_reservation_millicores");
    let memory = ctx.scaled("cadvisor.memory_reservation_mib");
    let cadvisor = ctx.resources(
        "observability.cadvisor.resources",
        cpu,
        memory,
        Figure::fixed(0, "no data"),
        STORE_LIMITS,
    );

    Observability {
        prometheus: ObservabilityComponent {
            replicas: prometheus_replicas,
            retention_days: prometheus_days,
            disk_gib: prometheus_disk,
            resources: prometheus_resources,
            node_labels: node_labels(names::PROMETHEUS),
        },
        loki: ObservabilityComponent {
            replicas: 1,
            retention_days: loki_days,
            disk_gib: loki_disk,
            resources: loki_resources,
            node_labels: node_labels(names::LOKI),
        },
        grafana: ObservabilityComponent {
            replicas: 1,
            retention_days: 0,
            disk_gib: grafana_disk,
            resources: grafana_resources,
            node_labels: node_labels(names::GRAFANA),
        },
        node_exporter: GlobalService {
            resources: node_exporter,
        },
        cadvisor: GlobalService {
            resources: cadvisor,
        },
    }
}

/// Observability tasks; the two Prometheus servers never share a host.
pub(crate) fn tasks(observability: &Observability) -> Vec<Task> {
    let mut tasks = member_tasks(
        names::PROMETHEUS,
        observability.prometheus.replicas,
        &observability.prometheus.resources,
        Some(names::PROMETHEUS),
    );
    tasks.extend(member_tasks(
        names::LOKI,
        1,
        &observability.loki.resources,
        None,
    ));
    tasks.extend(member_tasks(
        names::GRAFANA,
        1,
        &observability.grafana.resources,
        None,
    ));
    tasks
}
