"""The guide-only answer: the matching guides' steps, cautions and exclusions, in the question's
language, citing each guide; or a plain statement that no guide matches."""

from __future__ import annotations

from bunri.chat.grounding import Source


def compose_from_guides(sources: list[Source], english: bool) -> str:
    if not sources:
        if english:
            return (
                "I have no disposal guide for that question. Ask about an item by name "
                "(a PET bottle, a milk carton, a battery ...) and I will tell you how it goes out."
            )
        return (
            "이 질문에 맞는 분리배출 안내를 찾지 못했어요. 물건 이름(페트병, 종이팩, 건전지 등)을 "
            "넣어 다시 물어봐 주세요."
        )
    parts = []
    for source in sources:
        guide = source.guide
        if english:
            parts.append(f"{guide.title.en} ({source.middle.name_en}):")
            parts += [f"{n}. {step.en}" for n, step in enumerate(guide.steps, 1)]
            parts += [f"Note: {caution.en}" for caution in guide.cautions]
            parts += [f"Not this way: {item.en}" for item in guide.not_accepted]
            parts.append(f"(Source: the {source.middle.name_en} disposal guide)")
        else:
            parts.append(f"{guide.title.ko} ({source.middle.name}):")
            parts += [f"{n}. {step.ko}" for n, step in enumerate(guide.steps, 1)]
            parts += [f"주의: {caution.ko}" for caution in guide.cautions]
            parts += [f"해당하지 않아요: {item.ko}" for item in guide.not_accepted]
            parts.append(f"(출처: {source.middle.name} 분리배출 안내)")
    return "\n".join(parts)
