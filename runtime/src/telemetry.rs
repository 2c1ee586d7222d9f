//! Logs and traces, configured the same way in both binaries.
//!
//! - `RUST_LOG` filters (default `info`); `LOG_FORMAT` picks human text or one JSON object per
//!   line, the latter carrying the `trace_id` and `span_id` of the span the event happened in.
//! - With `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans go to OpenTelemetry and are exported over
//!   OTLP/gRPC in batches (the exporter honours the standard `OTEL_EXPORTER_OTLP_*` variables,
//!   the batch processor `OTEL_BSP_*`), `traceparent` is continued from request to call, and
//!   JSON log lines carry `trace_id`/`span_id`. Without it traces are off entirely.
//! - `OTEL_SERVICE_NAME` names the service (default: the binary's name).
//! - The W3C trace-context propagator is installed globally.

use std::{
    fmt,
    sync::atomic::{AtomicBool, Ordering},
};

use opentelemetry::{
    KeyValue, global,
    trace::{TraceContextExt as _, TracerProvider as _},
};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing::{Event, Subscriber, field::Field};

use crate::log_writer;
use tracing_subscriber::{
    EnvFilter,
    field::RecordFields,
    fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, format::Writer},
    prelude::*,
    registry::LookupSpan,
};

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

/// Where telemetry goes.
#[derive(Clone, Debug)]
pub struct TelemetryConfig {
    /// `service.name` of the spans.
    pub service_name: String,
    /// The OTLP/gRPC collector; no export when `None`.
    pub otlp_endpoint: Option<String>,
    /// Log line format.
    pub log_format: LogFormat,
}

impl TelemetryConfig {
    /// The configuration from the standard environment variables, with `default_name` as the
    /// service name when `OTEL_SERVICE_NAME` is unset.
    #[must_use]
    pub fn from_env(default_name: &str, log_format: LogFormat) -> Self {
        let non_empty = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self {
            service_name: non_empty("OTEL_SERVICE_NAME").unwrap_or_else(|| default_name.to_owned()),
            otlp_endpoint: non_empty("OTEL_EXPORTER_OTLP_ENDPOINT"),
            log_format,
        }
    }
}

/// Keeps the tracer provider and the log writer alive; flushes pending spans and log lines when
/// dropped (spans also on [`Self::flush`]).
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
    _log_writer: log_writer::FlushGuard<std::io::Stderr>,
}

impl Telemetry {
    /// Exports every finished span now.
    pub fn flush(&self) {
        if let Err(error) = self.provider.force_flush() {
            tracing::warn!(%error, "flushing spans failed");
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// Installs logging and tracing for the process. The first call wins: a second one (several
/// servers in one test process) leaves the installed subscriber in place.
///
/// # Errors
/// When the OTLP exporter cannot be built (a malformed endpoint).
pub fn init(
    config: &TelemetryConfig,
) -> Result<Telemetry, Box<dyn std::error::Error + Send + Sync>> {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = Resource::builder()
        .with_service_name(config.service_name.clone())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let mut provider = SdkTracerProvider::builder().with_resource(resource);
    if let Some(endpoint) = &config.otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()?;
        provider = provider.with_batch_exporter(exporter);
    }
    let provider = provider.build();
    global::set_tracer_provider(provider.clone());
    let tracer = provider.tracer(config.service_name.clone());

    // Log lines are written to stderr in batches by a background thread (see `log_writer`).
    let (writer, log_writer) = log_writer::batched(std::io::stderr())?;
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // SeaORM opens an info-level span per statement, holding its SQL: trace material, not log
    // material. Logs leave them out (formatting each statement's SQL into every span cost more
    // than the query's own decoding) unless `RUST_LOG` names `sea_orm::database` itself.
    let log_filter = || {
        let explicit =
            std::env::var("RUST_LOG").is_ok_and(|value| value.contains("sea_orm::database"));
        let filter = filter();
        match "sea_orm::database=warn".parse() {
            Ok(directive) if !explicit => filter.add_directive(directive),
            _ => filter,
        }
    };
    // Traces are off without an endpoint (docs/operations.md): then no span is handed to
    // OpenTelemetry at all, which keeps a third of the per-request CPU of the span bookkeeping
    // off the hot path. Requests are still correlated across both binaries by `x-request-id`.
    TRACING.store(config.otlp_endpoint.is_some(), Ordering::Relaxed);
    let otel = config
        .otlp_endpoint
        .is_some()
        .then(|| tracing_opentelemetry::layer().with_tracer(tracer).with_filter(filter()));
    let registry = tracing_subscriber::registry().with(otel);
    let result = match config.log_format {
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_writer(writer).with_filter(log_filter()))
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(JsonMembers)
                    .event_format(JsonWithTraceIds)
                    .with_writer(writer)
                    .with_filter(log_filter()),
            )
            .try_init(),
    };
    drop(result);
    Ok(Telemetry { provider, _log_writer: log_writer })
}

/// One JSON object per event: `timestamp`, `level`, `target`, the fields of the spans it
/// happened in (such as `request_id`, outermost first), its own fields (`message`, ...), the
/// current `span`, and — with tracing on — its `trace_id` / `span_id`.
///
/// The line is written straight into the output: span fields are already JSON members (the
/// layer formats them with [`JsonMembers`] once, when the span records them) and are spliced in
/// as they are, so an event costs no parsing and no intermediate map.
struct JsonWithTraceIds;

