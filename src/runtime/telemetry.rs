//! Logs and traces, configured the same way in both binaries.
//!
//! - `RUST_LOG` filters (default `info`); `LOG_FORMAT` picks human text or one JSON object per
//!   line, the latter carrying the `trace_id` and `span_id` of the span the event happened in.
//! - Spans go to OpenTelemetry. With `OTEL_EXPORTER_OTLP_ENDPOINT` set they are exported over
//!   OTLP/gRPC in batches (the exporter honours the standard `OTEL_EXPORTER_OTLP_*` variables,
//!   the batch processor `OTEL_BSP_*`); without it nothing is exported, but trace ids still exist
//!   so that logs can be correlated and `traceparent` is still continued downstream.
//! - `OTEL_SERVICE_NAME` names the service (default: the binary's name).
//! - The W3C trace-context propagator is installed globally.

use std::fmt;

use opentelemetry::{
    KeyValue, global,
    trace::{TraceContextExt as _, TracerProvider as _},
};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use serde_json::{Map, Value};
use tracing::{Event, Subscriber, field::Field};
use tracing_subscriber::{
    EnvFilter,
    fmt::{
        FmtContext, FormatEvent, FormatFields, FormattedFields,
        format::{JsonFields, Writer},
    },
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

/// Keeps the tracer provider alive; flushes pending spans when dropped (or on [`Self::flush`]).
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
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

    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let otel = tracing_opentelemetry::layer().with_tracer(tracer).with_filter(filter());
    let registry = tracing_subscriber::registry().with(otel);
    let result = match config.log_format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(filter()),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(JsonFields::new())
                    .event_format(JsonWithTraceIds)
                    .with_writer(std::io::stderr)
                    .with_filter(filter()),
            )
            .try_init(),
    };
    drop(result);
    Ok(Telemetry { provider })
}

/// One JSON object per event: `timestamp`, `level`, `target`, `message`, the fields of the
/// spans it happened in (such as `request_id`) and its own, the current `span`, and its
/// `trace_id` / `span_id`.
struct JsonWithTraceIds;

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
        let mut line = Map::new();
        line.insert(
            "timestamp".into(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true).into(),
        );
        line.insert("level".into(), metadata.level().as_str().into());
        line.insert("target".into(), metadata.target().into());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let fields = extensions
                    .get::<FormattedFields<N>>()
                    .and_then(|fields| serde_json::from_str::<Map<String, Value>>(fields).ok());
                line.extend(fields.into_iter().flatten());
            }
        }
        event.record(&mut JsonVisitor(&mut line));
        // The event's own span: its explicit parent if it has one, else the current span.
        let leaf = ctx.event_scope().and_then(|mut scope| scope.next());
        if let Some(span) = leaf {
            line.insert("span".into(), span.name().into());
            let ids = tracing::dispatcher::get_default(|dispatch| {
                tracing_opentelemetry::get_otel_context(&span.id(), dispatch)
            })
            .map(|cx| {
                let context = cx.span().span_context().clone();
                (context.trace_id(), context.span_id(), context.is_valid())
            });
            if let Some((trace_id, span_id, true)) = ids {
                line.insert("trace_id".into(), trace_id.to_string().into());
                line.insert("span_id".into(), span_id.to_string().into());
            }
        }
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl tracing::field::Visit for JsonVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }
}
