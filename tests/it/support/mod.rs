//! What the tests share: the app on a fresh database ([`TestApp`]), one
//! client for in-process and real-HTTP use ([`Client`]) with the steps users
//! take, the tests' own SQL handle ([`Sql`]) and the forms and pages.

mod app;
mod client;
mod clock;
mod db;
mod forms;
pub mod process;
mod receiver;
pub mod routes;
mod smtp;
pub mod testdb;

pub use app::{PASSWORD, Persona, TestApp};
pub use client::{Auth, Client, Grace, Role, Route, TestResponse};
pub use db::Sql;
pub use forms::*;
pub use receiver::{Receiver, free_port};
pub use smtp::{Smtp, code_in, header};
