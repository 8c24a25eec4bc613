"""The FaceBlur Gradio demo: a web page over the gateway (--url) or over the detector in this process."""
