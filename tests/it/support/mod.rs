//! What the tests share: the app on a fresh database ([`TestApp`]), one
//! client for in-process and real-HTTP use ([`Client`]) with the steps users
//! take, the tests' own SQL handle ([`Sql`]) and the forms and pages.

mod app;
mod client;
mod clock;
mod db;
mod forms;
pub mod testdb;

pub use app::{PASSWORD, Persona, TestApp};
pub use client::{Auth, Client, Grace, Request, Role, Route, TestResponse};
pub use db::{Arg, Sql};
pub use forms::*;
