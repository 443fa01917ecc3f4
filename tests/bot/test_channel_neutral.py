"""Nothing above the channels decides by which platform is running: handlers and the app ask Capabilities.

A scan of the source (the syntax tree, so comments and strings in prose do not count): no comparison with a
channel's name or with `settings.channel`, no `hasattr`/`getattr` probing a channel for a hook (the Channel
protocol declares them), no `isinstance` against one transport's class, and no import of one transport's module
(channels are built through bot/channels/registry.py).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from bot.channels import registry
from tests.support import REPO

# Every module of handlers/, and bot/ apart from the channels themselves (bot/channels/ is where names live).
SCANNED = sorted((REPO / "handlers").rglob("*.py")) + sorted((REPO / "bot").glob("*.py"))
NAMES = {*registry.names(), "wecom", "fake"}
HOOKS = {"on_connected", "connected", "capabilities", "max_text_length", "room_id_for_topic", "name"}
CHANNEL_ATTR = re.compile(r"\bchannel\w*\.name\b|\bsettings\.channel\b|\bchannel_name\b")
TRANSPORT_MODULES = {m.module for m in registry.CHANNELS.values()}


def _mentions_channel(node: ast.AST) -> bool:
    return "channel" in ast.unparse(node).lower()


def offences(source: str) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                names = [c.value for c in ast.walk(operand) if isinstance(c, ast.Constant) and c.value in NAMES]
                if names:
                    found.append(f"{line}: compares with the channel name {names[0]!r}")
                if CHANNEL_ATTR.search(ast.unparse(operand)):
                    found.append(f"{line}: compares {ast.unparse(operand)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            args = node.args
            if node.func.id in ("hasattr", "getattr") and args:
                hook = len(args) > 1 and isinstance(args[1], ast.Constant) and args[1].value in HOOKS
                if hook or _mentions_channel(args[0]):
                    found.append(f"{line}: probes a channel with {node.func.id}()")
            if node.func.id in ("isinstance", "issubclass", "type") and any(
                isinstance(n, ast.Name) and n.id.endswith("Channel") and n.id != "Channel"
                for a in args[1:] or args
                for n in ast.walk(a)
            ):
                found.append(f"{line}: tells transports apart by their class")
        elif isinstance(node, ast.ImportFrom) and node.module in TRANSPORT_MODULES:
            found.append(f"{line}: imports {node.module} (build channels through the registry)")
        elif isinstance(node, ast.Import) and any(a.name in TRANSPORT_MODULES for a in node.names):
            found.append(f"{line}: imports a transport's module (build channels through the registry)")
    return found


def test_the_scan_finds_what_it_is_meant_to_find():
    bad = """
from bot.channels.console import ConsoleChannel
if self.channel.name == "console":
    pass
if settings.channel != "wechaty":
    pass
if "wecom" in (channel_name,):
    pass
if hasattr(self.channel, "on_connected"):
    pass
limit = getattr(ch, "max_text_length", 2000)
if isinstance(self.channel, WechatyChannel):
    pass
"""
    found = offences(bad)
    assert len({f.split(":")[0] for f in found}) == 7, found
    fine = """
if caps.ids_trustworthy and c.name == w and len(text) > caps.max_text_length:
    pass
x = getattr(payload.type, "value", None)
"""
    assert offences(fine) == []


def test_no_handler_or_app_module_asks_which_channel_is_running():
    assert any(p.name == "app.py" for p in SCANNED) and any(p.name == "digest_job.py" for p in SCANNED)
    report = {
        str(path.relative_to(REPO)): found
        for path in SCANNED
        if (found := offences(Path(path).read_text(encoding="utf-8")))
    }
    assert report == {}, "ask the channel's Capabilities instead (handlers/types.py):\n" + "\n".join(
        f"  {path}:{line}" for path, lines in report.items() for line in lines
    )
