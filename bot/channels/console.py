"""The console channel: a local group chat in the terminal, scriptable with plain lines or JSON Lines."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import queue
import sys
import threading
import uuid
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TextIO, cast

from bot.channels.base import Channel, OnMessage
from handlers.types import Capabilities, IncomingMessage, Reply

if TYPE_CHECKING:
    from bot.channels.registry import ChannelOptions
    from bot.config import Settings

log = logging.getLogger(__name__)

CONSOLE_HELP = """\
控制台群聊（console chat）:
  直接输入文字 = 以当前身份在当前群里发言
  /as 名字      换一个发言人，例如 /as 刘主任
  /room 群名    换一个群，例如 /room 书院路社区两委群；/room 私聊 = 和机器人私聊
  /who         看当前身份和群
  /help        显示本帮助
  /quit        退出（也可以按 Ctrl-D）"""

PRIVATE_ROOM_NAMES = {"私聊", "private", "-"}


def console_room_id(name: str) -> str:
    """Console rooms are identified by their names (WeChat would use an id ending in @chatroom)."""
    return name


class ConsoleChannel(Channel):
    """Reads lines from a stream and prints replies.

    Three modes: interactive (a TTY: prompt, slash commands), piped text (each line is a message from the
    current speaker; slash commands work too), and `jsonl` (one JSON object per line in, one per reply out).
    Messages are handled strictly in input order; the channel closes at end of input.
    """

    name = "console"
    # The operator's own terminal: a sender is whoever `/as` says, so names are the ids (anyone typing here is
    # trusted anyway); it sees every line, prints whatever is sent whenever it is sent, and has no send limit.
    # A JSON line may say `"kind": "image"` or `"voice"`, but no picture or sound comes with it.
    capabilities = Capabilities(
        source="console",
        ids_trustworthy=False,
        sees_all_messages=True,
        can_push=True,
        max_text_length=100_000,
        markdown=False,
        downloads_images=False,
        voice="none",
        terminal=True,
    )

    @classmethod
    def from_settings(cls, settings: Settings, options: ChannelOptions) -> ConsoleChannel:
        """The registry's factory: the configured room and speaker; `send_only` reads nothing (it only prints)."""
        if options.send_only:
            return cls(
                room=settings.console.room,
                sender=settings.console.sender,
                bot_name=settings.bot.name,
                stdin=io.StringIO(),
                interactive=False,
            )
        return cls(
            room=settings.console.room,
            sender=settings.console.sender,
            bot_name=settings.bot.name,
            jsonl=options.jsonl,
        )

    def __init__(
        self,
        *,
        room: str,
        sender: str,
        bot_name: str,
        jsonl: bool = False,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
        interactive: bool | None = None,
    ) -> None:
        self.room: str | None = room
        self.sender = sender
        self.bot_name = bot_name
        self.jsonl = jsonl
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.interactive = (self.stdin.isatty() and not jsonl) if interactive is None else interactive
        self._closed = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._seq = 0
        self.store_patience = 120.0  # seconds to keep retrying input the database refuses

    # ------------------------------------------------------------ Channel protocol

    async def start(self, on_message: OnMessage) -> None:
        if self.interactive:
            self._print(CONSOLE_HELP)
        self._task = asyncio.create_task(self._pump(on_message), name="console-reader")

    async def send(self, reply: Reply) -> None:
        if self.jsonl:
            to = reply.mentions[0].name if reply.mentions else reply.contact_id
            out = {"room": reply.room_id, "to": to, "text": reply.text}
            if reply.file:
                out["file"] = str(reply.file)
            self._print(json.dumps(out, ensure_ascii=False))
            return
        where = f"[{reply.room_id}]" if reply.room_id else f"[私聊 {reply.contact_id}]"
        mention = "".join(f"@{m.name} " for m in reply.mentions)
        self._print(f"{where} {self.bot_name}: {mention}{reply.text}")
        if reply.file:
            self._print(f"{where} {self.bot_name}: [文件] {reply.file}")

    async def wait_closed(self) -> None:
        """Resolves at end of input; raises if input had to be abandoned (the inbox refused it for good)."""
        await self._closed.wait()
        if self._task is not None:
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._closed.set()

    # ------------------------------------------------------------ input

    async def _pump(self, on_message: OnMessage) -> None:
        lines: queue.Queue[str | None] = queue.Queue(maxsize=4096)  # bounded: a fast producer waits for us

        def reader() -> None:
            # A thread, because stdin may be a TTY, a pipe or a regular file, and only a thread reads all three.
            try:
                for line in self.stdin:
                    lines.put(line)
            except Exception:  # a closed or broken stream ends input like EOF does
                pass
            finally:
                lines.put(None)

        threading.Thread(target=reader, name="console-stdin", daemon=True).start()
        try:
            self._prompt()
            eof = False
            while not eof:
                batch = [await asyncio.to_thread(lines.get)]
                while batch[-1] is not None and len(batch) < 512:
                    try:
                        batch.append(lines.get_nowait())
                    except queue.Empty:
                        break
                if batch[-1] is None:
                    eof = True
                    batch.pop()
                parsed, quit_ = self._parse_batch(cast("list[str]", batch))  # its None (end of input) popped
                eof = eof or quit_
                if self.interactive:
                    # One line at a time, so answers and the prompt come back in the order typed.
                    for msg in parsed:
                        if msg is not None:
                            [handled] = await self._hand_over(on_message, [msg])
                            if handled is not None:
                                await cast("Awaitable[object]", handled)  # the app's future of the replies
                        self._prompt()
                else:
                    # Handed over together: the app stores them in one transaction and answers in order.
                    await self._hand_over(on_message, [m for m in parsed if m is not None])
        finally:
            # Wake a worker still waiting in lines.get() (we were cancelled): asyncio.run's exit waits for
            # every default-executor thread, so one blocked there would keep a stopped process alive.
            with contextlib.suppress(queue.Full):
                lines.put_nowait(None)
            self._closed.set()

    def _parse_batch(self, batch: list[str]) -> tuple[list[IncomingMessage | None], bool]:
        """Each line as a message (None for a command or a blank line); True when /quit was among them."""
        parsed: list[IncomingMessage | None] = []
        for line in batch:
            try:
                parsed.append(self._parse(line.rstrip("\r\n")))
            except EOFError:  # /quit
                return parsed, True
        return parsed, False

    async def _hand_over(self, on_message: OnMessage, messages: list[IncomingMessage]) -> list[object]:
        """Deliver `messages`, retrying while the inbox cannot store them (a database outage) rather than
        dropping them; no more input is read meanwhile, so order is kept. Gives up loudly after a while."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.store_patience
        delay = 0.5
        results: list[object] = [None] * len(messages)
        pending = list(range(len(messages)))
        while True:
            outcomes = await asyncio.gather(*(on_message(messages[i]) for i in pending), return_exceptions=True)
            failed = []
            for i, out in zip(pending, outcomes, strict=True):
                if isinstance(out, Exception):
                    failed.append((i, out))
                else:
                    results[i] = out
            if not failed:
                return results
            if loop.time() + delay > deadline:
                raise RuntimeError(
                    f"the inbox refused {len(failed)} message(s) for {self.store_patience:.0f} s "
                    f"({failed[0][1]!r}); stopped reading input so nothing more is lost"
                ) from failed[0][1]
            log.warning("the inbox refused %d message(s) (%r); retrying in %.1f s", len(failed), failed[0][1], delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            pending = [i for i, _ in failed]

    def _parse(self, line: str) -> IncomingMessage | None:
        if self.jsonl:
            return self._parse_json(line)
        if line.startswith("/"):
            self._command(line)
            return None
        if not line.strip():
            return None
        return self._message(text=line, room=self.room, sender=self.sender, message_id=None)

    def _parse_json(self, line: str) -> IncomingMessage | None:
        if not line.strip():
            return None
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            self._print(json.dumps({"error": f"bad input line: {exc}"}, ensure_ascii=False), err=True)
            return None
        room = obj.get("room", self.room)
        sender = str(obj.get("sender") or self.sender)
        kind = obj.get("kind", "text")
        mid = obj.get("id")
        return self._message(
            text=str(obj.get("text") or ""),
            room=None if room in (None, "") else str(room),
            sender=sender,
            message_id=None if mid is None else str(mid),
            kind=kind if isinstance(kind, str) else "text",
        )

    def _message(
        self, *, text: str, room: str | None, sender: str, message_id: str | None, kind: str = "text"
    ) -> IncomingMessage:
        self._seq += 1
        mentioned = f"@{self.bot_name}" in text
        return IncomingMessage(
            message_id=message_id or f"console-{uuid.uuid4().hex}",
            sender_id=sender,
            sender_name=sender,
            text=text,
            room_id=console_room_id(room) if room else None,
            room_topic=room,
            mentioned_bot=mentioned,
            kind=kind if kind in ("text", "image", "voice", "video", "file", "link", "red_packet") else "other",  # type: ignore[arg-type]
        )

    def _command(self, line: str) -> None:
        cmd, _, arg = line[1:].partition(" ")
        arg = arg.strip()
        if cmd == "as" and arg:
            self.sender = arg
            self._print(f"（现在以 {arg} 的身份发言）")
        elif cmd == "room" and arg:
            self.room = None if arg in PRIVATE_ROOM_NAMES else arg
            self._print(f"（现在在 {arg}）" if self.room else "（现在和机器人私聊）")
        elif cmd == "who":
            self._print(f"（{self.sender} @ {self.room or '私聊'}）")
        elif cmd in ("quit", "exit"):
            raise EOFError
        else:
            self._print(CONSOLE_HELP)

    def _prompt(self) -> None:
        if self.interactive:
            self.stdout.write(f"{self.sender}@{self.room or '私聊'}> ")
            self.stdout.flush()

    def _print(self, text: str, *, err: bool = False) -> None:
        stream = sys.stderr if err else self.stdout
        stream.write(text + "\n")
        stream.flush()
