#!/usr/bin/env bash
# A headless audio rig for tests: a private PipeWire with a null sink "speaker" at 48 kHz
# (the default output; what it plays can be recorded from its monitor), a second null
# sink "speaker44" at 44.1 kHz (the ALSA device `speaker44`), a default microphone "mic"
# fed from a sink "micfeed", and a stereo 44.1 kHz microphone "mic44" (ALSA `mic44`) fed
# from "micfeed44". Optional: `--echo MS` loops the speaker back into the mic after MS
# milliseconds, a real acoustic echo path (tests can also start one themselves).
#
#   scripts/audio-rig.sh run cargo test        # start, run the command inside, stop
#   eval "$(scripts/audio-rig.sh start [--echo 40])"   # or: export the environment
#   scripts/audio-rig.sh stop
#
# Needs Debian's pipewire pipewire-bin pipewire-alsa wireplumber dbus.
set -euo pipefail

RIG="${VIVAVOCE_AUDIO_RIG:-${TMPDIR:-/tmp}/vivavoce-audio-rig}"

# The rig's own audio processes stand in for hardware, which a busy CPU cannot starve:
# their audio threads run with real-time scheduling where that is allowed (as root in
# CI), as the PipeWire daemon's data thread already does. Only those: a helper's main
# thread (start-up, the audio server's registry, which every client hears about when
# another joins) stays normal. Run wholly at real-time priority, three helpers' main
# threads busy at once held both cores from every audio thread, theirs and the tests':
# the echo loopback missed cycles ("client too slow" in the daemon's log), which moved
# the echo path with no underrun anywhere a test could see.
rt_threads() {
  local pid="$1" tid
  for _ in $(seq 40); do
    for tid in $(ls "/proc/$pid/task" 2>/dev/null); do
      [ "$tid" = "$pid" ] || chrt -f -p 80 "$tid" 2>/dev/null || true
    done
    sleep 0.05
  done
}
# Starts a helper in the background with its output in LOG: rt LOG COMMAND...
rt() {
  local log="$1" pid
  shift
  "$@" > "$log" 2>&1 &
  pid=$!
  echo "$pid" >> "$RIG/pids"
  rt_threads "$pid" > /dev/null 2>&1 &
}

stop() {
  if [ -f "$RIG/pids" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$RIG/pids"
  fi
  rm -rf "$RIG"
}

start() {
  local echo_ms=""
  if [ "${1:-}" = "--echo" ]; then echo_ms="$2"; fi
  stop
  mkdir -p "$RIG/runtime" "$RIG/home"
  chmod 700 "$RIG/runtime"
  cat > "$RIG/home/.asoundrc" <<'ALSA'
pcm.!default { type pipewire }
ctl.!default { type pipewire }
pcm.speaker44 {
  type pipewire
  playback_node "speaker44"
  hint { show on description "vivavoce rig: 44.1 kHz speaker" }
}
pcm.mic44 {
  type pipewire
  capture_node "mic44"
  hint { show on description "vivavoce rig: 44.1 kHz stereo microphone" }
}
ALSA
  export XDG_RUNTIME_DIR="$RIG/runtime" HOME="$RIG/home"
  dbus-daemon --session --fork --print-address=1 --print-pid=1 --address="unix:path=$RIG/runtime/bus" > "$RIG/dbus"
  export DBUS_SESSION_BUS_ADDRESS="unix:path=$RIG/runtime/bus"
  sed -n 2p "$RIG/dbus" >> "$RIG/pids"
  pipewire > "$RIG/pipewire.log" 2>&1 & echo $! >> "$RIG/pids"
  for _ in $(seq 50); do [ -S "$RIG/runtime/pipewire-0" ] && break; sleep 0.1; done
  wireplumber > "$RIG/wireplumber.log" 2>&1 & echo $! >> "$RIG/pids"
  sleep 1
  pw-cli create-node adapter '{ factory.name=support.null-audio-sink node.name=speaker media.class=Audio/Sink audio.rate=48000 audio.position=[FL FR] object.linger=true priority.session=2000 }' > /dev/null
  pw-cli create-node adapter '{ factory.name=support.null-audio-sink node.name=speaker44 media.class=Audio/Sink audio.rate=44100 audio.position=[FL FR] object.linger=true }' > /dev/null
  rt "$RIG/micfeed.log" pw-loopback \
    --capture-props='media.class=Audio/Sink node.name=micfeed audio.position=[MONO]' \
    --playback-props='media.class=Audio/Source node.name=mic audio.position=[MONO] priority.session=2000'
  rt "$RIG/micfeed44.log" pw-loopback \
    --capture-props='media.class=Audio/Sink node.name=micfeed44 audio.position=[FL FR] audio.rate=44100' \
    --playback-props='media.class=Audio/Source node.name=mic44 audio.position=[FL FR] audio.rate=44100 priority.session=1000'
  if [ -n "$echo_ms" ]; then
    rt "$RIG/echo.log" pw-loopback -d "$(awk "BEGIN { print $echo_ms / 1000 }")" \
      --capture-props='stream.capture.sink=true target.object=speaker node.name=echo-in' \
      --playback-props='target.object=micfeed node.name=echo-out'
  fi
  # Ready when WirePlumber has made "speaker" the default sink and "mic" the default
  # source (tests open the defaults).
  for _ in $(seq 100); do
    if wpctl inspect @DEFAULT_AUDIO_SOURCE@ 2>/dev/null | grep -q 'node.name = "mic"' &&
       wpctl inspect @DEFAULT_AUDIO_SINK@ 2>/dev/null | grep -q 'node.name = "speaker"'; then
      break
    fi
    sleep 0.1
  done
  sleep 0.5
  echo "export XDG_RUNTIME_DIR='$XDG_RUNTIME_DIR' HOME='$HOME' DBUS_SESSION_BUS_ADDRESS='$DBUS_SESSION_BUS_ADDRESS' VIVAVOCE_AUDIO_RIG='$RIG'"
}

# Runs a command with the rig's environment; cargo keeps its own home and caches.
run() {
  local cargo_home="${CARGO_HOME:-$HOME/.cargo}" rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
  local env_line
  env_line="$(start)"
  trap stop EXIT
  eval "$env_line"
  CARGO_HOME="$cargo_home" RUSTUP_HOME="$rustup_home" "$@"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 start [--echo MS] | stop | run COMMAND..." >&2; exit 2 ;;
esac
