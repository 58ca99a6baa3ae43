#!/usr/bin/python3
"""Checks deploy/k8s against itself, the pipeline it runs and the image it
names, without a cluster (none runs here):

  check_k8s.py REPO

- every manifest parses; the StatefulSet, its headless Service, the
  PodDisruptionBudget, the PodMonitor and the KEDA ScaledObject select the
  same pods and name the same ports, group, topic and bootstrap servers;
- static membership and transactions: SLUICE_INSTANCE_ID is the pod's name;
- CPU: requests = limits and the inference threads come from the limit;
- KEDA never scales beyond the input topic's partition count;
- SIGTERM has time: terminationGracePeriodSeconds > the shutdown timeout;
- probes ask paths sluice serves; the pipeline file exists in the image;
- a locally built image is not pulled (imagePullPolicy);
- every SLUICE_* variable the manifests set is read by the pipeline (a typo
  would silently leave its default in force).
Exits 1 naming each broken promise.
"""
import os
import re
import sys

import yaml

repo = sys.argv[1]
k8s = os.path.join(repo, "deploy", "k8s")
problems = []


def check(ok, what):
    if not ok:
        problems.append(what)


def load(name):
    with open(os.path.join(k8s, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|m)?", str(text))
    if not m:
        return None
    n = int(m.group(1))
    return {"ms": n / 1000, "s": n, "m": 60 * n, None: n}[m.group(2)]


docs = load("sluice.yaml")
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)
for kind in ("ConfigMap", "StatefulSet", "Service", "PodDisruptionBudget"):
    check(len(by_kind.get(kind, [])) == 1, f"sluice.yaml: expected one {kind}")
check("Deployment" not in by_kind, "sluice.yaml: a Deployment gives pods no stable identity")
if problems:
    print("\n".join(problems))
    sys.exit(1)

env = by_kind["ConfigMap"][0]["data"]
sts = by_kind["StatefulSet"][0]
svc = by_kind["Service"][0]
pdb = by_kind["PodDisruptionBudget"][0]
pod = sts["spec"]["template"]
labels = pod["metadata"]["labels"]
selector = sts["spec"]["selector"]["matchLabels"]
container = pod["spec"]["containers"][0]
ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}


def selects(sel):
    return all(labels.get(k) == v for k, v in sel.items())


check(selects(selector), "StatefulSet selector does not match its pod labels")
check(sts["spec"].get("serviceName") == svc["metadata"]["name"],
      "StatefulSet serviceName is not the Service")
check(svc["spec"].get("clusterIP") == "None", "the StatefulSet's Service must be headless")
check(selects(svc["spec"]["selector"]), "Service selector does not match the pods")
check(selects(pdb["spec"]["selector"]["matchLabels"]), "PDB selector does not match the pods")
check(pdb["spec"].get("maxUnavailable") == 1, "PDB: one member at a time (maxUnavailable: 1)")

container_env = {e["name"]: e for e in container.get("env", [])}
iid = container_env.get("SLUICE_INSTANCE_ID", {}).get("valueFrom", {}).get("fieldRef", {})
check(iid.get("fieldPath") == "metadata.name",
      "SLUICE_INSTANCE_ID must be the pod name (static membership, transactional.id)")
res = container.get("resources", {})
cpu_limit = res.get("limits", {}).get("cpu")
check(cpu_limit is not None and res.get("requests", {}).get("cpu") == cpu_limit,
      "CPU requests and limits must be equal and set")
threads = container_env.get("SLUICE_THREADS", {}).get("valueFrom", {}).get("resourceFieldRef", {})
check(threads.get("resource") == "limits.cpu" and threads.get("containerName") == container["name"],
      "SLUICE_THREADS must come from the container's CPU limit")

image = container["image"]
tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else "latest"
if tag == "latest" or "/" not in image:
    check(container.get("imagePullPolicy") in ("IfNotPresent", "Never"),
          f"image {image} is built locally: imagePullPolicy must not be Always (the default for :latest)")

grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
shutdown = seconds(env.get("SLUICE_SHUTDOWN_TIMEOUT", "30s"))
check(shutdown is not None and grace >= shutdown + 10,
      f"terminationGracePeriodSeconds {grace} leaves no margin over the shutdown timeout {shutdown} s")

with open(os.path.join(repo, "src", "metrics", "http_protocol.cpp")) as f:
    served = f.read()
