"""Deployment manifests, offline: every Kubernetes object is valid against the API's JSON schema, and
docker-compose.yml and the kustomize manifests run the same processes with the same ports, commands and
settings, with NATS JetStream as one server in development and a 3-server cluster in production.

The rendered overlays come from ``kubectl kustomize`` (tests that need it skip without kubectl); the
objects written in the files under deploy/k8s and the compose file are checked without it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from libs import config

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
BASE = K8S / "base"
COMPOSE_FILE = REPO / "docker-compose.yml"

# The schemas every object must meet: a fixed Kubernetes release, unknown fields refused.
KUBERNETES_VERSION = "1.30"
# Core, apps and policy objects only: the suite needs no custom resource definitions.
API_VERSIONS = {"v1", "apps/v1", "policy/v1"}

SERVICE_PORTS = {"inventory": 50051, "orders": 50052, "logistics": 50053, "returns": 50054, "payroll": 50055}
GATEWAY_PORT = 8080
NATS_PORT = 4222
NATS_IMAGE = "nats:2.11-alpine"
PROCESSES = {*SERVICE_PORTS, "gateway", "nats"}
# Backing services that differ by environment and are not part of the comparison: compose and overlays/dev
# run a PostgreSQL and a tracing backend of their own, production uses the ones it already has.
SUPPORT = {"postgres", "otel-collector", "jaeger"}
# Settings whose values may differ between compose and an overlay (names must still match). Secret values
# (JWT key, database URLs) are never compared.
VALUES_MAY_DIFFER = {"SHOP_LOG_LEVEL", "SHOP_EVENT_REPLICAS"}

OVERLAYS = ["dev", "production"]
# Event stream copies and NATS servers per environment.
EVENT_REPLICAS = {"base": 1, "dev": 1, "production": 3}

Doc = dict[str, Any]
# libyaml's parser when PyYAML has it (several times faster); both resolve anchors and `<<:` merge keys.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@pytest.fixture(scope="module", autouse=True)
def _schemas_read_once() -> Iterator[None]:
    """kubernetes-validate reads and parses its 1.2 MB schema definitions for every object it checks; read
    each schema file once for this module instead."""
    utils = kubernetes_validate.utils
    with pytest.MonkeyPatch.context() as patch:
        if hasattr(utils, "schema_contents"):
            patch.setattr(utils, "schema_contents", cache(utils.schema_contents))
        yield


# --------------------------------------------------------------------------------------------------------
# Loading


def parse_docs(text: str) -> list[Doc]:
    return [doc for doc in yaml.load_all(text, Loader=YAML_LOADER) if isinstance(doc, dict)]


def load_yaml_docs(path: Path) -> list[Doc]:
    return parse_docs(path.read_text())


def is_resource(doc: Doc) -> bool:
    metadata = doc.get("metadata")
    return (
        isinstance(doc.get("apiVersion"), str)
        and isinstance(doc.get("kind"), str)
        and isinstance(metadata, dict)
        and isinstance(metadata.get("name"), str)
    )


def kustomizations() -> list[Path]:
    return sorted(K8S.rglob("kustomization.yaml"))


def patch_files() -> set[Path]:
    """Every file a kustomization applies as a patch: partial objects, not resources of their own."""
    patches: set[Path] = set()
    for kustomization in kustomizations():
        spec = yaml.load(kustomization.read_text(), Loader=YAML_LOADER)
        for entry in [*spec.get("patches", []), *spec.get("patchesStrategicMerge", [])]:
            path = entry.get("path") if isinstance(entry, dict) else entry
            if isinstance(path, str):
                patches.add((kustomization.parent / path).resolve())
    return patches


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml")


@cache
def kubectl() -> str | None:
    return shutil.which("kubectl")


def need_kubectl() -> str:
    path = kubectl()
    if path is None:
        pytest.skip("kubectl is not on PATH: rendered overlays are not checked")
    return path


@cache
def render(target: str) -> list[Doc]:
    """The objects ``kubectl kustomize deploy/k8s/<target>`` produces (shared between tests: read only)."""
    result = subprocess.run(
        [need_kubectl(), "kustomize", str(K8S / target)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {target} failed:\n{result.stderr}"
    return parse_docs(result.stdout)


@cache
def base_files() -> list[Doc]:
    """base's objects as written, plus the ConfigMaps its configMapGenerator makes (without kubectl)."""
    docs = [doc for path in sorted(BASE.glob("*.yaml")) for doc in load_yaml_docs(path) if is_resource(doc)]
    return docs + generated_configmaps(BASE)


