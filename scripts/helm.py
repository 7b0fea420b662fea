"""A tiny `helm` for scripts, over helm-python-sdk (Helm's own Go SDK; there is no helm binary here).

    python scripts/helm.py install RELEASE CHART --namespace NS [--values-json '{...}'] [--kubeconfig F]
                                    [--server-side true|false]
    python scripts/helm.py upgrade RELEASE CHART --namespace NS [--values-json '{...}'] [--kubeconfig F]
    python scripts/helm.py uninstall RELEASE --namespace NS [--kubeconfig F]
    python scripts/helm.py template RELEASE CHART --namespace NS [--values-json '{...}'] [--values F]
                                     [--json]
    python scripts/helm.py lint CHART [--values-json '{...}'] [--values F] [--kube-version v1.20.2]
                                     [--strict]

`--values F` (repeatable) reads YAML values files (merged in order, `--values-json` last).
`template --json` prints {"template path": [parsed documents]} instead of YAML (for tests).
`install --server-side false` uses client-side apply (Helm v4 defaults to server-side apply, which a
v1.20 API server mishandles for CRD schemas holding `default: ""`: it turns them into null).
`upgrade` replaces the release's values with the given ones (like `helm upgrade` without
`--reuse-values`).
`lint` prints the findings and exits 1 on any error, or with `--strict` on any warning too.
"""
import argparse
import json
import os
import sys

import helm_python

SEVERITY = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}


def merge(base, over):
    """Deep-merges `over` into `base` (maps recursively, everything else replaced), like helm -f."""
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            merge(base[k], v)
        else:
            base[k] = v
    return base


def load_values(a):
    values = {}
    if a.values:
        import yaml  # PyYAML is in the project venv (scripts/setup.sh)

        for path in a.values:
            with open(path, encoding="utf-8") as f:
                merge(values, yaml.safe_load(f) or {})
    return merge(values, json.loads(a.values_json))


def lint(a, values) -> int:
    report = helm_python.lint(
        a.chart,
        values,
        strict=a.strict,
        namespace=a.namespace,
        kube_version=a.kube_version,
    )
    messages = report.get("messages") or []
    errors = report.get("errors") or []
    worst = 0
    for m in messages:
        sev = int(m.get("severity", 0))
        worst = max(worst, sev)
        print(f"[{SEVERITY.get(sev, sev)}] {m.get('path', '')}: {m.get('error', '')}")
    for e in errors:
        print(f"[ERROR] {e}")
    limit = 2 if a.strict else 3
    failed = bool(errors) or worst >= limit
    charts = report.get("total_charts_linted", "?")
    print(f"{charts} chart(s) linted, {len(messages)} message(s), {'FAILED' if failed else 'ok'}")
    return 1 if failed else 0


def install_with_apply_mode(cfg, a, values, server_side: bool):
    """`Config.install` with the C ABI's `server_side_apply` option, which helm-python-sdk 0.2.2 has
    but does not expose as a keyword (same call as `Config.install` otherwise)."""
    from helm_python import _native

    opts = {"namespace": a.namespace, "create_namespace": True, "server_side_apply": server_side}
    payload = _native.call_string(
        "helm_install",
        cfg._raw(),
        cfg._context_arg(None),
        *cfg._chart_args(a.chart),
        a.release,
        json.dumps(values),
        json.dumps(opts),
    )
    return json.loads(payload)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["install", "upgrade", "uninstall", "template", "lint"])
    ap.add_argument("release", help="release name (for lint: the chart path)")
    ap.add_argument("chart", nargs="?")
    ap.add_argument("--namespace", default="default")
    ap.add_argument("--values-json", default="{}")
    ap.add_argument("--values", "-f", action="append", default=[])
    ap.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    ap.add_argument("--json", action="store_true", help="template: print parsed documents as JSON")
    ap.add_argument("--kube-version", default=None, help="lint: Kubernetes version, e.g. v1.20.2")
    ap.add_argument("--strict", action="store_true", help="lint: fail on warnings too")
    ap.add_argument("--server-side", choices=["true", "false"], default=None,
                    help="install: server-side apply (Helm v4 default) or client-side")
    a = ap.parse_args()
    if a.command == "lint":
        a.chart = a.chart or a.release
    values = load_values(a)
    if a.command == "lint":
        return lint(a, values)
    if a.command == "template":
        chart = helm_python.Chart.load(a.chart)
        chart.validate_schema(chart.merge_values(values))
        out = chart.render(values, name=a.release, namespace=a.namespace, is_install=True)
        if a.json:
            import yaml

            docs = {}
            for name, body in sorted(out.items()):
                if name.endswith("NOTES.txt"):
                    docs[name] = body
                elif body.strip():
                    docs[name] = [d for d in yaml.safe_load_all(body) if d is not None]
            print(json.dumps(docs))
            return 0
        for name, body in sorted(out.items()):
            if body.strip() and not name.endswith("NOTES.txt"):
                print(f"---\n# Source: {name}\n{body}")
        return 0
    cfg = helm_python.Config(kubeconfig_path=a.kubeconfig, namespace=a.namespace)
    if a.command in ("install", "upgrade"):
        if a.command == "upgrade":
            rel = cfg.upgrade(a.chart, a.release, values=values, namespace=a.namespace)
        elif a.server_side is None:
            rel = cfg.install(a.chart, a.release, values=values, namespace=a.namespace, create_namespace=True)
        else:
            rel = install_with_apply_mode(cfg, a, values, a.server_side == "true")
        if isinstance(rel, dict):  # helm-python-sdk 0.2.2: flat {"status": ...}; Helm JSON: info.status
            status = rel.get("status") or (rel.get("info") or {}).get("status")
        else:
            status = getattr(rel, "status", rel)
        print(f"release {a.release} in {a.namespace}: {status}")
    else:
        cfg.uninstall(a.release)
        print(f"release {a.release} uninstalled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
