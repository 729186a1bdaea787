use super::*;
use crate::controllers::ingress_nginx::routing::Classes;

fn audit_of(dump: &str, policy: &str) -> Audit {
    let mut loaded = crate::ingress::Loaded::default();
    crate::ingress::load_text("dump.json", dump, &mut loaded, &mut HashMap::new())
        .unwrap_or_else(|e| panic!("{}", e.primary));
    let policy =
        crate::policy::parse("policy.yaml", policy).unwrap_or_else(|e| panic!("{}", e.primary));
    let classes = Classes {
        names: vec!["nginx".into()],
        classless: true,
    };
    let table = RouteTable::build(loaded.ingresses, &classes.into())
        .unwrap_or_else(|e| panic!("{}", e.primary));
    analyze(&policy, &table, &lint::Options::default())
}

/// The captured cluster under the starter policy: the route map's status
/// comes from lint's findings on each location.
#[test]
fn captured_cluster_route_map() {
    let a = audit_of(
        include_str!("../../testdata/cluster/ingress-list.json"),
        crate::cli::STARTER_POLICY,
    );
    assert_eq!(a.report.ingresses, 5);
    let admin = a.hosts.iter().find(|h| h.name == "admin.example.com");
    let admin = admin.unwrap_or_else(|| panic!("no admin host in {:?}", a.hosts));
    let row = admin.routes.iter().find(|r| r.path == "/admin");
    let row = row.unwrap_or_else(|| panic!("no /admin row in {admin:?}"));
    assert_eq!(row.ingress, "team-a/portal");
    assert_eq!(row.required, "admin");
    assert!(row.enforced.starts_with("external:"), "{row:?}");
    // oauth2-proxy cannot enforce the admin level: SU003 (a warning, as
    // lint rates it), with regex mode's SU007/SU008.
    assert_eq!(row.status, Status::Warning, "{row:?}");
    assert!(row.rules.contains(&"SU003"), "{row:?}");
    // web.example.com has no auth at all and the default needs a login.
    let web = a.hosts.iter().find(|h| h.name == "web.example.com");
    let web = web.unwrap_or_else(|| panic!("no web host in {:?}", a.hosts));
    assert!(
        web.routes
            .iter()
            .any(|r| r.status == Status::Error && r.rules.contains(&"SU001")),
        "{web:?}"
    );
    // Every error finding with a path shows on some route.
    for f in a
        .report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error && !f.path.is_empty())
    {
        let shown = a.hosts.iter().any(|h| {
            h.name == f.host
                && h.routes
                    .iter()
                    .any(|r| r.path == f.path && r.rules.contains(&f.rule))
        });
        assert!(shown, "finding not on the route map: {f:?}");
    }
}

/// ingress-nginx merges one host's Ingresses across namespaces: an
/// unprotected path in another namespace shadows the protected one.
#[test]
fn cross_namespace_shadowing_is_found() {
    let dump = r#"{"apiVersion":"v1","kind":"List","items":[
      {"apiVersion":"networking.k8s.io/v1","kind":"Ingress",
       "metadata":{"name":"admin","namespace":"team-x","creationTimestamp":"2025-01-01T00:00:00Z",
         "annotations":{"nginx.ingress.kubernetes.io/auth-url":"http://stepup.stepup-system.svc.cluster.local:8080/auth?level=admin&rule=admin-console",
                        "nginx.ingress.kubernetes.io/auth-signin":"https://$host/.stepup/signin?level=admin"}},
       "spec":{"ingressClassName":"nginx","rules":[{"host":"shared.example.com","http":{"paths":[
         {"path":"/admin","pathType":"Prefix","backend":{"service":{"name":"admin","port":{"number":80}}}}]}}]}},
      {"apiVersion":"networking.k8s.io/v1","kind":"Ingress",
       "metadata":{"name":"reports","namespace":"team-y","creationTimestamp":"2025-02-01T00:00:00Z"},
       "spec":{"ingressClassName":"nginx","rules":[{"host":"shared.example.com","http":{"paths":[
         {"path":"/admin/reports","pathType":"Prefix","backend":{"service":{"name":"reports","port":{"number":80}}}}]}}]}}
    ]}"#;
    let a = audit_of(dump, crate::cli::STARTER_POLICY);
    let f = a.report.findings.iter().find(|f| f.rule == "SU006");
    let f = f.unwrap_or_else(|| panic!("no SU006 in {:?}", a.report.findings));
    assert_eq!(
        (f.namespace.as_str(), f.ingress.as_str()),
        ("team-y", "reports")
    );
    let host = a.hosts.iter().find(|h| h.name == "shared.example.com");
    let host = host.unwrap_or_else(|| panic!("{:?}", a.hosts));
    assert_eq!(host.routes.len(), 2, "{host:?}");
}

#[test]
fn nginx_classes_from_an_ingressclass_list() {
    let v: serde_json::Value = serde_json::from_str(
        r#"{"kind":"IngressClassList","items":[
          {"metadata":{"name":"public"},"spec":{"controller":"k8s.io/ingress-nginx"}},
          {"metadata":{"name":"traefik"},"spec":{"controller":"traefik.io/ingress-controller"}},
          {"metadata":{"name":"internal"},"spec":{"controller":"k8s.io/ingress-nginx"}},
          {"spec":{"controller":"k8s.io/ingress-nginx"}}]}"#,
    )
    .unwrap_or_default();
    assert_eq!(nginx_classes(&v), vec!["internal", "public"]);
    assert!(nginx_classes(&serde_json::json!({"items": null})).is_empty());
}
