"""The LSL inlet, run as its own process by `LSLSource` (it imports nothing of overlay).

Why a process: liblsl breaks when it is loaded after usearch, whose module links libstdc++
statically and so claims the locale ids (GNU unique symbols) that liblsl's string formatting
uses: the stream queries come out empty and nothing is ever found. In a process of its own,
liblsl is the only C++ library, whatever the parent has loaded; it also keeps the parent's
loop free of the inlet's blocking calls.

Protocol on stdout: one JSON line (`{"name", "rate", "channels"}` or `{"error"}`), then
frames of a little-endian uint32 sample count followed by that many samples × channels
float64 values. A lost or silent stream ends the process with a message on stderr.

Run: python lsl_reader.py TYPE RESOLVE_TIMEOUT SILENCE_S
"""

from __future__ import annotations

import contextlib
import json
import struct
import sys
import time


def main() -> int:
    stream_type, timeout, silence = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    out = sys.stdout.buffer
    try:
        import pylsl

        with contextlib.suppress(NotImplementedError, AttributeError):  # an old liblsl
            pylsl.util.set_config_content("[log]\nlevel = -3\n")
        found = pylsl.resolve_byprop("type", stream_type, 1, timeout)
        if not found:
            out.write(json.dumps({"error": f"no LSL stream of type {stream_type!r} found "
                                           f"within {timeout:g} s"}).encode() + b"\n")
            out.flush()
            return 2
        inlet = pylsl.StreamInlet(found[0], max_buflen=30, recover=False)
        info = inlet.info()
        names, ch = [], info.desc().child("channels").child("channel")
        for k in range(info.channel_count()):
            names.append(ch.child_value("label") or f"ch{k + 1}")
            ch = ch.next_sibling()
        head = {"name": info.name(), "rate": info.nominal_srate(), "channels": names}
        out.write(json.dumps(head).encode() + b"\n")
        out.flush()
        quiet_since = time.monotonic()
        while True:
            try:
                samples, _ = inlet.pull_chunk(timeout=0.2)
            except pylsl.util.LostError:
                sys.stderr.write("the stream was lost\n")
                return 3
            if samples:
                quiet_since = time.monotonic()
                flat = [float(v) for row in samples for v in row]
                out.write(struct.pack(f"<I{len(flat)}d", len(samples), *flat))
                out.flush()
            elif time.monotonic() - quiet_since > silence:
                sys.stderr.write(f"nothing for {silence:g} s\n")
                return 3
    except (KeyboardInterrupt, BrokenPipeError):
        return 0


if __name__ == "__main__":
    sys.exit(main())