def generated_configmaps(directory: Path) -> list[Doc]:
    spec = yaml.load((directory / "kustomization.yaml").read_text(), Loader=YAML_LOADER)
    configmaps: list[Doc] = []
    for generator in spec.get("configMapGenerator", []):
        data: dict[str, str] = {}
        for env in generator.get("envs", []):
            data.update(env_file(directory / env))
        for entry in generator.get("files", []):
            key, _, path = entry.rpartition("=")
            data[key or Path(path).name] = (directory / path).read_text()
        for literal in generator.get("literals", []):
            key, _, value = literal.partition("=")
            data[key] = value
        metadata = {"name": generator["name"]}
        configmaps.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data})
    return configmaps


def env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def manifests(source: str) -> list[Doc]:
    return base_files() if source == "base files" else render(source)


@cache
def compose() -> Doc:
    # The safe loader resolves the file's anchors and `<<:` merge keys, as docker compose does.
    data = yaml.load(COMPOSE_FILE.read_text(), Loader=YAML_LOADER)
    assert isinstance(data, dict)
    return data


def compose_services() -> dict[str, Doc]:
    services = compose()["services"]
    assert isinstance(services, dict)
    return services


def compose_default(value: Any) -> str:
    """A compose value with ``${VAR:-default}`` read as its default (the value with no .env file)."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}", r"\1", str(value))


def compose_env(service: str) -> dict[str, str]:
    env = compose_services()[service].get("environment") or {}
    assert isinstance(env, dict), f"{service}: environment must be a mapping"
    return {name: compose_default(value) for name, value in env.items()}


# --------------------------------------------------------------------------------------------------------
# Reading objects


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d.get("kind") == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def workloads(docs: list[Doc]) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") in ("Deployment", "StatefulSet")}


def main_container(workload: Doc) -> Doc:
    name = workload["metadata"]["name"]
    containers = workload["spec"]["template"]["spec"]["containers"]
    matching = [c for c in containers if c["name"] == name]
    assert len(matching) == 1, f"{name}: expected one container named {name}"
    container: Doc = matching[0]
    return container


def init_container(workload: Doc, name: str) -> Doc:
    matching = [
        c for c in workload["spec"]["template"]["spec"].get("initContainers", []) if c["name"] == name
    ]
    assert len(matching) == 1, f"{workload['metadata']['name']}: expected one init container {name}"
    container: Doc = matching[0]
    return container


def container_env(docs: list[Doc], container: Doc) -> tuple[dict[str, str], set[str]]:
    """What a container's environment holds: plain values (from env and ConfigMaps) and secret names."""
    values: dict[str, str] = {}
    secrets: set[str] = set()
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            data = find(docs, "ConfigMap", source["configMapRef"]["name"]).get("data", {})
            values.update({source.get("prefix", "") + k: str(v) for k, v in data.items()})
        elif "secretRef" in source:
            secret = find(docs, "Secret", source["secretRef"]["name"])
            keys = {*secret.get("data", {}), *secret.get("stringData", {})}
            secrets.update(source.get("prefix", "") + k for k in keys)
    for var in container.get("env", []):
        if "value" in var:
            values[var["name"]] = str(var["value"])
        elif "configMapKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["configMapKeyRef"]
            values[var["name"]] = str(find(docs, "ConfigMap", ref["name"])["data"][ref["key"]])
        elif "secretKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["secretKeyRef"]
            secret = find(docs, "Secret", ref["name"])
            assert ref["key"] in {*secret.get("data", {}), *secret.get("stringData", {})}, (
                f"{var['name']}: Secret {ref['name']} has no key {ref['key']}"
            )
            secrets.add(var["name"])
        else:
            values[var["name"]] = "<from the pod>"
    return values, secrets


