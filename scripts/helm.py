"""A tiny `helm` for scripts, over helm-python-sdk (Helm's own Go SDK; there is no helm binary here).

    python scripts/helm.py install RELEASE CHART --namespace NS [--values-json '{...}'] [--kubeconfig F]
    python scripts/helm.py uninstall RELEASE --namespace NS [--kubeconfig F]
    python scripts/helm.py template RELEASE CHART --namespace NS [--values-json '{...}']
"""
import argparse
import json
import os
import sys

import helm_python


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["install", "uninstall", "template"])
    ap.add_argument("release")
    ap.add_argument("chart", nargs="?")
    ap.add_argument("--namespace", default="default")
    ap.add_argument("--values-json", default="{}")
    ap.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    a = ap.parse_args()
    values = json.loads(a.values_json)
    if a.command == "template":
        out = helm_python.Chart.load(a.chart).render(values, name=a.release, namespace=a.namespace)
        for name, body in sorted(out.items()):
            if body.strip():
                print(f"---\n# Source: {name}\n{body}")
        return 0
    cfg = helm_python.Config(kubeconfig_path=a.kubeconfig, namespace=a.namespace)
    if a.command == "install":
        rel = cfg.install(a.chart, a.release, values=values, namespace=a.namespace, create_namespace=True)
        status = rel.get("info", {}).get("status") if isinstance(rel, dict) else getattr(rel, "status", rel)
        print(f"release {a.release} in {a.namespace}: {status}")
    else:
        cfg.uninstall(a.release)
        print(f"release {a.release} uninstalled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
