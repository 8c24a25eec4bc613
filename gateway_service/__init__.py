"""FaceBlur gateway: the HTTP API, the Redis task store and the dispatcher that feeds the face service."""
