#!/bin/bash
# Restart the worker if its own loop stopped rewriting its heartbeat file: a frozen worker. A busy
# worker keeps writing it (the beat runs beside the pool), so it is never restarted for being busy.
# Usage: bunri-worker-liveness UNIT MAX_AGE_SECONDS (BUNRI_HEARTBEAT_PATH comes from node.env).
set -u
unit="$1" max_age="$2"
systemctl is-active --quiet "$unit" || exit 0
# A worker that started less than MAX_AGE ago may not have written its first beat yet.
started_us=$(systemctl show -p ActiveEnterTimestampMonotonic --value "$unit")
uptime_s=$(cut -d' ' -f1 /proc/uptime)
now_us=$(( ${uptime_s%.*} * 1000000 ))
(( now_us - started_us < max_age * 1000000 )) && exit 0
if ! /opt/bunri/venv/bin/bunri worker alive "$BUNRI_HEARTBEAT_PATH" --max-age "$max_age"; then
  echo "restarting $unit: no heartbeat for ${max_age} s" >&2
  systemctl restart "$unit"
fi
