#!/usr/bin/env bash
# The main job on the embedded defaults: installs what is missing, builds
# Release, starts the embedded broker and runs the pipeline.
#   scripts/demo.sh                 run until Ctrl-C
#   scripts/demo.sh --seconds 20    unattended: stop after 20 s
exec "$(dirname "$0")/passthrough_demo.sh" "$@"