def shop_names(names: Iterable[str]) -> set[str]:
    return {n for n in names if n.startswith("SHOP_")}


def container_port(container: Doc, name: str) -> int:
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    assert name in ports, f"{container['name']}: no port named {name}"
    return int(ports[name])


def service_ports(service: Doc) -> dict[str, int]:
    return {p["name"]: int(p["port"]) for p in service["spec"]["ports"]}


def nats_config(docs: list[Doc]) -> dict[str, str]:
    statefulset = find(docs, "StatefulSet", "nats")
    volumes = statefulset["spec"]["template"]["spec"]["volumes"]
    [config_volume] = [v for v in volumes if v["name"] == "config"]
    data: dict[str, str] = find(docs, "ConfigMap", config_volume["configMap"]["name"])["data"]
    return data


def nats_routes(cluster_conf: str) -> list[str]:
    return re.findall(r"nats://[A-Za-z0-9.-]+:\d+", strip_comments(cluster_conf))


def strip_comments(conf: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in conf.splitlines())


def validate(doc: Doc, where: str) -> str | None:
    """None when the object meets its schema, else what is wrong with it."""
    label = f"{where}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    if doc.get("apiVersion") not in API_VERSIONS:
        return f"{label}: apiVersion {doc.get('apiVersion')} is not one of {sorted(API_VERSIONS)}"
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as err:
        path = "/".join(str(p) for p in err.path)
        return f"{label}: {err.message} (at {path or 'the top'})"
    except kubernetes_validate.SchemaNotFoundError as err:
        return f"{label}: {err.message}"
    return None


# --------------------------------------------------------------------------------------------------------
# Schema validation


def test_the_validator_refuses_unknown_fields_and_wrong_types() -> None:
    good = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"ports": [{"name": "grpc", "port": 50051}]},
    }
    assert validate(good, "sample") is None
    misspelt = {**good, "spec": {"port": [{"name": "grpc", "port": 50051}]}}
    assert "port" in (validate(misspelt, "sample") or "")
    wrong_type = {**good, "spec": {"ports": [{"name": "grpc", "port": "50051"}]}}
    assert validate(wrong_type, "sample") is not None
    custom = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"}}
    assert validate(custom, "sample") is not None


def test_every_object_written_under_deploy_k8s_is_valid() -> None:
    patches = patch_files()
    # The patches kustomizations name exist, and are left out below: they are partial objects.
    assert patches, "no kustomization applies a patch: was patch discovery broken?"
    assert all(p.is_file() for p in patches), sorted(str(p) for p in patches if not p.is_file())
    assert (K8S / "overlays" / "production" / "nats-anti-affinity.yaml").resolve() in patches

    checked: list[tuple[str, str]] = []
    problems: list[str] = []
    for path in manifest_files():
        if path.resolve() in patches:
            continue
        for doc in load_yaml_docs(path):
            if not is_resource(doc):
                continue  # e.g. the collector's own configuration file
            checked.append((doc["kind"], doc["metadata"]["name"]))
            problem = validate(doc, str(path.relative_to(REPO)))
            if problem:
                problems.append(problem)
    assert not problems, "\n".join(problems)

    expected = {("Namespace", "shop"), ("Secret", "shop-secrets"), ("StatefulSet", "nats")}
    expected |= {("Service", "nats"), ("Service", "nats-headless"), ("PodDisruptionBudget", "nats")}
    for name in [*SERVICE_PORTS, "gateway"]:
        expected |= {("Deployment", name), ("Service", name), ("PodDisruptionBudget", name)}
    expected |= {("Deployment", "otel-collector"), ("Deployment", "jaeger"), ("Deployment", "postgres")}
    assert expected <= set(checked), sorted(expected - set(checked))
    assert len(checked) == len(set(checked)), "an object is defined twice"


