//! Sockets: the accept loop with its connection cap ([`listener`]) and one
//! task pair per connection ([`connection`]) that frames requests and writes
//! responses in request order.

pub mod connection;
pub mod listener;
