"""What the model is told: how to answer, the guides it must stay within, the scan's result when
the question is about one, the conversation so far, and the question; or, for a weekly report,
how to write it from the figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bunri.chat.grounding import Source

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

SYSTEM = (
    "You are Bunri, an assistant for household waste separation in Korea (분리배출). Answer only "
    "from the disposal guides given below; if they do not cover the question, say so plainly "
    "instead of guessing. Be brief and practical: what to do, in order. Answer in the language "
    "of the question. End with the guide you used, as (출처: <guide>) or (Source: <guide>)."
)

REPORT_SYSTEM = (
    "You are Bunri, a companion for household waste separation in Korea (분리배출). Write the "
    "person's weekly sorting report from the figures they give you: warm and short, in the "
    "language they ask for, with every figure exactly as given (invent none, change none). A tip "
    "may come only from the disposal guides below; without one, give no tip. No headings, no "
    "lists, no source line."
)


@dataclass(frozen=True, slots=True)
class Prompt:
    question: str
    sources: list[Source]
    history: list[tuple[str, str]] = field(default_factory=list)  # (role, text), oldest first
    scan_result: dict[str, Any] | None = None

    @property
    def english(self) -> bool:
        letters = [c for c in self.question if c.isalpha()]
        return bool(letters) and sum(c.isascii() for c in letters) > len(letters) / 2


def model_messages(prompt: Prompt) -> list[ChatCompletionMessageParam]:
    context = [guide_text(source) for source in prompt.sources] or ["(no guide matched)"]
    if prompt.scan_result:
        classification = prompt.scan_result.get("classification", {})
        context.insert(
            0,
            f"The person's scan was classified as {classification.get('major')} / "
            f"{classification.get('middle')} / {classification.get('minor')} "
            f"(confidence {classification.get('confidence')}).",
        )
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": SYSTEM + "\n\n" + "\n\n".join(context)}
    ]
    for role, text in prompt.history:
        if role == "assistant":
            messages.append({"role": "assistant", "content": text})
        else:
            messages.append({"role": "user", "content": text})
    messages.append({"role": "user", "content": prompt.question})
    return messages


def report_messages(request: str, sources: list[Source]) -> list[ChatCompletionMessageParam]:
    """A weekly report to write: `request` holds the figures and the language to write in."""
    context = [guide_text(source) for source in sources] or ["(no guide)"]
    return [
        {"role": "system", "content": REPORT_SYSTEM + "\n\n" + "\n\n".join(context)},
        {"role": "user", "content": request},
    ]


def guide_text(source: Source) -> str:
    guide = source.guide
    lines = [f"Guide: {source.major.name} / {source.middle.name} — {guide.title.ko}"]
    lines += [f"- step: {step.ko} ({step.en})" for step in guide.steps]
    lines += [f"- caution: {caution.ko} ({caution.en})" for caution in guide.cautions]
    lines += [f"- not accepted: {item.ko} ({item.en})" for item in guide.not_accepted]
    return "\n".join(lines)
