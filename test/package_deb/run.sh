#!/usr/bin/env bash
# The .deb: builds it with cpack from the built tree into WORK_DIR (never into the build
# directory, where `--target package` writes), inspects its contents and control fields,
# extracts it into a scratch root and runs the programs from there, and runs lintian when it
# is installed. Every check fails the test with a message saying what was wrong.
# Usage: run.sh CPACK BUILD_DIR WORK_DIR VERSION
set -euo pipefail

cpack=$1 build_dir=$2 work=$3 version=$4
fail() { echo "package.deb: FAILED: $*" >&2; exit 1; }
for tool in dpkg-deb dpkg dpkg-shlibdeps; do
  command -v "$tool" >/dev/null || fail "$tool not installed (Debian package dpkg-dev; scripts/install-deps.sh)"
done

rm -rf "$work"
mkdir -p "$work"
arch=$(dpkg --print-architecture)
deb=$work/out/hostsweep_${version}_${arch}.deb

"$cpack" --config "$build_dir/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1 \
  || { cat "$work/cpack.log" >&2; fail "cpack exited non-zero"; }
[ -f "$deb" ] || { ls -l "$work/out" >&2; fail "no $deb"; }

# Contents: the operator's files, and none of the embedder's.
dpkg-deb --contents "$deb" >"$work/contents" || fail "dpkg-deb --contents"
has_entry() { awk '{print $6}' "$work/contents" | grep -qxF "$1"; }
for path in ./usr/bin/hostsweep ./usr/bin/hostsweep-fake-agent ./lib/systemd/system/hostsweep.service \
            ./etc/hostsweep/hostsweep.toml; do
  has_entry "$path" || { cat "$work/contents" >&2; fail "$path is not in the package"; }
done
if grep -E '\./usr/(include|lib)/' "$work/contents" >&2; then
  fail "headers or libraries in the package (only the runtime components belong there)"
fi
grep -E '^-rwxr-xr-x root/root .* \./usr/bin/hostsweep$' "$work/contents" >/dev/null \
  || fail "/usr/bin/hostsweep is not root-owned 0755: $(grep '/usr/bin/hostsweep$' "$work/contents")"

# Control fields.
dpkg-deb --info "$deb" >"$work/info" || fail "dpkg-deb --info"
field() { dpkg-deb --field "$deb" "$1"; }
[ "$(field Package)" = hostsweep ] || fail "Package: is '$(field Package)'"
[ "$(field Version)" = "$version" ] || fail "Version: is '$(field Version)', the project's is $version"
[ "$(field Architecture)" = "$arch" ] || fail "Architecture: is '$(field Architecture)'"
for name in Maintainer Description Section; do
  [ -n "$(field "$name")" ] || fail "no $name: field"
done
depends=$(field Depends)
[ -n "$depends" ] || fail "Depends: is empty"
depends_names=$(tr ',|' '\n\n' <<<"$depends" | awk '{print $1}')
for dep in libc6 libsqlite3-0 libstdc++6 adduser; do
  grep -qxF "$dep" <<<"$depends_names" || fail "Depends: lacks $dep: $depends"
done
grep -q bubblewrap <<<"$(field Recommends)" || fail "Recommends: lacks bubblewrap"

# The control archive: conffiles and maintainer scripts.
dpkg-deb --control "$deb" "$work/control" || fail "dpkg-deb --control"
grep -qxF /etc/hostsweep/hostsweep.toml "$work/control/conffiles" \
  || fail "conffiles does not list /etc/hostsweep/hostsweep.toml"
for script in postinst prerm postrm; do
  [ -x "$work/control/$script" ] || fail "no executable $script"
  sh -n "$work/control/$script" || fail "$script: not valid sh"
  grep -q '/run/systemd/system' "$work/control/$script" || fail "$script does not guard systemctl for a host without systemd"
done
grep -q 'adduser --system' "$work/control/postinst" || fail "postinst makes no system user"
grep -q 'install -d -m 0750' "$work/control/postinst" || fail "postinst makes no /var/lib/hostsweep 0750"

# Extracted: the programs run from it (they link only to system libraries), and the unit
# names what the package installs.
dpkg -x "$deb" "$work/root" || fail "dpkg -x"
out=$("$work/root/usr/bin/hostsweep" --version) || fail "hostsweep --version exited non-zero"
[ "$out" = "hostsweep $version" ] || fail "hostsweep --version says '$out', not 'hostsweep $version'"
"$work/root/usr/bin/hostsweep-fake-agent" --help >/dev/null || fail "hostsweep-fake-agent --help exited non-zero"
unit=$work/root/lib/systemd/system/hostsweep.service
exec_start=$(grep '^ExecStart=' "$unit") || fail "no ExecStart= in the unit"
binary=${exec_start#ExecStart=}; binary=${binary%% *}
[ "$binary" = /usr/bin/hostsweep ] || fail "the unit starts $binary, the package installs /usr/bin/hostsweep"
grep -q -- '--data-dir /var/lib/hostsweep ' <<<"$exec_start" || fail "the unit's data dir is not /var/lib/hostsweep: $exec_start"
grep -q -- '--config /etc/hostsweep/hostsweep.toml ' <<<"$exec_start" || fail "the unit's config is not /etc/hostsweep/hostsweep.toml: $exec_start"
grep -qxF 'ReadWritePaths=/var/lib/hostsweep' "$unit" || fail "the unit does not let the daemon write /var/lib/hostsweep"
# The packaged config sets nothing: every setting is a comment (the defaults).
if grep -Ev '^[[:space:]]*(#|$)' "$work/root/etc/hostsweep/hostsweep.toml" >&2; then
  fail "/etc/hostsweep/hostsweep.toml sets something (it is to hold the defaults, commented)"
fi

if command -v lintian >/dev/null; then
  lintian --fail-on error "$deb" || fail "lintian reports errors"
else
  echo "package.deb: lintian not installed (Debian package lintian): not run"
fi
echo "package.deb: ok ($deb)"
