//! A SQLite worker that waits between looks at an empty queue.
//!
//! apalis-sqlite 1.0 fetches again as soon as its worker is woken after an empty fetch, and
//! the worker is woken at once, so an idle `gatehouse serve` on SQLite spun a whole core
//! (≈ 400 fetches a second per queue). An earlier fix held the worker's readiness back; that
//! also held back fetches still in flight, which keep a transaction open on the embedded
//! default's one SQLite connection, so every other query waited for the pause.
//!
//! [`QuietPoll`] tells the two apart by who wakes it. The storage is polled with a waker of our
//! own and a worker context of our own (same name, so the jobs it locks are this worker's):
//! a fetch in flight is woken through our waker by the database driver and is polled again at
//! once; after an empty fetch the storage parks that waker in our context, which nobody wakes,
//! so the next look waits for our timer, `every` later. A fetch that returned a task is
//! followed at once by the next (a busy queue is drained without pauses).
use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, Wake, Waker},
    time::Duration,
};

use apalis::prelude::{Backend, WorkerContext};
use apalis_core::backend::{BackendConfig, WireFormatBackend};
use futures::{Sink, SinkExt};

pub struct QuietPoll<B> {
    backend: B,
    every: Duration,
    /// Set when the storage's own waker fired since it last answered `Pending`.
    woken: Arc<Flag>,
    /// Running after an empty answer; the storage is not asked again until it fires (or the
    /// storage's waker does).
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The worker as the storage sees it in `poll_next`: same name, private waker slot.
    quiet: Option<WorkerContext>,
}

impl<B> QuietPoll<B> {
    pub fn new(backend: B, every: Duration) -> Self {
        Self {
            backend,
            every,
            woken: Arc::new(Flag::default()),
            pause: None,
            quiet: None,
        }
    }
}

/// Records that it fired, then wakes the worker's task.
#[derive(Default)]
struct Flag {
    fired: AtomicBool,
    task: std::sync::Mutex<Option<Waker>>,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, Ordering::SeqCst);
        if let Some(w) = self.task.lock().ok().and_then(|w| w.clone()) {
            w.wake();
        }
    }
}

impl<B: Backend> Backend for QuietPoll<B> {
    type Task = B::Task;
    type Error = B::Error;

    fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        self.backend.poll_ready(cx, worker)
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Option<Result<Self::Task, Self::Error>>> {
        if let Some(pause) = self.pause.as_mut() {
            if !self.woken.fired.load(Ordering::SeqCst) && pause.as_mut().poll(cx).is_pending() {
                // Keep the storage's waker pointing at the current task.
                if let Ok(mut w) = self.woken.task.lock() {
                    *w = Some(cx.waker().clone());
                }
                return Poll::Pending;
            }
            self.pause = None;
        }
        if let Ok(mut w) = self.woken.task.lock() {
            *w = Some(cx.waker().clone());
        }
        self.woken.fired.store(false, Ordering::SeqCst);
        let waker = Waker::from(self.woken.clone());
        let quiet = self
            .quiet
            .get_or_insert_with(|| WorkerContext::new(worker.name()));
        let answer = self
            .backend
            .poll_next(&mut Context::from_waker(&waker), quiet);
        if answer.is_pending() {
            // Either a fetch is in flight (the driver will fire our waker) or the queue was
            // empty (nobody will): look again after `every` at the latest.
            let mut pause = Box::pin(tokio::time::sleep(self.every));
            if pause.as_mut().poll(cx).is_ready() {
                cx.waker().wake_by_ref();
            }
            self.pause = Some(pause);
        }
        answer
    }

    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Result<(), Self::Error>> {
        self.backend.poll_close(cx, worker)
    }
}

impl<B: BackendConfig> BackendConfig for QuietPoll<B> {
    type Args = B::Args;
    type Id = B::Id;
    type Kind = B::Kind;
    type Config = B::Config;
    type Layer = B::Layer;

    fn config(&self) -> &Self::Config {
        self.backend.config()
    }

    fn middleware(&mut self, worker: &mut WorkerContext) -> Self::Layer {
        self.backend.middleware(worker)
    }
}

impl<B: WireFormatBackend> WireFormatBackend for QuietPoll<B> {
    type Codec = B::Codec;
    type Compact = B::Compact;

    fn codec(&self) -> &Self::Codec {
        self.backend.codec()
    }
}

impl<B, T> Sink<T> for QuietPoll<B>
where
    B: Sink<T> + Unpin,
{
    type Error = B::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), B::Error>> {
        self.backend.poll_ready_unpin(cx)
    }
    fn start_send(mut self: Pin<&mut Self>, item: T) -> Result<(), B::Error> {
        self.backend.start_send_unpin(item)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), B::Error>> {
        self.backend.poll_flush_unpin(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), B::Error>> {
        self.backend.poll_close_unpin(cx)
    }
}
