#!/usr/bin/env python3
"""Deterministic Ingress corpus for bench/lint_vs_checkov.sh (no randomness,
no clock, no network).

    gen_corpus.py N OUTDIR [PER_FILE] [SHAPE]

writes
    OUTDIR/all.yaml         the N Ingresses as one multi-document YAML file
    OUTDIR/split/NNNNN.yaml the same N Ingresses, PER_FILE (default 100) per
                            file, for `checkov -d` (which scans directories)
    OUTDIR/policy.yaml      the stepup policy the corpus is written against

Shape: N/5 hosts `shop-<h>.team-<h%50>.bench.example`, five Ingresses each
(so several Ingresses per host, merged by ingress-nginx into one server):

  web      `/` (Exact), `/static`, `/.stepup` (the sign-in route, no auth): public
  account  `/account`: stepup level=authenticated, auth-signin,
           auth-response-headers (none at all on every 13th host)
  admin    `/admin`, `/admin/audit` (Exact): stepup level=admin + signin
           (none on every 10th host: exposed; level=mfa on every 17th: weak)
  api      `/api/payments`: stepup level=mfa, auth-response-headers, no
           signin (API); a configuration-snippet on every 50th host
  tools    `/tools`: no annotations (covered by the policy default
           `authenticated`, so it is reported), or an oauth2-proxy auth-url
           on every 3rd host

TLS on every host except every 11th (web/account/admin/api/tools alike).

SHAPE `exposed` (issue 17's workload) is instead one Ingress per host
`app-<i>.bench.example`, no annotations, two Prefix paths `/` and `/admin`:
every Ingress is unprotected, so lint reports three SU001 per Ingress (the
admin console at `/admin`; payments and account through `/`), 30,000
findings for N = 10,000.
"""
import os
import sys

STEPUP = "http://stepup.stepup-system.svc.cluster.local:8080/auth"
ROLES = ("web", "account", "admin", "api", "tools")

POLICY = """\
apiVersion: stepup.dev/v1alpha1
kind: StepUpPolicy
metadata:
  name: bench
spec:
  idp:
    issuer: https://idp.bench.example
    audiences: [bench]
    clientID: stepup
    clientSecretFile: /etc/stepup/client-secret
  authService:
    url: http://stepup.stepup-system.svc.cluster.local:8080
    signinPath: /.stepup
  levels:
    - name: authenticated
    - name: mfa
      acr: [urn:stepup:mfa]
      amr: [[mfa], [otp], [hwk]]
      maxAge: 15m
    - name: admin
      extends: mfa
      maxAge: 5m
      claims: {groups: [shop-admins]}
  rules:
    - name: admin-console
      paths: [/admin, /admin/**]
      level: admin
    - name: payments
      paths: [/api/payments, /api/payments/**]
      level: mfa
    - name: account
      paths: [/account, /account/**]
      level: authenticated
    - name: storefront
      paths: [/, /static, /static/**]
      level: public
  default: authenticated
"""


def host(h):
    return f"shop-{h}.team-{h % 50}.bench.example"


def path(path, ptype, svc, port):
    return (
        f"          - path: {path}\n"
        f"            pathType: {ptype}\n"
        f"            backend:\n"
        f"              service:\n"
        f"                name: {svc}\n"
        f"                port:\n"
        f"                  number: {port}\n"
    )


