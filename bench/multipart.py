"""`python -m bench.multipart`: how long reading a large batch upload stalls the event loop.

Every request of a replica shares one event loop; what runs on it blocks all of them, health
checks included. This reads a multipart body of `--frames` parts of `--kib` KiB each with the
service's `read_multipart` (the batch route's parser) while a ticker on the same loop wakes every
10 ms, and reports the parse time and the longest the ticker waited (the parsing runs in a
worker thread; on the loop it stalled it for about 1 s per 200 MiB).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from starlette.requests import Request

from service.api.upload import read_multipart

BOUNDARY = b"stadtblick-bench"
CHUNK = 64 * 1024  # what uvicorn hands the app per receive()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.multipart", description=__doc__)
    p.add_argument("--frames", type=int, default=2000, help="parts in the body (default 2000)")
    p.add_argument("--kib", type=int, default=100, help="size of each part (default 100 KiB)")
    return p.parse_args(argv)


def multipart_body(frames: int, part_bytes: int) -> bytes:
    head = b'--%s\r\nContent-Disposition: form-data; name="files"; filename="%d.jpg"\r\n'
    head += b"Content-Type: image/jpeg\r\n\r\n"
    parts = [head % (BOUNDARY, i) + os.urandom(part_bytes) + b"\r\n" for i in range(frames)]
    return b"".join(parts) + b"--" + BOUNDARY + b"--\r\n"


async def measure(body: bytes, frames: int) -> tuple[float, float, int]:
    """(parse seconds, longest ticker wait in seconds, files parsed)."""
    starts = iter(range(0, len(body), CHUNK))

    async def receive() -> dict[str, object]:
        start = next(starts)
        await asyncio.sleep(0)  # a real server yields between chunks
        return {"type": "http.request", "body": body[start : start + CHUNK], "more_body": start + CHUNK < len(body)}

    headers = [(b"content-type", b"multipart/form-data; boundary=" + BOUNDARY)]
    request = Request({"type": "http", "method": "POST", "headers": headers}, receive)
    waits: list[float] = []

    async def ticker() -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            waits.append(time.perf_counter() - start - 0.01)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    start = time.perf_counter()
    form = await read_multipart(request, len(body), max_files=frames + 1)
    elapsed = time.perf_counter() - start
    await asyncio.sleep(0.05)  # let the ticker record the wait that ended with the parse
    task.cancel()
    return elapsed, max(waits), sum(len(files) for files in form.files.values())


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    body = multipart_body(args.frames, args.kib * 1024)
    elapsed, stall, parsed = asyncio.run(measure(body, args.frames))
    print(
        f"read {parsed} parts, {len(body) / 2**20:.0f} MiB, in {elapsed:.2f} s; "
        f"longest event-loop stall {stall * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
