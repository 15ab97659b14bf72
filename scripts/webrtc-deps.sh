#!/usr/bin/env bash
# Build prerequisites for the `webrtc-audio-processing` crate's `bundled` feature on Debian 12,
# which ships a too-old meson (1.0.1; needs >= 1.1) and abseil (20220623; needs >= 20240722).
# Installs the missing Debian packages, meson from PyPI into a venv, and abseil 20240722
# (static, PIC, C++17) into a cache prefix. Idempotent: later runs only print the exports.
#
#   eval "$(scripts/webrtc-deps.sh)" && cargo build --release
#
# Run it, don't source it. Cache dir: $VIVAVOCE_WEBRTC_DEPS (default
# ~/.cache/vivavoce/webrtc-deps). Progress goes to stderr; stdout is only `export` lines.
set -euo pipefail
exec 3>&1 1>&2 # fd 3 = real stdout (the exports); everything else goes to stderr

DEPS="${VIVAVOCE_WEBRTC_DEPS:-$HOME/.cache/vivavoce/webrtc-deps}"
PREFIX="$DEPS/prefix"
VENV="$DEPS/venv"
MESON_VERSION="1.12.1"
ABSL_VERSION="20240722.0"
ABSL_URL="http://deb.debian.org/debian/pool/main/a/abseil/abseil_${ABSL_VERSION}.orig.tar.gz"
ABSL_SHA256="df6d1f5ef540725f3851201176a60486aab332410788465c9877910bb471c34a"
ABSL_STAMP="$PREFIX/.abseil-$ABSL_VERSION.stamp"
mkdir -p "$DEPS"
exec 9>"$DEPS/.lock" && flock 9 # serialize concurrent runs

# 1. Debian packages, installing only the missing ones. libclang-dev: bindgen; ninja-build: meson
#    backend (also used for abseil); cmake: abseil, and libopus for feature webrtc-libopus. g++ (brings binutils' nm, run by the crate's
#    build.rs), pkg-config, python3-venv and curl are usually present already.
PKGS=(g++ pkg-config python3-venv curl ninja-build cmake libclang-dev)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "webrtc-deps: apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# 2. meson from PyPI in a private venv (Debian's python, not whatever pyenv shim is on PATH).
if [ "$("$VENV/bin/meson" --version 2>/dev/null)" != "$MESON_VERSION" ]; then
  echo "webrtc-deps: installing meson $MESON_VERSION into $VENV"
  PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
  "$PY" -m venv --clear "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "meson==$MESON_VERSION"
fi

# 3. abseil, built once into $PREFIX (the stamp marks a finished install).
if [ ! -f "$ABSL_STAMP" ]; then
  echo "webrtc-deps: building abseil $ABSL_VERSION into $PREFIX"
  tarball="$DEPS/abseil_${ABSL_VERSION}.orig.tar.gz" # kept, so a rebuild needs no download
  if ! echo "$ABSL_SHA256  $tarball" | sha256sum -c --status 2>/dev/null; then
    curl -fsSL --retry 3 -o "$tarball.part" "$ABSL_URL"
    echo "$ABSL_SHA256  $tarball.part" | sha256sum -c --quiet # mismatch aborts (set -e)
    mv "$tarball.part" "$tarball"
  fi
  work="$DEPS/abseil-build"
  rm -rf "$work" && mkdir -p "$work"
  tar -xzf "$tarball" -C "$work" --strip-components=1
  # C++17 pins absl::optional/string_view/... to the std types in the installed options.h,
  # matching the -std=c++17 that webrtc-audio-processing and the crate's wrapper use.
  cmake -S "$work" -B "$work/build" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX="$PREFIX" \
    -DCMAKE_INSTALL_LIBDIR=lib \
    -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DCMAKE_CXX_STANDARD=17 \
    -DABSL_PROPAGATE_CXX_STD=ON \
    -DABSL_BUILD_TESTING=OFF \
    -DBUILD_TESTING=OFF \
    -DBUILD_SHARED_LIBS=OFF
  cmake --build "$work/build"
  cmake --install "$work/build"
  rm -rf "$work"
  touch "$ABSL_STAMP"
fi

# 4. Print the environment the crate's build.rs needs: this meson first on PATH, and abseil
#    found via pkg-config (meson's first choice; CMAKE_PREFIX_PATH covers its cmake fallback).
#    A directory already present is not added again, so repeated evals don't grow the variables.
prepend() { # prepend VAR DIR: print `export VAR=DIR:<current value>`
  local cur="${!1:-}"
  case ":$cur:" in *":$2:"*) ;; *) cur="$2${cur:+:$cur}" ;; esac
  printf 'export %s=%q\n' "$1" "$cur" >&3
}
prepend PATH "$VENV/bin"
prepend PKG_CONFIG_PATH "$PREFIX/lib/pkgconfig"
prepend CMAKE_PREFIX_PATH "$PREFIX"
