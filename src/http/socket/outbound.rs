//! The writer: the one owner of the WebSocket's sending half, which also
//! closes the socket when asked to.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_channel::mpsc::Receiver;
use futures_util::SinkExt as _;
use futures_util::StreamExt as _;
use futures_util::stream::SplitSink;

use super::{Ending, Out};
use crate::live::{Close, SocketHandle};

/// How long one frame may take to reach a client before the socket counts
/// as too slow.
const WRITE_STALL: Duration = Duration::from_secs(30);
/// How long the closing frame may take to go out: behind what a slow
/// client has not read yet, so that it learns why (1013: retry).
const CLOSE_WRITE: Duration = Duration::from_secs(10);

/// The writer of one socket.
pub(super) struct Writer<'c> {
    pub sink: &'c mut SplitSink<WebSocket, Message>,
    pub queue: &'c mut Receiver<Out>,
    pub handle: &'c SocketHandle,
    /// Set by the gate at `connection_init`; unset at `init_timeout`, the
    /// socket closes (4408).
    pub initialised: &'c AtomicBool,
    pub init_timeout: Duration,
}

impl Writer<'_> {
    /// Sends what is queued until the socket closes: the ending written,
    /// or `None` when the client went away or closed it.
    pub async fn run(self) -> Option<Ending> {
        let closed = self.handle.closed();
        tokio::pin!(closed);
        let init_deadline = tokio::time::sleep(self.init_timeout);
        tokio::pin!(init_deadline);
        let mut awaiting_init = true;
        loop {
            let out = tokio::select! {
                biased;
                why = &mut closed => return Some(close(self.sink, Ending::from(why)).await),
                () = &mut init_deadline, if awaiting_init => {
                    awaiting_init = false;
                    if !self.initialised.load(Ordering::Relaxed) {
                        self.handle.close(Close::INIT_TIMEOUT);
                    }
                    continue;
                }
                out = self.queue.next() => out,
            };
            let text = match out {
                Some(Out::Text(text)) => text,
                Some(Out::Close(ending)) => return Some(close(self.sink, *ending).await),
                None => {
                    // The client closed or went: answer its close, if any.
                    let _ = tokio::time::timeout(CLOSE_WRITE, self.sink.close()).await;
                    return None;
                }
            };
            let sent = tokio::select! {
                biased;
                why = &mut closed => return Some(close(self.sink, Ending::from(why)).await),
                sent = tokio::time::timeout(WRITE_STALL, self.sink.send(Message::Text(text))) => sent,
            };
            match sent {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return None,
                Err(_) => return Some(close(self.sink, Ending::from(Close::TOO_SLOW)).await),
            }
        }
    }
}

/// Writes the closing frame (never waiting long for a client that does not
/// read); answers `ending`.
async fn close(sink: &mut SplitSink<WebSocket, Message>, ending: Ending) -> Ending {
    let frame = CloseFrame {
        code: ending.code,
        reason: ending.reason.as_ref().into(),
    };
    let _ = tokio::time::timeout(CLOSE_WRITE, sink.send(Message::Close(Some(frame)))).await;
    ending
}
