//! The pause an idle SQLite worker takes between looks at an empty queue.
//!
//! apalis-sqlite 1.0 parks a worker whose fetch found nothing, but the worker is woken again
//! at once (its poll strategy only adds wake-ups, it never holds one back), so an idle
//! `gatehouse serve` on the embedded default spun a whole core asking SQLite for jobs
//! (measured: ≈ 400 fetches a second per queue, 100 % CPU with nothing to do). PostgreSQL
//! workers wait on LISTEN/NOTIFY and never need this.
//!
//! apalis asks the service whether it is ready before every fetch, so the pause sits there:
//! readiness granted without a job following means the queue was empty, and the next
//! readiness waits out the pause. After a job, readiness is granted at once, so a busy queue
//! drains at full speed; a new job waits at most one pause.
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
    time::Duration,
};

use tower::{Layer, Service};

#[derive(Debug, Clone, Copy)]
pub(crate) struct IdlePauseLayer {
    pause: Duration,
}

impl IdlePauseLayer {
    pub(crate) fn new(pause: Duration) -> Self {
        Self { pause }
    }
}

impl<S> Layer<S> for IdlePauseLayer {
    type Service = IdlePause<S>;

    fn layer(&self, inner: S) -> IdlePause<S> {
        IdlePause {
            inner,
            pause: self.pause,
            granted: false,
            sleep: None,
        }
    }
}

pub(crate) struct IdlePause<S> {
    inner: S,
    pause: Duration,
    /// Readiness was granted and no job has been called since.
    granted: bool,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S: Clone> Clone for IdlePause<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            pause: self.pause,
            granted: false,
            sleep: None,
        }
    }
}

impl<S, R> Service<R> for IdlePause<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        if self.granted && !self.pause.is_zero() {
            let pause = self.pause;
            let sleep = self
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(pause)));
            ready!(sleep.as_mut().poll(cx));
            self.sleep = None;
        }
        ready!(self.inner.poll_ready(cx))?;
        self.granted = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: R) -> Self::Future {
        self.granted = false;
        self.sleep = None;
        self.inner.call(req)
    }
}
