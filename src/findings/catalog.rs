//! The rule catalog: every rule's stable ID, name, default severity,
//! summary and `stepup explain` text, in ID order.

use super::{RuleInfo, Severity};

/// Every rule, in ID order.
pub(super) const RULES: &[RuleInfo] = &[
    RuleInfo {
        id: "SU001",
        name: "no-auth",
        severity: Severity::Error,
        summary: "a route the policy (or a sensitive-route heuristic) protects has no auth at all",
        explain: "A request to this host and path reaches its backend without any authentication, although \
the policy requires a login (or the path looks sensitive: /admin, /actuator, /metrics, a Grafana host, \
and so on). ingress-nginx applies auth annotations per Ingress object, so the route is open unless the \
Ingress that actually serves it carries them.\n\nWhy it matters: exposed admin consoles, actuator and \
debug endpoints are among the most common causes of cloud breaches (for instance Spring Boot /actuator/env \
and /heapdump leaking secrets).\n\nFix: run `stepup generate -p POLICY FILE` and apply its output, or add \
the stepup auth-url annotations for the rule's level to the Ingress that serves the path.",
    },
    RuleInfo {
        id: "SU002",
        name: "weak-level",
        severity: Severity::Error,
        summary: "the level in stepup's auth-url does not satisfy the policy rule's level, or one Ingress mixes levels",
        explain: "The Ingress's auth-url names a level weaker than the one the policy requires for this \
path (the level order: a level satisfies another when its acr set is a subset, each amr alternative a \
superset of one of the other's, its maxAge shorter and its required claims stricter). stepup's runtime \
still checks the stricter of the two, but the sign-in flow asks the IdP for the weaker level, so users \
loop or get 403s. The warning variant means one Ingress holds paths of different levels: an auth \
annotation covers every path of its Ingress, so they cannot all be right.\n\nFix: `stepup generate \
--split` writes one Ingress per level with the matching auth-url.",
    },
    RuleInfo {
        id: "SU003",
        name: "foreign-or-malformed-auth-url",
        severity: Severity::Error,
        summary: "auth-url is not stepup (cannot enforce step-up; warning) or is malformed / rejected by ingress-nginx's validation (error)",
        explain: "An auth-url that points to another service (oauth2-proxy, a custom check) can only say \
yes or no to a login; it does not know stepup's levels, so acr, amr, maxAge and claim requirements are not \
enforced. An auth-url with characters ingress-nginx's annotation validation rejects (anything but \
letters, digits and `- . _ ~ / : , ? & = $` and space; `%`, `#`, `;`, quotes and braces are rejected) makes \
the controller refuse the Ingress; CVE-2025-24514 was a configuration injection through exactly this \
annotation. A stepup auth-url without `level=`, or with a level the policy does not define, fails closed \
at runtime, as does one that names `level`, `rule` or `host` twice or empty, or a `rule=` the policy does \
not have.\n\nOnly `spec.authService.url` is stepup (its host spelt `name.ns`, `name.ns.svc` or \
`name.ns.svc.cluster.local`, same scheme and port, its path plus `/auth`); a `.../auth?level=` URL \
anywhere else is an impersonation and an error. An nginx variable in the host, port, path or query \
(other than `host=$host`) lets whoever sends the request choose the auth server, the endpoint or the \
level: an error. Without `host=$host` (a warning) `/auth` judges the Host header the client sent, \
which an absolute-form request line makes differ from the host nginx routed on.\n\nFix: use \
`stepup generate` to write the auth-url.",
    },
    RuleInfo {
        id: "SU004",
        name: "auth-url-plain-http-external",
        severity: Severity::Error,
        summary: "auth-url uses plain http to a host outside the cluster",
        explain: "ingress-nginx forwards the request's Authorization header and cookies to the auth-url. \
Over plain http to a host outside the cluster (anything that is not a Service name or *.svc / \
*.cluster.local, including `$host`), bearer tokens and session cookies cross the network unencrypted \
and the answer can be forged.\n\nFix: point auth-url at the in-cluster Service \
(http://stepup.stepup-system.svc.cluster.local:8080/auth?...) or use https.",
    },
    RuleInfo {
        id: "SU005",
        name: "no-signin",
        severity: Severity::Warning,
        summary: "a protected browser route has no auth-signin (users get a bare 401)",
        explain: "Without auth-signin, ingress-nginx returns stepup's 401 to the browser, which shows an \
error instead of sending the user to sign in (or to step up). API hosts and /api paths are exempt: API \
clients should get the RFC 9470 401.\n\nFix: add `nginx.ingress.kubernetes.io/auth-signin: \
https://$host/.stepup/signin?level=<level>` (`stepup generate` does).",
    },
    RuleInfo {
        id: "SU006",
        name: "shadowed",
        severity: Severity::Error,
        summary: "a protected path is reachable on the same host through another Ingress with weaker or no auth",
        explain: "ingress-nginx merges every Ingress of a host into one server, and picks the location by \
nginx's rules: an exact match, else the longest prefix, with the oldest Ingress winning a duplicate \
host+path. Auth annotations stay with the Ingress that wrote them. So a second Ingress on the same host \
with a longer prefix (/admin/reports under a protected /admin), an older duplicate, a regex-mode path, a \
host-less rule or a defaultBackend can serve part of a protected area without auth. The maintainers' \
own advice for exempting a path from auth is exactly this two-Ingress trick, which is why it is easy to \
do by accident.\n\nFix: protect the shadowing Ingress with the same level, or remove the overlapping \
path. `stepup simulate -v` shows which location serves a request.",
    },
    RuleInfo {
        id: "SU007",
        name: "prefix-leak",
        severity: Severity::Warning,
        summary: "a regex-mode location is an unanchored prefix: /admin also matches /adminx",
        explain: "On a host in regex mode every location is written `location ~* \"^/admin\"`, with no end \
anchor, so /admin also matches /adminx, /admin.bak and /administrator — and Exact paths become prefixes \
too. Routes the policy treats differently can end up behind the wrong auth.\n\nFix: end the path with \
`/` or `(/|$)`, or remove use-regex/rewrite-target from the host.",
    },
    RuleInfo {
        id: "SU008",
        name: "regex-case-folding",
        severity: Severity::Warning,
        summary: "a protected host is in regex mode: its paths match case-insensitively",
        explain: "One Ingress with `use-regex: \"true\"` or a rewrite-target turns every location of its \
host into a case-insensitive regex (kubernetes/ingress-nginx#11397), including other teams' Ingresses. \
/ADMIN then reaches the /admin location; a backend that treats paths case-sensitively and a policy \
written for /admin no longer agree. stepup matches rules case-insensitively on such hosts, but other \
tools and reviewers do not.\n\nFix: keep regex paths on their own host, or avoid use-regex.",
    },
    RuleInfo {
        id: "SU009",
        name: "snippet",
        severity: Severity::Error,
        summary: "a *-snippet annotation",
        explain: "Snippet annotations (configuration-snippet, server-snippet, auth-snippet, …) inject raw \
nginx configuration. They are rated Critical by ingress-nginx, rejected unless \
allow-snippet-annotations is on, and were the vector of CVE-2021-25742 (reading every Secret through \
the controller's service account) and CVE-2023-5043. A snippet can also bypass or rewrite auth.\n\nFix: \
remove it; express the need with regular annotations.",
    },
    RuleInfo {
        id: "SU010",
        name: "annotation-injection",
        severity: Severity::Error,
        summary: "an annotation value contains nginx configuration injection characters or words",
        explain: "ingress-nginx renders annotation values into nginx.conf. Braces, semicolons, quotes, \
newlines or words like `load_module`, `_by_lua`, `proxy_pass`, `ssl_engine` or `/var/run/secrets` in a \
value are the shape of the injections behind CVE-2021-25746, CVE-2023-5044, CVE-2025-24514, \
CVE-2025-1097/1098 and IngressNightmare (CVE-2025-1974).\n\nFix: remove the characters; if the value is \
legitimate, suppress with a reason.",
    },
    RuleInfo {
        id: "SU011",
        name: "canary-auth",
        severity: Severity::Warning,
        summary: "auth annotations on a canary Ingress (the controller ignores them)",
        explain: "ingress-nginx builds no locations from a canary Ingress and ignores its non-canary \
annotations: traffic it receives is governed by the main Ingress's annotations. Auth annotations here \
suggest a belief that they protect something; they do not.\n\nFix: put the auth annotations on the main \
Ingress.",
    },
    RuleInfo {
        id: "SU012",
        name: "auth-cache",
        severity: Severity::Error,
        summary: "auth-cache-key omits the path, or auth-cache-duration caches 401",
        explain: "ingress-nginx can cache auth answers by auth-cache-key. A key without $request_uri (or \
$uri) shares one answer across paths of different levels; caching 401 keeps a user challenged after they \
stepped up. Both break step-up.\n\nFix: include $request_uri and the credential in the key (for example \
`$remote_user$http_authorization$cookie___Host-stepup$request_uri`) and cache only 200/202.",
    },
    RuleInfo {
        id: "SU013",
        name: "no-tls",
        severity: Severity::Error,
        summary: "a protected host has no TLS section",
        explain: "Bearer tokens and session cookies cross the network with every request to a protected \
host; stepup's cookie is `__Host-` prefixed and `Secure`, so browsers will not even send it over plain \
http. The Ingress names the host in no `spec.tls` entry.\n\nFix: add a tls section (cert-manager can \
issue the certificate). If TLS ends in front of the cluster, suppress with that reason.",
    },
    RuleInfo {
        id: "SU014",
        name: "auth-opt-out",
        severity: Severity::Error,
        summary: "enable-global-auth: \"false\", or satisfy: any with an allowlist, on a sensitive route",
        explain: "`enable-global-auth: \"false\"` (read with Go's `strconv.ParseBool`, so `False`, `0` and \
`f` too) opts an Ingress without its own auth-url out of the controller's `global-auth-url` \
(annotations/authreqglobal, template.go `shouldApplyGlobalAuth`). stepup judges it per location, with \
every path the location serves (a `Prefix /` serves /admin/** unless another location does), and \
names the global-auth-url when the controller's ConfigMap is given (`--controller-config` or the \
policy's `spec.controller`); without one it says none is modelled. `satisfy: any` lets a request in \
when it passes EITHER the auth check OR the source allowlist, so anyone inside the allowlisted range \
skips step-up.\n\nFix: remove the opt-out, or use `satisfy: all`.",
    },
    RuleInfo {
        id: "SU015",
        name: "wrong-controller",
        severity: Severity::Warning,
        summary: "annotations for another controller, or auth annotations on an Ingress no modelled controller serves",
        explain: "`nginx.org/*` and `nginx.com/*` belong to F5's NGINX Ingress Controller and are silently \
ignored by ingress-nginx; ingress-nginx's auth annotations on an Ingress of another class are ignored by \
ingress-nginx too. Either way the intended protection is not in force.\n\nFix: use \
`nginx.ingress.kubernetes.io/*` on an Ingress ingress-nginx serves, or lint with --ingress-class.",
    },
    RuleInfo {
        id: "SU016",
        name: "signin-route",
        severity: Severity::Error,
        summary: "the sign-in path is protected itself (redirect loop) or missing on a host with auth-signin",
        explain: "auth-signin sends browsers to <signinPath> on the application's own host, so that host \
needs an Ingress routing <signinPath> to stepup without auth. If that path is behind auth, the sign-in \
page redirects to itself; if no Ingress routes it, the application receives the sign-in request.\n\nFix: \
`stepup generate` writes the sign-in Ingress per host (in stepup's namespace).",
    },
    RuleInfo {
        id: "SU017",
        name: "bad-suppression",
        severity: Severity::Warning,
        summary: "a stepup.dev/ignore entry without a reason, with an unknown rule, or for an error no policy grant covers",
        explain: "Suppressions document why a finding is acceptable. `stepup.dev/ignore` takes entries like \
`SU013: TLS ends at the load balancer`, separated by commas. An entry without a reason, or for an unknown \
rule, is reported and suppresses nothing. Suppressing an error is the platform's decision, not the \
Ingress author's: admission honours it only where a grant under the policy's spec.exemptions covers the \
Ingress and the rule (and has not expired); lint honours it but reports each one no grant covers.\n\nFix: \
add the reason; for an error, fix it or have the policy's owners add a grant.",
    },
    RuleInfo {
        id: "SU018",
        name: "rewrite-escalation",
        severity: Severity::Error,
        summary: "a rewrite-target sends requests to a backend path a stricter policy rule protects",
        explain: "With `nginx.ingress.kubernetes.io/rewrite-target`, ingress-nginx writes `rewrite \
\"(?i)<path>\" <target> break;` into the location: the backend receives the target, with the path \
regex's capture groups ($1, $2, ...) substituted, not the path the client asked for. Auth is checked \
for the request path and the Ingress's auth-url level, so `/reports(/|$)(.*)` at level authenticated \
with `rewrite-target: /admin/$2` serves the backend's /admin/... to a password login. stepup bounds \
where the rewrite can land by the target's literal start (up to the first `$`; the whole target when \
it has none; captures the path regex does not have are empty) and reports an error when a policy \
rule there is stricter than the level the Ingress gives the request: for an exact target, the rule \
the policy picks for it under any method; for a prefix, any rule that can match a path under it, \
whatever the rule order or methods (fail closed: `/$2` can reach every rule of the host). `app-root` (a redirect) and `x-forwarded-prefix` (a \
header) do not change the upstream path and are not checked.\n\nFix: give the Ingress the stricter \
level (`stepup generate --split` puts it on its own Ingress), or rewrite to a path no stricter rule \
covers.",
    },
    RuleInfo {
        id: "SU019",
        name: "dropped-by-controller",
        severity: Severity::Error,
        summary: "ingress-nginx drops this Ingress before routing (risky or invalid annotation, blocklisted word, deep inspection, --disable-catch-all)",
        explain: "ingress-nginx checks every Ingress of its class before it routes anything, and drops one \
that fails: an annotation riskier than the ConfigMap's `annotations-risk-level` (default High; every \
`*-snippet` is Critical, so a snippet drops the Ingress under the defaults), a value its validator \
rejects (with `--enable-annotation-validation`, the default: e.g. `%`, `#`, `;` or `@` in auth-url, \
`#` in permanent-redirect, `True ` with a space in a boolean of a parser that returns the error), a \
word of `annotation-value-word-blocklist` in a value, a path with `alias ...;`, `root ...;`, \
`/etc/passwd` or `_by_lua` (`--deep-inspect`), or a `defaultBackend` under `--disable-catch-all` \
(store.go syncIngress and its informer, annotations.go Extract, parser/validators.go). A dropped \
Ingress builds no location: its paths fall to whatever else serves them on the host (another \
Ingress, the root of the server, the default backend), with that one's auth or none, and its own auth \
annotations protect nothing. If it is an update of an Ingress already in the cluster, the previous \
version stays live, since the controller keeps the last good one (for --disable-catch-all it deletes \
the old one instead), so what runs is not what the manifest says.\n\nWhy it matters: the \
controller only logs it (`skipping ingress`, `annotation group ... contains risky annotation`, \
`... contains invalid value`), `kubectl apply` succeeds unless its own webhook is installed, and a \
review of the manifest sees auth that is not in force.\n\nFix: remove the risky annotation or \
the offending characters (stepup's message quotes the controller's reason), or have the platform \
change the controller setting; `stepup generate` writes annotations the controller accepts.",
    },
    RuleInfo {
        id: "SU020",
        name: "changed-by-controller",
        severity: Severity::Warning,
        summary: "ingress-nginx ignores or changes annotations of this Ingress, or answers 503 on all its locations",
        explain: "ingress-nginx serves the Ingress but not as written: an annotation under the default \
prefix while the controller runs with another `--annotations-prefix` is never read; a value a parser \
rejects falls back to its default (`use-regex: yes` is false, `satisfy: ANY` is ignored, an invalid \
`rewrite-target` is empty); some errors discard a parser's whole result (an invalid \
`auth-always-set-cookie`, `auth-request-redirect` or `auth-cache-duration` removes the auth-url, so \
the locations are served without that auth); snippets are removed when `allow-snippet-annotations` \
is false; and some errors deny every location of the Ingress with a 503 (an auth-url that is not a \
URL, an invalid auth-method, auth-type without auth-secret, an invalid allowlist) \
(annotations/annotations.go Extract, the parsers' Parse, controller.go dropSnippetDirectives). stepup \
routes and judges the Ingress as the controller uses it; this finding says what differs from the \
manifest.\n\nFix: correct or remove the annotations named.",
    },
    RuleInfo {
        id: "SU021",
        name: "no-auth-location",
        severity: Severity::Warning,
        summary: "the controller's no-auth-locations turns off this location's auth",
        explain: "ingress-nginx's ConfigMap key `no-auth-locations` (default `/.well-known/acme-challenge`) \
lists path prefixes that get no auth: for a location whose path starts with an entry (a plain string \
prefix test, `template.go` `isLocationInLocationList`), nginx.tmpl renders neither `auth_request` nor \
basic auth, whatever the Ingress's annotations say. So `/.well-known/acme-challenge-admin` or, with an \
entry `/public`, `/publications/admin` is served without auth.\n\nFix: move the path out from under \
the entry, or narrow the entry in the controller's ConfigMap (lint with --controller-config to check).",
    },
    RuleInfo {
        id: "SU022",
        name: "canary-service",
        severity: Severity::Warning,
        summary: "a canary shares a Service with another Ingress: it builds real locations, or swallows the other's paths",
        explain: "ingress-nginx creates one upstream per Service port, for the first Ingress (oldest first) \
that uses it (`controller.go` `createUpstreams`); a canary's upstream is marked `NoServer`. A canary whose \
Service an older Ingress already uses therefore gets ordinary locations with the canary's own annotations \
(`getBackendServers`), and an Ingress newer than a canary with the same Service gets no location for its \
paths to it, so those requests fall to whatever else matches. Either way the auth in force is not the \
one the primary Ingress states.\n\nFix: give each canary a Service of its own, as ingress-nginx's \
canary documentation requires.",
    },
    RuleInfo {
        id: "SU023",
        name: "input-error",
        severity: Severity::Error,
        summary: "a file or object cannot be read (or no Ingress was found at all): it was not linted",
        explain: "A YAML/JSON syntax error, a file that cannot be read, an Ingress that the API server \
would reject (a pathType other than Exact, Prefix or ImplementationSpecific, a relative path, an \
invalid host, an unquoted annotation value) or an input holding no Ingress at all. stepup reads \
everything else and lints it, reports each such problem once with its file and line, and exits 2: \
a report on part of the input must not pass as a clean one. A file holding `{{` is probably a Helm \
template, which is not a manifest until it is rendered.\n\nFix: correct the object, or render \
templates first (`helm template RELEASE CHART | stepup lint -p POLICY -`). Pass --allow-empty when an \
input without Ingresses is expected.",
    },
    RuleInfo {
        id: "SU024",
        name: "duplicate-name",
        severity: Severity::Error,
        summary: "an Ingress namespace/name is defined again: only one can exist in a cluster, the later one is not modelled",
        explain: "Two manifests define the same Ingress namespace and name. Applied to one cluster, the \
later replaces the earlier, so the two can never be served side by side; stepup models the first and \
reports the second, whose routes are not checked. In a repository this is usually one of: overlays of \
a kustomize tree (each overlay patches the same base object), examples that reuse a name, or \
several environments in one directory.\n\nFix: lint what is applied. For a kustomize tree, `kubectl \
kustomize DIR | stepup lint -p POLICY -` (the message names the DIR); for independent examples or \
environments, `stepup lint --each-file` makes each file its own cluster.",
    },
    RuleInfo {
        id: "SU025",
        name: "class-not-served",
        severity: Severity::Warning,
        summary: "the modelled controller does not serve this Ingress (its class, or no class): every route check was skipped for it",
        explain: "ingress-nginx only reads Ingresses of the classes it serves (`--ingress-class`, default \
`nginx`, or an IngressClass whose controller is ingress-nginx's); an Ingress with no class is read only \
with `--watch-ingress-without-class` or a default IngressClass (store.go `GetIngressClass`, \
`IsValid`). stepup models that controller, so such an Ingress builds no route and none of the route \
rules (SU001, SU002, SU005-SU008, SU016, SU018, SU028) ran for it: a class `modsec` served by a \
second ingress-nginx would go unchecked without this warning.\n\nFix: if an ingress-nginx in the \
cluster serves the class, lint with `--ingress-class CLASS` (repeatable; the default `nginx` is \
replaced, so add `--ingress-class nginx` too); for Ingresses with no class, lint with \
`--watch-ingress-without-class` when the controller runs with it; otherwise the Ingress belongs to \
another controller and the warning can be suppressed with that reason.",
    },
    RuleInfo {
        id: "SU026",
        name: "removed-api",
        severity: Severity::Warning,
        summary: "an Ingress uses extensions/v1beta1 or networking.k8s.io/v1beta1 (removed in Kubernetes 1.22); linted as converted",
        explain: "Kubernetes 1.22 removed the beta Ingress APIs: no current API server accepts the \
manifest as written. stepup converts it in memory the way the API server did \
(`serviceName`/`servicePort` become `service.name` and `service.port.number` or `.name`, \
`spec.backend` becomes `spec.defaultBackend`, a missing `pathType` becomes ImplementationSpecific; \
Kubernetes `pkg/apis/networking/v1beta1` conversion and defaults) and lints the result, so the \
findings describe what the converted object would do.\n\nFix: convert the manifest with `kubectl \
convert -f FILE --output-version networking.k8s.io/v1` (the kubectl-convert plugin) and choose each \
pathType deliberately: ImplementationSpecific is a prefix match in ingress-nginx, and a regex when \
the host is in regex mode.",
    },
    RuleInfo {
        id: "SU027",
        name: "unresolved-variable",
        severity: Severity::Note,
        summary: "a GitOps ${var} (Flux post-build substitution) has no value: hosts and paths are modelled with a stand-in",
        explain: "Flux's kustomize-controller substitutes `${var}`, `${var:-default}` and \
`${var:=default}` after the build from a Kustomization's `spec.postBuild.substitute` (and the \
ConfigMaps and Secrets of `substituteFrom`); `$${var}` is a literal `${var}`. stepup takes values from \
`--var NAME=VALUE` and from the Flux Kustomizations among the inputs (substituteFrom is not read). \
A variable with no value and no default is not guessed: a host gets a stand-in label under \
`.invalid`, a path the segment `var-<name>`, any other field keeps the text, and every finding on such \
a host or path says what it depends on. Flux itself would substitute an empty string (or fail with \
StrictPostBuildSubstitutions).\n\nFix: pass `--var NAME=VALUE` for each variable, or lint what Flux \
applies: `kustomize build DIR | flux envsubst | stepup lint -p POLICY -`.",
    },
    RuleInfo {
        id: "SU028",
        name: "over-protected",
        severity: Severity::Warning,
        summary: "a route the policy calls public is behind auth (auth-url, basic auth or global auth)",
        explain: "The policy says the path is public (a rule with level `public`, or the default when it is \
`public`), but the location that serves it enforces a login: an auth-url, basic auth, or the \
controller's global-auth-url (nginx.tmpl's location block, `shouldApplyGlobalAuth`). Health checks, \
sign-in pages, webhooks and public pages then answer 401 or a sign-in redirect, which is what the \
policy says must not happen, and reviewers stop trusting the policy as the description of the site. \
stepup reports it when every path the location serves is public by the policy, and when a rule \
with level `public` names one of its paths explicitly (a location that also serves protected paths \
needs its auth for them; only the explicitly public ones are worth a location of their own).\n\nFix: \
serve the public paths from an Ingress without auth annotations (an Exact or longer Prefix path \
wins over the protected one), remove the auth from the Ingress, or change the policy if the paths \
really need a login.",
    },
    RuleInfo {
        id: "SU029",
        name: "shadowed-policy-rule",
        severity: Severity::Warning,
        summary: "a policy rule never decides: earlier rules match every host, path and method it matches",
        explain: "Policy rules are ordered and the first rule that matches a request decides (SPEC \u{a7}1). \
A rule whose every host, path glob and method is already matched by earlier rules is dead: changing \
its level changes nothing, which is rarely what its author thinks. stepup decides coverage \
conservatively from the glob model (`**` covers any run of segments, `*` one segment, a literal \
itself; a host list or method list must contain the later one's) and reports only what it is \
certain of.\n\nFix: move the rule above the rules that shadow it, narrow the earlier rule, or delete \
the dead rule.",
    },
];
