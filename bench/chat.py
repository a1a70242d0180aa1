"""Chat under load: 500 WebSocket conversations at once against a fake model streaming 20 tokens a
second each, through the real chat-api process (uvicorn, one worker; `--workers 2` runs it as
docker-compose does, one process per vCPU of a t3.small).

Each conversation asks `--questions` questions; each answer is `--tokens` tokens long (100: five
seconds of streaming) and the person reads it for about `--think` seconds before asking the next.
The conversations start within the first five seconds, so all of them stream at once for most of
the run: 500 concurrent streams are 10,000 tokens a second. `--tokens 20
--think 0` is the harsher mix in which questions, not tokens, dominate (a new question every two
milliseconds).

The fake model stamps every token with the moment it sent it, so each token's added delay is
measured directly: from the model sending it to the client receiving it through chat-api. The time
to first token overhead is the first token's arrival, counted from the client's send, less the
model's own first-token time (one token interval). Prints p50/p99 of both, the streams in flight
at the peak, chat-api's CPU per question and per token, and each process's peak memory (VmHWM).

The load client and the fake model stand for phones and a model server on other machines: with
one chat-api worker they run on all vCPUs but one, so that they do not take chat-api's CPU from
it (on 2 vCPUs they need half of one between them). `--shared-cpus` lets them run anywhere.

    .venv/bin/python -m bench.chat [--conversations 500] [--questions 3] [--tokens 100] [--think 2]
        [--workers 1] [--shared-cpus]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import aiohttp
import uvloop

from bench.stack import (
    BIN,
    base_env,
    bench_vhost,
    collector_paused,
    migrate,
    process,
    signed_in_headers,
)
from tests.support.servers import free_port

SECONDS_PER_TOKEN = 0.05  # 20 tokens a second
RAMP_SECONDS = 5.0
STALL_SECONDS = 60


class Streams:
    """How many answers are streaming at once, and the most there were."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    def started(self) -> None:
        self.now += 1
        self.peak = max(self.peak, self.now)

    def ended(self) -> None:
        self.now -= 1


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def conversation(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    questions: int,
    think: float,
    streams: Streams,
    errors: Counter[str],
) -> tuple[list[float], list[float]]:
    """(first-token overheads, per-token added delays), in seconds."""
    first_token: list[float] = []
    added: list[float] = []
    await asyncio.sleep(random.uniform(0, RAMP_SECONDS))
    async with session.ws_connect(url, headers=headers, max_msg_size=0) as socket:
        await socket.receive()  # ready
        conversation_id = None
        for number in range(questions):
            if number:
                await asyncio.sleep(random.uniform(0.5, 1.5) * think)  # reading the answer
            asked = time.monotonic()
            frame = {"type": "message", "text": f"페트병 질문 {number}"}
            if conversation_id:
                frame["conversation_id"] = conversation_id
            await socket.send_str(json.dumps(frame))
            streams.started()
            last: object = "the question"
            while True:
                try:
                    received = await socket.receive(timeout=STALL_SECONDS)
                except TimeoutError:
                    raise AssertionError(
                        f"conversation {conversation_id}, question {number}: nothing for "
                        f"{STALL_SECONDS} s after {last}"
                    ) from None
                now = time.monotonic()
                if received.type is not aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"conversation {conversation_id}: {received}")
                message = last = json.loads(received.data)
                if message["type"] == "start":
                    conversation_id = message["conversation_id"]
                elif message["type"] == "delta":
                    added.append(now - float(message["text"]))
                    if message["seq"] == 1:
                        first_token.append(now - asked - SECONDS_PER_TOKEN)
                elif message["type"] in ("done", "error"):
                    if message["type"] == "error":  # refused or failed: counted, not fatal
                        errors[message["code"]] += 1
                    streams.ended()
                    break
    return first_token, added


