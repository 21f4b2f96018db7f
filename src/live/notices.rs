//! One subscription's queue of notices, from the hub to its stream: a
//! locked `VecDeque` and a waker. A tokio channel would do the same, but
//! each one sets aside a block of 32 slots and cache-padded counters, about
//! 0.9 KiB, and ten thousand sockets hold twenty thousand subscriptions;
//! this one holds room only for what waits, and gives a burst's back once
//! it is drained.
//!
//! Closing is under the lock that pushing takes, so once [`Receiver::close`]
//! returned, nothing more is queued and every notice taken out by it was
//! counted by the caller.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

struct Shared<T> {
    state: Mutex<State<T>>,
    waker: AtomicWaker,
}

struct State<T> {
    items: VecDeque<T>,
    closed: bool,
}

/// Room kept once the queue is empty again; a burst's is given back.
const KEPT: usize = 4;

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Nothing panics while holding it; recover rather than stop delivering.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pop(&self) -> Option<T> {
        let mut state = self.lock();
        let item = state.items.pop_front();
        if state.items.is_empty() && state.items.capacity() > KEPT {
            state.items = VecDeque::new();
        }
        item
    }
}

/// The hub's end.
pub struct Sender<T>(Arc<Shared<T>>);

/// The stream's end.
pub struct Receiver<T>(Arc<Shared<T>>);

pub fn queue<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            closed: false,
        }),
        waker: AtomicWaker::new(),
    });
    (Sender(shared.clone()), Receiver(shared))
}

impl<T> Sender<T> {
    /// Queues `item` and wakes the stream; hands it back once the receiver
    /// closed.
    pub fn send(&self, item: T) -> Result<(), T> {
        {
            let mut state = self.0.lock();
            if state.closed {
                return Err(item);
            }
            state.items.push_back(item);
        }
        self.0.waker.wake();
        Ok(())
    }
}

impl<T> Receiver<T> {
    /// The next item, or `Pending` until one is sent.
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<T> {
        if let Some(item) = self.0.pop() {
            return Poll::Ready(item);
        }
        self.0.waker.register(cx.waker());
        // Sent between the first look and the registration: not lost.
        match self.0.pop() {
            Some(item) => Poll::Ready(item),
            None => Poll::Pending,
        }
    }

    /// Refuses what is sent from now on; answers what was waiting.
    pub fn close(&self) -> VecDeque<T> {
        let mut state = self.0.lock();
        state.closed = true;
        std::mem::take(&mut state.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::task::noop_waker_ref;

    #[test]
    fn items_come_in_order_and_a_closed_queue_refuses_and_hands_back() {
        let (tx, rx) = queue();
        let mut cx = Context::from_waker(noop_waker_ref());
        assert!(rx.poll_recv(&mut cx).is_pending());
        tx.send(1).unwrap();
        tx.send(2).unwrap();
        tx.send(3).unwrap();
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(1));
        let waiting: Vec<_> = rx.close().into_iter().collect();
        assert_eq!(waiting, [2, 3]);
        assert_eq!(tx.send(4), Err(4));
        assert!(rx.poll_recv(&mut cx).is_pending());
    }

    #[test]
    fn a_drained_burst_gives_its_room_back() {
        let (tx, rx) = queue();
        let mut cx = Context::from_waker(noop_waker_ref());
        for i in 0..100 {
            tx.send(i).unwrap();
        }
        for i in 0..100 {
            assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(i));
        }
        assert_eq!(rx.0.lock().items.capacity(), 0);
    }

    #[tokio::test]
    async fn a_send_wakes_the_waiting_stream() {
        let (tx, rx) = queue();
        let waiting =
            tokio::spawn(async move { std::future::poll_fn(|cx| rx.poll_recv(cx)).await });
        tokio::task::yield_now().await;
        tx.send("x").unwrap();
        assert_eq!(waiting.await.unwrap(), "x");
    }
}
