//! switchyard: one async program, two execution models, chosen at start-up.
//!
//! * `RUNTIME_MODE=single` (the default): a JavaScript-style event loop on one
//!   OS thread — stackless tasks, a timing wheel and epoll. A blocking call stops
//!   everything, as it would in Node.
//! * `RUNTIME_MODE=mn`: a Go-style M:N scheduler — stackful tasks (G) on OS
//!   threads (M) holding processors (P), work stealing, a netpoller and `sysmon`.
//!
//! This crate is a thin facade: everything is re-exported from `compat`, which
//! dispatches each call to the engine chosen at start-up.
//!
//! ```no_run
//! fn main() -> std::io::Result<()> {
//!     switchyard::run(async {
//!         let listener = switchyard::net::TcpListener::bind("127.0.0.1:7000").await?;
//!         loop {
//!             let (mut stream, _) = listener.accept().await?;
//!             switchyard::spawn(async move {
//!                 let mut buf = [0u8; 4096];
//!                 while let Ok(n) = stream.read(&mut buf).await {
//!                     if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
//!                         break;
//!                     }
//!                 }
//!             });
//!         }
//!     })
//! }
//! ```
#![forbid(unsafe_code)]

pub use compat::*;
