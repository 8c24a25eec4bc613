"""FaceBlur face detection service: YOLOv8-face over gRPC streaming."""