async def run(
    url: str, headers: dict[str, str], conversations: int, questions: int, tokens: int, think: float
) -> int:
    """Prints the figures; returns how many tokens arrived."""
    streams = Streams()
    errors: Counter[str] = Counter()
    started = time.monotonic()
    # aiohttp's client parses frames in C: the load client needs about a quarter less CPU than
    # with `websockets` (26-28% of a vCPU against 35%), CPU it shares with the fake model.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        results = await asyncio.gather(
            *(
                conversation(session, url, headers, questions, think, streams, errors)
                for _ in range(conversations)
            )
        )
    elapsed = time.monotonic() - started
    first = [value for firsts, _ in results for value in firsts]
    added = [value for _, delays in results for value in delays]
    ms = 1000
    print(
        f"{conversations} conversations x {questions} questions, {tokens} "
        f"tokens at {1 / SECONDS_PER_TOKEN:.0f}/s each, ~{think:g} s between questions: "
        f"{len(added)} tokens in {elapsed:.1f} s, {streams.peak} streams at once at the peak"
    )
    if errors:
        print(f"answers that ended in an error frame: {dict(errors)}")
    print(
        f"time to first token overhead  p50 {percentile(first, 0.5) * ms:6.1f} ms"
        f"  p99 {percentile(first, 0.99) * ms:6.1f} ms"
    )
    print(
        f"added delay per token         p50 {percentile(added, 0.5) * ms:6.1f} ms"
        f"  p99 {percentile(added, 0.99) * ms:6.1f} ms  max {max(added) * ms:6.1f} ms"
    )
    return len(added)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def worker_pids(pid: int) -> list[int]:
    """uvicorn's worker processes under its supervisor `pid` (none when it serves alone)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def cpus_beside_one_server(workers: int) -> set[int] | None:
    """The vCPUs for the harness, all but one of this machine's; none to keep clear when
    chat-api runs more than one worker or there is a single vCPU."""
    cpus = sorted(os.sched_getaffinity(0))
    return set(cpus[:-1]) if workers == 1 and len(cpus) > 1 else None


def peak_memory_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=500)
    parser.add_argument("--questions", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=100, help="tokens per answer")
    parser.add_argument("--think", type=float, default=2.0, help="seconds between questions")
    parser.add_argument(
        "--workers", type=int, default=1, help="chat-api's processes (docker-compose runs 2)"
    )
    parser.add_argument(
        "--shared-cpus",
        action="store_true",
        help="let the load client and the fake model run on chat-api's vCPU too",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, bench_vhost() as broker, ExitStack() as stack:
        logs = Path(scratch)
        auth_port, chat_port, model_port = free_port(), free_port(), free_port()
        env = base_env(broker, logs) | {
            "BUNRI_AUTH_API_PORT": str(auth_port),
            "BUNRI_CHAT_API_PORT": str(chat_port),
            "BUNRI_AUTH_JWKS_URL": f"http://127.0.0.1:{auth_port}/.well-known/jwks.json",
            "BUNRI_LLM_BASE_URL": f"http://127.0.0.1:{model_port}/v1",
            "BUNRI_CHAT_MESSAGES_PER_MINUTE": "1000000",
            "BUNRI_DATABASE_POOL_SIZE": "20",
            "BUNRI_CHAT_API_WORKERS": str(args.workers),
        }
        migrate(env)
        model_command = [
            str(BIN / "python"),
            "-m",
            "tests.support.fake_llm",
            str(model_port),
            str(args.tokens),
            str(SECONDS_PER_TOKEN),
        ]
        model = stack.enter_context(process(model_command, env, logs / "model.log"))
        auth_url = f"http://127.0.0.1:{auth_port}"
        chat_url = f"http://127.0.0.1:{chat_port}"
        stack.enter_context(
            process([str(BIN / "bunri-auth-api")], env, logs / "auth.log", f"{auth_url}/healthz")
        )
        chat = stack.enter_context(
            process([str(BIN / "bunri-chat-api")], env, logs / "chat.log", f"{chat_url}/readyz")
        )
        headers = signed_in_headers(auth_url)
        ws_url = f"ws://127.0.0.1:{chat_port}/api/v1/chat/ws"
        # Warm-up: pools, the SDK's first request.
        uvloop.run(run(ws_url, headers, 20, 1, args.tokens, 0))
        servers = [chat.pid, *worker_pids(chat.pid)]
        harness_cpus = None if args.shared_cpus else cpus_beside_one_server(args.workers)
        if harness_cpus:
            for pid in (os.getpid(), model.pid):
                os.sched_setaffinity(pid, harness_cpus)
        print(
            "load client and fake model on "
            + (f"vCPUs {sorted(harness_cpus)}" if harness_cpus else "any vCPU, beside chat-api")
        )
        parties = {"fake model": [model.pid], "load client": [os.getpid()], "chat-api": servers}
        before = {name: cpu_seconds(pids) for name, pids in parties.items()}
        started = time.monotonic()
        with collector_paused():
            tokens = uvloop.run(
                run(ws_url, headers, args.conversations, args.questions, args.tokens, args.think)
            )
        elapsed = time.monotonic() - started
        used = {name: cpu_seconds(pids) - before[name] for name, pids in parties.items()}
        shares = ", ".join(f"{name} {used[name] / elapsed * 100:.0f}%" for name in parties)
        print(f"CPU (of one core, 2 on this machine): {shares}")
        questions = args.conversations * args.questions
        print(
            f"chat-api CPU: {used['chat-api'] / questions * 1000:.2f} ms per question with its "
            f"answer, {used['chat-api'] / tokens * 1e6:.0f} us per token all in"
        )
        peaks = [peak_memory_mib(pid) for pid in servers[1:] or servers]
        print(
            f"chat-api peak memory (VmHWM) per process: "
            f"{', '.join(f'{peak:.0f}' for peak in peaks)} MiB"
        )


if __name__ == "__main__":
    main()
