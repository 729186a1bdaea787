//! Each part as a document: its annotations (auth-url, auth-signin, the
//! response headers), TLS, the sign-in Ingresses and the Traefik
//! Middlewares.

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

use super::{
    ClassRef, Controller, Gen, LEVEL_ANNOTATION, MIDDLEWARES_ANNOTATION, Part, RESPONSE_HEADERS,
    RULE_ANNOTATION, Round, Src, check_url_token, class_ref, dns_label, fit_name, is_browser,
    is_stepup_signin, item_path, keep_items, meant_for_stepup, rename, service_of, tls_entries,
    url_token, with_annotations,
};
use crate::controllers::ingress_nginx::annotations::{Enforcement, auth_of};
use crate::controllers::ingress_nginx::routing::RouteTable;
use crate::coverage::probe_host_of;
use crate::error::InputError;
use crate::ingress::NGINX;
use crate::policy::DENY;

impl<'a> Gen<'a> {
    pub(super) fn auth_base(&self) -> Result<&'a crate::policy::AuthService, InputError> {
        self.policy.auth_service.as_ref().ok_or_else(|| {
            InputError::file(
                &self.policy.file,
                "spec.authService is not set: generate needs its url to write auth-url",
            )
        })
    }

    pub(super) fn render(
        &self,
        s: &Src,
        p: &Part,
        notes: &mut Vec<String>,
    ) -> Result<Value, InputError> {
        let mut v = s.raw.clone();
        if s.skip.is_some() {
            return Ok(v);
        }
        if p.renamed {
            rename(&mut v, &p.name);
        }
        if p.items.len() != s.items.len() || !p.primary || !s.carves.is_empty() {
            keep_items(&mut v, s, p);
        }
        if let Some(l) = &p.level {
            check_url_token(self.policy, "level", &l.name)?;
            self.copy_tls(&mut v, s, p, notes);
        }
        let ns = s.typed.namespace.clone();
        let policy = self.policy;
        let signin_path = policy.auth_service.as_ref().map(|a| a.signin_path.clone());
        let (desired, keep_signin) = self.desired(s, p, notes)?;
        let known: BTreeSet<String> = policy
            .levels
            .iter()
            .map(|l| dns_label(&l.name))
            .chain([DENY.to_string()])
            .collect();
        let controller = self.opts.controller;
        let level = p.level.as_ref().map(|l| l.name.clone());
        with_annotations(&mut v, |a| {
            let mut stale: Vec<String> = vec![LEVEL_ANNOTATION.into(), RULE_ANNOTATION.into()];
            if a.get(&format!("{NGINX}auth-url"))
                .and_then(Value::as_str)
                .is_some_and(|u| meant_for_stepup(u.trim(), policy))
            {
                stale.push(format!("{NGINX}auth-url"));
            }
            if !keep_signin
                && a.get(&format!("{NGINX}auth-signin"))
                    .and_then(Value::as_str)
                    .zip(signin_path.as_deref())
                    .is_some_and(|(v, sp)| is_stepup_signin(v, sp))
            {
                stale.push(format!("{NGINX}auth-signin"));
            }
            if a.get(&format!("{NGINX}auth-response-headers"))
                .and_then(Value::as_str)
                .is_some_and(|h| {
                    h.split(',')
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .all(|x| RESPONSE_HEADERS.iter().any(|r| r.eq_ignore_ascii_case(x)))
                })
            {
                stale.push(format!("{NGINX}auth-response-headers"));
            }
            for k in stale {
                if !desired.iter().any(|(d, _)| *d == k) {
                    a.shift_remove(&k);
                }
            }
            for (k, val) in &desired {
                match a.get_mut(k) {
                    Some(x) => *x = Value::from(val.as_str()),
                    None => {
                        a.insert(k.clone(), Value::from(val.as_str()));
                    }
                }
            }
            // Traefik middleware references.
            let want = match controller {
                Controller::Traefik => {
                    level.map(|l| format!("{ns}-stepup-{}@kubernetescrd", dns_label(&l)))
                }
                Controller::Nginx => None,
            };
            let old = a.get(MIDDLEWARES_ANNOTATION).and_then(Value::as_str);
            if old.is_some() || want.is_some() {
                let prefix = format!("{ns}-stepup-");
                let mut list: Vec<String> = Vec::new();
                for e in old
                    .unwrap_or("")
                    .split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                {
                    let ours = e
                        .strip_prefix(&prefix)
                        .and_then(|r| r.strip_suffix("@kubernetescrd"))
                        .is_some_and(|l| known.contains(l));
                    if (ours && want.as_deref() != Some(e)) || list.iter().any(|x| x == e) {
                        continue;
                    }
                    list.push(e.to_string());
                }
                if let Some(w) = want {
                    if !list.contains(&w) {
                        list.push(w);
                    }
                }
                if list.is_empty() {
                    a.shift_remove(MIDDLEWARES_ANNOTATION);
                } else {
                    let joined = list.join(",");
                    match a.get_mut(MIDDLEWARES_ANNOTATION) {
                        Some(x) => *x = Value::from(joined),
                        None => {
                            a.insert(MIDDLEWARES_ANNOTATION.into(), Value::from(joined));
                        }
                    }
                }
            }
        });
        Ok(v)
    }

    /// The annotations stepup wants on part `p` (key, value), and whether
    /// the Ingress keeps an auth-signin of its own.
    pub(super) fn desired(
        &self,
        s: &Src,
        p: &Part,
        notes: &mut Vec<String>,
    ) -> Result<(Vec<(String, String)>, bool), InputError> {
        let ns = &s.typed.namespace;
        let policy = self.policy;
        let mut desired: Vec<(String, String)> = Vec::new();
        let mut keep_signin = false;
        if let Some(l) = &p.level {
            let base = self.auth_base()?;
            match self.opts.controller {
                Controller::Nginx => {
                    let mut url = format!("{}/auth?level={}", base.url, l.name);
                    if let Some(r) = p.rule.as_deref().filter(|r| url_token(r)) {
                        url.push_str(&format!("&rule={r}"));
                    }
                    // nginx's `$host` in the auth-url (its validator allows
                    // variables; the template expands them in `set $target`):
                    // the host nginx routed on, which X-Original-URL
                    // (`$http_host`) is not for an absolute-form request.
                    url.push_str("&host=$host");
                    desired.push((format!("{NGINX}auth-url"), url));
                    if p.signin {
                        let existing = s
                            .typed
                            .nginx("auth-signin")
                            .filter(|v| !is_stepup_signin(v, &base.signin_path));
                        if let Some(e) = existing {
                            keep_signin = true;
                            notes.push(format!("{ns}/{}: keeps its own auth-signin {e}", p.name));
                        } else {
                            if !base
                                .signin_path
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || "-._~/".contains(c))
                            {
                                return Err(InputError::file(
                                    &policy.file,
                                    format!(
                                        "spec.authService.signinPath {:?} cannot be written into auth-signin (letters, digits and - . _ ~ / only)",
                                        base.signin_path
                                    ),
                                ));
                            }
                            desired.push((
                                format!("{NGINX}auth-signin"),
                                format!(
                                    "https://$host{}/signin?level={}",
                                    base.signin_path, l.name
                                ),
                            ));
                        }
                    }
                    let mut hs: Vec<String> = s
                        .typed
                        .nginx("auth-response-headers")
                        .map(|h| {
                            h.split(',')
                                .map(|x| x.trim().to_string())
                                .filter(|x| !x.is_empty())
                                .collect()
                        })
                        .unwrap_or_default();
                    for h in RESPONSE_HEADERS {
                        if !hs.iter().any(|x| x.eq_ignore_ascii_case(h)) {
                            hs.push(h.to_string());
                        }
                    }
                    desired.push((format!("{NGINX}auth-response-headers"), hs.join(",")));
                }
                Controller::Traefik => {}
            }
            desired.push((LEVEL_ANNOTATION.into(), l.name.clone()));
            if let Some(r) = &p.rule {
                desired.push((RULE_ANNOTATION.into(), r.clone()));
            }
        }
        Ok((desired, keep_signin))
    }

    /// Give a protected part's hosts a TLS entry from another Ingress of the
    /// same namespace when it has none.
    pub(super) fn copy_tls(&self, v: &mut Value, s: &Src, p: &Part, notes: &mut Vec<String>) {
        let hosts: BTreeSet<String> = p
            .items
            .iter()
            .filter_map(|&ii| item_path(s, s.items[ii]))
            .filter_map(|(rule, _, _)| s.typed.rules[rule].host.clone())
            .collect();
        for h in hosts {
            if s.typed
                .tls_hosts
                .iter()
                .any(|t| crate::ingress::tls_covers(t, &h))
            {
                continue;
            }
            let found = self.tls.get(&s.typed.namespace).and_then(|list| {
                list.iter()
                    .find(|(hs, _, _)| hs.iter().any(|t| crate::ingress::tls_covers(t, &h)))
                    .map(|(_, sec, from)| (from.clone(), sec.clone()))
            });
            let key = format!("{}/{}", s.typed.namespace, p.name);
            match found {
                Some((from, secret)) => {
                    if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
                        let tls = spec.entry("tls").or_insert_with(|| json!([]));
                        if !tls.is_array() {
                            *tls = json!([]);
                        }
                        if let Some(a) = tls.as_array_mut() {
                            a.push(json!({"hosts": [h.clone()], "secretName": secret}));
                        }
                        notes.push(format!(
                            "{key}: protected host {h} had no TLS entry; copied Secret {secret} from {from}"
                        ));
                    }
                }
                None => notes.push(format!(
                    "{key}: protected host {h} has no TLS entry: tokens and cookies would cross in clear text; add spec.tls"
                )),
            }
        }
    }

    // === sign-in Ingresses ===

    pub(super) fn signins(
        &self,
        parts: &[Vec<Part>],
        values: &[Vec<Value>],
        tables: &BTreeMap<String, RouteTable>,
        notes: &mut Vec<String>,
    ) -> Result<Vec<Value>, InputError> {
        let needed = parts.iter().flatten().any(|p| p.signin)
            || (self.opts.controller == Controller::Traefik
                && parts.iter().flatten().any(|p| p.level.is_some()));
        if !needed {
            return Ok(Vec::new());
        }
        let base = self.auth_base()?;
        let (svc, ns, port) = service_of(&base.url);
        // (group, host) → (class spec, tls secret)
        let mut want: BTreeMap<(String, Option<String>), (ClassRef, Option<String>)> =
            BTreeMap::new();
        for (si, ps) in parts.iter().enumerate() {
            let s = &self.srcs[si];
            for (pi, p) in ps.iter().enumerate() {
                let browser = match (self.opts.controller, &p.level) {
                    (Controller::Nginx, _) => p.signin,
                    (Controller::Traefik, Some(l)) => l.name != DENY && is_browser(s, p),
                    (Controller::Traefik, None) => false,
                };
                if !browser {
                    continue;
                }
                let group = self.group_of(&s.typed);
                let v = &values[si][pi];
                for &ii in &p.items {
                    let Some((rule, _, _)) = item_path(s, s.items[ii]) else {
                        continue;
                    };
                    let host = s.typed.rules[rule].host.clone();
                    want.entry((group.clone(), host.clone()))
                        .or_insert_with(|| {
                            let secret = host.as_ref().and_then(|h| {
                                tls_entries(v)
                                    .into_iter()
                                    .find(|(hs, _)| {
                                        hs.iter().any(|t| crate::ingress::tls_covers(t, h))
                                    })
                                    .and_then(|(_, s)| s)
                            });
                            (class_ref(&s.raw), secret)
                        });
                }
            }
        }
        let mut out = Vec::new();
        let mut used = BTreeSet::new();
        for ((group, host), (class, secret)) in want {
            let probe = probe_host_of(host.as_deref());
            if let Some(t) = tables.get(&group) {
                let target = format!("{}/signin", base.signin_path);
                let routed = t.route(&probe, target.as_bytes());
                let served = routed.location().is_some_and(|l| {
                    !l.is_default
                        && l.ingress_path.starts_with(&base.signin_path)
                        && l.ingress.and_then(|i| t.ingresses.get(i)).is_some_and(|o| {
                            auth_of(o, Some(self.policy)).enforcement == Enforcement::None
                        })
                });
                if served {
                    continue;
                }
            }
            let stem = match &host {
                Some(h) => h.replace('*', "wildcard").replace('.', "-"),
                None => "catch-all".to_string(),
            };
            let mut name = fit_name(&format!("stepup-signin-{stem}"));
            if used.contains(&name) {
                name = fit_name(&format!("stepup-signin-{stem}-{}", dns_label(&group)));
            }
            if self.keys.contains(&format!("{ns}/{name}")) {
                notes.push(format!(
                    "{ns}/{name} exists but does not route {} on {} to stepup without auth; fix or delete it and generate again",
                    base.signin_path,
                    host.as_deref().unwrap_or("the catch-all server")
                ));
                continue;
            }
            used.insert(name.clone());
            let mut meta = Map::new();
            meta.insert("name".into(), Value::from(name));
            meta.insert("namespace".into(), Value::from(ns.clone()));
            meta.insert(
                "labels".into(),
                json!({"app.kubernetes.io/name": "stepup", "app.kubernetes.io/component": "signin"}),
            );
            let mut spec = Map::new();
            match class {
                ClassRef::Spec(c) => {
                    spec.insert("ingressClassName".into(), Value::from(c));
                }
                ClassRef::Annotation(c) => {
                    meta.insert(
                        "annotations".into(),
                        json!({"kubernetes.io/ingress.class": c}),
                    );
                }
                ClassRef::None => {}
            }
            if let (Some(h), Some(sec)) = (&host, secret) {
                spec.insert("tls".into(), json!([{"hosts": [h], "secretName": sec}]));
            }
            let mut rule = Map::new();
            if let Some(h) = &host {
                rule.insert("host".into(), Value::from(h.as_str()));
            }
            rule.insert(
                "http".into(),
                json!({"paths": [{
                    "path": base.signin_path,
                    "pathType": "Prefix",
                    "backend": {"service": {"name": svc, "port": {"number": port}}}
                }]}),
            );
            spec.insert("rules".into(), Value::Array(vec![Value::Object(rule)]));
            out.push(json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": meta,
                "spec": spec,
            }));
        }
        Ok(out)
    }

    // === output ===

    pub(super) fn middlewares(&self, r: &Round) -> Vec<Value> {
        let Some(base) = self.policy.auth_service.as_ref() else {
            return Vec::new();
        };
        let mut want: BTreeSet<(String, usize, String)> = BTreeSet::new();
        for (si, ps) in r.parts.iter().enumerate() {
            for p in ps {
                if let Some(l) = &p.level {
                    let order = self.level_order(Some(l));
                    want.insert((self.srcs[si].typed.namespace.clone(), order, l.name.clone()));
                }
            }
        }
        want.into_iter()
            .map(|(ns, _, level)| {
                json!({
                    "apiVersion": "traefik.io/v1alpha1",
                    "kind": "Middleware",
                    "metadata": {
                        "name": format!("stepup-{}", dns_label(&level)),
                        "namespace": ns,
                        "labels": {"app.kubernetes.io/name": "stepup"},
                    },
                    "spec": {"forwardAuth": {
                        "address": format!("{}/auth?level={level}", base.url),
                        "authResponseHeaders": RESPONSE_HEADERS,
                    }},
                })
            })
            .collect()
    }
}
