# Sourced by the example pipelines: use the plugin from this checkout's
# build folder when there is one, and print what runs.
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
if [ -f "$top/${CNN_BUILD:-build}/plugins/libgstcnn.so" ]; then
  GST_PLUGIN_PATH="$top/${CNN_BUILD:-build}/plugins${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
  export GST_PLUGIN_PATH
fi
run() {
  echo "gst-launch-1.0 $*" >&2
  # shellcheck disable=SC2068
  exec gst-launch-1.0 -e $@
}
