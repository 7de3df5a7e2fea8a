//! Live metrics in the Prometheus text format, served over HTTP on a
//! loopback address (`helios serve --metrics 127.0.0.1:PORT`, path
//! `/metrics`; docs/OPERATIONS.md says what to watch).
//!
//! The server's own figures (calls, errors, latencies, clients, gc) are
//! recorded as calls finish; the engine's (queue, L1, bytes written) are
//! read from `HeliosEngine::stats` at each scrape, so a scrape costs one
//! stats call and nothing between scrapes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use helios_engine::{EngineStats, HeliosEngine};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus::{
    Encoder as _, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, Opts, Registry, TextEncoder,
};
use tokio::net::TcpListener;

/// Latency buckets from 100 µs to 10 s: a switch of a few files and a full
/// scan of 100,000 both land inside.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Every metric the server exports.
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) requests: IntCounterVec,
    /// Every call, whatever its method (for `helios stats`).
    calls: AtomicU64,
    pub(crate) errors: IntCounterVec,
    pub(crate) request_seconds: HistogramVec,
    pub(crate) commit_seconds: Histogram,
    pub(crate) capture_seconds: Histogram,
    pub(crate) switch_seconds: Histogram,
    pub(crate) clients: Arc<IntGauge>,
    pub(crate) refused_peers: IntCounter,
    pub(crate) gc_runs: IntCounter,
    pub(crate) gc_bytes_reclaimed: IntCounter,
    engine: EngineGauges,
}

/// The engine's counters, copied in at each scrape.
struct EngineGauges {
    commits: IntCounter,
    new_objects: IntCounter,
    new_bytes: IntCounter,
    objects_written: IntCounter,
    bytes_written: IntCounter,
    write_failures: IntCounter,
    l1_hits: IntCounter,
    l1_misses: IntCounter,
    l1_hit_ratio: Gauge,
    queue_depth: IntGauge,
    queue_wait_p50: Gauge,
    queue_wait_p99: Gauge,
    disk_bytes: IntGauge,
}

fn histogram(name: &str, help: &str) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()))
        .expect("valid histogram options")
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("valid counter options")
}

fn gauge(name: &str, help: &str) -> Gauge {
    Gauge::new(name, help).expect("valid gauge options")
}

