# Starting and stopping the embedded broker for demos and benchmarks.
# Source after common.sh. Sets SLUICE_BROKER_PID and prints the bootstrap address.

# sluice_start_broker SLUICE_BIN WORKDIR [--topic name:parts ...]
sluice_start_broker() {
  local bin=$1 work=$2; shift 2
  "$bin" broker "$@" >"$work/broker.out" 2>"$work/broker.log" &
  SLUICE_BROKER_PID=$!
  local i
  for i in $(seq 1 100); do
    if [ -s "$work/broker.out" ]; then head -1 "$work/broker.out"; return 0; fi
    kill -0 "$SLUICE_BROKER_PID" 2>/dev/null || break
    sleep 0.1
  done
  sluice_log "embedded broker did not start:"; cat "$work/broker.log" >&2
  return 1
}