@pytest.mark.parametrize("target", ["base", *(f"overlays/{name}" for name in OVERLAYS)])
def test_every_rendered_object_is_valid(target: str) -> None:
    docs = render(target)
    problems = [p for doc in docs if (p := validate(doc, f"kubectl kustomize {target}"))]
    assert not problems, "\n".join(problems)
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "ConfigMap", "Secret", "Deployment", "StatefulSet", "Service"} <= kinds
    assert {"PodDisruptionBudget"} <= kinds
    assert all(d["metadata"].get("namespace") == "shop" for d in docs if d["kind"] != "Namespace")
    assert set(workloads(docs)) >= PROCESSES


# --------------------------------------------------------------------------------------------------------
# docker-compose.yml and Kubernetes agree

SOURCES = ["base files", *(f"overlays/{name}" for name in OVERLAYS)]


def test_compose_runs_the_suite_with_its_event_bus() -> None:
    services = compose_services()
    assert {name for name in services if not name.endswith("-migrate")} - SUPPORT == PROCESSES
    assert {name.removesuffix("-migrate") for name in services if name.endswith("-migrate")} == set(
        SERVICE_PORTS
    )

    nats = services["nats"]
    assert nats["image"] == NATS_IMAGE
    command = nats["command"]
    assert "-js" in command or "--jetstream" in command
    store = command[command.index("-sd") + 1]
    assert f"natsdata:{store}" in nats["volumes"]
    assert "natsdata" in compose()["volumes"]
    assert "js-enabled-only=true" in " ".join(nats["healthcheck"]["test"])

    for name in SERVICE_PORTS:
        depends_on = services[name]["depends_on"]
        assert depends_on["nats"] == {"condition": "service_healthy"}, name
        assert depends_on[f"{name}-migrate"] == {"condition": "service_completed_successfully"}, name
    assert "nats" not in services["gateway"]["depends_on"], "the gateway does not use the event bus"


@pytest.mark.parametrize("source", SOURCES)
def test_compose_and_kubernetes_run_the_same_processes(source: str) -> None:
    docs = manifests(source)
    assert set(workloads(docs)) - SUPPORT == PROCESSES
    compose_processes = {n for n in compose_services() if not n.endswith("-migrate")} - SUPPORT
    assert compose_processes == PROCESSES


@pytest.mark.parametrize("source", SOURCES)
def test_compose_and_kubernetes_use_the_same_ports(source: str) -> None:
    docs = manifests(source)
    # The image sets the container ports (the code's defaults are for one machine).
    assert set(config.SERVICE_PORTS) == set(SERVICE_PORTS)
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    for name, port in SERVICE_PORTS.items():
        assert f"SHOP_{name.upper()}_PORT={port}" in dockerfile
    assert config.GATEWAY_PORT == GATEWAY_PORT
    kube = workloads(docs)

    for name, port in SERVICE_PORTS.items():
        # Compose: other processes dial <name>:<port>; Kubernetes: container, Service and probes on it.
        assert compose_env("gateway")[f"SHOP_{name.upper()}_TARGET"] == f"{name}:{port}"
        container = main_container(kube[name])
        assert container_port(container, "grpc") == port
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"]["port"] == port, f"{name} {probe}"
        assert service_ports(find(docs, "Service", name)) == {"grpc": port}

    gateway = compose_services()["gateway"]
    assert [compose_default(p).rsplit(":", 1)[1] for p in gateway["ports"]] == [str(GATEWAY_PORT)]
    assert compose_env("gateway")["SHOP_GATEWAY_PORT"] == str(GATEWAY_PORT)
    assert container_port(main_container(kube["gateway"]), "http") == GATEWAY_PORT
    assert service_ports(find(docs, "Service", "gateway")) == {"http": GATEWAY_PORT}

    # NATS listens on its default client port in compose (no -p flag) and on 4222 in nats.conf.
    assert not {"-p", "--port"} & set(compose_services()["nats"]["command"])
    assert re.search(rf"^port:\s*{NATS_PORT}\s*$", nats_config(docs)["nats.conf"], re.MULTILINE)
    nats = main_container(kube["nats"])
    assert container_port(nats, "client") == NATS_PORT
    assert service_ports(find(docs, "Service", "nats")) == {"client": NATS_PORT}
    assert service_ports(find(docs, "Service", "nats-headless")) == {
        "client": NATS_PORT,
        "cluster": 6222,
        "monitor": 8222,
    }


