"""Talk to a real wyoming-piper server the way Home Assistant does: Describe, then Synthesize.

Used by the install and fine-tune tests; they skip when wyoming-piper is not installed.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _describe_and_speak(port: int, voice_name: str, deadline: float):
    from wyoming.audio import AudioChunk, AudioStart, AudioStop
    from wyoming.client import AsyncTcpClient
    from wyoming.info import Describe, Info
    from wyoming.tts import Synthesize, SynthesizeVoice

    while True:
        try:
            async with AsyncTcpClient("127.0.0.1", port) as client:
                await client.write_event(Describe().event())
                while not Info.is_type((event := await client.read_event()).type):
                    pass
                info = Info.from_event(event)
                await client.write_event(Synthesize(text="Hello from Home Assistant.",
                                                    voice=SynthesizeVoice(name=voice_name)).event())
                rate, samples = None, 0
                while not AudioStop.is_type((event := await client.read_event()).type):
                    if AudioStart.is_type(event.type):
                        rate = AudioStart.from_event(event).rate
                    elif AudioChunk.is_type(event.type):
                        chunk = AudioChunk.from_event(event)
                        samples += len(chunk.audio) // (chunk.width * chunk.channels)
                return info, rate, samples
        except (ConnectionError, OSError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


def serve_and_ask(data_dir: Path, voice_name: str, timeout: float = 120):
    """Start ``python -m wyoming_piper`` on a loopback port over ``data_dir``, ask it for its voices
    and to speak with ``voice_name``; returns (Info, audio rate, samples, server log)."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "wyoming_piper", "--uri", f"tcp://127.0.0.1:{port}",
                               "--data-dir", str(data_dir), "--voice", voice_name],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        info, rate, samples = asyncio.run(asyncio.wait_for(
            _describe_and_speak(port, voice_name, time.monotonic() + timeout / 2), timeout=timeout))
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[0]
    return info, rate, samples, log