/// Appends `"key":<value>` to a JSON object being written, serialising straight into it.
fn member(line: &mut Vec<u8>, key: &str, value: &impl serde::Serialize) {
    if line.last() != Some(&b'{') {
        line.push(b',');
    }
    // Serialising a string or a number into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *line, key);
    line.push(b':');
    if serde_json::to_writer(&mut *line, value).is_err() {
        line.extend_from_slice(b"null");
    }
}

impl<S, N> FormatEvent<S, N> for JsonWithTraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut line = Vec::with_capacity(256);
        line.push(b'{');
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        member(&mut line, "timestamp", &now);
        member(&mut line, "level", &metadata.level().as_str());
        member(&mut line, "target", &metadata.target());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    line.push(b',');
                    line.extend_from_slice(fields.as_bytes());
                }
            }
        }
        event.record(&mut JsonVisitor(&mut line));
        // The event's own span: its explicit parent if it has one, else the current span.
        let leaf = ctx.event_scope().and_then(|mut scope| scope.next());
        if let Some(span) = leaf {
            member(&mut line, "span", &span.name());
            if TRACING.load(Ordering::Relaxed) {
                let context = tracing::dispatcher::get_default(|dispatch| {
                    tracing_opentelemetry::get_otel_context(&span.id(), dispatch)
                })
                .map(|cx| cx.span().span_context().clone());
                if let Some(context) = context.filter(opentelemetry::trace::SpanContext::is_valid) {
                    member(&mut line, "trace_id", &context.trace_id().to_string());
                    member(&mut line, "span_id", &context.span_id().to_string());
                }
            }
        }
        line.push(b'}');
        // Made only of `&str`s and serde_json's output: always UTF-8.
        let line = std::str::from_utf8(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{line}")
    }
}

/// Writes an event's fields as JSON members.
struct JsonVisitor<'a>(&'a mut Vec<u8>);

/// A span's fields as the JSON members every line of the span carries (`"request_id":"…",
/// "method":"GET"`, no braces), written straight into the span's stored text.
/// tracing-subscriber's `JsonFields` builds a map of `serde_json::Value`s per span and
/// serialises it: 9,000 instructions per span of three fields, against about 2,200 here
/// (bench/README.md, "Instructions per request"). A field recorded again later is appended
/// again; JSON readers take the last.
#[derive(Clone, Copy, Debug, Default)]
struct JsonMembers;

impl JsonMembers {
    /// The members of `fields`, without the braces.
    fn members(fields: impl RecordFields) -> Result<String, fmt::Error> {
        let mut line = Vec::with_capacity(128);
        // `member` puts no comma after an opening brace: written as an object, kept without it.
        line.push(b'{');
        fields.record(&mut JsonVisitor(&mut line));
        line.remove(0);
        // Made only of `&str`s and serde_json's output: always UTF-8.
        String::from_utf8(line).map_err(|_| fmt::Error)
    }
}

impl<'writer> FormatFields<'writer> for JsonMembers {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        writer.write_str(&Self::members(fields)?)
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let members = Self::members(fields)?;
        if !members.is_empty() {
            if !current.fields.is_empty() {
                current.fields.push(',');
            }
            current.fields.push_str(&members);
        }
        Ok(())
    }
}

impl tracing::field::Visit for JsonVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        member(self.0, field.name(), &format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        member(self.0, field.name(), &value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        member(self.0, field.name(), &value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        member(self.0, field.name(), &value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        member(self.0, field.name(), &value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        member(self.0, field.name(), &value);
    }
}

/// Whether spans go to OpenTelemetry (an exporter endpoint is configured).
static TRACING: AtomicBool = AtomicBool::new(false);

/// Whether traces are on in this process: callers can skip building span attributes that only
/// an exporter would read.
#[must_use]
pub fn tracing_enabled() -> bool {
    TRACING.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    /// Collects what the layer writes.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl MakeWriter<'_> for Lines {
        type Writer = Self;

        fn make_writer(&self) -> Self {
            self.clone()
        }
    }

    #[test]
    fn every_line_carries_the_fields_of_its_spans_as_json() {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .fmt_fields(JsonMembers)
                .event_format(JsonWithTraceIds)
                .with_writer(lines.clone()),
        );
        tracing::subscriber::with_default(subscriber, || {
            let outer = tracing::info_span!(
                "http",
                request_id = "a\"b\\c\n",
                method = "GET",
                late = tracing::field::Empty
            );
            let _outer = outer.enter();
            outer.record("late", 7_i64);
            let empty = tracing::info_span!("empty");
            let _empty = empty.enter();
            let inner = tracing::info_span!("rpc", code = 5_u64, ok = true, id = ?(1, "x"));
            let _inner = inner.enter();
            tracing::info!(status = 200_u64, "request");
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        let line: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(line["request_id"], "a\"b\\c\n");
        assert_eq!(line["method"], "GET");
        assert_eq!(line["late"], 7, "a field recorded after the span began");
        assert_eq!(line["code"], 5);
        assert_eq!(line["ok"], true);
        assert_eq!(line["id"], "(1, \"x\")");
        assert_eq!(line["status"], 200);
        assert_eq!(line["message"], "request");
        assert_eq!(line["span"], "rpc");
        assert_eq!(line["level"], "INFO");
    }
}
