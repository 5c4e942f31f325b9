"""Speed and accuracy figures for tokentrail.tokens.

    python bench/bench_tokens.py [--quick]

Speed: MB/s of ``count_tokens(text, "gpt-4o")`` against raw tiktoken ``enc.encode_ordinary(text)`` on the same
realistic text (1, 4 and 10 KB of prose, code, JSON and markdown), median of several interleaved runs with the
min-max range, and the overhead of our wrapper. ``--quick`` runs in a few seconds.

Accuracy: the error of the heuristic estimate (used for non-OpenAI models) against the two exact tokenizers we
have offline, o200k_base and cl100k_base, on the deterministic corpus below; printed as the markdown tables that
``docs/tokens.md`` shows (a test checks they are the same).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable
from functools import partial

from _timing import json_figures, summarize

# ---------------------------------------------------------------------------------------------------------------
# Corpus: hand-written text of each kind, plus JSON generated from a fixed seed. Deterministic on every machine.
# ---------------------------------------------------------------------------------------------------------------

_PROSE = [
    "Connection pooling keeps a small set of database connections open and hands them out to requests as they "
    "arrive. When a request finishes, its connection goes back to the pool instead of being closed, which saves the "
    "cost of a new TCP handshake, TLS negotiation and authentication on every query. The pool has two important "
    "settings. The first, max_size, caps how many connections may be open at once; set it below the server's own "
    "limit, leaving room for migrations and for an administrator who needs to log in during an incident. The "
    "second, idle_timeout, closes connections that have not been used for a while, so a burst of traffic at nine "
    "in the morning does not leave fifty idle sessions holding memory on the server all afternoon. If your "
    "application runs several worker processes, remember that each process has its own pool: four workers with a "
    "max_size of 20 can open 80 connections, not 20.",
    "The rain had stopped by the time Marguerite reached the harbour, but the wind still pushed the smell of salt "
    "and diesel up the narrow street. She pulled her coat tighter and counted the boats: eleven, as always, their "
    "hulls knocking against the old tyres that lined the quay. Her father's boat was the blue one at the far end, "
    "the paint peeling in long strips that curled like birch bark. Nobody had taken it out since October. She "
    "stepped aboard carefully, feeling the deck shift under her weight, and sat on the coil of rope where he used "
    "to sit with his thermos of tea. Somewhere behind the lighthouse a gull was complaining about something. She "
    "wondered, not for the first time, whether she should sell the boat, and then wondered why the question made "
    "her so angry.",
    "Hi Priya,\n\nThanks for sending over the draft of the Q3 report. I've gone through it twice and left comments "
    "in the shared document, mostly small things: a couple of figures in the revenue table don't match the "
    "dashboard (I think the dashboard excludes refunds), and the section on customer churn could use one sentence "
    "explaining why the March cohort looks so different.\n\nCould we meet on Thursday at 2:30 to go over the "
    "forecast? I'd like to understand the assumptions behind the 12% growth number before we send it to the "
    "board. If Thursday doesn't work, Friday morning is fine too.\n\nBest,\nDaniel",
    "City officials announced on Tuesday that the long-delayed bridge renovation will finally begin next spring, "
    "after the council approved a revised budget of $48.6 million. The project, first proposed in 2017, was "
    "postponed twice because of rising construction costs and a dispute over who would pay for relocating the "
    "water mains beneath the bridge deck. Under the new plan, the bridge will close to cars for about fourteen "
    "months, while a temporary footbridge keeps pedestrians and cyclists moving between the two neighbourhoods. "
    'Local business owners gave the news a mixed reception. "We\'ve been waiting for this for years," said the '
    'owner of a bakery near the eastern end. "But fourteen months without through traffic is going to hurt."',
    '1. Definitions. In this Agreement, "Confidential Information" means any information disclosed by either '
    "party to the other, whether orally, in writing or by inspection, that is marked as confidential or that a "
    "reasonable person would understand to be confidential given the nature of the information and the "
    "circumstances of disclosure. Confidential Information does not include information that (a) is or becomes "
    "publicly available through no fault of the receiving party; (b) was lawfully known to the receiving party "
    "before disclosure; or (c) is independently developed without use of the disclosing party's information.\n"
    "2. Term. This Agreement commences on the Effective Date and continues for a period of three (3) years, "
    "unless terminated earlier in accordance with Section 9.",
    "User: hey, my export keeps failing with a timeout after like 30 sec?? it worked fine last week\n"
    "Agent: Sorry about that! How big is the export, roughly how many rows?\n"
    "User: maybe 2 million. is that too many lol\n"
    "Agent: Not too many, but the web export has a 30-second limit. For anything over about 500k rows, use the "
    'background export instead: open Reports, click Export, and pick "Email me when ready". You\'ll get a '
    "download link in a few minutes.\nUser: oh nice, didn't know that existed. trying now\n"
    "User: ok got the email, works. thanks!!\nAgent: Great, glad it worked. Anything else I can help with today?",
    "We study the effect of sleep deprivation on working memory in a randomized crossover trial with 64 healthy "
    "adults aged 18 to 35. Participants completed an n-back task after a night of normal sleep and after 24 hours "
    "of continuous wakefulness, in counterbalanced order separated by at least one week. Accuracy on the 3-back "
    "condition fell from 87.2% (SD 6.1) to 74.5% (SD 9.8) after deprivation, while reaction times increased by a "
    "mean of 112 ms (95% CI 84\u2013140). The decline was larger in participants who reported lower habitual "
    "sleep duration, suggesting that chronic short sleep does not confer resilience to acute deprivation. These "
    "findings have implications for shift scheduling in safety-critical occupations.",
]

_PROSE_OTHER = [
    "La réunion du conseil municipal s'est prolongée tard dans la soirée, car les élus n'arrivaient pas à se "
    "mettre d'accord sur le budget de la médiathèque. Certains voulaient augmenter les horaires d'ouverture le "
    "samedi, d'autres préféraient investir dans de nouveaux ordinateurs pour les salles de lecture. Après trois "
    "heures de débat, le maire a proposé un compromis : les horaires seront élargis dès la rentrée, et l'achat du "
    "matériel informatique sera étudié l'année prochaine, en fonction des subventions régionales. Les habitants "
    "présents dans la salle ont applaudi, soulagés de voir enfin une décision prise.",
    "Die Bahn hat angekündigt, dass die Strecke zwischen den beiden Städten ab dem kommenden Montag für sechs "
    "Wochen gesperrt wird. Grund sind umfangreiche Bauarbeiten an den Gleisen und an zwei Brücken, die seit Jahren "
    "dringend saniert werden müssen. Für Pendlerinnen und Pendler wird ein Schienenersatzverkehr mit Bussen "
    "eingerichtet, der allerdings deutlich länger braucht als der Zug. Die Verkehrsverbände raten, wenn möglich "
    "auf das Homeoffice auszuweichen oder Fahrgemeinschaften zu bilden. Nach Abschluss der Arbeiten sollen die "
    "Züge schneller und zuverlässiger fahren, versprach ein Sprecher des Unternehmens.",
    "El mercado del barrio abre a las siete de la mañana, pero a esa hora ya hay cola frente al puesto de fruta de "
    "doña Carmen. Sus clientes dicen que vende los mejores tomates de la ciudad y que siempre tiene una "
    "recomendación para cada receta. Este año, sin embargo, la sequía ha encarecido casi todo: las naranjas "
    "cuestan el doble que el verano pasado y las lechugas llegan más pequeñas. «No es culpa de nadie», explica "
    "mientras pesa un kilo de pimientos, «pero la gente lo nota en el bolsillo». Aun así, asegura que no piensa "
    "cerrar: el puesto lleva cuarenta años en la familia.",
    "Осенью в нашем городе открылась новая библиотека, и она сразу стала одним из самых популярных мест для "
    "студентов. Здесь можно не только взять книги, но и поработать в тихом зале, записаться на курсы иностранных "
    "языков или посмотреть старые фильмы по пятницам. Директор библиотеки рассказала, что за первый месяц "
    "читательские билеты получили более трёх тысяч человек. По её словам, главная задача — сделать так, чтобы "
    "люди приходили сюда не по обязанности, а потому что им здесь интересно и удобно.",
]

_CJK = [
    "缓存是提升系统性能最常用的手段之一。当应用程序频繁读取相同的数据时，把这些数据放在内存中，可以避免每"
    "次都访问数据库，从而大大缩短响应时间。不过，缓存也带来了新的问题：如果数据库中的数据已经更新，而缓存"
    "中仍然保存着旧的值，用户就会看到过期的信息。常见的做法是为每条缓存设置过期时间，或者在写入数据库的同"
    "时主动删除对应的缓存。在高并发的场景下，还需要注意缓存击穿和缓存雪崩，例如给过期时间加上随机的偏移量"
    "，避免大量缓存在同一时刻失效。",
    "那年冬天特别冷，村口的小河结了厚厚的冰。每天放学以后，我和弟弟都会跑到河边，在冰面上滑来滑去，直到天"
    "黑才回家。奶奶总是站在门口等我们，手里拿着两个烤红薯，一边递给我们，一边念叨着不要摔倒。后来我们搬到"
    "了城里，再也没有见过那样的冰河。可是每到冬天，闻到街边烤红薯的香味，我还是会想起奶奶站在门口的样子。",
    "据国家统计局最新发布的数据，今年前三季度全国居民人均可支配收入实际增长百分之五点二，比上半年加快零点"
    "三个百分点。其中，城镇居民收入增长略低于农村居民，城乡收入差距进一步缩小。专家表示，消费市场持续回暖"
    "，服务消费增长明显，旅游、餐饮和文化娱乐等行业恢复势头良好。但同时也要看到，外部环境依然复杂，部分企"
    "业经营仍面临困难，稳就业、扩内需的政策还需要继续发力。",
    "来週の月曜日から、社内のシステムが新しいバージョンに切り替わります。ログインの方法は変わりませんが、"
    "初回のみパスワードの再設定が必要です。また、古いブラウザでは一部の機能が正しく表示されない場合があり"
    "ますので、最新のバージョンに更新してからご利用ください。切り替え作業のため、日曜日の午後十時から月曜"
    "日の午前六時まではシステムを利用できません。ご不明な点がありましたら、情報システム部までお問い合わせ"
    "ください。",
    "駅前の小さな喫茶店は、もう四十年以上同じ場所で営業している。店主のおじいさんは毎朝六時に店を開け、豆"
    "を挽く音と一緒に一日が始まる。常連客の多くは近所に住むお年寄りで、新聞を読みながらゆっくりとコーヒー"
    "を飲んでいく。最近は若い人たちもSNSでこの店を知り、週末になると写真を撮りに来るようになった。おじい"
    "さんは少し困ったように笑いながら、「にぎやかなのも悪くないね」と言った。",
    "다음 주부터 회사 근처에 새로운 지하철역이 문을 엽니다. 그동안 버스를 두 번이나 갈아타야 했던 직원들"
    "은 출퇴근 시간이 크게 줄어들 것으로 기대하고 있습니다. 역에서 회사 정문까지는 걸어서 약 오 분 거리이"
    "며, 비가 오는 날에도 지하 통로를 이용하면 우산 없이 이동할 수 있습니다. 다만 개통 첫 주에는 이용객이"
    " 많을 것으로 예상되므로, 가능하면 조금 일찍 출발하는 것이 좋겠습니다.",
    "할머니의 부엌에는 항상 된장찌개 냄새가 가득했다. 어린 시절 방학이 되면 나는 시골에 내려가 할머니와 "
    "함께 지냈다. 아침마다 마당에 나가 닭에게 모이를 주고, 오후에는 개울가에서 친구들과 물장구를 쳤다. 저"
    "녁이 되면 할머니는 직접 기른 채소로 반찬을 만들어 주셨는데, 그 맛은 지금도 잊을 수가 없다. 이제는 나"
    "도 어른이 되었지만, 가끔 그 시절이 그리워 눈을 감으면 할머니의 목소리가 들리는 것 같다.",
]

_CODE = [
    '''import asyncio
import logging
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass
class RateLimiter:
    """Allow at most `rate` calls per `period` seconds."""

    rate: int
    period: float = 1.0
    _tokens: float = field(init=False)
    _updated: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._tokens = float(self.rate)

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            elapsed = now - self._updated
            self._updated = now
            self._tokens = min(self.rate, self._tokens + elapsed * self.rate / self.period)
            if self._tokens >= 1:
                self._tokens -= 1
                return
            wait = (1 - self._tokens) * self.period / self.rate
            logger.debug("rate limited, sleeping %.3fs", wait)
            await asyncio.sleep(wait)
''',
    """import { useEffect, useState } from "react";

