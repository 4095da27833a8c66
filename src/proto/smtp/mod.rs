//! SMTP (RFC 5321, 2920 PIPELINING, 3207 STARTTLS, 4954 AUTH): the sans-IO codec and the
//! session driver.
pub mod codec;
pub mod data;
pub mod session;
