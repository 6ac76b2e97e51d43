"""Helper processes of the local stack: started with a READY line, ended by closing stdin.

The embedded DynamoDB and the function zygote both print one line when they are ready and
exit when their stdin closes, so they never outlive the gateway that started them.
"""

from __future__ import annotations

import asyncio
import sys

START_TIMEOUT = 60.0


async def start_child(module: str, *args: str) -> tuple[asyncio.subprocess.Process, bytes]:
    """Run `python -m module args...`; return it and the first line it prints."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    ready = await asyncio.wait_for(process.stdout.readline(), timeout=START_TIMEOUT)
    return process, ready.strip()


async def stop_child(process: asyncio.subprocess.Process | None, grace: float) -> None:
    """Close its stdin (its signal to exit); kill it if it is still there after `grace`."""
    if process is None or process.returncode is not None:
        return
    assert process.stdin is not None
    process.stdin.close()
    try:
        await asyncio.wait_for(process.wait(), timeout=grace)
    except TimeoutError:
        process.kill()
        await process.wait()
