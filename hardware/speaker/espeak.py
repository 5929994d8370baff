"""Speech through espeak-ng: Mandarin (`-v cmn`) first, then English, on a named worker thread.

say() returns at once. A newer message replaces one still waiting and cuts off the one being
spoken: the person at the gate now needs the current answer, not the previous person's. Where
espeak-ng is not installed, the speaker logs that once and stays silent.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hardware.speaker.base import BeepKind, Speaker


class EspeakSpeakerConfig(BaseModel):
    """A loudspeaker driven by espeak-ng."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["espeak"] = "espeak"
    executable: str = "espeak-ng"
    voice_zh: str = "cmn"
    voice_en: str = "en"
    words_per_minute: int = Field(150, ge=80, le=450)
    amplitude: int = Field(100, ge=0, le=200)


class EspeakSpeaker(Speaker):
    """Speaks through espeak-ng subprocesses; beep() is silent (pair it with a buzzer)."""

    def __init__(self, config: EspeakSpeakerConfig | None = None, name: str = "speaker"):
        super().__init__(name)
        self.config = config or EspeakSpeakerConfig()
        self.spoken = 0
        self._path: str | None = None
        self._cond = threading.Condition()
        self._pending: tuple[str, str] | None = None
        self._proc: subprocess.Popen | None = None
        self._stop = False
        self._busy = False  # a message was taken and is being spoken
        self._thread: threading.Thread | None = None

    def command(self, voice: str, text: str, wav: Path | None = None) -> list[str]:
        """The espeak-ng command line for one utterance (to the sound card, or to a WAV file)."""
        cmd = [self._path or self.config.executable, "-v", voice, "-s", str(self.config.words_per_minute),
               "-a", str(self.config.amplitude)]
        if wav is not None:
            cmd += ["-w", str(wav)]
        return cmd + ["--", text]

    def open(self) -> None:
        """Find espeak-ng and start the worker thread (or log once that there is no voice)."""
        if self._thread is not None:
            return
        self._path = shutil.which(self.config.executable)
        if self._path is None:
            self.log.warning("%s: %s not found: spoken messages are skipped", self.name, self.config.executable)
            return
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-espeak", daemon=True)
        self._thread.start()

    def render_wav(self, text: str, voice: str, wav: Path) -> None:
        """Render one utterance to a WAV file (to check the voice without a sound card)."""
        subprocess.run(self.command(voice, text, wav), check=True, capture_output=True, timeout=30)

    def say(self, text_zh: str, text_en: str) -> None:
        """Queue the message, replacing any waiting one and cutting off the one being spoken."""
        if self._thread is None:
            return
        with self._cond:
            self._pending = (text_zh, text_en)
            if self._proc is not None and self._proc.poll() is None:
                self._proc.terminate()
            self._cond.notify_all()

    def beep(self, kind: BeepKind) -> None:
        """A voice has no beeper: nothing sounds (use type "voice_and_buzzer" for beeps)."""
        self.log.debug("%s: beep %s has no sound on espeak-ng", self.name, kind)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._stop)
                if self._stop:
                    return
                message, self._pending = self._pending, None
                self._busy = True
            for voice, text in zip((self.config.voice_zh, self.config.voice_en), message):
                if not text:
                    continue
                with self._cond:
                    if self._pending is not None or self._stop:
                        break  # superseded before this part began
                    self._proc = subprocess.Popen(self.command(voice, text), stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.PIPE)
                proc = self._proc
                _, err = proc.communicate()
                if proc.returncode not in (0, -15):  # -15: cut off by a newer message
                    self.log.warning("%s: espeak-ng exited %s: %s", self.name, proc.returncode,
                                     err.decode(errors="replace").strip())
            with self._cond:
                self.spoken += 1  # messages taken off the queue, cut off or not
                self._busy = False
                self._cond.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until everything queued has been spoken; False if still talking after timeout_s."""
        if self._thread is None:
            return True
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout_s)

    def close(self) -> None:
        """Cut off any speech and stop the worker; safe to call twice."""
        with self._cond:
            self._stop = True
            if self._proc is not None and self._proc.poll() is None:
                self._proc.terminate()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
