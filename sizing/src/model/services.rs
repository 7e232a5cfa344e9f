//! The six application services: replicas from the load each must carry, resources per replica.

use std::collections::BTreeMap;

use crate::explain::{ceil_div, number, thousands};
use crate::model::{Ctx, Figure, SERVICE_LIMITS, node_labels};
use crate::placement::Task;
use crate::plan::{Capacity, ServicePlan, Ulimit, Workload, service_names as names};

/// One dimension a service is sized on: the load and the coefficient for one replica.
struct Dimension {
    unit: &'static str,
    required: u64,
    load_formula: &'static str,
    per_replica: &'static str,
}

pub(crate) fn compute(ctx: &mut Ctx, workload: &Workload) -> BTreeMap<String, ServicePlan> {
    let pcc = workload.pcc;
    let reconnect = workload.reconnect_connections_per_second;
    let deliveries =
        workload.peak_messages_delivered_per_second + workload.peak_events_delivered_per_second;
    let mut services = BTreeMap::new();

    let specs: [(&str, Vec<Dimension>); 6] = [
        (
            names::NGINX,
            vec![
                dim(
                    "connections",
                    pcc,
                    "workload.pcc",
                    "nginx.connections_per_replica",
                ),
                dim(
                    "tls_handshakes_per_second",
                    reconnect,
                    "workload.reconnect_connections_per_second",
                    "nginx.tls_handshakes_per_second_per_replica",
                ),
                dim(
                    "requests_per_second",
                    workload.peak_rest_requests_per_second,
                    "workload.peak_rest_requests_per_second",
                    "nginx.requests_per_second_per_replica",
                ),
            ],
        ),
        (
            names::GATEWAY,
            vec![
                dim(
                    "connections",
                    pcc,
                    "workload.pcc",
                    "gateway.connections_per_replica",
                ),
                dim(
                    "deliveries_per_second",
                    deliveries,
                    "workload.peak_messages_delivered_per_second + workload.peak_events_delivered_per_second",
                    "gateway.deliveries_per_second_per_replica",
                ),
                dim(
                    "new_connections_per_second",
                    reconnect,
                    "workload.reconnect_connections_per_second",
                    "gateway.new_connections_per_second_per_replica",
                ),
            ],
        ),
        (
            names::API,
            vec![dim(
                "requests_per_second",
                workload.peak_rest_requests_per_second,
                "workload.peak_rest_requests_per_second",
                "api.requests_per_second_per_replica",
            )],
        ),
        (
            names::MODERATION,
            vec![dim(
                "messages_per_second",
                workload.peak_messages_sent_per_second,
                "workload.peak_messages_sent_per_second",
                "moderation.messages_per_second_per_replica",
            )],
        ),
        (
            names::NOTIFICATIONS,
            vec![dim(
                "notifications_per_second",
                workload.peak_notifications_per_second,
                "workload.peak_notifications_per_second",
                "notifications.notifications_per_second_per_replica",
            )],
        ),
        (
            names::WEBHOOKS,
            vec![dim(
                "deliveries_per_second",
                workload.peak_webhooks_per_second,
                "workload.peak_webhooks_per_second",
                "webhooks.deliveries_per_second_per_replica",
            )],
        ),
    ];

    for (name, dimensions) in specs {
        let service = service(ctx, name, &dimensions);
        services.insert(name.to_owned(), service);
    }
    services
}

fn dim(
    unit: &'static str,
    required: u64,
    load_formula: &'static str,
    per_replica: &'static str,
) -> Dimension {
    Dimension {
        unit,
        required,
        load_formula,
        per_replica,
    }
}