export function useDebounced<T>(value: T, delayMs = 300): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const id = setTimeout(() => setDebounced(value), delayMs);
    return () => clearTimeout(id);
  }, [value, delayMs]);
  return debounced;
}

export default function SearchBox({ onSearch }: { onSearch: (q: string) => void }) {
  const [query, setQuery] = useState("");
  const debouncedQuery = useDebounced(query);
  useEffect(() => {
    if (debouncedQuery.trim().length > 1) onSearch(debouncedQuery.trim());
  }, [debouncedQuery, onSearch]);
  return (
    <input
      type="search"
      className="search-box"
      placeholder="Search orders..."
      value={query}
      onChange={(e) => setQuery(e.target.value)}
    />
  );
}
""",
    """WITH daily AS (
    SELECT
        date_trunc('day', started_at) AS day,
        model,
        SUM(input_tokens) AS input_tokens,
        SUM(output_tokens) AS output_tokens,
        SUM(cost_usd) AS cost_usd
    FROM calls
    WHERE started_at >= NOW() - INTERVAL '30 days'
      AND success
    GROUP BY 1, 2
)
SELECT
    day,
    model,
    input_tokens,
    output_tokens,
    ROUND(cost_usd::numeric, 4) AS cost_usd,
    ROUND(100.0 * cost_usd / SUM(cost_usd) OVER (PARTITION BY day), 1) AS pct_of_day