for probe in ("livenessProbe", "readinessProbe"):
    get = container.get(probe, {}).get("httpGet", {})
    check(f'"{get.get("path")}"' in served, f"{probe} asks {get.get('path')}, which sluice does not serve")
    check(get.get("port") in ports, f"{probe} names port {get.get('port')}, which the container lacks")

args = container.get("args", [])
with open(os.path.join(repo, "deploy", "Dockerfile")) as f:
    dockerfile = f.read()
m = re.search(r"^COPY pipelines (\S+)$", dockerfile, re.M)
check(m is not None, "the Dockerfile no longer copies pipelines/")
pipeline_text = ""
if m and len(args) >= 2:
    inside = args[1]
    check(inside.startswith(m.group(1) + "/"), f"{inside} is not where the image puts pipelines")
    local = os.path.join(repo, "pipelines", os.path.relpath(inside, m.group(1)))
    check(os.path.isfile(local), f"{inside}: no such pipeline in pipelines/")
    if os.path.isfile(local):
        with open(local) as f:
            pipeline_text = f.read()
read_vars = set(re.findall(r"\$\{(SLUICE_[A-Z0-9_]+)", pipeline_text))
documentation_only = {"SLUICE_PARTITIONS"}
for name in list(env) + list(container_env):
    if name.startswith("SLUICE_") and name not in documentation_only:
        check(name in read_vars, f"{name} is set but the pipeline never reads it")

partitions = int(env["SLUICE_PARTITIONS"])
check(sts["spec"]["replicas"] <= partitions, "more replicas than input partitions")

pm = load("podmonitor.yaml")
check(len(pm) == 1 and pm[0]["kind"] == "PodMonitor", "podmonitor.yaml: one PodMonitor")
if pm:
    check(selects(pm[0]["spec"]["selector"]["matchLabels"]), "PodMonitor selector does not match the pods")
    for ep in pm[0]["spec"]["podMetricsEndpoints"]:
        check(ep.get("port") in ports, f"PodMonitor scrapes port {ep.get('port')}, which the pods lack")
        check(ep.get("path", "/metrics") == "/metrics", "PodMonitor path is not /metrics")
    job = f"streams/{pm[0]['metadata']['name']}"
    with open(os.path.join(repo, "deploy", "prometheus", "alerts.yml")) as f:
        alerts = yaml.safe_load(f)
    down = [r for g in alerts["groups"] for r in g["rules"] if r.get("alert") == "SluiceDown"]
    m = re.search(r'job=~"([^"]+)"', down[0]["expr"]) if down else None
    check(m is not None and re.fullmatch(m.group(1), job) and re.fullmatch(m.group(1), "sluice"),
          f"SluiceDown does not match the PodMonitor's job {job!r} and the plain 'sluice' job")

so = load("keda-scaledobject.yaml")
check(len(so) == 1 and so[0]["kind"] == "ScaledObject", "keda-scaledobject.yaml: one ScaledObject")
if so:
    spec = so[0]["spec"]
    target = spec["scaleTargetRef"]
    check(target.get("kind") == "StatefulSet" and target.get("name") == sts["metadata"]["name"],
          "ScaledObject does not target the StatefulSet")
    check(spec.get("maxReplicaCount", 100) <= partitions,
          f"ScaledObject maxReplicaCount {spec.get('maxReplicaCount')} > {partitions} partitions")
    for t in spec["triggers"]:
        md = t["metadata"]
        check(t["type"] == "kafka", "the ScaledObject scales on Kafka lag")
        check(md.get("consumerGroup") == env["SLUICE_GROUP"], "ScaledObject consumerGroup is not SLUICE_GROUP")
        check(md.get("topic") == env["SLUICE_INPUT_TOPIC"], "ScaledObject topic is not SLUICE_INPUT_TOPIC")
        check(md.get("bootstrapServers") == env["SLUICE_BOOTSTRAP"], "ScaledObject bootstrap is not SLUICE_BOOTSTRAP")
        check(md.get("allowIdleConsumers") in ("false", False), "allowIdleConsumers must be false")

if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"deploy/k8s holds: StatefulSet of {sts['spec']['replicas']} (max {partitions} partitions), "
      f"{cpu_limit} CPU each, grace {grace} s > shutdown {shutdown} s")
