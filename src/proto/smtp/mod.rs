//! SMTP (RFC 5321, 2920 PIPELINING, 3207 STARTTLS, 4954 AUTH): the sans-IO codec, the
//! DATA reader, and the driver on the session layer.
pub mod codec;
pub mod data;
pub mod driver;
mod envelope;
pub mod pipeline;
mod relay;
mod submit;

pub use driver::Smtp;
