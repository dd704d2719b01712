#!/usr/bin/env bash
# out_of_tree.sh - what a plugin author outside this tree gets
# (CLI.md "Build and install", PLUGIN-API.md): `cmake --install` lays out
# bin/loopd, lib/loopd/plugins/hello.so, include/loopd/plugin.h and
# lib/pkgconfig/loopd-plugin.pc; a plugin builds with exactly
#     cc -shared -fPIC $(pkg-config --cflags loopd-plugin) x.c -o x.so
# and the installed loopd runs it, and hello from its default plugin
# directory.  The prefix is then moved: the .pc file and loopd's default
# plugin directory must follow it (relocatable, ${pcfiledir}).
set -euo pipefail
if [ $# -lt 2 ]; then
	echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
	exit 2
fi
BUILD=$(cd "$1" && pwd)
SOURCE=$(cd "$2" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/loopd-oot.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# run_loopd PREFIX TAG [OPTION...]: the installed loopd, from $WORK/src.
run_loopd() {
	local prefix=$1 tag=$2
	shift 2
	if ! (cd "$WORK/src" && timeout -k 5 60 "$prefix/bin/loopd" \
		--no-socket --state-dir "$WORK/state" "$@" \
		>"$WORK/$tag.out" 2>"$WORK/$tag.err"); then
		echo "--- stdout:" >&2
		cat "$WORK/$tag.out" >&2
		echo "--- stderr:" >&2
		cat "$WORK/$tag.err" >&2
		fail "$tag: $prefix/bin/loopd $* did not exit 0"
	fi
}

# build_plugins PREFIX: x.c and hello.c, with exactly the documented
# command line, against the .pc file under PREFIX.
build_plugins() {
	local prefix=$1 f
	rm -f "$WORK/src/x.so" "$WORK/src/hello.so"
	for f in x hello; do
		(
			cd "$WORK/src"
			# shellcheck disable=SC2046 # the flags are words
			cc -shared -fPIC $(PKG_CONFIG_PATH=$prefix/lib/pkgconfig \
				pkg-config --cflags loopd-plugin) $f.c -o $f.so
		) || fail "building $f.c against $prefix failed"
	done
}

# check_prefix PREFIX: build against it and run its loopd.
check_prefix() {
	local prefix=$1 includedir loaded
	includedir=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig \
		pkg-config --variable=includedir loopd-plugin)
	[ "$(cd "$includedir" && pwd -P)" = "$(cd "$prefix/include" && pwd -P)" ] ||
		fail "loopd-plugin.pc under $prefix points at $includedir"
	build_plugins "$prefix"
	run_loopd "$prefix" x --plugin ./x.so
	grep -qx "x: timer fired after init" "$WORK/x.out" ||
		fail "x.so did not run under $prefix/bin/loopd (stdout: $(cat "$WORK/x.out"))"
	# The installed hello, found by name in the default plugin directory.
	run_loopd "$prefix" hello --plugin hello
	grep -qF "hello: pipe closed; goodbye" "$WORK/hello.err" ||
		fail "the installed hello did not finish under $prefix"
	loaded=$(sed -n 's/.*hello: loaded .* from \(.*\)$/\1/p' "$WORK/hello.err")
	if [ -z "$loaded" ] || [ "$(readlink -f "$loaded")" != \
		"$(readlink -f "$prefix/lib/loopd/plugins/hello.so")" ]; then
		fail "hello was not loaded from $prefix/lib/loopd/plugins:" \
			"$(grep -F loaded "$WORK/hello.err")"
	fi
	# Its "ticks" comes from [plugin.hello] in the config file.
	printf '[plugin.hello]\nticks = 2\n' >"$WORK/hello.conf"
	run_loopd "$prefix" hello_conf --config "$WORK/hello.conf" --plugin hello
	[ "$(grep -c 'hello: tick [0-9]' "$WORK/hello_conf.err")" -eq 2 ] ||
		fail "hello with ticks = 2 did not tick twice:" \
			"$(grep -F tick "$WORK/hello_conf.err")"
	# hello.c, copied out of the tree, builds and runs too.
	run_loopd "$prefix" hello_copy --plugin ./hello.so
	grep -qF "hello: pipe closed; goodbye" "$WORK/hello_copy.err" ||
		fail "hello.c built out of the tree did not finish"
}

mkdir -p "$WORK/src" "$WORK/state"
cp "$SOURCE/plugins/hello/hello.c" "$WORK/src/"
cat >"$WORK/src/x.c" <<'EOF_'
/* A minimal out-of-tree plugin: one timer, one line on stdout. */
#include <stdio.h>
#include <loopd/plugin.h>

static void fired(loopd_plugin *p, void *ud)
{
	printf("x: timer fired after init\n");
	fflush(stdout);
}

static int x_init(loopd_plugin *p, const struct loopd_api *api, void **st)
{
	return api->timer(p, 1, 0, fired, NULL) > 0 ? 0 : -1;
}

static const struct loopd_plugin_desc x_desc = {
	.magic = LOOPD_PLUGIN_MAGIC,
	.size = sizeof(struct loopd_plugin_desc),
	.abi_major = LOOPD_ABI_MAJOR,
	.abi_minor = LOOPD_ABI_MINOR,
	.name = "x",
	.init = x_init,
};

LOOPD_PLUGIN(x_desc)
EOF_

P=$WORK/prefix
cmake --install "$BUILD" --prefix "$P" >"$WORK/install.log" ||
	fail "cmake --install failed: $(cat "$WORK/install.log")"

# The layout CLI.md promises.
for f in bin/loopd bin/loopctl lib/loopd/plugins/hello.so \
	lib/loopd/plugins/exec.so include/loopd/plugin.h \
	lib/pkgconfig/loopd-plugin.pc lib/systemd/system/loopd.service \
	share/man/man1/loopctl.1 share/man/man8/loopd.8 \
	share/bash-completion/completions/loopctl; do
	[ -e "$P/$f" ] || fail "$f is not installed under the prefix;" \
		"installed: $(cd "$P" && find . -type f | sort | tr '\n' ' ')"
done
[ -x "$P/bin/loopd" ] || fail "bin/loopd is not executable"
echo "ok: installed layout"

check_prefix "$P"
echo "ok: out-of-tree plugins build and run under $P"

# plugins/README.md's walk-through, as written: its greet.c builds with
# the command it gives, loads into a running loopd from the plugin
# directory, and its kind runs.
python3 - "$SOURCE/plugins/README.md" "$WORK/greet.c" <<'PY'
import sys
s = open(sys.argv[1]).read()
i = s.index("```c\n") + 5
open(sys.argv[2], "w").write(s[i:s.index("```", i)])
PY
PKG_CONFIG_PATH=$P/lib/pkgconfig cc -shared -fPIC -fvisibility=hidden \
	$(PKG_CONFIG_PATH=$P/lib/pkgconfig pkg-config --cflags loopd-plugin) \
	"$WORK/greet.c" -o "$P/lib/loopd/plugins/greet.so" ||
	fail "the README's greet.c does not build"
"$P/bin/loopd" -s "$WORK/g.sock" -S "$WORK/gstate" 2>"$WORK/g.err" &
gpid=$!
for _ in $(seq 100); do [ -S "$WORK/g.sock" ] && break; sleep 0.05; done
"$P/bin/loopctl" -s "$WORK/g.sock" add hi -e 'every 10s' --kind greet >/dev/null &&
	"$P/bin/loopctl" -s "$WORK/g.sock" run hi --wait >/dev/null &&
	[ "$("$P/bin/loopctl" -s "$WORK/g.sock" output 1)" = greetings ] ||
	{ kill "$gpid"; fail "the README's greet kind did not run: $(cat "$WORK/g.err")"; }
"$P/bin/loopctl" -s "$WORK/g.sock" shutdown >/dev/null
wait "$gpid" || fail "loopd did not stop cleanly"
rm "$P/lib/loopd/plugins/greet.so"
echo "ok: plugins/README.md's example builds, loads and runs"

# Move the whole prefix: nothing may still point at the old one.
mv "$P" "$WORK/moved"
check_prefix "$WORK/moved"
echo "ok: the moved prefix still works (relocatable .pc, plugin dir)"
