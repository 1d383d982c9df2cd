//! The HTTP API's wire types, defined once: the server serves them, and the agent, the demo and
//! the tests read them.

pub mod allocation;
pub mod export;
pub mod invoice;
pub mod page;
pub mod party;
pub mod portal;
pub mod problem;
pub mod status;
pub mod usage;

pub use page::Page;
pub use problem::{ErrorCode, PROBLEM_JSON, Problem};
