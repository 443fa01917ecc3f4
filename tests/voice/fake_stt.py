"""A local OpenAI-compatible speech-to-text server (POST /v1/audio/transcriptions, multipart) on loopback that
answers with the transcript a test supplies, or misbehaves on purpose; for the real `openai` client."""

from __future__ import annotations

import io
import json
import threading
import wave
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODES = (
    "correct",  # {"text": transcript}
    "slow",  # the correct answer after `delay` seconds
    "500",  # HTTP 500 with an error body
    "empty",  # {"text": ""}
    "wrong_type",  # {"text": 42}
    "no_text",  # {} (no "text" at all)
    "html",  # 200 with an HTML error page
    "not_json",  # 200 application/json whose body is not JSON
    "loop",  # a decoder stuck in a loop: one word a hundred times
    "hallucination",  # what Whisper-family models "hear" in silence
    "too_long",  # far more words than the recording could hold
)


class FakeSTT:
    """Serves POST /v1/audio/transcriptions on 127.0.0.1 and a free port; records every request."""

    def __init__(self, transcript: str = "") -> None:
        self.transcript = transcript
        self.mode = "correct"
        self.delay = 3.0
        self.requests: list[dict[str, Any]] = []
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-stt", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeSTT:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def reply(self) -> tuple[int, bytes, str]:
        mode = self.mode
        ok = json.dumps({"text": self.transcript}, ensure_ascii=False).encode()
        if mode == "correct":
            return 200, ok, "application/json"
        if mode == "slow":
            self._stopping.wait(self.delay)
            return 200, ok, "application/json"
        if mode == "500":
            return 500, b'{"error": {"message": "fake 500", "type": "server_error"}}', "application/json"
        if mode == "empty":
            return 200, b'{"text": ""}', "application/json"
        if mode == "wrong_type":
            return 200, b'{"text": 42}', "application/json"
        if mode == "no_text":
            return 200, b"{}", "application/json"
        if mode == "html":
            return 200, b"<html><body>502 Bad Gateway</body></html>", "text/html"
        if mode == "not_json":
            return 200, b"{not json at all", "application/json"
        if mode == "loop":
            return 200, json.dumps({"text": "好的" * 100}, ensure_ascii=False).encode(), "application/json"
        if mode == "hallucination":
            return 200, json.dumps({"text": "谢谢观看！"}, ensure_ascii=False).encode(), "application/json"
        if mode == "too_long":
            return 200, json.dumps({"text": self.transcript * 40}, ensure_ascii=False).encode(), "application/json"
        raise ValueError(f"unknown mode {mode!r}")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                pass

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.rstrip("/") != "/v1/audio/transcriptions":
                    self._send(404, b'{"error": {"message": "not found"}}', "application/json")
                    return
                fake.requests.append({**parse_multipart(self.headers.get("Content-Type", ""), raw),
                                      "authorization": self.headers.get("Authorization")})
                self._send(*fake.reply())

            def _send(self, status: int, data: bytes, content_type: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        return Handler


def parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """The form fields of a multipart/form-data body: text fields as str, the file as bytes (`file`) with its
    `filename` and `file_type`."""
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename():
            fields.update(file=payload, filename=part.get_filename(), file_type=part.get_content_type())
        else:
            fields[str(name)] = payload.decode()
    return fields


def wav_info(data: bytes) -> tuple[int, int, int, float]:
    """(channels, sample width, rate, seconds) of a WAV file's bytes."""
    with wave.open(io.BytesIO(data)) as w:
        return w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes() / w.getframerate()
