//! Latency samples and the one-line JSON report every tool prints.

use std::fmt::Write as _;
use std::time::Duration;

/// All latency samples of a run, in nanoseconds. A sorted Vec gives exact percentiles; at the
/// rates measured here (≤ ~200k samples/s for ≤ 30 s) it stays well under 100 MB.
#[derive(Default)]
pub struct Latencies {
    nanos: Vec<u64>,
}

impl Latencies {
    /// Records one sample.
    pub fn record(&mut self, d: Duration) {
        self.nanos.push(d.as_nanos().min(u64::MAX as u128) as u64);
    }

    /// Moves all samples of `other` into `self`.
    pub fn merge(&mut self, other: Latencies) {
        self.nanos.extend(other.nanos);
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.nanos.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.nanos.is_empty()
    }

    /// Sorts the samples and returns the percentiles used by every report.
    pub fn summary(mut self) -> Summary {
        self.nanos.sort_unstable();
        let pick = |q: f64| -> f64 {
            if self.nanos.is_empty() {
                return 0.0;
            }
            // Nearest-rank percentile.
            let rank = ((q * self.nanos.len() as f64).ceil() as usize).clamp(1, self.nanos.len());
            self.nanos[rank - 1] as f64 / 1000.0
        };
        Summary {
            p50_us: pick(0.50),
            p99_us: pick(0.99),
            p999_us: pick(0.999),
            max_us: pick(1.0),
        }
    }
}

/// Latency percentiles in microseconds.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest sample.
    pub max_us: f64,
}

/// A flat JSON object built field by field (numbers and strings only), printed on one line so
/// that scripts can collect results with `jq -s`.
#[derive(Default)]
pub struct JsonLine {
    body: String,
}

impl JsonLine {
    fn key(&mut self, k: &str) {
        if !self.body.is_empty() {
            self.body.push(',');
        }
        let _ = write!(self.body, "\"{k}\":");
    }

    /// Adds a string field (escaping quotes, backslashes and control characters).
    pub fn str(mut self, k: &str, v: &str) -> Self {
        self.key(k);
        self.body.push('"');
        for c in v.chars() {
            match c {
                '"' => self.body.push_str("\\\""),
                '\\' => self.body.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.body, "\\u{:04x}", c as u32);
                }
                c => self.body.push(c),
            }
        }
        self.body.push('"');
        self
    }

    /// Adds a numeric field; non-finite values become null.
    pub fn num(mut self, k: &str, v: f64) -> Self {
        self.key(k);
        if v.is_finite() {
            let _ = write!(self.body, "{}", (v * 1000.0).round() / 1000.0);
        } else {
            self.body.push_str("null");
        }
        self
    }

    /// Adds the latency percentiles as `p50_us`, `p99_us`, `p999_us`, `max_us`.
    pub fn latency(self, s: &Summary) -> Self {
        self.num("p50_us", s.p50_us)
            .num("p99_us", s.p99_us)
            .num("p999_us", s.p999_us)
            .num("max_us", s.max_us)
    }

    /// The finished object.
    pub fn finish(self) -> String {
        format!("{{{}}}", self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut l = Latencies::default();
        for us in 1..=1000u64 {
            l.record(Duration::from_micros(us));
        }
        let s = l.summary();
        assert_eq!(s.p50_us, 500.0);
        assert_eq!(s.p99_us, 990.0);
        assert_eq!(s.p999_us, 999.0);
        assert_eq!(s.max_us, 1000.0);
    }

    #[test]
    fn json_escapes_and_formats() {
        let j = JsonLine::default()
            .str("a", "x\"y")
            .num("b", 1.5)
            .num("c", f64::NAN)
            .finish();
        assert_eq!(j, r#"{"a":"x\"y","b":1.5,"c":null}"#);
    }
}
