#!/usr/bin/env bash
# The main job on the embedded defaults: real-time sentiment monitoring.
# Installs what is missing, builds Release, starts the embedded broker, runs
# pipelines/sentiment.yaml on the shipped model, replays TweetEval tweets and
# shows results, a live summary and the metrics URL (scripts/sentiment_demo.sh).
#   scripts/demo.sh                 run until Ctrl-C
#   scripts/demo.sh --seconds 20    unattended: stop after 20 s, print the final summary
#   scripts/demo.sh --rate 200      replay rate (records/s)
# The plain Kafka pass-through demo: scripts/passthrough_demo.sh.
exec "$(dirname "$0")/sentiment_demo.sh" "$@"