fn service(ctx: &mut Ctx, name: &str, dimensions: &[Dimension]) -> ServicePlan {
    let path = format!("services.{name}");
    let utilisation = ctx.rec.c("services.target_utilisation");
    let (minimum, minimum_text, minimum_names): (u64, String, Vec<&str>) = if ctx.ha {
        let value = ctx.rec.c_u64("services.ha_min_replicas");
        (
            value,
            format!("{value} services.ha_min_replicas"),
            vec!["services.ha_min_replicas"],
        )
    } else {
        (1, "1 (not HA)".to_owned(), vec![])
    };

    // The dimension needing the most replicas decides; on a tie the first listed.
    let mut replicas = minimum;
    let mut deciding = 0;
    let mut most_needed = 0;
    let mut terms = vec![minimum_text];
    let mut used_names = minimum_names;
    used_names.push("services.target_utilisation");
    for (index, dimension) in dimensions.iter().enumerate() {
        let per_replica = ctx.rec.c(dimension.per_replica);
        let needed = ceil_div(dimension.required as f64, per_replica * utilisation);
        terms.push(format!(
            "ceil({} {} / ({} {} × {}))",
            thousands(dimension.required),
            dimension.load_formula,
            thousands(per_replica as u64),
            dimension.per_replica,
            number(utilisation)
        ));
        used_names.push(dimension.per_replica);
        if index == 0 || needed > most_needed {
            most_needed = needed;
            deciding = index;
        }
        replicas = replicas.max(needed);
    }
    let replicas = replicas as u32;
    ctx.rec.explain(
        format!("{path}.replicas"),
        replicas,
        format!("max({})", terms.join(", ")),
        &used_names,
    );

    let decider = &dimensions[deciding];
    let per_replica = ctx.rec.c_u64(decider.per_replica);
    let provided = u64::from(replicas) * per_replica;
    let headroom = if provided == 0 {
        0
    } else {
        (100 - (decider.required.min(provided) * 100).div_ceil(provided)).min(100)
    };
    ctx.rec.explain(
        format!("{path}.capacity.per_replica"),
        per_replica,
        format!(
            "{} ({}): the dimension needing the most replicas",
            thousands(per_replica),
            decider.per_replica
        ),
        &[decider.per_replica],
    );
    ctx.rec.explain(
        format!("{path}.capacity.required"),
        decider.required,
        decider.load_formula,
        &[],
    );
    ctx.rec.explain(
        format!("{path}.capacity.headroom_percent"),
        headroom,
        format!(
            "100 − ceil(100 × {} required / ({replicas} replicas × {} per replica))",
            thousands(decider.required),
            thousands(per_replica)
        ),
        &[decider.per_replica],
    );

    let cpu = ctx.scaled(match name {
        names::NGINX => "nginx.cpu_reservation_millicores",
        names::GATEWAY => "gateway.cpu_reservation_millicores",
        names::API => "api.cpu_reservation_millicores",
        names::MODERATION => "moderation.cpu_reservation_millicores",
        names::NOTIFICATIONS => "notifications.cpu_reservation_millicores",
        _ => "webhooks.cpu_reservation_millicores",
    });
    let memory = match name {
        names::NGINX | names::GATEWAY => {
            let (base, per_connection, connections) = if name == names::NGINX {
                (
                    "nginx.memory_base_mib",
                    "nginx.memory_per_connection_kib",
                    "nginx.connections_per_replica",
                )
            } else {
                (
                    "gateway.memory_base_mib",
                    "gateway.memory_per_connection_kib",
                    "gateway.connections_per_replica",
                )
            };
            let base_value = ctx.rec.c(base);
            let kib = ctx.rec.c(per_connection);
            let count = ctx.rec.c(connections);
            let figure = Figure {
                value: ceil_div(base_value + count * kib / 1024.0, 1.0),
                formula: format!(
                    "ceil({} MiB {base} + {} {connections} × {} KiB {per_connection} / 1024)",
                    number(base_value),
                    thousands(count as u64),
                    number(kib)
                ),
                names: vec![base, connections, per_connection],
            };
            ctx.scale(figure)
        }
        names::API => ctx.scaled("api.memory_reservation_mib"),
        names::MODERATION => ctx.scaled("moderation.memory_reservation_mib"),
        names::NOTIFICATIONS => ctx.scaled("notifications.memory_reservation_mib"),
        _ => ctx.scaled("webhooks.memory_reservation_mib"),
    };
    let resources = ctx.resources(
        &format!("{path}.resources"),
        cpu,
        memory,
        Figure::fixed(0, "stateless"),
        SERVICE_LIMITS,
    );

    let nofile_minimum = ctx.rec.c_u64("services.nofile_minimum");
    let margin = ctx.rec.c("services.nofile_margin");
    let (connections, fds, connection_names): (f64, f64, Vec<&str>) = match name {
        names::NGINX => (
            ctx.rec.c("nginx.connections_per_replica"),
            ctx.rec.c("nginx.fds_per_connection"),
            vec!["nginx.connections_per_replica", "nginx.fds_per_connection"],
        ),
        names::GATEWAY => (
            ctx.rec.c("gateway.connections_per_replica"),
            1.0,
            vec!["gateway.connections_per_replica"],
        ),
        _ => (0.0, 0.0, vec![]),
    };
    let nofile = nofile_minimum.max(ceil_div(connections * fds * margin, 1.0));
    let mut nofile_names = vec!["services.nofile_minimum", "services.nofile_margin"];
    nofile_names.extend(connection_names);
    let nofile_formula = format!(
        "max({} services.nofile_minimum, ceil({} connections per replica × {} fd each × {} services.nofile_margin))",
        thousands(nofile_minimum),
        thousands(connections as u64),
        number(fds),
        number(margin)
    );
    for limit in ["soft", "hard"] {
        ctx.rec.explain(
            format!("{path}.ulimits.nofile.{limit}"),
            nofile,
            nofile_formula.clone(),
            &nofile_names,
        );
    }
    let ulimits = BTreeMap::from([(
        "nofile".to_owned(),
        Ulimit {
            soft: nofile,
            hard: nofile,
        },
    )]);

    let mut sysctls = BTreeMap::new();
    if matches!(name, names::NGINX | names::GATEWAY | names::API) {
        let somaxconn = ctx.rec.c_u64("services.somaxconn");
        sysctls.insert("net.core.somaxconn".to_owned(), somaxconn.to_string());
        ctx.rec.explain(
            format!("{path}.sysctls.net.core.somaxconn"),
            somaxconn,
            "services.somaxconn: accepts the burst of a mass reconnect",
            &["services.somaxconn"],
        );
    }
    if name == names::NGINX {
        let low = ctx.rec.c_u64("services.ip_local_port_range_low");
        let high = ctx.rec.c_u64("services.ip_local_port_range_high");
        sysctls.insert(
            "net.ipv4.ip_local_port_range".to_owned(),
            format!("{low} {high}"),
        );
        ctx.rec.explain(
            format!("{path}.sysctls.net.ipv4.ip_local_port_range"),
            format!("{low} {high}"),
            "services.ip_local_port_range_low services.ip_local_port_range_high: room for upstream connections",
            &["services.ip_local_port_range_low", "services.ip_local_port_range_high"],
        );
    }

    ServicePlan {
        name: name.to_owned(),
        replicas,
        resources,
        capacity: Capacity {
            unit: decider.unit.to_owned(),
            per_replica,
            required: decider.required,
            headroom_percent: headroom,
        },
        ulimits,
        sysctls,
        max_replicas_per_node: 1,
        node_labels: node_labels(name),
    }
}

/// One task per replica; replicas of a service spread over hosts when they can (soft anti-affinity).
pub(crate) fn tasks(services: &BTreeMap<String, ServicePlan>) -> Vec<Task> {
    names::APPLICATION
        .iter()
        .filter_map(|name| services.get(*name))
        .flat_map(|service| {
            crate::model::member_tasks(&service.name, service.replicas, &service.resources, None)
        })
        .collect()
}
