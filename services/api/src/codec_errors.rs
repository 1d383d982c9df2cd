//! Problem bodies for the answers actix's HTTP/1 codec writes by itself, before a request reaches
//! the application: a request head not received in time (408), one too large (431), one that
//! does not parse (400). The codec writes those with an empty body; this wrapper of the
//! connection's socket recognises such an answer as it is written and writes, instead, the same
//! status with the API's error body, so a client sees one error shape whatever refused it.
//! Answers the application writes always have a body, so they are never touched.

use gpubill_schema::api::{ErrorCode, PROBLEM_JSON, Problem};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose codec-made error answers get the API's JSON error body.
pub struct CodecErrors<T> {
    inner: T,
    /// Bytes of a rewritten answer not yet written to `inner`.
    pending: Vec<u8>,
}

impl<T> CodecErrors<T> {
    pub fn new(inner: T) -> Self {
        CodecErrors {
            inner,
            pending: Vec::new(),
        }
    }
}

/// The code and detail of an empty-bodied codec answer with this status.
fn error_of(status: u16) -> Option<(ErrorCode, &'static str)> {
    match status {
        400 => Some((
            ErrorCode::MalformedRequest,
            "the request is not valid HTTP/1.1",
        )),
        408 => Some((
            ErrorCode::RequestTimeout,
            "the request head was not received in time",
        )),
        431 => Some((
            ErrorCode::RequestHeaderFieldsTooLarge,
            "the request head is larger than 128 KiB",
        )),
        _ => None,
    }
}

/// When `buf` starts with an answer the codec made (one of [`error_of`]'s statuses, with
/// `content-length: 0`), the bytes to write instead, and how many bytes of `buf` they replace.
pub fn rewrite(buf: &[u8]) -> Option<(Vec<u8>, usize)> {
    if !buf.starts_with(b"HTTP/1.1 4") {
        return None;
    }
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let status: u16 = head.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let (code, message) = error_of(status)?;
    let lower = head.to_ascii_lowercase();
    if !lower.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let reason = head
        .lines()
        .next()?
        .get("HTTP/1.1 000 ".len()..)
        .unwrap_or("");
    // Serializing a problem of plain strings cannot fail.
    let body = serde_json::to_string(&Problem::new(code, status, message)).ok()?;
    let answer = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {PROBLEM_JSON}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    Some((answer.into_bytes(), head_end))
}

impl<T: AsyncRead + Unpin> AsyncRead for CodecErrors<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> CodecErrors<T> {
    /// Writes what is pending of a rewritten answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let written = match Pin::new(&mut self.inner).poll_write(cx, &self.pending) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(written)) => written,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            };
            self.pending.drain(..written);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CodecErrors<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.poll_pending(cx)?.is_pending() {
            return Poll::Pending;
        }
        match rewrite(buf) {
            // The rewritten answer stands for the codec's head; it is written from `pending`
            // here and by flush and shutdown, before anything else.
            Some((answer, replaced)) => {
                self.pending = answer;
                let _ = self.poll_pending(cx)?;
                Poll::Ready(Ok(replaced))
            }
            None => Pin::new(&mut self.inner).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.poll_pending(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.poll_pending(cx)?.is_pending() {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codecs_empty_answers_get_the_error_body() {
        let codec = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\ndate: Fri, 04 Dec 2026 18:00:00 GMT\r\n\r\n";
        let (answer, replaced) = rewrite(codec).expect("rewritten");
        assert_eq!(replaced, codec.len());
        let answer = String::from_utf8(answer).expect("text");
        assert!(
            answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{answer}"
        );
        let body = answer.split("\r\n\r\n").nth(1).expect("a body");
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(json["code"], "request_timeout");
        assert_eq!(json["status"], 408);
        assert!(answer.contains(&format!("content-length: {}\r\n", body.len())));
        for status in ["400 Bad Request", "431 Request Header Fields Too Large"] {
            let codec = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
            assert!(rewrite(codec.as_bytes()).is_some(), "{status}");
        }
    }

    #[test]
    fn the_applications_answers_are_left_alone() {
        let app = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 61\r\ncontent-type: application/problem+json\r\n\r\n{\"code\":1}";
        assert!(rewrite(app).is_none());
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(rewrite(ok).is_none());
        assert!(rewrite(b"{\"partial\": \"body\"}").is_none());
    }
}
