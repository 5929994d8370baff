"""Cameras: deliver frames (BGR uint8 numpy arrays); decoding is the agent's job."""
