"""The contract between FaceBlur's services.

``v1/`` holds the gRPC modules generated from ``protos/`` by ``scripts/gen_protos.py`` (git-ignored, never
edited). Beside them, written by hand and shared by the gateway, the face service, the clients and the tests:

- ``vocabulary``: job kinds, anonymization modes and masks, preset names, option ranges, landmark names and the
  ``face_N`` listing of the API's results (pure Python: the demo uses it without the generated code);
- ``framing``: one job as chunked ``JobRequest`` messages, ``JobResponse`` messages reassembled into a
  ``JobAnswer``, the chunk size and the error codes;
- ``image_formats``: the image formats accepted, known by their first bytes;
- ``json_logs``: the one-JSON-object-a-line log format both services write;
- ``stop_signals``: the event both services wait on to stop (SIGINT or SIGTERM).
"""
