#!/usr/bin/env bash
# The alerting rules are valid (promtool check rules) and fire as their unit tests expect
# (promtool test rules). Exit 77 (skipped) without promtool (Debian package prometheus).
set -euo pipefail
dir=${1:?usage: promtool_test.sh MONITORING_DIR}
command -v promtool >/dev/null || { echo "SKIP: promtool not installed (apt install prometheus)"; exit 77; }
promtool check rules "$dir/vane.rules.yml"
cd "$dir"
promtool test rules vane.rules.test.yml
