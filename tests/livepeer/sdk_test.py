"""Every stream operation of the `livepeer` 0.3.0 SDK the box offers, against a real roundwared.

Arguments: the daemon's base URL, the password of the staff user `sdk-admin`, an MP3 file the
pull source serves. Exits non-zero on the first failure (an SDKError, a pydantic
ValidationError, or a check below).
"""

import http.server
import json
import subprocess
import sys
import threading
import time
import urllib.request

import livepeer
from livepeer.models import errors

BASE, PASSWORD, MP3 = sys.argv[1], sys.argv[2], sys.argv[3]


def staff_token():
    req = urllib.request.Request(
        BASE + "/api/2/login/",
        method="POST",
        data=json.dumps({"username": "sdk-admin", "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    return json.load(urllib.request.urlopen(req))["token"]


def serve_mp3():
    """An HTTP server on loopback serving MP3 as a radio would; returns its URL and the
    headers of the requests it got."""
    data = open(MP3, "rb").read()
    seen = []

    class Radio(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(dict(self.headers))
            self.send_response(200)
            self.send_header("Content-Type", "audio/mpeg")
            self.end_headers()
            try:
                self.wfile.write(data)
            except OSError:
                pass

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Radio)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/radio.mp3", seen


def wait_active(lp, stream_id, active, seconds=8.0):
    deadline = time.time() + seconds
    while True:
        stream = lp.stream.get(id=stream_id).stream
        if bool(stream.is_active) == active:
            return stream
        if time.time() > deadline:
            sys.exit(f"channel {stream_id} never became {'live' if active else 'idle'}: {stream}")
        time.sleep(0.2)


def expect_status(call, status):
    try:
        call()
    except errors.SDKError as e:
        assert e.status_code == status, f"expected {status}, got {e.status_code}: {e}"
        return
    sys.exit(f"expected an SDKError {status}, the call succeeded")


lp = livepeer.Livepeer(api_key=staff_token(), server_url=BASE + "/livepeer/api", timeout_ms=10_000)

# Push channel: create (201), get_all (bare array), get, update (204).
push = lp.stream.create(request={"name": "gallery-1", "userTags": {"room": "A"}, "profiles": []}).stream
assert push.id and push.name == "gallery-1" and push.stream_key and push.playback_id, push
assert push.is_active is False
assert any(s.id == push.id for s in lp.stream.get_all(streamsonly="1").data)
lp.stream.update(id=push.id, stream_patch_payload={"userTags": {"room": "B"}})
assert lp.stream.get(id=push.id).stream.user_tags["room"] == "B"

# ffmpeg pushes as an Icecast source; the SDK sees the channel live, then idle with counters.
port = BASE.rsplit(":", 1)[1]
ffmpeg = subprocess.Popen([
    "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
    "sine=frequency=1000:duration=4:sample_rate=44100", "-c:a", "libmp3lame", "-b:a", "128k",
    "-content_type", "audio/mpeg", "-f", "mp3",
    f"icecast://source:{push.stream_key}@127.0.0.1:{port}/live/{push.stream_key}",
])
live = wait_active(lp, push.id, True)
assert live.last_seen and live.last_seen > 0, live
# A clip of what the channel just played (200 {asset, task}), listed by id and playbackId.
time.sleep(2.5)
now_ms = time.time() * 1000
made = lp.stream.create_clip(request={"playbackId": push.playback_id, "startTime": now_ms - 2000,
                                      "endTime": now_ms - 500, "name": "a moment"}).data
assert made.asset.type.value == "audio" and made.asset.name == "a moment", made
assert made.task is not None and made.asset.download_url, made
assert urllib.request.urlopen(made.asset.download_url).read(4)
for by in (push.id, push.playback_id):
    assert any(a.id == made.asset.id for a in lp.stream.get_clips(id=by).data)
expect_status(lambda: lp.stream.create_clip(request={"playbackId": push.playback_id,
    "startTime": now_ms, "endTime": now_ms - 1000}), 422)
assert ffmpeg.wait() == 0, "ffmpeg failed to push"
idle = wait_active(lp, push.id, False)
assert idle.source_bytes > 50_000 and idle.source_segments_duration > 3.5, idle

# Recording: a channel with record=True archives each session; the session reads list it.
rec = lp.stream.create(request={"name": "concert", "record": True}).stream
assert rec.record is True
ffmpeg = subprocess.Popen([
    "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
    "sine=frequency=440:duration=3:sample_rate=44100", "-c:a", "libmp3lame", "-b:a", "128k",
    "-content_type", "audio/mpeg", "-f", "mp3",
    f"icecast://source:{rec.stream_key}@127.0.0.1:{port}/live/{rec.stream_key}",
])
wait_active(lp, rec.id, True)
assert ffmpeg.wait() == 0, "ffmpeg failed to push"
wait_active(lp, rec.id, False)
recorded = lp.session.get_recorded(parent_id=rec.id, record=True).data
assert len(recorded) == 1, recorded
session = recorded[0]
assert session.parent_id == rec.id and session.recording_status.value == "ready", session
assert session.recording_url and urllib.request.urlopen(session.recording_url).read(4), session
assert lp.session.get(id=session.id).session.id == session.id
assert any(x.id == session.id for x in lp.session.get_all().data)
assert lp.session.get_clips(id=session.id).data == []
lp.stream.delete(id=rec.id)

# Pull channel: started on create, with its headers; terminate stops it, start-pull (204)
# starts it again.
url, seen = serve_mp3()
pull = lp.stream.create(request={"name": "radio", "pull": {"source": url, "headers": {"X-Station": "k"}}}).stream
assert pull.stream_key is None and pull.pull.source == url, pull
wait_active(lp, pull.id, True)
assert seen and {k.lower(): v for k, v in seen[0].items()}.get("x-station") == "k", seen
lp.stream.terminate(id=pull.id)
wait_active(lp, pull.id, False)
lp.stream.start_pull(id=pull.id)
wait_active(lp, pull.id, True)
expect_status(lambda: lp.stream.start_pull(id=push.id), 400)

# Multistream targets: the stream's own (204 both ways) and the target resource.
lp.stream.add_multistream_target(id=push.id, target_add_payload={
    "profile": "source", "spec": {"url": "icecast://source:pw@127.0.0.1:9/radio.mp3", "name": "radio"}})
targets = lp.stream.get(id=push.id).stream.multistream.targets
assert len(targets) == 1 and targets[0].profile == "source", targets
target_id = targets[0].id
lp.stream.remove_multistream_target(id=push.id, target_id=target_id)
assert not lp.stream.get(id=push.id).stream.multistream.targets
created = lp.multistream.create(request={"url": "icecast://source:pw@127.0.0.1:9/b.mp3", "name": "b"}).multistream_target
assert created.id and created.name == "b", created
assert {t.id for t in lp.multistream.get_all().data} >= {target_id, created.id}
assert lp.multistream.get(id=created.id).multistream_target.name == "b"
lp.multistream.update(id=created.id, multistream_target_patch_payload={"url": "http://source:pw@127.0.0.1:9/c.mp3", "disabled": True})
assert lp.multistream.get(id=created.id).multistream_target.disabled is True
lp.stream.add_multistream_target(id=push.id, target_add_payload={"profile": "source", "id": created.id})
assert lp.stream.get(id=push.id).stream.multistream.targets[0].id == created.id
lp.multistream.delete(id=created.id)
expect_status(lambda: lp.multistream.get(id=created.id), 404)
assert not lp.stream.get(id=push.id).stream.multistream.targets
expect_status(lambda: lp.stream.add_multistream_target(id=push.id, target_add_payload={
    "profile": "source", "videoOnly": True, "spec": {"url": "icecast://a:b@h/m"}}), 422)

# Refusals in the API's own shape.
expect_status(lambda: lp.stream.create(request={"name": "x", "playbackPolicy": {"type": "jwt"}}), 422)
expect_status(lambda: lp.stream.get(id="no-such-stream"), 404)

# Delete (204); the channel is gone.
for s in (push, pull):
    lp.stream.delete(id=s.id)
    expect_status(lambda s=s: lp.stream.get(id=s.id), 404)
print("livepeer sdk: stream create, get_all, get, update, terminate, start_pull, delete, "
      "add/remove_multistream_target; multistream create, get_all, get, update, delete; "
      "session get_all, get, get_recorded, get_clips; create_clip, get_clips: all as the SDK "
      "expects")
