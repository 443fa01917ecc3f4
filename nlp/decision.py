"""What the bot does with a message: file a ticket now, hold it for staff, answer it, or stay silent.

In a group chat a false ticket costs more than a held candidate, and a held candidate more than silence on
chat. So a ticket needs strong evidence (nlp/evidence.py: a problem about something a community handles,
with a place, a request or a formal complaint around it); weaker evidence holds the message for staff review
(待确认), silently. The lexicon intent (rules.py) says which way a message leans; the evidence decides how
far the bot may act on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nlp.evidence import Evidence
from nlp.types import Decision

# A ticket at once: a problem clearly about something (Evidence.core) with enough around it, or so much
# evidence that the link was missed, or a longer message written as a complaint (no small-talk register).
TICKET_CORE = 3.5
TICKET_ANY = 5.5
TICKET_LONG = 3.0
LONG = 60
# Held for review: some evidence of a problem, or the lexicon's report lean with a little evidence.
REVIEW_ANY = 2.5
REVIEW_LEANING = 1.5
REVIEW_TOPIC = 3.0  # the category words' score (rules._CategoryMatcher) that counts as a clear topic
REVIEW_TOPIC_STRONG = 4.0
# Past this length a message gathers incidental chat words (谢谢, 通知, 据说) on the way; there the chat
# words must carry twice the evidence of a problem to keep the bot silent.
LONG_CHAT = 80
LONG_CHAT_RATIO = 2.0
# Where the lexicons lean to chat, a ticket needs this much more evidence than the chat words carry; where
# they lean to a report, chat words this strong that outweigh the evidence still silence it.
CHAT_OUTWEIGHED = 4.0
CHAT_CLEAR = 3.0
# A long message with evidence of a problem and no ticket number is a report even when it also asks about
# progress ("反映多次至今未答复"): it cannot be answered as a query, and staff should see it. Unless it points
# back at the sender's own earlier report ("我上个月在群里报了…这个单子现在什么状态").
_REFERS_BACK = re.compile(
    r"(我|我们)[^,.!?，。！？]{0,12}(报了|反映了|反映过|报过|投诉过|登记了|报的|反映的|登记的)|(这个|那个|我的)(单子|工单)"
)
QUERY_LONG = 60
QUERY_OUTWEIGHED = 3.0


@dataclass(frozen=True, slots=True)
class Signals:
    """The lexicon scores of rules.RuleClassifier and the evidence of one message."""

    lean: str  # the lexicon intent: report | query | chat
    evidence: Evidence
    query: float = 0.0
    chat: float = 0.0
    done: bool = False  # "已经修好了" and no new problem after it
    topic: float = 0.0  # the best category's keyword score
    urgent: bool = False
    has_ticket_number: bool = False
    text: str = ""  # the normalised message (for the few cues read from it directly)


def _complaint_form(e: Evidence, chat: float) -> bool:
    """Written as a complaint or a request about something, with none of small talk's register: a
    headline ("A市某小区停水问题", "某厂加班工资不发"), a question to those in charge ("请问某路何时拉通")."""
    if _register(e) > 0.5 or (e.length < 100 and e.chatstyle):
        return False
    if chat < 1.5 and not e.chatparticle and (e.facility or e.person) and (e.problem or e.request):
        return True
    if (not e.chatparticle or e.length >= 100) and e.place and (e.request or e.problem or e.facility or e.issue):
        return True
    return bool((e.request or e.authority) and (e.facility or e.object or e.place or e.person) and e.length >= 25)


def _register(e: Evidence) -> float:
    """How much small talk's register there is per 100 characters (a long letter may say 老婆 once)."""
    return (e.chatstyle + 0.5 * e.chatparticle) * 100 / max(e.length, 100)


def _strong(e: Evidence) -> bool:
    s = e.strength()
    if e.core and s >= TICKET_CORE:
        return True
    if s >= TICKET_ANY:
        return True
    return e.length >= LONG and s >= TICKET_LONG and _register(e) <= 0.5


def decide(sig: Signals) -> Decision:
    """The decision for one message from its signals (pure; the cascade may revise it)."""
    e = sig.evidence
    s = e.strength()
    lean = sig.lean
    # "已经修好了" silences, unless a long complaint only mentions a past fix on its way.
    done = sig.done and not (e.length > LONG_CHAT and _strong(e))
    if lean == "query" and done:
        return "none"  # "上次反映的树枝已经剪了": said it is solved, asks nothing
    if lean == "query":
        if (
            e.length > QUERY_LONG
            and not sig.has_ticket_number
            and s >= QUERY_OUTWEIGHED
            and not (sig.text and _REFERS_BACK.search(sig.text))
        ):
            lean = "report"  # a long complaint that mentions replies and progress on the way
        else:
            return "reply"
    if sig.urgent and not done and not e.chatstyle and (e.core or s >= 3.0):
        return "ticket"  # danger to people now, told plainly: never left to the lexicons' lean
    if lean == "chat":
        if done:
            return "none"
        # The lexicon's chat evidence (notices, thanks, small talk) against the evidence of a problem; a
        # long message carries incidental notice words, so there chat must clearly outweigh it.
        margin = s - (sig.chat if e.length <= LONG_CHAT else sig.chat / LONG_CHAT_RATIO)
        if sig.chat >= 1.5 and margin <= 0.5:
            return "none"
        if _strong(e) and (sig.chat < 1.5 or margin >= CHAT_OUTWEIGHED or e.length > LONG_CHAT):
            return "ticket"
        if s >= REVIEW_ANY or _complaint_form(e, sig.chat):
            return "review"
        return "none"
    if done or (sig.chat >= CHAT_CLEAR and sig.chat >= s):
        return "none"  # the lexicons leaned to a report, but it is solved, a notice, or small talk after all
    if _strong(e):
        return "ticket"
    if (
        s >= REVIEW_LEANING
        or (s >= 0.5 and sig.topic >= REVIEW_TOPIC)
        or (s >= 0 and sig.topic >= REVIEW_TOPIC_STRONG)
        or _complaint_form(e, sig.chat)
    ):
        return "review"
    return "none"
