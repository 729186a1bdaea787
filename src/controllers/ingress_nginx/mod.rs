//! ingress-nginx v1.15.1: how its controller turns Ingresses, IngressClasses
//! and its ConfigMap into nginx servers and locations, and how nginx then
//! picks one for a request ([`routing`], docs/routing.md); and the auth
//! annotations as its `authreq`/`auth-tls` parsers and `nginx.tmpl` read
//! them ([`annotations`]); and how its auth subrequest tells `/auth` the
//! original request ([`subrequest`]). Each function cites the file and
//! function of the controller (or of nginx) it follows.

pub mod annotations;
pub mod routing;
pub mod subrequest;
