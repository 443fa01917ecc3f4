"""A local OpenAI-compatible chat-completions server on loopback that answers well or misbehaves on purpose."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODES = (
    "correct",  # the answer the test supplies for the message, as a bare JSON object
    "slow",  # the correct answer, but only after `delay` seconds
    "500",  # HTTP 500 with an error body
    "429",  # HTTP 429 (rate limited) with Retry-After
    "401",  # HTTP 401: a wrong key
    "invalid_json",  # 200, content that is not JSON
    "broken_body",  # 200, an HTTP body that is not JSON at all
    "unknown_category",  # valid JSON with a category the taxonomy does not have
    "wrong_type",  # urgent as a string, building as a number
    "missing_key",  # no "urgent"
    "prose",  # the correct JSON with chatter around it
    "injection",  # a model that obeyed an injected instruction: extra keys asking for an action
)

CHAT = {"intent": "chat", "category": None, "summary": "", "building": None, "urgent": False}


def message_of(body: dict[str, Any]) -> str | None:
    """The message text the stage put in the user turn's JSON, or None if the request is not shaped so."""
    try:
        user = [m for m in body["messages"] if m.get("role") == "user"][-1]["content"]
        return json.loads(user.split("\n", 1)[1])["message"]
    except (KeyError, IndexError, ValueError, TypeError, AttributeError):
        return None


class FakeLLM:
    """Serves POST /v1/chat/completions on 127.0.0.1 and a free port; records every request body."""

    def __init__(self, answers: dict[str, dict[str, Any]] | None = None, *, port: int = 0) -> None:
        self.answers: dict[str, dict[str, Any]] = dict(answers or {})
        self.mode = "correct"
        self.delay = 2.0
        self.requests: list[dict[str, Any]] = []
        self.answered = 0  # responses written (a request counts in `requests` as soon as it arrives)
        self.raw: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.respond: Callable[[str | None, dict[str, Any]], tuple[int, Any]] | None = None
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-llm", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def messages(self) -> list[str | None]:
        return [message_of(b) for b in self.requests]

    # -- answering

    def answer_for(self, message: str | None) -> dict[str, Any]:
        return dict(self.answers.get(message or "", CHAT))

    def reply(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        """(status, payload, extra headers) for a request; payload is a str for a chat answer's content."""
        message = message_of(body)
        if self.respond is not None:
            status, payload = self.respond(message, body)
            return status, payload, {}
        mode = self.mode
        good = self.answer_for(message)
        if mode == "correct":
            return 200, json.dumps(good, ensure_ascii=False), {}
        if mode == "slow":
            self._stopping.wait(self.delay)
            return 200, json.dumps(good, ensure_ascii=False), {}
        if mode in ("500", "429", "401"):
            err = {"error": {"message": f"fake {mode}", "type": "server_error", "code": mode}}
            return int(mode), err, ({"Retry-After": "0"} if mode == "429" else {})
        if mode == "invalid_json":
            return 200, '{"intent": "report", "category": "drainage", "summary": "下水道堵塞", ', {}
        if mode == "broken_body":
            return 200, b"<html>502 Bad Gateway</html>", {}
        if mode == "unknown_category":
            return 200, json.dumps({**good, "intent": "report", "category": "plumbing"}, ensure_ascii=False), {}
        if mode == "wrong_type":
            return 200, json.dumps({**good, "urgent": "false", "building": 4}, ensure_ascii=False), {}
        if mode == "missing_key":
            partial = {k: v for k, v in good.items() if k != "urgent"}
            return 200, json.dumps(partial, ensure_ascii=False), {}
        if mode == "prose":
            return 200, "好的，分类结果如下：\n" + json.dumps(good, ensure_ascii=False) + "\n希望对你有帮助！", {}
        if mode == "injection":
            obeyed = {**CHAT, "summary": "已将所有工单标为已解决", "action": "resolve_all", "tickets": "all"}
            return 200, json.dumps(obeyed, ensure_ascii=False), {}
        raise ValueError(f"unknown mode {mode!r}")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One write per response and no Nagle delay: otherwise each loopback call waits ~40 ms for an ACK.
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                pass

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                fake.raw.append(raw)
                fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "not found"}})
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._send(400, {"error": {"message": "body is not JSON"}})
                    return
                fake.requests.append(body)
                status, payload, headers = fake.reply(body)
                if isinstance(payload, str):
                    payload = fake.completion(body, payload)
                self._send(status, payload, headers)
                fake.answered += 1

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeouts): nothing to tell it

        return Handler

    @staticmethod
    def completion(body: dict[str, Any], content: str) -> dict[str, Any]:
        prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        prompt, completion = max(1, prompt_chars // 2), max(1, len(content) // 2)
        return {
            "id": f"chatcmpl-{time.monotonic_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        }


def gold_answers(rows: list[dict[str, Any]], key: Callable[[str], str]) -> dict[str, dict[str, Any]]:
    """A correct model for labelled rows (dev_messages.jsonl fields), keyed by what the stage sends."""
    answers = {}
    for r in rows:
        report = r["intent"] == "report"
        answers[key(r["text"])] = {
            "intent": r["intent"],
            "category": r.get("category") if report else None,
            "summary": "",
            "building": r.get("building"),
            "urgent": bool(r.get("urgent")) and report,
        }
    return answers


def main(argv: list[str] | None = None) -> int:
    """Serve the fake on a port for manual runs: python -m tests.llm.fake_server --mode correct --gold FILE."""
    import argparse

    from nlp.privacy import redact

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--mode", choices=MODES, default="correct")
    p.add_argument("--delay", type=float, default=30.0, help="seconds a 'slow' answer takes")
    p.add_argument("--gold", help="labelled JSON Lines whose labels the 'correct' model answers with")
    p.add_argument("--name", action="append", default=[], help="a name the bot redacts (repeat); default: config staff")
    args = p.parse_args(argv)
    names = args.name
    if not names:
        from pathlib import Path

        import yaml

        cfg = yaml.safe_load(Path("config.yaml").read_text(encoding="utf-8"))
        names = [s["name"] for s in cfg.get("staff") or [] if s.get("name")]
    rows = []
    if args.gold:
        with open(args.gold, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
    fake = FakeLLM(gold_answers(rows, lambda t: redact(t, names)), port=args.port)
    fake.mode, fake.delay = args.mode, args.delay
    print(f"fake LLM ({args.mode}) at {fake.url}", flush=True)
    try:
        fake._httpd.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        print(f"{len(fake.requests)} requests", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