FROM daily
ORDER BY day DESC, cost_usd DESC
LIMIT 100;
""",
    # Go is indented with tabs, as gofmt writes it.
    """package cache

import (
    "sync"
    "time"
)

type entry[V any] struct {
    value   V
    expires time.Time
}

// TTL is a map whose entries expire after a fixed duration.
type TTL[K comparable, V any] struct {
    mu      sync.Mutex
    ttl     time.Duration
    entries map[K]entry[V]
}

func New[K comparable, V any](ttl time.Duration) *TTL[K, V] {
    return &TTL[K, V]{ttl: ttl, entries: make(map[K]entry[V])}
}

func (c *TTL[K, V]) Get(key K) (V, bool) {
    c.mu.Lock()
    defer c.mu.Unlock()
    e, ok := c.entries[key]
    if !ok || time.Now().After(e.expires) {
        delete(c.entries, key)
        var zero V
        return zero, false
    }
    return e.value, true
}

func (c *TTL[K, V]) Set(key K, value V) {
    c.mu.Lock()
    c.entries[key] = entry[V]{value: value, expires: time.Now().Add(c.ttl)}
    c.mu.Unlock()
}
""".replace("    ", "\t"),
    """use std::collections::HashMap;
use std::fs;
use std::io::{self, BufRead};

