"""QR scanner modules: decoded text lines with a timestamp; a USB keyboard-wedge (evdev) and a UART (serial) driver, pty and uinput simulators."""