def ingress(i):
    h, r = divmod(i, len(ROLES))
    role = ROLES[r]
    hn = host(h)
    name = f"{role}-{h}"
    ns = f"team-{h % 50}"
    ts = f"2024-{1 + h % 12:02d}-{1 + h % 28:02d}T{h % 24:02d}:{r * 5:02d}:{h % 60:02d}Z"
    ann = [("nginx.ingress.kubernetes.io/proxy-body-size", "8m")]
    paths = []

    def stepup(level, rule, signin=True):
        ann.append(("nginx.ingress.kubernetes.io/auth-url", f"{STEPUP}?level={level}&rule={rule}"))
        if signin:
            ann.append(("nginx.ingress.kubernetes.io/auth-signin",
                        f"https://$host/.stepup/signin?level={level}"))
        ann.append(("nginx.ingress.kubernetes.io/auth-response-headers",
                    "X-Auth-Request-User,X-Auth-Request-Email,X-Auth-Request-Groups,X-Auth-Request-Acr"))

    if role == "web":
        paths = [path("/", "Exact", f"storefront-{h}", 80),
                 path("/static", "Prefix", f"static-{h}", 80),
                 path("/.stepup", "Prefix", "stepup", 8080)]
    elif role == "account":
        if h % 13 != 5:
            stepup("authenticated", "account")
        paths = [path("/account", "Prefix", f"account-{h}", 8080)]
    elif role == "admin":
        if h % 10 == 0:
            pass  # exposed admin console
        elif h % 17 == 4:
            stepup("mfa", "admin-console")  # weaker than the policy's admin
        else:
            stepup("admin", "admin-console")
        paths = [path("/admin", "Prefix", f"backoffice-{h}", 3000),
                 path("/admin/audit", "Exact", f"audit-{h}", 3000)]
    elif role == "api":
        stepup("mfa", "payments", signin=False)
        if h % 50 == 7:
            ann.append(("nginx.ingress.kubernetes.io/configuration-snippet",
                        'more_set_headers "X-Debug: 1";'))
        paths = [path("/api/payments", "Prefix", f"payments-{h}", 8080)]
    else:  # tools
        if h % 3 == 0:
            ann.append(("nginx.ingress.kubernetes.io/auth-url", "https://$host/oauth2/auth"))
            ann.append(("nginx.ingress.kubernetes.io/auth-signin",
                        "https://$host/oauth2/start?rd=$escaped_request_uri"))
        paths = [path("/tools", "Prefix", f"tools-{h}", 8080)]

    out = [
        "apiVersion: networking.k8s.io/v1\n",
        "kind: Ingress\n",
        "metadata:\n",
        f"  name: {name}\n",
        f"  namespace: {ns}\n",
        f'  creationTimestamp: "{ts}"\n',
        "  labels:\n",
        f"    app.kubernetes.io/name: {role}\n",
        "    app.kubernetes.io/part-of: shop\n",
        "  annotations:\n",
    ]
    for k, v in ann:
        out.append(f'    {k}: "{v}"\n' if '"' not in v else f"    {k}: '{v}'\n")
    out.append("spec:\n  ingressClassName: nginx\n")
    if h % 11 != 9:
        out.append(f'  tls:\n    - hosts: ["{hn}"]\n      secretName: shop-{h}-tls\n')
    out.append(f'  rules:\n    - host: "{hn}"\n      http:\n        paths:\n')
    out.extend(paths)
    return "".join(out)


def exposed(i):
    return (
        "apiVersion: networking.k8s.io/v1\n"
        "kind: Ingress\n"
        "metadata:\n"
        f"  name: app-{i}\n"
        f"  namespace: team-{i % 50}\n"
        "spec:\n"
        "  ingressClassName: nginx\n"
        f'  rules:\n    - host: "app-{i}.bench.example"\n      http:\n        paths:\n'
        + path("/", "Prefix", f"web-{i}", 80)
        + path("/admin", "Prefix", f"admin-{i}", 80)
    )


SHAPES = {"shop": ingress, "exposed": exposed}


def main():
    n = int(sys.argv[1])
    outdir = sys.argv[2]
    per_file = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    shape = SHAPES[sys.argv[4] if len(sys.argv) > 4 else "shop"]
    os.makedirs(os.path.join(outdir, "split"), exist_ok=True)
    with open(os.path.join(outdir, "policy.yaml"), "w") as f:
        f.write(POLICY)
    docs = [shape(i) for i in range(n)]
    with open(os.path.join(outdir, "all.yaml"), "w") as f:
        f.write("---\n".join(docs))
    for k in range(0, n, per_file):
        with open(os.path.join(outdir, "split", f"{k // per_file:05d}.yaml"), "w") as f:
            f.write("---\n".join(docs[k:k + per_file]))


if __name__ == "__main__":
    main()