@pytest.mark.parametrize("source", SOURCES)
def test_compose_and_kubernetes_run_the_same_commands(source: str) -> None:
    kube = workloads(manifests(source))
    services = compose_services()
    for name in [*SERVICE_PORTS, "gateway"]:
        assert main_container(kube[name])["command"] == services[name]["command"], name
        assert main_container(kube[name])["image"].split(":")[0].endswith("shop-backoffice"), name
    for name in SERVICE_PORTS:
        assert services[name]["command"] == ["python", "-m", f"services.{name}", "serve"]
        migrate = init_container(kube[name], "migrate")["command"]
        assert (
            migrate
            == services[f"{name}-migrate"]["command"]
            == ["python", "-m", f"services.{name}", "migrate"]
        )
    assert services["gateway"]["command"] == ["python", "-m", "services.gateway"]
    # NATS: the same image; compose passes flags, Kubernetes a configuration file.
    assert main_container(kube["nats"])["image"] == services["nats"]["image"] == NATS_IMAGE
    assert main_container(kube["nats"])["command"] == ["nats-server"]


@pytest.mark.parametrize("source", SOURCES)
def test_compose_and_kubernetes_give_each_process_the_same_settings(source: str) -> None:
    docs = manifests(source)
    kube = workloads(docs)
    for name in [*SERVICE_PORTS, "gateway"]:
        in_compose = compose_env(name)
        values, secrets = container_env(docs, main_container(kube[name]))
        kube_names = shop_names(values) | shop_names(secrets)
        assert shop_names(in_compose) == kube_names, (
            f"{name}: only in compose: {sorted(shop_names(in_compose) - kube_names)}; "
            f"only in Kubernetes: {sorted(kube_names - shop_names(in_compose))}"
        )
        # Each service sees its own database only; nothing else is secret.
        own_database = {f"SHOP_{name.upper()}_DATABASE_URL"} if name in SERVICE_PORTS else set()
        assert secrets == {"SHOP_JWT_SECRET", *own_database}, name
        # Plain settings hold the same values, except the few that are per environment.
        for setting in sorted(shop_names(values) - VALUES_MAY_DIFFER):
            assert values[setting] == in_compose[setting], f"{name}: {setting}"
        for settings in (values, in_compose):
            url = urlsplit(settings["SHOP_NATS_URL"])
            assert (url.scheme, url.hostname, url.port) == ("nats", "nats", NATS_PORT), name
        assert "OTEL_EXPORTER_OTLP_ENDPOINT" in values and "OTEL_EXPORTER_OTLP_ENDPOINT" in in_compose


def test_the_migrations_get_their_database_in_both() -> None:
    kube = workloads(base_files())
    for name in SERVICE_PORTS:
        database = f"SHOP_{name.upper()}_DATABASE_URL"
        assert database in compose_env(f"{name}-migrate")
        _, secrets = container_env(base_files(), init_container(kube[name], "migrate"))
        assert secrets == {database}, name


# --------------------------------------------------------------------------------------------------------
# NATS JetStream: one server in development, a 3-server cluster in production


