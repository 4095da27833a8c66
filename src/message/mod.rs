//! A message on its way through the proxy: where its bytes are held, how its MIME
//! structure is read, and how what the client receives is rebuilt.
pub mod boundary;
pub mod decode;
pub mod header;
pub mod loose;
pub mod mime;
pub mod precheck;
pub mod rewrite;
pub mod runs;
pub mod spill;
pub mod spool;
