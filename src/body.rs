//! Bodies rebuilt after part of them was read: a classifier that read a bounded response
//! body, a tower skin that read a bounded request body to replay it. What was read comes
//! first, then the rest of the original, so the body reads exactly as it was sent.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};

/// A body: the frames already read, then the rest of the original.
pub(crate) struct Prefixed<B: ?Sized> {
    read: VecDeque<Frame<Bytes>>,
    rest: Pin<Box<B>>,
}

impl<B: HttpBody<Data = Bytes> + ?Sized> HttpBody for Prefixed<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        match this.read.pop_front() {
            Some(frame) => Poll::Ready(Some(Ok(frame))),
            None => this.rest.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.read.is_empty() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let read: u64 = self
            .read
            .iter()
            .filter_map(|f| f.data_ref().map(|d| d.len() as u64))
            .sum();
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower().saturating_add(read));
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper.saturating_add(read));
        }
        hint
    }
}

impl<B: ?Sized> Prefixed<B> {
    pub(crate) fn new(read: VecDeque<Frame<Bytes>>, rest: Pin<Box<B>>) -> Self {
        Prefixed { read, rest }
    }
}

/// A body that fails with the error the original body failed with.
pub(crate) struct Failed<E>(pub(crate) Option<E>);

impl<E: Unpin> HttpBody for Failed<E> {
    type Data = Bytes;
    type Error = E;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, E>>> {
        Poll::Ready(self.0.take().map(Err))
    }
}
