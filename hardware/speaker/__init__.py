"""Speakers: say a message (Chinese, then English) and beep; espeak-ng, a buzzer, a simulator."""