fn word_counts(path: &str) -> io::Result<HashMap<String, usize>> {
    let file = fs::File::open(path)?;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for line in io::BufReader::new(file).lines() {
        for word in line?.split_whitespace() {
            let word = word.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
            if !word.is_empty() {
                *counts.entry(word).or_insert(0) += 1;
            }
        }
    }
    Ok(counts)
}

fn main() -> io::Result<()> {
    let counts = word_counts("input.txt")?;
    let mut top: Vec<_> = counts.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (word, n) in top.iter().take(10) {
        println!("{n:>6} {word}");
    }
    Ok(())
}
""",
    """#!/usr/bin/env bash
set -euo pipefail

BACKUP_DIR="${BACKUP_DIR:-/var/backups/postgres}"
KEEP_DAYS="${KEEP_DAYS:-14}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"

mkdir -p "$BACKUP_DIR"
for db in $(psql -At -c "SELECT datname FROM pg_database WHERE NOT datistemplate"); do
  out="$BACKUP_DIR/${db}-${STAMP}.sql.gz"
  echo "dumping $db -> $out"
  pg_dump --no-owner "$db" | gzip -9 > "$out.tmp"
  mv "$out.tmp" "$out"
done

find "$BACKUP_DIR" -name '*.sql.gz' -mtime +"$KEEP_DAYS" -print -delete
""",
]

_MARKDOWN = [
    """## Why is my Docker image so large?

There are three usual suspects:

1. **The base image.** `python:3.12` is about 1 GB; `python:3.12-slim` is about 130 MB. Start from the slim \
variant unless you need compilers.
2. **Build tools left behind.** If you install `gcc` to build a wheel, remove it in the same `RUN` step, or use a \
multi-stage build:

