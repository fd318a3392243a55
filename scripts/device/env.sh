# Sourced on the GPU machine: unpacks the Debian build dependencies carried in .deps/ (see
# docs/DEVICE.md) into /opt/deps and points CMake, pkg-config and the loader at them.
set -euo pipefail
mkdir -p /opt/deps
for f in .deps/*.deb; do dpkg -x "$f" /opt/deps; done
D=/opt/deps/usr
export PATH=$D/bin:$PATH
export LD_LIBRARY_PATH=$D/lib/x86_64-linux-gnu:$D/lib/x86_64-linux-gnu/openblas-pthread:${LD_LIBRARY_PATH:-}
export PKG_CONFIG_LIBDIR=$D/lib/x86_64-linux-gnu/pkgconfig:$D/share/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=/opt/deps
FERRIS_CMAKE_DEPS=(-DCMAKE_PREFIX_PATH=$D -DCMAKE_LIBRARY_PATH=$D/lib/x86_64-linux-gnu/openblas-pthread
  -DPKG_CONFIG_EXECUTABLE=$D/bin/pkgconf)
