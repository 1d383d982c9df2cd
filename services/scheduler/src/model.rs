//! The allocation types the scheduler takes and returns are the API's wire types
//! (`gpubill_schema::api::allocation`): defined once, read by the agent too.

pub use gpubill_schema::api::allocation::*;