```dockerfile
FROM python:3.12 AS build
RUN pip wheel --wheel-dir /wheels -r requirements.txt

FROM python:3.12-slim
COPY --from=build /wheels /wheels
RUN pip install --no-index /wheels/*.whl && rm -rf /wheels
```

3. **Caches.** Pass `--no-cache-dir` to `pip` and clean the `apt` lists (`rm -rf /var/lib/apt/lists/*`).

Run `docker history <image>` to see which layer is the heaviest, then fix that one first.
""",
    """| Plan | Monthly price | Included requests | Overage |
| --- | ---: | ---: | ---: |
| Free | $0 | 1,000 | - |
| Team | $49 | 50,000 | $0.80 / 1k |
| Business | $299 | 500,000 | $0.50 / 1k |

**Notes**

- Prices exclude VAT.
- Unused requests do not roll over to the next month.
- Annual billing gives two months free (e.g. Team costs $490/year instead of $588).

> Tip: if you regularly exceed 400,000 requests a month, the Business plan is cheaper than Team plus overage.
""",
]

_WORDS = (
    "order invoice customer shipment refund payment account region status priority ticket message model agent "
    "report budget project session request response latency retry cache window token price plan team"
).split()
_NAMES = "Alice Bruno Chen Dmitri Esther Farah Goran Hana Ines Jamal Kofi Lena".split()
_CITIES = "Lisbon Nairobi Osaka Toronto Lyon Pune Austin Kraków Recife Tallinn".split()


def _json_samples() -> list[str]:
    """JSON as APIs and logs produce it: pretty and compact, ids, timestamps, floats, nested objects."""
    rng = random.Random(20240601)

    def uid() -> str:
        return f"{rng.getrandbits(128):032x}"

    def stamp() -> str:
        date = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        return f"{date}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z"

    def sentence() -> str:
        return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 14))).capitalize() + "."

    completion = {
        "id": "chatcmpl-" + uid()[:24],
        "object": "chat.completion",
        "created": 1735689600 + rng.randint(0, 10**7),
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": " ".join(sentence() for _ in range(4)), "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 812, "completion_tokens": 94, "total_tokens": 906},
        "system_fingerprint": "fp_" + uid()[:10],
    }
    events = [
        {
            "event_id": uid(),
            "ts": stamp(),
            "user": rng.choice(_NAMES),
            "city": rng.choice(_CITIES),
            "action": rng.choice(_WORDS) + "." + rng.choice(["created", "updated", "deleted"]),
            "amount": round(rng.uniform(1, 2000), 2),
            "ok": rng.random() > 0.2,
        }
        for _ in range(8)
    ]
    config = {
        "service": {"name": "billing-api", "port": 8443, "workers": 4, "debug": False},
        "database": {"url": "postgresql://billing@db.internal:5432/billing", "pool": {"min": 2, "max": 20}},
        "features": {word: rng.random() > 0.5 for word in rng.sample(_WORDS, 8)},
        "limits": [{"tier": name, "rpm": rng.randint(60, 6000)} for name in ("free", "team", "business")],
    }
    tool = {
        "type": "function",
        "function": {
            "name": "search_orders",
            "description": "Search the order database by customer, status and date range.",
            "parameters": {
                "type": "object",
                "properties": {
                    "customer_id": {"type": "string", "description": "The customer's ID, e.g. cus_123."},
                    "status": {"type": "string", "enum": ["pending", "shipped", "delivered", "refunded"]},
                    "since": {"type": "string", "format": "date", "description": "Earliest order date."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                },
                "required": ["customer_id"],
            },
        },
    }
    rows = [[stamp(), rng.choice(_WORDS), rng.randint(0, 50000), round(rng.random(), 6)] for _ in range(14)]
    geo = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": city, "population": rng.randint(10**5, 10**7)},
                "geometry": {
                    "type": "Point",
                    "coordinates": [round(rng.uniform(-180, 180), 5), round(rng.uniform(-60, 70), 5)],
                },
            }
            for city in rng.sample(_CITIES, 5)
        ],
    }
    return [
        json.dumps(completion, indent=2),
        json.dumps(events),
        json.dumps(config, indent=4),
        json.dumps(tool, indent=2),
        json.dumps(rows, separators=(",", ":")),
        json.dumps(geo, ensure_ascii=False),
    ]


def corpus() -> dict[str, list[str]]:
    """The measurement corpus: kind -> samples."""
    return {
        "prose (English)": list(_PROSE),
        "prose (other languages)": list(_PROSE_OTHER),
        "code": list(_CODE),
        "markdown": list(_MARKDOWN),
        "JSON": _json_samples(),
        "CJK (zh/ja/ko)": list(_CJK),
    }


# Written before the heuristic's costs were tuned and never used to tune them: the error on these is out of sample.
_HELD_OUT_PROSE = [
    "Most teams discover their cloud bill the same way: someone from finance forwards a chart with a line that "
    "bends sharply upward and asks, politely, what happened in March. The honest answer is usually a mix of "
    "small decisions nobody reviewed together: a staging cluster that was never scaled down, logs kept for a "
    "year instead of a month, and a batch job that quietly doubled its retries after a library upgrade. None of "
    "these is dramatic on its own. What makes them expensive is that they compound, and that nobody owns the "
    "total. The fix is rarely a new tool; it is a weekly fifteen-minute look at the five biggest line items, with "
    "a named person for each.",
    "Preheat the oven to 200\u00b0C. Toss the squash with two tablespoons of olive oil, a pinch of salt and the "
    "chilli flakes, spread it on a tray in a single layer and roast for 25 to 30 minutes, turning once, until "
    "the edges are golden. Meanwhile, toast the walnuts in a dry pan for three minutes and chop them roughly. "
    "Whisk the yoghurt with the lemon juice, garlic and half the mint. To serve, spoon the yoghurt onto a plate, "
    "pile the squash on top and finish with the walnuts, the remaining mint and a drizzle of honey.",
    "Q: Can I change the email address on my account?\nA: Yes. Go to Settings > Profile, enter the new address "
    "and click Save. We'll send a confirmation link to the new address; the change takes effect once you click "
    "it. Until then, receipts and password resets still go to the old address. If you no longer have access to "
    "the old mailbox, contact support from the new one and include your account ID (it starts with acct_).",
]
_HELD_OUT_PROSE_OTHER = [
    "Il treno regionale delle 7:42 è stato soppresso anche questa mattina, e sulla banchina si è formata una "
    "piccola folla di pendolari rassegnati. Alcuni hanno chiamato un taxi condiviso, altri hanno deciso di "
    "lavorare da casa. L'azienda dei trasporti ha spiegato che mancano macchinisti e che la situazione dovrebbe "
    "migliorare entro la fine del mese, quando entreranno in servizio i nuovi assunti.",
    "A biblioteca municipal vai passar a abrir aos domingos a partir do próximo mês. A decisão foi tomada depois "
    "de um inquérito em que a maioria dos leitores pediu mais horários ao fim de semana. Para compensar, a "
    "biblioteca fechará mais cedo às segundas-feiras, o dia com menos visitantes.",
    "Минулого тижня в місті відкрили новий парк на березі річки. Там є велосипедні доріжки, дитячий майданчик і "
    "невелике кафе. Мешканці кажуть, що тепер їм є куди піти ввечері після роботи.",
]
_HELD_OUT_CODE = [
    """public final class Retry {
    private Retry() {}

    public static <T> T withBackoff(Callable<T> task, int attempts, Duration base) throws Exception {
        Exception last = null;
        for (int i = 0; i < attempts; i++) {
            try {
                return task.call();
            } catch (IOException e) {
                last = e;
                long sleep = base.toMillis() * (1L << i);
                Thread.sleep(Math.min(sleep, 30_000L));
            }
        }
        throw new IllegalStateException("gave up after " + attempts + " attempts", last);
    }
}
""",
    """#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare(const void *a, const void *b) {
    return strcmp(*(const char **)a, *(const char **)b);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s WORD...\\n", argv[0]);
        return EXIT_FAILURE;
    }
    qsort(argv + 1, (size_t)(argc - 1), sizeof(char *), compare);
    for (int i = 1; i < argc; i++) {
        printf("%3d  %s\\n", i, argv[i]);
    }
    return EXIT_SUCCESS;
}
""",
    """name: ci
