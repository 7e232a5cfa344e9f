//! Prometheus metrics, rendered by hand: the delivery hot path only touches atomics.

use cc_protocol::ErrorCode;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A lock-free histogram with fixed buckets.
#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// The finite bucket `elapsed` falls in (`None`: only `+Inf`).
fn bucket_of(elapsed: Duration) -> Option<usize> {
    let seconds = elapsed.as_secs_f64();
    BUCKETS.iter().position(|bound| seconds <= *bound)
}

/// Observations gathered without atomics (one connection's write batch), then added to a
/// [`Histogram`] at once: fan-out observes every delivery, and per-delivery atomic adds on
/// counters shared by all worker threads bounce their cache lines between cores.
#[derive(Default)]
pub struct Tally {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum_micros: u64,
}

impl Tally {
    pub fn observe(&mut self, elapsed: Duration) {
        if let Some(index) = bucket_of(elapsed) {
            self.counts[index] += 1;
        }
        self.count += 1;
        self.sum_micros += elapsed.as_micros() as u64;
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

impl Histogram {
    pub fn merge(&self, tally: &Tally) {
        if tally.count == 0 {
            return;
        }
        for (count, added) in self.counts.iter().zip(tally.counts) {
            if added > 0 {
                count.fetch_add(added, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(tally.count, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(tally.sum_micros, Ordering::Relaxed);
    }

    pub fn observe(&self, elapsed: Duration) {
        if let Some(index) = bucket_of(elapsed) {
            self.counts[index].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let total = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {total}");
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(
            out,
            "{name}_sum{braces} {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{braces} {total}");
    }
}

#[derive(Default)]
pub struct Metrics {
    pub connections: AtomicI64,
    pub messages_sent: AtomicU64,
    pub messages_delivered: AtomicU64,
    pub send_to_deliver: Histogram,
    errors: [AtomicU64; ErrorCode::ALL.len()],
    http: Mutex<BTreeMap<(String, String, u16), Histogram>>,
}

impl Metrics {
    pub fn error(&self, code: ErrorCode) {
        if let Some(index) = ErrorCode::ALL.iter().position(|c| *c == code) {
            self.errors[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn http(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let mut map = self
            .http
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry((route.to_owned(), method.to_owned(), status))
            .or_default()
            .observe(elapsed);
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let _ = writeln!(
            out,
            "# HELP cc_ws_connections Open WebSocket connections.\n# TYPE cc_ws_connections gauge"
        );
        let _ = writeln!(
            out,
            "cc_ws_connections {}",
            self.connections.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP cc_messages_sent_total Messages committed.\n# TYPE cc_messages_sent_total counter"
        );
        let _ = writeln!(
            out,
            "cc_messages_sent_total {}",
            self.messages_sent.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP cc_messages_delivered_total Message frames written to sockets.\n# TYPE cc_messages_delivered_total counter"
        );
        let _ = writeln!(
            out,
            "cc_messages_delivered_total {}",
            self.messages_delivered.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP cc_send_to_deliver_seconds Commit to socket write.\n# TYPE cc_send_to_deliver_seconds histogram"
        );
        self.send_to_deliver
            .render(&mut out, "cc_send_to_deliver_seconds", "");
        let _ = writeln!(
            out,
            "# HELP cc_errors_total Errors answered, by code.\n# TYPE cc_errors_total counter"
        );
        for (code, count) in ErrorCode::ALL.iter().zip(&self.errors) {
            let _ = writeln!(
                out,
                "cc_errors_total{{code=\"{code}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP cc_http_request_duration_seconds REST latency.\n# TYPE cc_http_request_duration_seconds histogram"
        );
        let map = self
            .http
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for ((route, method, status), histogram) in map.iter() {
            let labels = format!("route=\"{route}\",method=\"{method}\",status=\"{status}\"");
            histogram.render(&mut out, "cc_http_request_duration_seconds", &labels);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::default();
        metrics.send_to_deliver.observe(Duration::from_micros(700));
        let mut tally = Tally::default();
        tally.observe(Duration::from_micros(300));
        tally.observe(Duration::from_millis(3));
        metrics.send_to_deliver.merge(&tally);
        metrics.error(ErrorCode::RateLimited);
        metrics.http("/v1/users", "GET", 200, Duration::from_millis(3));
        let text = metrics.render();
        assert!(text.contains("cc_send_to_deliver_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("cc_send_to_deliver_seconds_bucket{le=\"0.001\"} 2"));
        assert!(text.contains("cc_send_to_deliver_seconds_bucket{le=\"0.005\"} 3"));
        assert!(text.contains("cc_send_to_deliver_seconds_count 3"));
        assert!(text.contains("cc_errors_total{code=\"rate_limited\"} 1"));
        assert!(text.contains("cc_http_request_duration_seconds_count{route=\"/v1/users\",method=\"GET\",status=\"200\"} 1"));
    }
}
