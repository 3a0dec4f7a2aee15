#!/usr/bin/env python3
"""Synthesize gong.wav: a soft two-tone chime ("ding-dong"), ~1.2 s,
16-bit mono, 22050 Hz, with a short attack and an overall fade-out.

Standard library only.  Run from anywhere:  python3 make-gong.py
Writes gong.wav next to this script.  Output is deterministic.
"""
import math
import os
import struct
import wave

RATE = 22050
DURATION = 1.2          # seconds
PEAK = 0.7              # of full scale, leaves headroom

# (start time s, fundamental Hz): E5 then C5, a friendly descending third
STRIKES = [(0.0, 659.25), (0.42, 523.25)]
# bell-like partials: (ratio to fundamental, relative amplitude, decay per s)
PARTIALS = [(1.0, 1.0, 3.0), (2.0, 0.35, 5.0), (2.76, 0.18, 7.0), (4.07, 0.08, 10.0)]
ATTACK = 0.006          # s, avoids clicks


def sample(t):
    v = 0.0
    for start, f0 in STRIKES:
        dt = t - start
        if dt < 0:
            continue
        env = min(1.0, dt / ATTACK)
        for ratio, amp, decay in PARTIALS:
            v += amp * env * math.exp(-decay * dt) * math.sin(2 * math.pi * f0 * ratio * dt)
    # overall fade-out over the last 0.35 s, ending exactly at zero
    fade_start = DURATION - 0.35
    if t > fade_start:
        x = (t - fade_start) / 0.35
        v *= 0.5 * (1 + math.cos(math.pi * x))
    return v


def main():
    n = int(RATE * DURATION)
    raw = [sample(i / RATE) for i in range(n)]
    norm = PEAK / max(abs(x) for x in raw)
    frames = b"".join(struct.pack("<h", int(round(x * norm * 32767))) for x in raw)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gong.wav")
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(frames)
    print(f"wrote {out}: {n} frames, {DURATION} s, {RATE} Hz, 16-bit mono")


if __name__ == "__main__":
    main()