@pytest.mark.parametrize("source", ["base files", "overlays/dev", "overlays/production"])
def test_nats_keeps_its_store_on_a_volume_and_is_probed(source: str) -> None:
    docs = manifests(source)
    statefulset = find(docs, "StatefulSet", "nats")
    spec = statefulset["spec"]
    assert spec["serviceName"] == "nats-headless"
    assert spec["podManagementPolicy"] == "Parallel"
    assert find(docs, "Service", "nats-headless")["spec"]["clusterIP"] == "None"
    assert find(docs, "Service", "nats-headless")["spec"]["publishNotReadyAddresses"] is True
    assert find(docs, "PodDisruptionBudget", "nats")["spec"]["maxUnavailable"] == 1

    conf = strip_comments(nats_config(docs)["nats.conf"])
    store_dir = re.search(r"store_dir:\s*(\S+)", conf)
    assert store_dir, "nats.conf sets no JetStream store_dir"
    assert re.search(r"^http_port:\s*8222\s*$", conf, re.MULTILINE)
    assert re.search(r"^include \./cluster\.conf\s*$", conf, re.MULTILINE)
    assert "cluster.conf" in nats_config(docs)

    [claim] = spec["volumeClaimTemplates"]
    container = main_container(statefulset)
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == store_dir.group(1)
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"

    probes = {
        probe: container[probe]["httpGet"] for probe in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    assert {p["port"] for p in probes.values()} == {"monitor"}
    assert container_port(container, "monitor") == 8222
    assert probes["readinessProbe"]["path"] == "/healthz?js-server-only=true"
    assert probes["livenessProbe"]["path"] == "/healthz?js-enabled-only=true"
    assert probes["startupProbe"]["path"] == "/healthz"

    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert {"requests", "limits"} <= set(container["resources"])


@pytest.mark.parametrize("target", ["base", "overlays/dev", "overlays/production"])
def test_event_replicas_match_the_nats_servers(target: str) -> None:
    docs = render(target)
    expected = EVENT_REPLICAS[target.removeprefix("overlays/")]
    statefulset = find(docs, "StatefulSet", "nats")
    assert statefulset["spec"]["replicas"] == expected

    for name in SERVICE_PORTS:
        values, _ = container_env(docs, main_container(workloads(docs)[name]))
        assert values["SHOP_EVENT_REPLICAS"] == str(expected), name

    cluster_conf = nats_config(docs)["cluster.conf"]
    routes = nats_routes(cluster_conf)
    if expected == 1:
        assert "cluster" not in strip_comments(cluster_conf), "one server must run JetStream standalone"
        assert routes == []
    else:
        # Every pod of the StatefulSet, by its name under the headless Service, on the cluster port.
        headless = statefulset["spec"]["serviceName"]
        assert routes == [f"nats://nats-{i}.{headless}:6222" for i in range(expected)]
        assert re.search(r"^\s*port:\s*6222\s*$", strip_comments(cluster_conf), re.MULTILINE)
        assert re.search(r"^\s*name:\s*\S+", strip_comments(cluster_conf), re.MULTILINE), "cluster name"


def test_compose_keeps_one_copy_of_each_stream() -> None:
    for name in SERVICE_PORTS:
        assert compose_env(name)["SHOP_EVENT_REPLICAS"] == str(EVENT_REPLICAS["dev"])
    assert "--routes" not in compose_services()["nats"]["command"]


def test_production_spreads_nats_and_scales_every_process() -> None:
    docs = render("overlays/production")
    kube = workloads(docs)

    affinity = kube["nats"]["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    [rule] = affinity["requiredDuringSchedulingIgnoredDuringExecution"]
    assert rule["topologyKey"] == "kubernetes.io/hostname"
    assert rule["labelSelector"]["matchLabels"] == kube["nats"]["spec"]["selector"]["matchLabels"]

    for name in [*SERVICE_PORTS, "gateway"]:
        assert kube[name]["spec"]["replicas"] >= 2, name
    # An external PostgreSQL and no in-cluster tracing backend: the suite's processes only.
    assert set(kube) == PROCESSES
    secret = find(docs, "Secret", "shop-secrets")["stringData"]
    for name in SERVICE_PORTS:
        url = urlsplit(secret[f"SHOP_{name.upper()}_DATABASE_URL"])
        assert url.scheme == "postgresql" and url.hostname not in (None, "postgres"), name
        assert url.path == f"/shop_{name}", name
    images = {main_container(kube[name])["image"] for name in [*SERVICE_PORTS, "gateway"]}
    assert len(images) == 1 and not images.pop().endswith(":dev")


def test_dev_runs_one_of_everything_with_its_own_database() -> None:
    kube = workloads(render("overlays/dev"))
    assert {name: w["spec"]["replicas"] for name, w in kube.items() if name in PROCESSES} == dict.fromkeys(
        PROCESSES, 1
    )
    assert set(kube) >= SUPPORT
