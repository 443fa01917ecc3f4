"""Personal data out of text, for every exit: LLM requests, notices, answers, digests, spreadsheets and logs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

import ahocorasick

from nlp.normalize import normalize

PHONE = "[电话]"
ID_CARD = "[身份证号]"
PLATE = "[车牌]"
ROOM = "[房号]"
NAME = "[姓名]"
NUMBER = "[号码]"
EMAIL = "[邮箱]"
ACCOUNT = "[微信号]"
DOOR = "[门牌]"
ANON = "某"  # 张建国 → 张某: a form of address without the given name

_SEP = r"[\s\-.—–_·]"  # what people type between digit groups
_EMAIL = re.compile(r"[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_ACCOUNT = re.compile(r"(?:wxid_[A-Za-z0-9_-]+|(?<=微信号)\s*[:：]?\s*[A-Za-z][\w-]{5,19}|(?<=微信)\s*[:：]\s*[A-Za-z][\w-]{5,19})")
# Mainland ID cards: 18 characters (the last may be X) or the old 15 digits, also typed in groups of 6-8-4.
_ID_CARD = re.compile(
    r"(?<![0-9A-Za-z])(?:\d{6}\s?(?:19|20)\d{2}\s?\d{4}\s?\d{3}[\dXx]|\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])"
)
# Mobiles with an optional +86 / 0086 and any separator between any two digits ("138-1234-5678", "138 1234 5678",
# "1 3 8 1 2 3 4 5 6 7 8", "138.1234.5678"), and the half-masked form copied from delivery slips ("138****5678").
_MOBILE = re.compile(
    rf"(?<![\d+])(?:(?:\+|00)?\s?86{_SEP}?|\(\+?86\)\s?)?1{_SEP}?[3-9](?:{_SEP}?\d){{9}}(?!\d)"
)
_MOBILE_MASKED = re.compile(r"(?<!\d)1[3-9]\d[*xX×]{4}\d{4}(?!\d)")
# Landlines with an area code ("0731-12345678", "(0731)1234567", "0731 1234 5678") and bare local numbers.
_LANDLINE = re.compile(r"(?<!\d)(?:\(0\d{2,3}\)|0\d{2,3})[\s-]?\d{3,4}[\s-]?\d{4}(?!\d)")
_LOCAL = re.compile(r"(?<![\d-])(?!(?:19|20)\d\d-(?:19|20)\d\d)[2-8]\d{3}-\d{4}(?![\d-])")
# Anything else that is a long number (QQ, bank card, a phone without its prefix) is nobody's business.
_LONG_DIGITS = re.compile(r"(?<!\d)\d(?: ?\d){6,}(?!\d)")
_LONG_CN_DIGITS = re.compile(r"[零〇一二三四五六七八九幺两](?:\s?[零〇一二三四五六七八九幺两]){6,}")
# Plates: province, letter, optional separator, 5 (petrol) or 6 (new energy) letters and digits.
_PLATE = re.compile(
    r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-Za-z]\s?[·•.\s-]?\s?"
    r"(?=[A-Za-z]*\d)[A-Za-z0-9]{5,6}(?![A-Za-z0-9])"
)
# Rooms. "7-1-502" keeps its building and unit (they say where, not who); the room itself goes.
_TRIPLE = re.compile(r"(?<![\d-])(\d{1,3})-(\d{1,2})-\d{3,4}(?![\d-])")
_ROOM_SUFFIX = re.compile(r"(?<!\d)(?:\d{3,4}|[零〇一二三四五六七八九幺]{3,4})\s*(?:号房|室|房|号户)")
_ROOM_AFTER_PLACE = re.compile(r"((?:栋|幢|号楼|单元|座|(?<=\d)楼|(?<=\d)#)\s*(?:的)?\s*)\d{3,4}(?![\d年月日号点:.])")
# A street address's house number ("建设路12号"); "4号楼" is a building everyone walks past and stays.
_DOOR = re.compile(r"(?<=[路街巷弄道里])\s*\d{1,4}\s*号(?![楼栋院])")
# A bare 3-4 digit number ("我家1102漏水") is a room unless it reads as an amount, a time, a count or a ticket.
_BARE = re.compile(r"(?<![\d#\-:./A-Za-z])[1-9]\d{2,3}(?![\d\-:./A-Za-z])")
_BARE_UNIT_AFTER = re.compile(r"\s*(?:[年月日号点时分秒栋幢楼层单元块元米平斤度个次天岁人户辆台条把只多余来%万千百件])")
_BARE_TICKET_BEFORE = re.compile(r"(?:查询|查一下|查下|查查|查|工单|单号|编号|报修单|单子|进度|#)\s*(?:号|编号)?\s*[:是为]?\s*$")
# What a nickname carries besides the name: "3-2-401王姐", "王姐1801", "4栋李师傅".
_NICK_ROOM = re.compile(r"\d+(?:\s*[-—_#/．.]\s*\d+)*\s*(?:栋|幢|单元|室|号房|号|楼|房)?")
_HOTLINES = {"110", "119", "120", "122", "999", "12345"}

# ---------------------------------------------------------------- people's names not on the roster

_COMPOUND = "欧阳|司马|诸葛|上官|东方|皇甫|令狐|慕容|尉迟|公孙|长孙|宇文|夏侯|司徒|西门|独孤|南宫|端木"
_SINGLE = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔"
    "向汤易常温康施文牛樊葛邢安齐伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕"
    "单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦"
    "褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩佘池"
    "查麻苑迟邝"
)
_SURNAME = f"(?:{_COMPOUND}|[{_SINGLE}])"
# What follows a surname when it is a form of address, not a given name: kept ("王大爷", "刘娭毑", "李师傅").
_ADDRESS = (
    "大爷|大妈|大娘|大姐|大哥|大叔|大伯|大婶|大嫂|阿姨|阿婆|阿公|叔叔|伯伯|婶婶|奶奶|爷爷|娭毑|嗲嗲|姐姐|哥哥|嫂子|"
    "婆婆|爹爹|太太|老师|师傅|医生|主任|书记|经理|老板|先生|女士|小姐|同志|组长|邻长|片长|楼长|队长|科长|站长|会计|"
    "律师|警官|老头|老太|同学|总|姐|哥|叔|婶|嫂|伯|姨|爹|娘|妈|爷|奶|家|老|工|某|姓|氏|队|所|局|科"
)
# Characters that end a name where they stand (a verb, a particle, punctuation): "联系人张三说" is 张三.
_STOP = (
    "说的地得家在了和跟同与及或是们电手讲也都就又还去来到把被让给要会能住那这有没不请打问帮对等呢吗啊吧哦嘛呀么"
    "楼栋号室拖走修换装拆看查送搬买卖放拿扫倒处弄搞过下上"
)
_GIVEN = rf"[\u4e00-\u9fff](?<![{_STOP}])"
# Words that introduce a person; the name follows at once ("联系人张建国", "业主：欧阳明", "房东刘桂兰家").
_STRONG_INTRO = (
    "联系人|业主|户主|住户|租户|房东|房主|家属|当事人|报修人|反映人|举报人|姓名|名叫|叫做|名字叫|儿子|女儿|老公|老婆|"
    "爱人|丈夫|妻子|孙子|孙女|邻居|负责人|车主|老人|我叫|本人"
)
# Words that may introduce a person or something else ("找张建国" / "找物业"): the name must end there.
_WEAK_INTRO = "联系|找|叫|通知|告诉|转告|交给|委托|打给|问问|看望|探望|我是"
_NAME_END = (
    r"(?=$|[\s,.!?;:、()]|说|讲|家|的|电话|手机|过来|来|去|帮|他|她|一|就|吧|呢|啊|了|吗|在|是|和|跟|打|看|修|处理|负责|解决|"
    + re.escape(PHONE)
    + ")"
)
_PERSON = rf"(?P<surname>{_SURNAME})(?!{_ADDRESS})(?P<given>(?:{_GIVEN}){{1,2}})"
_NAME_AFTER_STRONG = re.compile(rf"(?P<intro>{_STRONG_INTRO})\s*[:：是为]?\s*{_PERSON}")
_NAME_AFTER_WEAK = re.compile(rf"(?P<intro>{_WEAK_INTRO})\s*[:：]?\s*{_PERSON}{_NAME_END}")
# A name right before a phone number or "电话" ("王贵宝138…", "张建国 电话 …", "刘桂兰的手机").
_NAME_BEFORE_PHONE = re.compile(
    rf"(?:(?<![\u4e00-\u9fff])|(?<=的)){_PERSON}(?=\s*,?\s*(?:的)?\s*(?:[:：]\s*)?(?:{re.escape(PHONE)}|电话|手机|联系方式))"
)
# Two characters that start with a surname but are everyday words ("找方便的时间", "叫高空作业车").
_NOT_NAMES = frozenset(
    str.split(
        "方便 方面 方向 方法 高空 高压 高层 高楼 马上 马路 马桶 周末 周围 周边 周一 周二 周三 周四 周五 周六 周日 安全 全部 全家 "
    "明天 明早 时间 时候 文件 程序 黄色 白色 白天 江边 石头 钱包 于是 常常 万一 夏天 秋天 金额 温度 车子 车位 车库 连续 "
    "物业 城管 居委 社区 工作 关于 向上 成都 华为 司机 管理 管道 毛病 单位 单元 路灯 路面 邻居 水管 电梯 卫生 卫生间 "
    "师傅 包裹 快递 宁可 龙头 麻烦 简单 连接 尽快 任何 应该 古怪 景区 党员 宫格 冷水 席子 米饭 柏油 全体 边上 和平 "
    "何时 何处 何人 车主 房主 房东 房子 房间 管家 单位 司机 钟点 安保 关系 方式 包工 时段 江湖 谷雨 华润 龙湖 万科"
    )
)


def _anonymise(surname: str) -> str:
    return surname + ANON


def _third_party(m: re.Match[str]) -> str:
    given = m.group("given")
    surname = m.group("surname")
    word = surname + given
    if word in _NOT_NAMES or (surname + given[:1]) in _NOT_NAMES:
        return m.group(0)
    intro = m.groupdict().get("intro")
    return (intro or "") + m.group(0)[len(intro or "") :].replace(word, _anonymise(surname), 1)


# ---------------------------------------------------------------- the redactor


def _room_triple(m: re.Match[str]) -> str:
    return f"{m.group(1)}栋{m.group(2)}单元{ROOM}"


def _bare_room(m: re.Match[str]) -> str:
    text = m.string
    num = m.group(0)
    if num in _HOTLINES or _BARE_UNIT_AFTER.match(text, m.end()):
        return num
    if _BARE_TICKET_BEFORE.search(text[max(0, m.start() - 8) : m.start()]):
        return num
    return ROOM


def _numbers(t: str) -> str:
    """Phones, ID cards, accounts and long numbers, which identify a person wherever they appear."""
    t = _EMAIL.sub(EMAIL, t)
    t = _ACCOUNT.sub(ACCOUNT, t)
    t = _ID_CARD.sub(ID_CARD, t)
    t = _MOBILE_MASKED.sub(PHONE, t)
    t = _MOBILE.sub(PHONE, t)
    t = _LANDLINE.sub(PHONE, t)
    t = _LOCAL.sub(PHONE, t)
    t = _LONG_DIGITS.sub(NUMBER, t)
    t = _LONG_CN_DIGITS.sub(NUMBER, t)
    return _PLATE.sub(PLATE, t)


def _homes(t: str) -> str:
    """Room and house numbers: where someone lives, as opposed to the building everyone walks past."""
    t = _TRIPLE.sub(_room_triple, t)
    t = _ROOM_SUFFIX.sub(ROOM, t)
    t = _ROOM_AFTER_PLACE.sub(lambda m: m.group(1) + ROOM, t)
    t = _DOOR.sub(DOOR, t)
    return _BARE.sub(_bare_room, t)


def _name_shape(name: str) -> str:
    """What a known name becomes: its surname and 某 when it reads as a Chinese name, else [姓名]."""
    m = re.fullmatch(rf"({_SURNAME})[\u4e00-\u9fff]{{1,3}}", name)
    return _anonymise(m.group(1)) if m else NAME


class Names:
    """The roster's and staff's names, found in one pass (an Aho-Corasick automaton; longest name first)."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        wanted = sorted({normalize(n) for n in names if n and len(normalize(n)) >= 2})
        self.names = tuple(wanted)
        self._automaton: ahocorasick.Automaton | None = None
        if wanted:
            a = ahocorasick.Automaton()
            for n in wanted:
                a.add_word(n, n)
            a.make_automaton()
            self._automaton = a

    def replace(self, text: str) -> str:
        if self._automaton is None:
            return text
        spans = sorted(
            ((end - len(n) + 1, end + 1, n) for end, n in self._automaton.iter(text)), key=lambda s: (s[0], -s[1])
        )
        out, pos = [], 0
        for start, end, name in spans:
            if start < pos:
                continue
            out.append(text[pos:start])
            out.append(_name_shape(name))
            pos = end
        out.append(text[pos:])
        return "".join(out)