fn int_gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("valid gauge options")
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let labelled = |name: &str, help: &str, label: &str| {
            IntCounterVec::new(Opts::new(name, help), &[label]).expect("valid counter options")
        };
        let metrics = Metrics {
            registry: Registry::new(),
            requests: labelled(
                "helios_requests_total",
                "Calls finished, by method.",
                "method",
            ),
            calls: AtomicU64::new(0),
            errors: labelled(
                "helios_errors_total",
                "Calls that failed, by gRPC status code.",
                "code",
            ),
            request_seconds: HistogramVec::new(
                HistogramOpts::new("helios_request_seconds", "Call latency, by method.")
                    .buckets(LATENCY_BUCKETS.to_vec()),
                &["method"],
            )
            .expect("valid histogram options"),
            commit_seconds: histogram(
                "helios_commit_seconds",
                "Commit latency (the engine's commit, after capture).",
            ),
            capture_seconds: histogram(
                "helios_capture_seconds",
                "Capture latency: reading a working directory into a tree.",
            ),
            switch_seconds: histogram(
                "helios_switch_seconds",
                "Checkout latency: switching a working directory to a snapshot.",
            ),
            clients: Arc::new(int_gauge(
                "helios_connected_clients",
                "Open client connections.",
            )),
            refused_peers: counter(
                "helios_refused_peers_total",
                "Connections refused because the peer ran as another user.",
            ),
            gc_runs: counter("helios_gc_runs_total", "Garbage collections run."),
            gc_bytes_reclaimed: counter(
                "helios_gc_reclaimed_bytes_total",
                "Encoded bytes garbage collection deleted.",
            ),
            engine: EngineGauges {
                commits: counter("helios_commits_total", "Commits of any durability."),
                new_objects: counter(
                    "helios_new_objects_total",
                    "Objects commits created that the store lacked.",
                ),
                new_bytes: counter(
                    "helios_new_bytes_total",
                    "Encoded bytes of the objects commits created.",
                ),
                objects_written: counter(
                    "helios_objects_written_total",
                    "Objects the writer stored on disk.",
                ),
                bytes_written: counter(
                    "helios_bytes_written_total",
                    "Encoded bytes the writer stored on disk.",
                ),
                write_failures: counter(
                    "helios_write_failures_total",
                    "Background writes that failed (a full disk, say).",
                ),
                l1_hits: counter("helios_l1_hits_total", "L1 cache hits."),
                l1_misses: counter("helios_l1_misses_total", "L1 cache misses."),
                l1_hit_ratio: gauge(
                    "helios_l1_hit_ratio",
                    "L1 hits over lookups since the server started.",
                ),
                queue_depth: int_gauge(
                    "helios_queue_depth",
                    "Objects committed and not yet on disk.",
                ),
                queue_wait_p50: gauge(
                    "helios_queue_wait_p50_seconds",
                    "Median time committers waited for room in the write queue.",
                ),
                queue_wait_p99: gauge(
                    "helios_queue_wait_p99_seconds",
                    "99th percentile of the time committers waited for room in the write queue.",
                ),
                disk_bytes: int_gauge("helios_disk_bytes", "Bytes of the store's files on disk."),
            },
        };
        metrics.register();
        metrics
    }

    fn register(&self) {
        let e = &self.engine;
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(self.requests.clone()),
            Box::new(self.errors.clone()),
            Box::new(self.request_seconds.clone()),
            Box::new(self.commit_seconds.clone()),
            Box::new(self.capture_seconds.clone()),
            Box::new(self.switch_seconds.clone()),
            Box::new((*self.clients).clone()),
            Box::new(self.refused_peers.clone()),
            Box::new(self.gc_runs.clone()),
            Box::new(self.gc_bytes_reclaimed.clone()),
            Box::new(e.commits.clone()),
            Box::new(e.new_objects.clone()),
            Box::new(e.new_bytes.clone()),
            Box::new(e.objects_written.clone()),
            Box::new(e.bytes_written.clone()),
            Box::new(e.write_failures.clone()),
            Box::new(e.l1_hits.clone()),
            Box::new(e.l1_misses.clone()),
            Box::new(e.l1_hit_ratio.clone()),
            Box::new(e.queue_depth.clone()),
            Box::new(e.queue_wait_p50.clone()),
            Box::new(e.queue_wait_p99.clone()),
            Box::new(e.disk_bytes.clone()),
        ];
        for c in collectors {
            self.registry
                .register(c)
                .expect("every metric is registered once");
        }
    }

    /// A finished call: counted, timed, and its error (if any) counted by
    /// code.
    pub(crate) fn call(&self, method: &str, elapsed: Duration, error: Option<tonic::Code>) {
        self.requests.with_label_values(&[method]).inc();
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.request_seconds
            .with_label_values(&[method])
            .observe(elapsed.as_secs_f64());
        if let Some(code) = error {
            self.errors.with_label_values(&[&format!("{code:?}")]).inc();
        }
    }

    /// Calls finished since the server started.
    pub(crate) fn requests_total(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The text exposition, with the engine's figures read now.
    pub(crate) fn render(&self, stats: &EngineStats) -> String {
        let e = &self.engine;
        // The engine's totals only grow: each counter is brought up to it.
        let up_to = |c: &IntCounter, total: u64| c.inc_by(total.saturating_sub(c.get()));
        up_to(&e.commits, stats.commits);
        up_to(&e.new_objects, stats.new_objects);
        up_to(&e.new_bytes, stats.new_bytes);
        up_to(&e.objects_written, stats.l2_objects_written);
        up_to(&e.bytes_written, stats.l2_bytes_written);
        up_to(&e.write_failures, stats.write_failures);
        up_to(&e.l1_hits, stats.l1.hits);
        up_to(&e.l1_misses, stats.l1.misses);
        let lookups = stats.l1.hits + stats.l1.misses;
        e.l1_hit_ratio.set(if lookups == 0 {
            0.0
        } else {
            stats.l1.hits as f64 / lookups as f64
        });
        e.queue_depth
            .set(i64::try_from(stats.in_flight).unwrap_or(i64::MAX));
        e.queue_wait_p50.set(stats.queue_wait.p50.as_secs_f64());
        e.queue_wait_p99.set(stats.queue_wait.p99.as_secs_f64());
        e.disk_bytes
            .set(i64::try_from(stats.l2_disk_bytes).unwrap_or(i64::MAX));
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("the text encoder writes to memory");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// Serves `GET /metrics` on `listener` until the task is dropped.
pub(crate) async fn serve_http(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    engine: Arc<HeliosEngine>,
) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let (metrics, engine) = (Arc::clone(&metrics), Arc::clone(&engine));
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let (metrics, engine) = (Arc::clone(&metrics), Arc::clone(&engine));
                async move { Ok::<_, Infallible>(respond(&request, &metrics, &engine)) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "metrics connection ended with an error");
            }
        });
    }
}

fn respond(
    request: &Request<Incoming>,
    metrics: &Metrics,
    engine: &HeliosEngine,
) -> Response<Full<Bytes>> {
    let reply = |status, content_type, body: String| {
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .expect("a valid response")
    };
    if request.method() != hyper::Method::GET || request.uri().path() != "/metrics" {
        return reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "try GET /metrics\n".into(),
        );
    }
    reply(
        StatusCode::OK,
        "text/plain; version=0.0.4",
        metrics.render(&engine.stats()),
    )
}

/// Whether `addr` may serve metrics: loopback only, since the figures
/// describe what other users' processes do.
pub(crate) fn allowed(addr: SocketAddr) -> bool {
    addr.ip().is_loopback()
}
