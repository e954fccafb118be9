//! Live updates for the panel: one server-sent-events stream instead of polling.
//!
//! The supervisor already samples the whole cluster every `history::INTERVAL` for the
//! charts; the stream pushes that same snapshot (`cluster` events, the GET /api/cluster
//! shape) as soon as it is taken, new supervisor events as they are logged (`event`),
//! and the running operation's progress every second while it changes (`op`). A stream
//! costs no extra round trips to the nodes, however many browsers watch. Browsers
//! reconnect by themselves (EventSource); a `retry` hint sets the delay.

use crate::supervisor::Supervisor;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// How often a stream looks for news (snapshots, events, progress).
const TICK: Duration = Duration::from_secs(1);
/// Reconnect delay suggested to browsers.
const RETRY: Duration = Duration::from_secs(2);

/// The receiving end of a stream's channel, as the `Stream` axum's SSE body reads.
struct Feed(mpsc::Receiver<Event>);

impl futures_core::Stream for Feed {
    type Item = Result<Event, Infallible>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|e| e.map(Ok))
    }
}

/// GET /api/stream: `cluster`, `event` and `op` events until the browser goes away.
pub async fn stream(State(sup): State<Arc<Supervisor>>) -> Response {
    let (tx, rx) = mpsc::channel::<Event>(32);
    tokio::spawn(async move {
        let mut sent_snapshot = 0u64;
        // Events logged before the page opened are fetched by GET /api/events.
        let mut sent_events = sup.events_logged();
        let mut last_op = String::new();
        let first = Event::default().retry(RETRY).comment("rubra live");
        if tx.send(first).await.is_err() {
            return;
        }
        loop {
            let mut out = Vec::new();
            if let Some((seq, snap)) = sup.latest_snapshot().filter(|(s, _)| *s != sent_snapshot) {
                sent_snapshot = seq;
                let body = crate::api::cluster_json(&sup, &snap);
                out.extend(Event::default().event("cluster").json_data(body).ok());
            }
            let (total, fresh) = sup.events_after(sent_events);
            sent_events = total;
            for e in fresh {
                out.extend(Event::default().event("event").json_data(e).ok());
            }
            let op = serde_json::to_string(&crate::api::running_op(&sup)).unwrap_or_default();
            if op != last_op {
                out.push(Event::default().event("op").data(op.clone()));
                last_op = op;
            }
            for e in out {
                if tx.send(e).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(TICK) => {}
                _ = tx.closed() => return,
            }
        }
    });
    Sse::new(Feed(rx))
        .keep_alive(KeepAlive::default())
        .into_response()
}
