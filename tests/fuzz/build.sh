#!/bin/sh
# build.sh - builds the libFuzzer targets of tests/fuzz/ with clang.
#
#   tests/fuzz/build.sh OUTDIR [TARGET...]
#
# The project builds with gcc through meson; libFuzzer needs clang, so the
# fuzzers compile the project sources they need directly, instrumented for
# coverage, ASan and UBSan. TARGET is a name like fuzz_frame (default: all
# fuzz targets), or gen_corpus for the seed generator (gen_corpus.c).
# CC overrides the compiler (default: clang, else clang-14).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[ $# -ge 1 ] || { echo "usage: $0 OUTDIR [TARGET...]" >&2; exit 2; }
mkdir -p "$1"
out=$(cd "$1" && pwd)
shift
cd "$root" # project sources are named relative to the root
targets=${*:-"fuzz_frame fuzz_msg_codec fuzz_wal_recovery fuzz_command fuzz_txn fuzz_peer_http fuzz_snapshot_http fuzz_client_http fuzz_watch_stream fuzz_txn_json fuzz_peer_hello fuzz_auth fuzz_lane_answer fuzz_stream_frame"}

if [ -z "${CC:-}" ]; then
	if command -v clang >/dev/null 2>&1; then CC=clang
	elif command -v clang-14 >/dev/null 2>&1; then CC=clang-14
	else echo "build.sh: clang not found" >&2; exit 77
	fi
fi

mkdir -p "$out/obj"
pc() { pkg-config "$@" 2>/dev/null || true; }
inc="-I$root/raft/base -I$root/raft/core -I$root/raft/wal -I$root/raft/peer"
inc="$inc -I$root/raft/node"
inc="$inc -I$root/kv -I$root/server -I$root/client -I$here"
inc="$inc $(pc --cflags libevent jansson lmdb)"
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
base="-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer $san"
version=$(sed -n "s/^ *version : '\([^']*\)'.*/\1/p" "$root/meson.build" | head -n 1)

# Project sources of each target (paths below the repository root).
frame_src="raft/base/crc32c.c raft/base/frame.c"
codec_src="$frame_src raft/peer/msg_codec.c"
wal_only="raft/base/durable.c raft/wal/wal.c raft/wal/wal_recover.c"
wal_src="$frame_src $wal_only"
peer_src="$codec_src raft/base/secret.c raft/peer/transport.c"
peer_src="$peer_src raft/peer/transport_send.c raft/peer/transport_recv.c"
peer_src="$peer_src raft/peer/transport_share.c raft/peer/refused_log.c"
peer_src="$peer_src raft/peer/transport_hello.c raft/peer/peer_proof.c"
peer_src="$peer_src raft/peer/tls.c raft/peer/write_now.c raft/peer/lane_conn.c"
peer_src="$peer_src raft/peer/http_answer.c raft/peer/stream_frame.c"
peer_src="$peer_src raft/peer/stream_send.c raft/peer/stream_recv.c"
snap_src="$peer_src raft/base/crc32c_file.c raft/base/durable.c"
snap_src="$snap_src raft/base/hex.c raft/peer/snapshot_transfer.c"
snap_src="$snap_src raft/peer/snapshot_send.c"
srcs() {
	case $1 in
	fuzz_frame) echo "$frame_src" ;;
	fuzz_msg_codec) echo "$codec_src" ;;
	fuzz_wal_recovery) echo "$wal_src" ;;
	fuzz_command | fuzz_txn)
		echo "kv/key.c kv/command.c kv/txn.c kv/auth_token.c" ;;
	fuzz_txn_json) echo "kv/key.c kv/txn.c server/txn_json.c" ;;
	fuzz_peer_hello) echo "raft/peer/peer_proof.c" ;;
	fuzz_lane_answer) echo "raft/peer/http_answer.c" ;;
	fuzz_stream_frame) echo "$codec_src raft/peer/stream_frame.c" ;;
	fuzz_auth)
		echo "kv/key.c kv/auth_token.c server/auth.c server/auth_json.c" ;;
	fuzz_peer_http) echo "$peer_src" ;;
	fuzz_snapshot_http) echo "$snap_src" ;;
	fuzz_watch_stream)
		echo "client/kvc_stream.c client/kvc_watch_line.c client/kvc_http.c" \
		     "client/kvc_tls.c" ;;
	fuzz_client_http)
		# The whole member but its main(): every source of raft/ (but
		# its examples), kv/ and server/ (globbed, so new files need no
		# change here).
		for f in raft/*/*.c kv/*.c server/*.c; do
			case $f in
			server/main.c | raft/examples/* | */test_*) ;;
			*) echo "$f" ;;
			esac
		done
		# The status page's files, embedded as meson does it.
		mkdir -p "$out/gen"
		python3 server/gen_ui_assets.py "$out/gen/ui_assets.c" \
			server/ui/index.html server/ui/app.css server/ui/app.js
		echo "$out/gen/ui_assets.c" ;;
	*) echo "build.sh: unknown target $1" >&2; exit 2 ;;
	esac
}
libs() {
	case $1 in
	fuzz_peer_http | fuzz_snapshot_http)
		echo "$(pc --libs libevent libevent_openssl libssl libcrypto)" ;;
	fuzz_peer_hello) echo "$(pc --libs libcrypto)" ;;
	fuzz_watch_stream)
		echo "$(pc --libs libevent libevent_openssl libssl libcrypto)" \
		     "$(pc --libs jansson)" ;;
	fuzz_txn_json | fuzz_auth) echo "$(pc --libs jansson)" ;;
	fuzz_client_http)
		echo "$(pc --libs libevent libevent_pthreads jansson lmdb)" \
		     "$(pc --libs libcrypto libssl libevent_openssl)" \
		     "-lpthread -lm" ;;
	*) echo "" ;;
	esac
}

# One target's failure (say, a file of the project being edited) does not
# stop the others; the exit status says whether all were built.
build_one() {
	t=$1
	objs=""
	for s in $(srcs "$t"); do
		o="$out/obj/$(echo "$s" | tr / _).o"
		# Rebuild an object only when its source or a header changed.
		if [ ! -f "$o" ] || [ -n "$(find "$s" raft kv server client \
		     -newer "$o" -name '*.[ch]' 2>/dev/null | head -n 1)" ]; then
			$CC $base -fsanitize=fuzzer-no-link -w $inc \
			    -DKVD_VERSION="\"$version\"" -c "$s" -o "$o" ||
				return 1
		fi
		objs="$objs $o"
	done
	$CC $base -fsanitize=fuzzer -Wall -Wextra -Werror $inc \
	    "$here/$t.c" $objs $(libs "$t") -o "$out/$t" || return 1
	echo "built $out/$t"
}

failed=""
for t in $targets; do
	if [ "$t" = gen_corpus ]; then
		# The seed generator: a plain program, no fuzzer runtime.
		$CC $base -Wall -Wextra -Werror $inc "$here/gen_corpus.c" \
		    $codec_src $wal_only kv/key.c kv/command.c kv/txn.c \
		    kv/auth_token.c \
		    -o "$out/gen_corpus" || failed="$failed $t"
		continue
	fi
	build_one "$t" || failed="$failed $t"
done
if [ -n "$failed" ]; then
	echo "build.sh: failed to build:$failed" >&2
	exit 1
fi
