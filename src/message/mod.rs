//! A message on its way through the proxy: where its bytes are held, how its MIME
//! structure is read, and how what the client receives is rebuilt.
pub mod mime;
pub mod precheck;
pub mod rewrite;
pub mod spool;
