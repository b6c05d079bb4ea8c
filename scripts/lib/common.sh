# common.sh - shared by scripts/run, scripts/test and scripts/bench:
# install what is missing from Debian (when root), configure and build.

KVD_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# Debian packages the build and the tests need.
KVD_PACKAGES=(build-essential pkg-config meson ninja-build libevent-dev
	libjansson-dev liblmdb-dev libssl-dev libjemalloc-dev openssl check python3
	curl iproute2)

kvd_log() { printf '%s: %s\n' "$(basename "$0")" "$*" >&2; }

# Installs the packages that are missing, with one apt-get update.
kvd_install_deps() {
	local missing=() p
	for p in "${KVD_PACKAGES[@]}" "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		kvd_log "missing packages: ${missing[*]}"
		kvd_log "run as root, or: sudo apt-get install -y ${missing[*]}"
		return 1
	fi
	kvd_log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null &&
		apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# kvd_build DIR [meson options...]: configure (the options applied again
# to a build dir that exists, so a changed one such as -Dlong_tests takes
# effect) and compile.
kvd_build() {
	local dir=$1
	shift
	if [ ! -f "$KVD_ROOT/$dir/build.ninja" ]; then
		meson setup "$KVD_ROOT/$dir" "$KVD_ROOT" "$@" >/dev/null ||
			{ kvd_log "meson setup $dir failed"; return 1; }
	elif [ $# -gt 0 ]; then
		meson configure "$KVD_ROOT/$dir" "$@" >/dev/null ||
			{ kvd_log "meson configure $dir failed"; return 1; }
	fi
	meson compile -C "$KVD_ROOT/$dir" >/dev/null ||
		{ meson compile -C "$KVD_ROOT/$dir"; return 1; }
}
