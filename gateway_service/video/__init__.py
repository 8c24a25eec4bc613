"""The gateway's side of a video task: probe the upload, plan its segments, join the blurred segments.

``probe`` reads a video's packets (never a full decode) into a ``VideoInfo`` (``info``: the probe.json contract and
the limits, no FFmpeg); ``plan`` splits it into segments for the face services; ``join`` remuxes their MP4 segments
and the input's audio into the result.
"""
