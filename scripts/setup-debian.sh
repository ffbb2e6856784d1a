#!/bin/sh
# Installs everything the project needs on a fresh Debian 12 machine (as root):
# build tools and libraries, the ONNX conformance data, Debian's sample photos,
# torch (to export the benchmark architectures) and, in a virtual environment,
# ONNX Runtime from PyPI as the reference runtime for the tests.
set -eu
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential meson ninja-build pkg-config protobuf-c-compiler libprotobuf-c-dev \
  clang libclang-rt-14-dev valgrind \
  libonnx-dev libonnx-testdata libopenblas-dev libglib2.0-dev libgdk-pixbuf-2.0-dev \
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools \
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly \
  gstreamer1.0-libav \
  libjson-glib-dev libcairo2-dev fonts-dejavu-core libgdk-pixbuf2.0-bin \
  libpango1.0-dev darknet dataset-fashion-mnist \
  python3 python3-venv python3-numpy python3-torch python3-torchvision python3-onnx python3-pil \
  > /tmp/cnn-apt.log || { tail -20 /tmp/cnn-apt.log; exit 1; }
# ONNX Runtime, the reference the tests compare with.
VENV=${CNN_VENV:-/opt/cnn-venv}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import onnxruntime, pytest" 2>/dev/null; then
  $SUDO /usr/bin/python3 -m venv "$VENV"
  $SUDO "$VENV/bin/pip" install -q --disable-pip-version-check onnxruntime numpy pytest
fi
echo "setup done: reference runtime in $VENV"
