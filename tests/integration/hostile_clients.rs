//! What hostile and concurrent clients broke (issue 11): a WASI command's
//! stdin, the end of an input fed by several writers, the WebSocket Close
//! code, the hub log replay, empty and lower-case tokens, artifacts served
//! as pages of the hub's origin, requeueing jobs whose package is gone, and
//! big jobs (paged task lists, rows written in batches).

mod hub;
mod input;
mod jobs;
