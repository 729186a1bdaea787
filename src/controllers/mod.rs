//! One folder per controller family: what that controller does with the
//! cluster's objects, read from its own code and cited there.
//!
//! A controller module owns reading its objects (and its own settings) into
//! routes, the enforcement on each route, and the lint rules about its own
//! annotations. The policy, the findings and the renderers name no
//! controller; a module here may use them, never the other way round
//! (`tests/architecture.rs` fails on a cycle). A new controller family is a
//! new folder beside these.
//!
//! - [`ingress_nginx`]: kubernetes/ingress-nginx v1.15.1 (its last release)
//!   rendering nginx.conf, and nginx's own request handling.
//! - [`traefik`]: Traefik v3; so far only how its forwardAuth passes the
//!   original request to `/auth`.
//! - [`headers`]: what every controller's auth subrequest reader returns.

pub mod headers;
pub mod ingress_nginx;
pub mod traefik;
