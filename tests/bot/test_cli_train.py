"""`linju train`: a community trains on its own file or its tickets, and the bot uses (or refuses) the model."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.cli_train import rows_from_tickets
from bot.config import load_settings
from bot.understanding import build_understanding, model_dir
from tests.support import DEFAULT_CONFIG, REPO, FakeChannel, make_settings

FRESH = REPO / "tests" / "nlp" / "data" / "fresh_messages.jsonl"


@pytest.fixture
def config(tmp_path) -> Path:
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw["data_dir"] = str(tmp_path / "data")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def classify(config: Path, texts: list[str], capsys) -> list[dict]:
    inp = config.parent / "in.jsonl"
    inp.write_text("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts)))
    capsys.readouterr()
    assert main(["classify", str(inp), "--config", str(config)]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_training_on_a_labelled_file_is_used_by_classify_at_once(config, capsys):
    texts = [json.loads(line)["text"] for line in FRESH.read_text(encoding="utf-8").splitlines() if line.strip()]
    before = classify(config, texts, capsys)
    assert {r["stage"] for r in before} == {"rules"}
    assert main(["train", "--data", str(FRESH), "--config", str(config)]) == 0
    meta = json.loads((model_dir(load_settings(config)) / "metadata.json").read_text(encoding="utf-8"))
    assert meta["kind"] == "intent_category" and meta["training_size"] > 600
    assert set(meta["intents"]) == {"report", "query", "chat"} and "repair" in meta["labels"]
    assert meta["versions"]["scikit-learn"] and meta["created_at"]
    after = classify(config, texts, capsys)
    # Where the rules are unsure and the model is sure, the model now decides.
    assert any(r["stage"] == "model" for r in after)
    for r in after:
        assert r["intent"] in ("report", "query", "chat") and 0 <= r["confidence"] <= 1


def test_a_model_for_other_categories_is_refused_and_the_bot_runs_on(config, tmp_path, caplog):
    ledger = tmp_path / "ledger.jsonl"
    rows = [{"title": f"{w}问题{i}", "text": f"关于{w}的第{i}条意见", "label": lab}
            for i in range(30) for w, lab in (("道路", "城乡建设"), ("学校", "教育文体"), ("医院", "卫生计生"))]
    ledger.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert main(["train", "--data", str(ledger), "--text-fields", "title,text", "--label-field", "label",
                 "--config", str(config)]) == 0
    caplog.set_level(logging.WARNING)
    understanding = asyncio.run(build_understanding(load_settings(config), use_llm=False))
    assert understanding.cascade.model is None
    assert "not used" in caplog.text and "城乡建设" in caplog.text
    assert understanding.classify_sync("4栋楼道灯坏了").category == "repair"


def test_a_file_of_reports_only_teaches_categories(config, tmp_path):
    reports = [json.loads(line) for line in FRESH.read_text(encoding="utf-8").splitlines() if line.strip()]
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text(
        "".join(json.dumps({"text": r["text"], "label": r["category"]}, ensure_ascii=False) + "\n"
                for r in reports if r["intent"] == "report"),
        encoding="utf-8",
    )
    assert main(["train", "--data", str(ledger), "--config", str(config)]) == 0
    meta = json.loads((model_dir(load_settings(config)) / "metadata.json").read_text(encoding="utf-8"))
    assert meta["intents"] == [] and len(meta["labels"]) >= 10
    understanding = asyncio.run(build_understanding(load_settings(config), use_llm=False))
    assert understanding.cascade.model is not None
    assert understanding.classify_sync("收到，谢谢").intent == "chat"  # intent stays with the rules


def test_bad_training_input_is_a_clear_error(config, tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"text": "你好"}\n', encoding="utf-8")
    assert main(["train", "--data", str(empty), "--config", str(config)]) == 2
    assert "no labelled rows" in capsys.readouterr().err
    assert main(["train", "--config", str(config)]) == 2
    assert "--data FILE or --from-tickets" in capsys.readouterr().err


async def test_from_tickets_learns_only_what_staff_decided(tmp_path):
    """Reports only from staff-checked tickets; chat from 误报, 忽略 and silence; 驳回 and the bot's own guesses
    teach nothing."""
    from bot.app import App
    settings = make_settings(tmp_path)  # staff and rooms by the ids FakeChannel gives them
    chat = FakeChannel()
    app = App(settings, channel=chat)
    await app.start()

    async def file(text: str) -> str:
        ack = (await chat.say(text))[0]  # an urgent one is also pushed to the committee room
        return ack.text.split("#", 1)[1].split("（", 1)[0]

    def staff(text: str):
        return chat.say(text, sender="刘主任", room="书院路社区两委群")

    try:
        rats = await file("5栋楼道里好多老鼠跑来跑去")
        unchecked = await file("3栋楼道灯坏了好几天了")
        rejected = await file("8栋门口的路面坏了一个大坑")
        settled = await file("2栋下水道堵了，污水冒到路上")
        false = await file("12栋电梯坏了，关了人")
        rows, counts = await rows_from_tickets(settings)
        assert [r for r in rows if r["intent"] == "report"] == []  # nothing checked yet

        await staff(f"改类 {rats} 物业")
        await staff(f"驳回 {rejected} 不属于社区职责")
        await staff(f"办结 {settled} 已疏通")
        await staff(f"误报 {false} 测试消息")
        assert await chat.say("垃圾桶旁边有点味道") == []  # held: 待确认 1
        assert await chat.say("楼下那几棵树的叶子掉得到处都是", sender="李建国") == []  # held: 待确认 2
        await staff("确认 1")
        await staff("忽略 2")
        await chat.say("收到，谢谢")
        rows, counts = await rows_from_tickets(settings)
        reports = {r["text"]: r["category"] for r in rows if r["intent"] == "report"}
        assert reports == {
            "5栋楼道里好多老鼠跑来跑去": "property",
            "2栋下水道堵了，污水冒到路上": "drainage",
            "垃圾桶旁边有点味道": "sanitation",
        }
        chat_texts = {r["text"] for r in rows if r["intent"] == "chat"}
        assert {"12栋电梯坏了，关了人", "楼下那几棵树的叶子掉得到处都是", "收到，谢谢"} <= chat_texts
        assert "3栋楼道灯坏了好几天了" not in chat_texts and "8栋门口的路面坏了一个大坑" not in chat_texts
        assert unchecked and rejected
        assert counts["reclassified"] == 1 and counts["settled"] == 1 and counts["confirmed"] == 1
        assert counts["false_positive"] == 1 and counts["ignored"] == 1 and counts["silent"] >= 1
    finally:
        await app.stop()
