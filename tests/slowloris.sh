#!/usr/bin/env bash
# The security review's H1 check, by hand (not part of run-all): starts BIN (a roundwared
# binary) on loopback with systemd's default soft open-file limit of 1,024, opens 2,000
# connections from 40 loopback addresses (127.0.1.1-40) that trickle a request head one byte
# every 5 s, and meanwhile asks GET /healthz once a second from 127.0.0.200. Prints what the
# attacker holds every 10 s and how the normal client fared. Bounded: 40 s, loopback only.
#   bash tests/slowloris.sh target/release/roundwared [PORT]
set -euo pipefail
BIN=$1
PORT=${2:-18891}
DATA=$(mktemp -d)
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DATA"' EXIT
printf '[http]\nlisten = "127.0.0.1:%s"\n[storage]\ndata_dir = "%s"\n' "$PORT" "$DATA" >"$DATA/c.toml"
hard=$(ulimit -Hn)
prlimit --nofile="1024:$hard" "$BIN" serve --demo --config "$DATA/c.toml" >"$DATA/log" 2>&1 &
PID=$!
sleep 2
grep -h "serving at most" "$DATA/log" || true
python3 - "$PORT" <<'PY'
import asyncio, sys, time
PORT, N, DURATION = int(sys.argv[1]), 2000, 40
held = closed = 0

async def slow(i):
    global held, closed
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection(
            "127.0.0.1", PORT, local_addr=(f"127.0.1.{1 + i % 40}", 0)), 5)
    except Exception:
        return
    held += 1
    try:
        w.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        await w.drain()
        end = time.monotonic() + DURATION
        while time.monotonic() < end:
            try:
                if not await asyncio.wait_for(r.read(1), 5):
                    closed += 1
                    return
            except asyncio.TimeoutError:
                pass
            w.write(b"a")
            await w.drain()
    except Exception:
        closed += 1
    finally:
        held -= 1
        w.close()

async def normal(results):
    end = time.monotonic() + DURATION
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(
                "127.0.0.1", PORT, local_addr=("127.0.0.200", 0)), 5)
            w.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            await w.drain()
            head = await asyncio.wait_for(r.readuntil(b"\r\n"), 5)
            w.close()
            results.append((time.monotonic() - t0, b" 200 " in head))
        except Exception:
            results.append((time.monotonic() - t0, False))
        await asyncio.sleep(max(0, 1 - (time.monotonic() - t0)))

async def main():
    results = []
    tasks = [asyncio.create_task(slow(i)) for i in range(N)]
    probe = asyncio.create_task(normal(results))
    for t in range(10, DURATION + 1, 10):
        await asyncio.sleep(10)
        print(f"t={t:>3} s: slow connections held {held:>5}, closed by the server {closed:>5}")
    await probe
    for t in tasks:
        t.cancel()
    ok = sorted(d for d, good in results if good)
    line = f"normal client: {len(ok)}/{len(results)} answered 200"
    if ok:
        line += f", median {ok[len(ok) // 2] * 1000:.1f} ms, max {ok[-1] * 1000:.1f} ms"
    print(line)

asyncio.run(main())
PY
