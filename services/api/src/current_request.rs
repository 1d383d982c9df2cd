//! The id of the request whose future is running, set by the envelope around each request and
//! read where an answer is made (an error names it as its `instance`), without passing it down.

use std::future::Future;
use uuid::Uuid;

tokio::task_local! {
    static CURRENT_REQUEST: Uuid;
}

/// Runs `future` as the request `id`.
pub async fn scope<F: Future>(id: Uuid, future: F) -> F::Output {
    CURRENT_REQUEST.scope(id, future).await
}

/// The id of the request being served, inside [`scope`].
pub fn id() -> Option<Uuid> {
    CURRENT_REQUEST.try_with(|id| *id).ok()
}