def redact(text: str, names: Iterable[str] | Names = ()) -> str:
    """The normalised text with personal data replaced: [电话], [身份证号], [车牌], [房号], [门牌], [号码],
    [邮箱], [微信号], and people's names as their surname and 某 (王贵宝 → 王某) or [姓名].

    `names` are the roster's and staff's names; names not on the roster are found where the text introduces
    a person (联系人张建国, 业主刘桂兰家) or gives their phone. Forms of address (王大爷, 刘娭毑, 李师傅) stay.
    """
    known = names if isinstance(names, Names) else Names(names)
    t = normalize(text)
    if not t:
        return t
    t = known.replace(t)  # first: a name may hold digits ("3栋王姐") that the number rules would split
    t = _numbers(t)
    t = _homes(t)
    for pattern in (_NAME_BEFORE_PHONE, _NAME_AFTER_STRONG, _NAME_AFTER_WEAK):
        t = pattern.sub(_third_party, t)
    return t


_LOG_NUMBERS = (_EMAIL, _ACCOUNT, _ID_CARD, _MOBILE_MASKED, _MOBILE, _PLATE)


class Privacy:
    """The one redactor every exit uses, holding the names to take out (set at start-up and after each roster
    import). `redact` is for text leaving the machine (the LLM); `for_people` for what residents and the
    committee read; `for_log` for log lines; `display_name` for a leader thanked in the digest."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._names = Names(names)

    @property
    def names(self) -> tuple[str, ...]:
        return self._names.names

    def set_names(self, names: Iterable[str]) -> None:
        self._names = Names(names)

    def redact(self, text: str) -> str:
        return redact(text, self._names)

    def for_people(self, text: str | None) -> str:
        """Text as a person may read it: unchanged when nothing in it is personal, else redacted."""
        if not text:
            return ""
        redacted = redact(text, self._names)
        return text if redacted == normalize(text) else redacted

    def for_log(self, text: str) -> str:
        """A log line without phones, ID cards, accounts, plates or roster names (ticket numbers and ids stay)."""
        t = self._names.replace(text)
        for pattern, placeholder in zip(_LOG_NUMBERS, (EMAIL, ACCOUNT, ID_CARD, PHONE, PHONE, PLATE), strict=True):
            t = pattern.sub(placeholder, t)
        return t

    def display_name(self, name: str | None) -> str:
        """A leader's nickname for thanks in the digest, without the phone or room number nicknames carry."""
        t = re.sub(r"\[[^\]]*\]", "", _numbers(normalize(name or "")))
        return _NICK_ROOM.sub("", t).strip(" -_#/·.()（）") or ""


class LogFilter(logging.Filter):
    """Runs every log record (message and traceback) through `Privacy.for_log` before a handler writes it."""

    def __init__(self, privacy: Privacy) -> None:
        super().__init__()
        self.privacy = privacy

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's business, not ours
            return True
        cleaned = self.privacy.for_log(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.privacy.for_log(record.exc_text)
        return True
