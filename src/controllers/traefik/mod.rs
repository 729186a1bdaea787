//! Traefik v3 (traefik/traefik). Modelled so far: how its forwardAuth
//! middleware tells the auth service the original request
//! ([`forward_auth`]). Its routing (the Kubernetes Ingress, IngressRoute
//! and ingress-nginx providers) is issue 18's next part and not modelled
//! yet: `lint`, `simulate` and the other commands model ingress-nginx only.

pub mod forward_auth;
