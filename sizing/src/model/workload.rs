//! Users → load: messages, deliveries, requests, reconnects and storage growth.

use crate::explain::{ceil_div, number, thousands};
use crate::model::Ctx;
use crate::plan::Workload;

const MIB: f64 = 1_048_576.0;
const GIB: f64 = 1_073_741_824.0;

pub(crate) fn compute(ctx: &mut Ctx) -> Workload {
    let inputs = ctx.inputs.clone();
    let rec = &mut ctx.rec;

    rec.explain("workload.mau", inputs.mau, "inputs.mau", &[]);
    rec.explain("workload.pcc", inputs.pcc, "inputs.pcc", &[]);

    let active_share = rec.c("workload.daily_active_share");
    let daily_active_users = ceil_div(inputs.mau as f64 * active_share, 1.0);
    rec.explain(
        "workload.daily_active_users",
        daily_active_users,
        format!(
            "ceil({} MAU × {} workload.daily_active_share)",
            thousands(inputs.mau),
            number(active_share)
        ),
        &["workload.daily_active_share"],
    );

    let messages_per_day = ceil_div(
        daily_active_users as f64 * inputs.messages_per_active_user_per_day,
        1.0,
    );
    rec.explain(
        "workload.messages_per_day",
        messages_per_day,
        format!(
            "ceil({} DAU × {} inputs.messages_per_active_user_per_day)",
            thousands(daily_active_users),
            number(inputs.messages_per_active_user_per_day)
        ),
        &[],
    );

    let seconds_per_day = rec.c("workload.seconds_per_day");
    let peak_sent = ceil_div(
        messages_per_day as f64 * inputs.peak_to_average,
        seconds_per_day,
    );
    rec.explain(
        "workload.peak_messages_sent_per_second",
        peak_sent,
        format!(
            "ceil({} messages/day × {} inputs.peak_to_average / {} workload.seconds_per_day)",
            thousands(messages_per_day),
            number(inputs.peak_to_average),
            number(seconds_per_day)
        ),
        &["workload.seconds_per_day"],
    );

    let delivered = ceil_div(peak_sent as f64 * inputs.average_group_size, 1.0);
    rec.explain(
        "workload.peak_messages_delivered_per_second",
        delivered,
        format!(
            "ceil({peak_sent} sent/s × {} inputs.average_group_size)",
            number(inputs.average_group_size)
        ),
        &[],
    );

    let events_per_delivery = rec.c("workload.events_per_delivered_message");
    let events = ceil_div(delivered as f64 * events_per_delivery, 1.0);
    rec.explain(
        "workload.peak_events_delivered_per_second",
        events,
        format!(
            "ceil({delivered} deliveries/s × {} workload.events_per_delivered_message)",
            number(events_per_delivery)
        ),
        &["workload.events_per_delivered_message"],
    );

    let per_user = rec.c("workload.rest_requests_per_concurrent_user_per_second");
    let per_message = rec.c("workload.rest_requests_per_message");
    let rest = ceil_div(
        inputs.pcc as f64 * per_user + peak_sent as f64 * per_message,
        1.0,
    );
    rec.explain(
        "workload.peak_rest_requests_per_second",
        rest,
        format!(
            "ceil({} PCC × {} workload.rest_requests_per_concurrent_user_per_second + {peak_sent} sent/s × {} workload.rest_requests_per_message)",
            thousands(inputs.pcc),
            number(per_user),
            number(per_message)
        ),
        &[
            "workload.rest_requests_per_concurrent_user_per_second",
            "workload.rest_requests_per_message",
        ],
    );

    let window = rec.c("workload.reconnect_window_seconds");
    let reconnect = ceil_div(inputs.pcc as f64, window);
    rec.explain(
        "workload.reconnect_connections_per_second",
        reconnect,
        format!(
            "ceil({} PCC / {} s workload.reconnect_window_seconds)",
            thousands(inputs.pcc),
            number(window)
        ),
        &["workload.reconnect_window_seconds"],
    );

    let offline = rec.c("workload.offline_recipient_share");
    let notifications = ceil_div(delivered as f64 * offline, 1.0);
    rec.explain(
        "workload.peak_notifications_per_second",
        notifications,
        format!(
            "ceil({delivered} deliveries/s × {} workload.offline_recipient_share)",
            number(offline)
        ),
        &["workload.offline_recipient_share"],
    );

    let webhook_events = rec.c("workload.webhook_events_per_message");
    let webhooks = ceil_div(peak_sent as f64 * webhook_events, 1.0);
    rec.explain(
        "workload.peak_webhooks_per_second",
        webhooks,
        format!(
            "ceil({peak_sent} sent/s × {} workload.webhook_events_per_message)",
            number(webhook_events)
        ),
        &["workload.webhook_events_per_message"],
    );

    let amplification = rec.c("workload.message_storage_amplification");
    let stored_bytes_per_day =
        messages_per_day as f64 * inputs.average_message_bytes as f64 * amplification;
    let growth_mib = ceil_div(stored_bytes_per_day, MIB);
    rec.explain(
        "workload.message_storage_growth_mib_per_day",
        growth_mib,
        format!(
            "ceil({} messages/day × {} B inputs.average_message_bytes × {} workload.message_storage_amplification / 1 MiB)",
            thousands(messages_per_day),
            inputs.average_message_bytes,
            number(amplification)
        ),
        &["workload.message_storage_amplification"],
    );
    let days = f64::from(inputs.history_retention_days);
    let at_retention = ceil_div(stored_bytes_per_day * days, GIB);
    rec.explain(
        "workload.message_storage_at_retention_gib",
        at_retention,
        format!(
            "ceil(message bytes/day × {} inputs.history_retention_days / 1 GiB)",
            inputs.history_retention_days
        ),
        &["workload.message_storage_amplification"],
    );

    let attachment_kib_per_day =
        messages_per_day as f64 * inputs.attachment_share * inputs.average_attachment_kib as f64;
    let attachment_growth = ceil_div(attachment_kib_per_day, MIB);
    rec.explain(
        "workload.attachment_storage_growth_gib_per_day",
        attachment_growth,
        format!(
            "ceil({} messages/day × {} inputs.attachment_share × {} KiB inputs.average_attachment_kib / 1 GiB)",
            thousands(messages_per_day),
            number(inputs.attachment_share),
            inputs.average_attachment_kib
        ),
        &[],
    );
    let attachment_total = ceil_div(attachment_kib_per_day * days, MIB);
    rec.explain(
        "workload.attachment_storage_at_retention_gib",
        attachment_total,
        format!(
            "ceil(attachment KiB/day × {} inputs.history_retention_days / 1 GiB)",
            inputs.history_retention_days
        ),
        &[],
    );

    Workload {
        mau: inputs.mau,
        pcc: inputs.pcc,
        daily_active_users,
        messages_per_day,
        peak_messages_sent_per_second: peak_sent,
        peak_messages_delivered_per_second: delivered,
        peak_events_delivered_per_second: events,
        peak_rest_requests_per_second: rest,
        reconnect_connections_per_second: reconnect,
        peak_notifications_per_second: notifications,
        peak_webhooks_per_second: webhooks,
        message_storage_growth_mib_per_day: growth_mib,
        message_storage_at_retention_gib: at_retention,
        attachment_storage_growth_gib_per_day: attachment_growth,
        attachment_storage_at_retention_gib: attachment_total,
    }
}
