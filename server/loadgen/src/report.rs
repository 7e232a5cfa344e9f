//! The result of a run, printed as a table or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::ledger::DeliveryTotals;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub connections: u32,
    pub conversations: usize,
    pub direct_conversations: usize,
    pub group_conversations: usize,
    pub group_size: u32,
    pub target_rate: u32,
    pub duration_secs: f64,
    pub setup_secs: f64,
    pub connect_secs: f64,
    pub messages_sent: u64,
    pub messages_acked: u64,
    pub send_rate: f64,
    pub deliveries_per_sec: f64,
    pub latency_ms: Latencies,
    /// Deliveries and send-to-deliver latency of the messages sent in each second of the run.
    pub timeline: Vec<TimelineSecond>,
    pub ack_latency_ms: Latencies,
    /// Connections that were dropped and came back (resumed).
    pub reconnects: u64,
    /// Time from a dropped connection to the `ack` of its `resume` on the new one.
    pub reconnect_ms: Latencies,
    pub client_cpu_cores: f64,
    pub server_cpu_cores: Option<f64>,
    pub server_rss_bytes: Option<u64>,
    pub server_rss_per_connection_bytes: Option<f64>,
    pub disconnects: u64,
    pub resends: u64,
    pub delivery: DeliveryTotals,
    pub errors: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct TimelineSecond {
    pub second: u32,
    pub deliveries: u64,
    pub latency_ms: Latencies,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latencies {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub p999: Option<f64>,
    pub max: Option<f64>,
}

impl Latencies {
    pub fn of(histogram: &crate::histogram::Histogram) -> Self {
        let ms = |micros: Option<u64>| micros.map(|value| value as f64 / 1000.0);
        Self {
            p50: ms(histogram.quantile(0.5)),
            p99: ms(histogram.quantile(0.99)),
            p999: ms(histogram.quantile(0.999)),
            max: ms(histogram.max()),
        }
    }

    fn line(self) -> String {
        let show = |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
        format!(
            "p50 {}  p99 {}  p999 {}  max {} ms",
            show(self.p50),
            show(self.p99),
            show(self.p999),
            show(self.max)
        )
    }
}

impl Report {
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "connections          {} ({} conversations: {} 1:1, {} groups of {})",
            self.connections,
            self.conversations,
            self.direct_conversations,
            self.group_conversations,
            self.group_size
        );
        let _ = writeln!(
            out,
            "setup / connect      {:.1} s / {:.1} s",
            self.setup_secs, self.connect_secs
        );
        let _ = writeln!(
            out,
            "sent                 {} msgs in {:.1} s ({:.0}/s, target {}/s), {} acked",
            self.messages_sent,
            self.duration_secs,
            self.send_rate,
            self.target_rate,
            self.messages_acked
        );
        let _ = writeln!(out, "deliveries/s         {:.0}", self.deliveries_per_sec);
        let _ = writeln!(out, "send→deliver         {}", self.latency_ms.line());
        let _ = writeln!(out, "send→ack             {}", self.ack_latency_ms.line());
        // p99 of each second's sends, on one line: a run that fell behind shows where.
        let p99s: Vec<String> = self
            .timeline
            .iter()
            .map(|second| {
                second
                    .latency_ms
                    .p99
                    .map_or_else(|| "-".to_owned(), |p99| format!("{p99:.0}"))
            })
            .collect();
        let _ = writeln!(out, "p99 by send second   {} ms", p99s.join(" "));
        if self.reconnects > 0 {
            let _ = writeln!(
                out,
                "reconnect→resumed    {} ({} reconnects)",
                self.reconnect_ms.line(),
                self.reconnects
            );
        }
        let _ = writeln!(
            out,
            "client CPU           {:.2} cores",
            self.client_cpu_cores
        );
        if let Some(cores) = self.server_cpu_cores {
            let _ = writeln!(out, "server CPU           {cores:.2} cores");
        }
        if let (Some(rss), Some(per)) =
            (self.server_rss_bytes, self.server_rss_per_connection_bytes)
        {
            let _ = writeln!(
                out,
                "server RSS           {:.1} MiB with all connected; {:.1} KiB per connection (growth over idle)",
                rss as f64 / 1_048_576.0,
                per / 1024.0
            );
        }
        let d = &self.delivery;
        let _ = writeln!(
            out,
            "delivery check       expected {} received {} lost (still missing after --drain without progress) {} \
             duplicated-as-shown {} (same seq again: {}) reordered {} gaps {}",
            d.expected,
            d.received,
            d.lost,
            d.duplicated_as_shown,
            d.duplicates,
            d.reordered,
            d.gaps
        );
        let _ = writeln!(
            out,
            "disconnects/resends  {} / {}",
            self.disconnects, self.resends
        );
        for (what, count) in &self.errors {
            let _ = writeln!(out, "error                {count} × {what}");
        }
        out
    }
}
