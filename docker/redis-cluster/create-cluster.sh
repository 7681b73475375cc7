#!/bin/sh
# Joins the Redis nodes given as host:port into one cluster of masters (no
# replicas), or does nothing when they already form one. Run by the compose
# service redis-cluster-init; exits 0 once every slot is served.
set -eu
[ "$#" -ge 3 ] || { echo "usage: create-cluster.sh host:port host:port host:port..." >&2; exit 2; }

first_host=${1%:*}
first_port=${1##*:}

state() { redis-cli -h "$first_host" -p "$first_port" cluster info | tr -d '\r' | sed -n 's/^cluster_state://p'; }

if [ "$(state)" = ok ]; then
  echo "redis-cluster-init: the cluster already serves every slot; nothing to do"
  exit 0
fi

# CLUSTER MEET takes IP addresses, not host names: resolve each node first.
addresses=""
for node in "$@"; do
  host=${node%:*}
  port=${node##*:}
  ip=$(getent hosts "$host" 2>/dev/null | awk 'NR == 1 { print $1 }' || true)
  # busybox images without getent: nslookup's last "Address:" line.
  [ -n "$ip" ] || ip=$(nslookup "$host" 2>/dev/null | awk '/^Address/ { a = $NF } END { print a }' || true)
  [ -n "$ip" ] || { echo "redis-cluster-init: cannot resolve $host" >&2; exit 1; }
  addresses="$addresses $ip:$port"
done

echo "redis-cluster-init: creating a cluster of$addresses"
# shellcheck disable=SC2086 # one argument per node
redis-cli --cluster create $addresses --cluster-replicas 0 --cluster-yes

# The nodes agree on the slot map by gossip; wait until the first one says ok (at most 30 s).
tries=0
until [ "$(state)" = ok ]; do
  tries=$((tries + 1))
  [ "$tries" -le 60 ] || { echo "redis-cluster-init: the cluster did not reach state ok" >&2; exit 1; }
  sleep 0.5
done
echo "redis-cluster-init: cluster ok"
