//! Files too large to hold in memory, streamed as they are written: an export runs on a blocking
//! thread with a pooled connection and writes into a channel of 64 KiB chunks the response body
//! reads. The channel is bounded, so a slow client slows the export instead of filling memory; a
//! client that goes away ends the export at its next write.
//!
//! The response waits for the first chunk: an export that fails before writing 64 KiB (a bad
//! window, a broken ledger) is answered with its error as any other request. A failure later can
//! only cut the body short: the chunked encoding is then never terminated, so the client sees an
//! incomplete transfer, never a short file that looks whole.

use crate::error::ApiError;
use actix_web::HttpResponse;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION};
use actix_web::web::Bytes;
use diesel::pg::PgConnection;
use gpubill_ledger::LedgerError;
use gpubill_platform::db::{DbError, PgPool};
use std::io::{self, BufWriter, Write};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Bytes buffered before a chunk is sent.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks in flight between the export and the client.
const CHUNKS_IN_FLIGHT: usize = 16;

/// A file to stream: its type, and the name the download gets.
pub struct FileSpec {
    pub content_type: &'static str,
    pub file_name: String,
}

/// Streams what `export` writes as the response body, an attachment named `spec.file_name`,
/// private to the caller.
pub async fn stream_file<F>(
    pool: &PgPool,
    spec: FileSpec,
    export: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(&mut PgConnection, &mut (dyn Write + Send)) -> Result<(), LedgerError>
        + Send
        + 'static,
{
    let (sender, mut receiver) = mpsc::channel::<Result<Bytes, io::Error>>(CHUNKS_IN_FLIGHT);
    let pool = pool.clone();
    let worker = tokio::task::spawn_blocking(move || -> Result<(), ApiError> {
        let mut conn = pool.get().map_err(DbError::from)?;
        let mut out = BufWriter::with_capacity(CHUNK_BYTES, ChannelWriter(sender.clone()));
        let outcome = export(&mut conn, &mut out).and_then(|()| {
            out.flush()
                .map_err(|error| LedgerError::from(gpubill_exports::ExportError::from(error)))
        });
        if let Err(error) = &outcome {
            tracing::error!(error = %error, "export failed while streaming");
            let _ = sender.blocking_send(Err(io::Error::other(error.to_string())));
        }
        outcome.map_err(ApiError::from)
    });
    let first = match receiver.recv().await {
        Some(Ok(chunk)) => Some(chunk),
        // Failed before its first chunk: answer with the error itself.
        Some(Err(_)) | None => {
            worker
                .await
                .map_err(|error| ApiError::Internal(format!("export task: {error}")))??;
            None
        }
    };
    Ok(HttpResponse::Ok()
        .content_type(spec.content_type)
        .insert_header((
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", spec.file_name),
        ))
        .insert_header((CACHE_CONTROL, "private, no-store"))
        .streaming(Chunks {
            first,
            rest: receiver,
        }))
}

/// Sends every write as a chunk, waiting while the channel is full.
struct ChannelWriter(mpsc::Sender<Result<Bytes, io::Error>>);

impl Write for ChannelWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(bytes)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The response body: the first chunk, then the channel until the export ends.
struct Chunks {
    first: Option<Bytes>,
    rest: mpsc::Receiver<Result<Bytes, io::Error>>,
}

impl futures_core::Stream for Chunks {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        self.rest.poll_recv(context)
    }
}
