"""An answering peer built on aiortc, for tests/webrtc_interop.rs.

It serves POST /v1/realtime/calls on 127.0.0.1 (the port is printed on the first line
of stdout), answers the SDP offer with aiortc, and on the `oai-events` data channel
speaks a little of the Realtime protocol: `session.created` when the channel opens,
`session.updated` for a `session.update`, `input_audio_buffer.speech_started` once the
client's audio track carries sound, and on `response.create` a tone on its own audio
track followed by `output_audio_buffer.stopped`. Run it where only loopback exists
(`unshare -n`): aiortc gathers candidates on every interface.
"""

import asyncio
import fractions
import json
import math
import sys

from aiohttp import web
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from av import AudioFrame

RATE = 48000
SAMPLES = 960  # 20 ms


class Tone(MediaStreamTrack):
    """20 ms frames of silence, or of a 440 Hz tone while `remaining` frames last."""

    kind = "audio"

    def __init__(self):
        super().__init__()
        self.pts = 0
        self.remaining = 0
        self.start = None
        self.on_done = None

    async def recv(self):
        loop = asyncio.get_running_loop()
        if self.start is None:
            self.start = loop.time()
        wait = self.start + self.pts / RATE - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        frame = AudioFrame(format="s16", layout="mono", samples=SAMPLES)
        if self.remaining > 0:
            self.remaining -= 1
            data = bytearray()
            for i in range(SAMPLES):
                v = int(8000 * math.sin(2 * math.pi * 440 * (self.pts + i) / RATE))
                data += v.to_bytes(2, "little", signed=True)
            frame.planes[0].update(bytes(data))
            if self.remaining == 0 and self.on_done:
                self.on_done()
        else:
            frame.planes[0].update(bytes(SAMPLES * 2))
        frame.pts = self.pts
        frame.sample_rate = RATE
        frame.time_base = fractions.Fraction(1, RATE)
        self.pts += SAMPLES
        return frame


peers = set()


async def calls(request):
    offer = await request.text()
    if request.headers.get("Authorization") != "Bearer sk-interop":
        return web.json_response(
            {"error": {"message": "bad key", "type": "invalid_request_error",
                       "code": "invalid_api_key", "param": None}},
            status=401,
        )
    pc = RTCPeerConnection()
    peers.add(pc)
    tone = Tone()
    state = {"channel": None, "heard": False, "n": 0}

    def send(event):
        state["n"] += 1
        event["event_id"] = f"event_interop{state['n']}"
        if state["channel"] is not None:
            state["channel"].send(json.dumps(event))

    @pc.on("datachannel")
    def on_datachannel(channel):
        if channel.label != "oai-events":
            return
        state["channel"] = channel
        send({"type": "session.created", "session": {"type": "realtime", "id": "sess_interop",
                                                     "object": "realtime.session"}})

        @channel.on("message")
        def on_message(message):
            event = json.loads(message)
            if event.get("type") == "session.update":
                send({"type": "session.updated", "session": event.get("session", {})})
            elif event.get("type") == "response.create":
                tone.remaining = 25  # 500 ms
                tone.on_done = lambda: send({"type": "output_audio_buffer.stopped",
                                             "response_id": "resp_interop"})
                send({"type": "output_audio_buffer.started", "response_id": "resp_interop"})

    @pc.on("track")
    def on_track(track):
        async def listen():
            while True:
                try:
                    frame = await track.recv()
                except Exception:
                    return
                # Decoded as 16-bit samples (no numpy needed to read them).
                samples = memoryview(bytes(frame.planes[0])).cast("h")
                if not state["heard"] and len(samples) and max(abs(s) for s in samples) > 2000:
                    state["heard"] = True
                    send({"type": "input_audio_buffer.speech_started", "audio_start_ms": 0,
                          "item_id": "item_interop"})
        asyncio.ensure_future(listen())

    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    pc.addTrack(tone)
    await pc.setLocalDescription(await pc.createAnswer())
    return web.Response(
        status=201,
        text=pc.localDescription.sdp,
        content_type="application/sdp",
        headers={"Location": "/v1/realtime/calls/rtc_interop1"},
    )


async def main():
    app = web.Application()
    app.router.add_post("/v1/realtime/calls", calls)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(port, flush=True)
    # Until the test closes stdin.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for pc in list(peers):
        await pc.close()
    await runner.cleanup()


asyncio.run(main())
