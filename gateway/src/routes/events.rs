//! `GET /v2/tickets/events`: the provider's event log as a JSON page, or live as Server-Sent
//! Events (docs/events.md).

use axum::{
    Json,
    body::Body,
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use tickets_contract::v2;

use crate::{
    auth::Caller,
    events::{Delivered, read_log, stream::PartnerStream},
    model::{AppliedEventQuery, Incomplete, TicketEvent, TicketEventList},
    params::{EventParams, EventQuery},
    problem::Problem,
    state::AppState,
};

/// The media type of an event stream.
const EVENT_STREAM: &str = "text/event-stream";

/// Whether the client asked for an event stream.
fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|range| {
            let media = range.split(';').next().unwrap_or_default().trim();
            media.eq_ignore_ascii_case(EVENT_STREAM)
        })
}

/// A page of the log for `caller` after `after`: the events, and whether the page was full.
/// `position` names where `after` came from, for a violation on it.
async fn page<T: TryFrom<v2::TicketEvent, Error = Incomplete>>(
    state: &AppState,
    caller: &Caller,
    (after, position): (i64, &str),
    limit: u16,
) -> Result<(Vec<T>, bool), Problem> {
    let page = read_log(&state.upstream, caller, after, limit)
        .await
        .map_err(|status| Problem::from_status(&status, position))?;
    let full = page.result.len() == usize::from(limit);
    let events = page.result.into_iter().map(T::try_from).collect::<Result<_, _>>()?;
    Ok((events, full))
}

/// Retrieve ticket events.
///
/// Every change of your tickets, in the order to apply them: `ticket.created` (a pending ticket
/// was opened) and `ticket.service-started` (service started; the ticket is now in progress),
/// each with the ticket as the change left it. With `Accept: application/json` (or none): a page
/// of the events after `after`. With `Accept: text/event-stream`: Server-Sent Events — the
/// retained events after `Last-Event-ID` (or `after`), then live ones as they commit (`id`,
/// `event` and `data` lines; a comment every 15 s). A stream ends when your
/// access token expires: reconnect with a new token and `Last-Event-ID`. It counts as one
/// request against your rate limit and quota; at most `GATEWAY_MAX_STREAMS_PER_CLIENT` (10)
/// may be open per client.
#[utoipa::path(
    get,
    path = "/v2/tickets/events",
    tag = super::EVENTS_TAG,
    operation_id = "listTicketEvents",
    params(
        EventQuery,
        ("Last-Event-ID" = Option<i64>, Header, minimum = 0, format = Int64, description = "The id of the last event received (what an event stream's client sends when it reconnects); wins over `after`."),
    ),
    responses(
        (status = 200, description = "A page of events (JSON), or the event stream.", content(
            (TicketEventList = "application/json"),
            (String = "text/event-stream", example = "id: 42\nevent: ticket.created\ndata: {\"id\":42,\"type\":\"ticket.created\",\"occurred_at\":\"2026-12-02T10:00:00Z\",\"ticket\":{}}\n\n"),
        )),
        (status = 400, description = "A query parameter or `Last-Event-ID` is invalid.", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The position is older than the retained log; start again from `after=0`.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests, or too many open streams for this client.", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let stream = wants_stream(&headers);
    // The header of a reconnecting event stream; honoured (and checked) on pages too, so a
    // request means the same whatever it accepts.
    let last_event_id =
        headers.get("last-event-id").map(|value| value.to_str().unwrap_or("\u{fffd}"));
    let params = EventParams::parse(EventQuery::decode(query.as_deref()), last_event_id)?;
    let after = params.after.get();
    let position = (after, if last_event_id.is_some() { "Last-Event-ID" } else { "after" });
    if !stream {
        let (result, _) =
            page::<TicketEvent>(&state, &caller, position, params.limit.get()).await?;
        let query = AppliedEventQuery { after, limit: i32::from(params.limit.get()) };
        return Ok(Json(TicketEventList { query, result }).into_response());
    }
    let Some(slot) = state.feeds.open_stream(&caller.client_id) else {
        let max = state.feeds.settings().max_per_client;
        return Err(Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("At most {max} event streams may be open per client; close one first."),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("5")));
    };
    let (first, full) = page::<Delivered>(&state, &caller, position, PartnerStream::page()).await?;
    let events = PartnerStream::new(state, caller, slot, after, first, full).into_events();
    let mut response = Body::from_stream(events).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(EVENT_STREAM));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies must pass events on as they come.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}
