"""Seeds for pipeline_yaml_fuzz: the shipped pipelines/*.yaml and the hostile
cases of the hardening issue. An input is YAML text, then NUL-separated --set
arguments.  Usage: pipeline_yaml_fuzz_seeds.py OUT_DIR"""
import pathlib
import sys

out = pathlib.Path(sys.argv[1])
root = pathlib.Path(__file__).resolve().parents[2]

STAGES = "stages:\n  - {name: s, type: generator, count: 1}\n  - {name: c, type: counter}\n"
KAFKA_STAGES = ("stages:\n  - {name: source, type: kafka_source, topics: in, group: g}\n"
                "  - {name: sink, type: kafka_sink, topic: out}\n")


def seed(name, yaml, *sets):
    data = yaml.encode() + b"".join(b"\0" + s.encode() for s in sets)
    (out / name).write_bytes(data)


for p in sorted((root / "pipelines").glob("*.yaml")):
    seed("pipeline_" + p.stem, p.read_text())
    seed("pipeline_" + p.stem + "_set", p.read_text(), "stages.1.workers=2", "runtime.shutdown_timeout=1s")

bomb = "l0: &l0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9))
flow_bomb = "{" + ", ".join(
    ["l0: &l0 [x, x, x, x, x, x, x, x, x]"] +
    [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]) + "}"

seed("set_index_overflow", STAGES, "stages.99999999999999999999999.count=1")
seed("set_index_range", STAGES, "stages.2.count=1", "stages.-1.count=1", "stages.s.count=x")
seed("set_empty_parts", STAGES, "runtime..queue_capacity=4", ".a=1", "a.=1", "=1", "noequals")
seed("set_dotted_property", STAGES, "kafka.properties.security.protocol=SSL",
     "kafka.consumer_properties.fetch.wait.max.ms=10", "kafka.producer_properties.linger.ms=5")
seed("set_secret_property", KAFKA_STAGES, "kafka.properties.security.protocol=${SLUICE_FUZZ_SECRET}")
seed("set_bomb_value", STAGES, "description=" + flow_bomb)
seed("set_replace_list", STAGES, "stages=[]", "stages.0={}", "kafka.properties=[a]")
seed("list_key", STAGES + "kafka:\n  properties:\n    [a, b]: 1\n")
seed("map_key", STAGES + "kafka:\n  properties:\n    {x: y}: 2\n    ? [k]\n    : v\n")
seed("non_scalar_value", STAGES + "kafka:\n  properties:\n    linger.ms: [1, 2]\n    acks: {a: b}\n")
seed("alias_bomb", bomb + STAGES)
seed("deep_flow", "[" * 5000 + "]" * 5000)
seed("deep_map", "description: " + "{a: " * 150 + "1" + "}" * 150 + "\n" + STAGES)
seed("deep_block", "".join(" " * i + "-\n" for i in range(150)))
seed("duplicate_keys", "runtime:\n  queue_capacity: 5\n  queue_capacity: 7\n" + STAGES + "name: a\nname: b\n")
seed("env_secret_in_property", "kafka:\n  properties:\n    security.protocol: ${SLUICE_FUZZ_SECRET}\n"
     "    linger.ms: ${SLUICE_FUZZ_SECRET}\n    debug: all,${SLUICE_FUZZ_SECRET}\n" + KAFKA_STAGES)
seed("env_secret_in_range", "description: &d ${SLUICE_FUZZ_SECRET}\n"
     "stages:\n  - {name: s, type: generator, count: *d, partitions: '${SLUICE_FUZZ_COUNT}0000000'}\n"
     "  - {name: c, type: '${SLUICE_FUZZ_SECRET}'}\n")
seed("env_forms", "name: ${SLUICE_FUZZ_UNSET:-x}-${SLUICE_FUZZ_COUNT}-$${lit}\n"
     "description: ${1BAD} ${SLUICE_FUZZ_UNSET} ${unterminated\n" + STAGES)
seed("kafka_rejects", "kafka:\n  bootstrap_servers: ''\n  properties: {enable.idempotence: 'false', "
     "enable.auto.commit: 'true', no.such: x, queue.buffering.max.messages: 99999999999999999999}\n" + KAFKA_STAGES)
seed("scalars", "runtime: {queue_capacity: '64 ', shutdown_timeout: 99999999999999999999h, log_level: [x]}\n"
     "metrics: {enabled: YES, listen: ':9464'}\n" + STAGES.replace("count: 1", "count: 1, size: 1e9GiB, rate: nan"))
seed("top_level_scalar", "just text")
seed("top_level_list", "- a\n- b\n", "0.x=1")
seed("window_alert", "stages:\n  - {name: s, type: generator}\n  - name: w\n    type: window_aggregate\n"
     "    alert: {topic: a, negative_ratio_threshold: 2}\n  - {name: c, type: counter}\n",
     "stages.w.alert.min_count=3", "stages.1.alert.topic=[x]")
