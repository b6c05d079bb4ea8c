#!/usr/bin/env bash
# etcd_cluster.sh - start or stop the 3-member etcd cluster kvd is measured
# against (Debian's etcd-server), on loopback: client ports 23791-23793,
# peer ports 23801-23803, the v2 API enabled. scripts/bench uses this when
# the shared anchor script is not present; both start the same cluster.
#   etcd_cluster.sh start DIR   data dirs DIR/e1..e3, pid files DIR/eN.pid
#   etcd_cluster.sh stop DIR
# ETCD_PEER_ADVERTISE_BASE=2381 advertises peer ports 23811-23813 (delay
# relays in front of the real ones, scripts/bench --rtt-ms).
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
action=$1
dir=$2
adv=${ETCD_PEER_ADVERTISE_BASE:-2380}
case $adv in 2380 | 2381) ;; *) echo "$0: ETCD_PEER_ADVERTISE_BASE is 2380 or 2381" >&2; exit 2 ;; esac
peers=""
for i in 1 2 3; do peers+="${peers:+,}e$i=http://127.0.0.1:$adv$i"; done

case $action in
start)
	mkdir -p "$dir"
	for i in 1 2 3; do
		etcd --name "e$i" --data-dir "$dir/e$i" \
			--listen-client-urls "http://127.0.0.1:2379$i" \
			--advertise-client-urls "http://127.0.0.1:2379$i" \
			--listen-peer-urls "http://127.0.0.1:2380$i" \
			--initial-advertise-peer-urls "http://127.0.0.1:$adv$i" \
			--initial-cluster "$peers" --initial-cluster-state new \
			--enable-v2=true --log-level error \
			>"$dir/e$i.log" 2>&1 &
		echo $! >"$dir/e$i.pid"
	done
	# Healthy means a leader is known and a quorum answers: at most 20 s.
	for _ in $(seq 200); do
		curl -sf --max-time 1 http://127.0.0.1:23791/health |
			grep -q '"health":"true"' && exit 0
		sleep 0.1
	done
	echo "etcd_cluster.sh: etcd not healthy after 20 s (see $dir/e*.log)" >&2
	exit 1
	;;
stop)
	for i in 1 2 3; do
		if [ -f "$dir/e$i.pid" ]; then
			kill "$(cat "$dir/e$i.pid")" 2>/dev/null || true
		fi
	done
	;;
*)
	echo "usage: $0 start|stop DIR" >&2
	exit 2
	;;
esac