on:
  push:
    branches: [main]
  pull_request:

jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python: ["3.10", "3.11", "3.12", "3.13"]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: ${{ matrix.python }}
      - run: pip install -e ".[dev]"
      - run: pytest -q --maxfail=1
""",
]
_HELD_OUT_MARKDOWN = [
    """### Migrating from v1 to v2

- `Client(timeout=...)` now takes seconds as a `float`, not milliseconds.
- `client.fetch()` returns a `Response`; call `.json()` on it instead of indexing the result.
- The `retry` argument was removed. Use `Client(transport=RetryTransport(max_attempts=3))`.

```python
client = Client(timeout=2.5, transport=RetryTransport(max_attempts=3))
data = client.fetch("/v2/orders", params={"status": "open"}).json()
```
""",
]
_HELD_OUT_CJK = [
    "为了降低云服务的费用，我们首先统计了每个团队过去三个月的资源使用情况，然后关闭了长期闲置的测试环境，"
    "并把日志的保存期限从一年缩短为三十天。这些调整上线一个月后，总费用下降了大约百分之十八，而系统的稳定"
    "性没有受到任何影响。",
    "新しい機能を追加する前に、まず既存のテストがすべて通ることを確認してください。テストが失敗している状"
    "態で変更を加えると、問題の原因を特定するのが難しくなります。",
    "이번 업데이트에서는 검색 속도가 크게 개선되었습니다. 특히 데이터가 많은 계정에서 결과가 나타나기까지"
    " 걸리는 시간이 절반 이하로 줄었습니다.",
]


def _held_out_json() -> list[str]:
    rng = random.Random(7)
    messages = [
        {"role": rng.choice(["user", "assistant"]), "content": " ".join(rng.choice(_WORDS) for _ in range(12))}
        for _ in range(6)
    ]
    metrics = {
        f"{rng.choice(_WORDS)}_{rng.choice(_WORDS)}": {
            "p50": round(rng.uniform(1, 90), 3),
            "p99": rng.randint(100, 9000),
        }
        for _ in range(10)
    }
    return [json.dumps({"model": "gpt-4.1", "messages": messages}, indent=2), json.dumps(metrics)]


def held_out() -> dict[str, list[str]]:
    """Samples written before the heuristic was tuned and never used to tune it, by kind."""
    return {
        "prose (English)": list(_HELD_OUT_PROSE),
        "prose (other languages)": list(_HELD_OUT_PROSE_OTHER),
        "code": list(_HELD_OUT_CODE),
        "markdown": list(_HELD_OUT_MARKDOWN),
        "JSON": _held_out_json(),
        "CJK (zh/ja/ko)": list(_HELD_OUT_CJK),
    }


# ---------------------------------------------------------------------------------------------------------------
# Accuracy
# ---------------------------------------------------------------------------------------------------------------


def _pct(estimate: int, exact: int) -> str:
    return f"{(estimate - exact) / exact * 100:+.1f}%"


def accuracy_table(samples: dict[str, list[str]]) -> str:
    """Markdown table: per kind, exact counts of both OpenAI tokenizers, the estimate and its error."""
    from tokentrail.tokens import count_tokens

    lines = [
        "| kind | samples | chars | o200k_base | cl100k_base | estimate | error vs o200k | error vs cl100k "
        "| worst sample, either |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, texts in samples.items():
        o200k = [int(count_tokens(t, "gpt-4o")) for t in texts]
        cl100k = [int(count_tokens(t, "gpt-4")) for t in texts]
        estimate = [int(count_tokens(t, "claude-sonnet-4-5")) for t in texts]
        worst = max(
            abs(guess - real) / real for exact in (o200k, cl100k) for guess, real in zip(estimate, exact, strict=True)
        )
        lines.append(
            f"| {kind} | {len(texts)} | {sum(map(len, texts)):,} | {sum(o200k):,} | {sum(cl100k):,} "
            f"| {sum(estimate):,} | {_pct(sum(estimate), sum(o200k))} | {_pct(sum(estimate), sum(cl100k))} "
            f"| {worst * 100:.1f}% |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Speed
# ---------------------------------------------------------------------------------------------------------------


def bench_text(size: int) -> str:
    """The first ``size`` characters of mixed prose, code, JSON and markdown, the kind of text a prompt holds."""
    parts = [*_PROSE, *_CODE, *_json_samples()[:4], *_MARKDOWN]
    random.Random(1).shuffle(parts)
    text = "\n\n".join(parts)
    while len(text) < size:
        text += "\n\n" + text
    return text[:size]


def _time_batches(
    fns: dict[str, Callable[[], object]], runs: int, seconds: float
) -> tuple[int, list[dict[str, list[float]]]]:
    """Time each function in batches of ``batch`` calls: for each run, the seconds each batch took, by function.

    The functions take turns batch by batch (order alternating), so a burst of load from other processes hits them
    alike: comparing neighbouring batches stays meaningful on a busy machine.
    """
    for fn in fns.values():
        fn()  # warm up
    start = time.perf_counter()
    next(iter(fns.values()))()
    batch = max(1, int(0.002 / max(time.perf_counter() - start, 1e-7)))  # ~2 ms per batch
    rounds = max(1, int(seconds / 0.002))
    items = list(fns.items())
    result = []
    for _ in range(runs):
        times: dict[str, list[float]] = {name: [] for name in fns}
        for i in range(rounds):
            for name, fn in items if i % 2 == 0 else items[::-1]:
                start = time.perf_counter()
                for _ in range(batch):
                    fn()
                times[name].append(time.perf_counter() - start)
        result.append(times)
    return batch, result


def _fmt(rates: list[float]) -> str:
    return f"{statistics.median(rates):6.1f} ({min(rates):.1f}-{max(rates):.1f})"


FIGURES: dict[str, dict] = {}  # what --json prints: key -> median/min/max of the runs


def run_speed(*, quick: bool) -> None:
    from tokentrail.tokens import count_tokens, get_encoding

    start = time.perf_counter()
    enc = get_encoding("o200k_base")
    print(f"first use: o200k_base read, SHA-256 checked and built in {(time.perf_counter() - start) * 1000:.0f} ms")
    runs, seconds = (5, 0.05) if quick else (15, 0.5)
    print(f"\nMB/s: median (min-max) of {runs} runs. Overhead of count_tokens over raw tiktoken: median over all")
    print("pairs of neighbouring batches of (ours / raw - 1), and the same as time per call.")
    print(
        f"{'size':>6}  {'tiktoken encode_ordinary':>24}  {'count_tokens gpt-4o':>24}  {'overhead':>8}  {'per call':>9}"
    )
    for size in (1_000, 4_000, 10_000):
        text = bench_text(size)
        fns: dict[str, Callable[[], object]] = {
            "raw": partial(enc.encode_ordinary, text),
            "ours": partial(count_tokens, text, "gpt-4o"),
        }
        batch, timings = _time_batches(fns, runs, seconds)
        mb = len(text.encode()) * batch / 1e6
        rates = {name: [mb * len(run[name]) / sum(run[name]) for run in timings] for name in fns}
        pairs = [(o, r) for run in timings for o, r in zip(run["ours"], run["raw"], strict=True)]
        overhead = statistics.median(o / r - 1 for o, r in pairs)
        per_call = statistics.median(o - r for o, r in pairs) / batch
        kb = size // 1000
        FIGURES[f"count_tokens_mbps_{kb}k"] = summarize(rates["ours"], "MB/s", f"count_tokens gpt-4o, {kb}KB")
        FIGURES[f"tiktoken_mbps_{kb}k"] = summarize(rates["raw"], "MB/s", f"tiktoken encode_ordinary, {kb}KB")
        FIGURES[f"count_tokens_overhead_{kb}k"] = {
            **summarize([overhead * 100], "%", f"count_tokens overhead over tiktoken, {kb}KB (paired batches)"),
            "per_call_us": per_call * 1e6,
        }
        print(
            f"{size // 1000:>4}KB  {_fmt(rates['raw']):>24}  {_fmt(rates['ours']):>24}  {overhead * 100:+7.1f}%  "
            f"{per_call * 1e6:+7.2f}us"
        )
    text = bench_text(10_000)
    batch, timings = _time_batches({"estimate": partial(count_tokens, text, "claude-sonnet-4-5")}, runs, seconds)
    estimate = [len(text.encode()) * batch * len(run["estimate"]) / sum(run["estimate"]) / 1e6 for run in timings]
    print(f"\nestimate (non-OpenAI model, heuristic-v1), 10KB: {_fmt(estimate).strip()} MB/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs (a few seconds)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the figures (for run_all.py)")
    args = parser.parse_args()
    with json_figures(__file__, args.json, FIGURES, quick=args.quick):
        run_speed(quick=args.quick)
        print("\nEstimate error, tuning corpus (the text the heuristic's costs were read from):\n")
        print(accuracy_table(corpus()))
        print("\nEstimate error, held-out corpus (never used for tuning):\n")
        print(accuracy_table(held_out()))


if __name__ == "__main__":
    main()
